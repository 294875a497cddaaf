"""Retrieval of analogous historical windows: keys, the index, and how retrieved futures are weighted."""

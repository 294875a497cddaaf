"""The data contract: reading files, validating and repairing frames, frequencies, bundled datasets."""

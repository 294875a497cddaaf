"""The Forecaster, saving and loading it, and the command line."""

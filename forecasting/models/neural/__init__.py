"""The neural engine: windows over the series, the one training loop, and the model that trains any network."""

"""Self-supervised pretraining of patch language models on series, and the checkpoints it writes."""

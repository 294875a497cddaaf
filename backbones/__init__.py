"""Pure PyTorch networks and kernels: tensors in, tensors out."""

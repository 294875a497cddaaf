"""Kernels behind the backbones: the selective scan of Mamba, one function with several implementations."""
from .selective_scan import selective_scan, selective_scan_chunked, selective_scan_reference

__all__ = ["selective_scan", "selective_scan_chunked", "selective_scan_reference"]

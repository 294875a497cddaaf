"""Pure PyTorch networks: tensors in, tensors out (no pandas, files or UI).

Each backbone is one file with a config dataclass whose first fields are `lookback`, `horizon`,
`channels` and `quantiles`; its `forward` takes a `Batch` and returns [B, H, C] or [B, H, C, Q].
BACKBONES maps a name to (config class, module class): adding a backbone is a file and a line.
"""
from .batch import Batch
from .dlinear import DLinear, DLinearConfig
from .hypermamba import HyperMamba, HyperMambaConfig
from .informer import Informer, InformerConfig
from .mamba import Mamba, MambaConfig
from .patchtst import PatchTST, PatchTSTConfig
from .timellm import TimeLLM, TimeLLMConfig

BACKBONES = {
    "dlinear": (DLinearConfig, DLinear),
    "patchtst": (PatchTSTConfig, PatchTST),
    "informer": (InformerConfig, Informer),
    "mamba": (MambaConfig, Mamba),
    "hypermamba": (HyperMambaConfig, HyperMamba),
    "timellm": (TimeLLMConfig, TimeLLM),
}

__all__ = ["BACKBONES", "Batch", "DLinear", "DLinearConfig", "HyperMamba", "HyperMambaConfig", "Informer",
           "InformerConfig", "Mamba", "MambaConfig", "PatchTST", "PatchTSTConfig", "TimeLLM", "TimeLLMConfig"]

"""Pure PyTorch networks: tensors in, tensors out (no pandas, files or UI).

Each backbone is one file: a config dataclass whose first fields are `lookback`, `horizon`,
`channels` and `quantiles`, a module whose `forward` takes a `Batch` and returns [B, H, C] or
[B, H, C, Q], and at its end a `Network` declaration (network.py) that the product registers.
"""
import logging

from .batch import Batch
from .dlinear import DLinear, DLinearConfig
from .hypermamba import HyperMamba, HyperMambaConfig
from .informer import Informer, InformerConfig
from .mamba import Mamba, MambaConfig
from .network import DataShape, Network
from .patchtst import PatchTST, PatchTSTConfig
from .timellm import TimeLLM, TimeLLMConfig

# bitsandbytes warns when imported, on CPUs with AVX512-BF16, that it could not fetch an optional 4-bit
# kernel from the Hugging Face hub; Almanac runs offline by design and its 4-bit path works without it.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)

__all__ = ["Batch", "DataShape", "Network", "DLinear", "DLinearConfig", "HyperMamba", "HyperMambaConfig", "Informer",
           "InformerConfig", "Mamba", "MambaConfig", "PatchTST", "PatchTSTConfig", "TimeLLM", "TimeLLMConfig"]

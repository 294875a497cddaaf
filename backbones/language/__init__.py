"""Language models loaded from Hugging Face `transformers`, as bodies for time-series backbones."""
from .loader import FAMILIES, LanguageModel, default_language_model, load_language_model
from .tuning import MODES, apply_tuning, load_adapters, merge_adapters, save_adapters, trainable_parameters

__all__ = ["FAMILIES", "MODES", "LanguageModel", "apply_tuning", "default_language_model", "load_adapters",
           "load_language_model", "merge_adapters", "save_adapters", "trainable_parameters"]

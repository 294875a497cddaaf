"""Language models loaded from Hugging Face `transformers`, as bodies for time-series backbones."""
from .loader import FAMILIES, LanguageModel, default_language_model, load_language_model

__all__ = ["FAMILIES", "LanguageModel", "default_language_model", "load_language_model"]

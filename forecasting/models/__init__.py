"""The model registry: names to config classes. Adding a model is adding a file and a line."""
from __future__ import annotations

from .arima import ARIMA
from .base import FitState, Fitted, GlobalModel, History, Model, SeriesForecast
from .ets import ETS
from .naive import Drift, Naive, Naive2, SeasonalNaive
from .neural import (DLinear, HyperMamba, Informer, Mamba, NeuralModel, PatchTST, TimeLLM, TimeLLMAttention,
                     TimeLLMWithoutLM)
from .theta import Theta

AnyModel = Model | GlobalModel

REGISTRY: dict[str, type[AnyModel]] = {
    cls.name: cls for cls in (Naive, SeasonalNaive, Drift, Naive2, ETS, ARIMA, Theta, DLinear, PatchTST, Informer, Mamba,
                              HyperMamba, TimeLLM, TimeLLMWithoutLM, TimeLLMAttention)
}


def build(model: str | AnyModel) -> AnyModel:
    """A model config from a registered name, or the config itself."""
    if isinstance(model, (Model, GlobalModel)):
        return model
    try:
        return REGISTRY[model]()
    except KeyError:
        raise ValueError(f"unknown model {model!r}; available: {', '.join(REGISTRY)}") from None


def description(name: str) -> str:
    """The first line of a registered model's docstring, e.g. for menus and `almanac models`."""
    return (REGISTRY[name].__doc__ or name).strip().splitlines()[0]


def from_config(name: str, config: dict) -> AnyModel:
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(REGISTRY)}")
    return REGISTRY[name](**config)


__all__ = ["REGISTRY", "build", "description", "from_config", "Model", "GlobalModel", "NeuralModel", "History",
           "Fitted", "FitState", "SeriesForecast", "Naive", "SeasonalNaive", "Drift", "Naive2", "ETS", "ARIMA",
           "Theta", "DLinear", "PatchTST", "Informer", "Mamba", "HyperMamba", "TimeLLM", "TimeLLMWithoutLM",
           "TimeLLMAttention"]

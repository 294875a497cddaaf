"""Every model by name. Adding a network is a file in `backbones/` and a `register` line here."""
from __future__ import annotations

from backbones import dlinear, hypermamba, informer, mamba, patchtst, timellm
from backbones.network import Network
from forecasting.models.analog import Analog
from forecasting.models.base import FitState, Fitted, GlobalModel, History, Model, PanelFit, SeriesForecast
from forecasting.models.linear import Linear
from forecasting.models.neural.model import FittedNetwork, NeuralModel
from forecasting.models.pretrained import AlmanacBase, Pretrained
from forecasting.models.registry import REGISTRY, entry_named, network_named, register
from forecasting.models.statistical.arima import ARIMA
from forecasting.models.statistical.ets import ETS
from forecasting.models.statistical.mstl import MSTL
from forecasting.models.statistical.naive import Drift, Naive, Naive2, SeasonalNaive
from forecasting.models.statistical.theta import Theta

for local_model in (Naive, SeasonalNaive, Drift, Naive2, ETS, ARIMA, Theta, MSTL):
    register(local_model)
register(Linear)                             # closed form: the floor every network must beat
register(Analog)                             # trains nothing: the futures of similar past windows
register(Pretrained)                         # a checkpoint of `almanac pretrain`, zero-shot or fine-tuned
register(AlmanacBase)                        # the bundled pretrained checkpoint: zero-shot on any series
register(dlinear.NETWORK)
register(patchtst.NETWORK)
register(informer.NETWORK)
register(mamba.NETWORK)
register(hypermamba.NETWORK)
for timellm_network in timellm.NETWORKS:     # TimeLLM and its two ablations
    register(timellm_network)

AnyModel = Model | GlobalModel


def model(name: str, **settings) -> AnyModel:
    """A registered model with settings, e.g. model("ets", season_length=12) or model("dlinear", epochs=20)."""
    entry = entry_named(name)
    return NeuralModel(name, **settings) if isinstance(entry, Network) else entry(**settings)


def config_class(name: str) -> type[AnyModel]:
    """The config dataclass of the registered model `name` (every network's is NeuralModel)."""
    entry = entry_named(name)
    return NeuralModel if isinstance(entry, Network) else entry


def build(model_: str | AnyModel) -> AnyModel:
    """A model config from a registered name, or the config itself."""
    if isinstance(model_, (Model, GlobalModel)):
        return model_
    return model(model_)


def description(name: str) -> str:
    """One line about a registered model, e.g. for menus and `almanac models`."""
    entry = entry_named(name)
    if isinstance(entry, Network):
        return entry.summary
    return (entry.__doc__ or name).strip().splitlines()[0]


def retrieves(config: AnyModel) -> bool:
    """Whether the model's forecasts use retrieved analogues (the analog model; a network with retrieval)."""
    return isinstance(config, Analog) or (isinstance(config, NeuralModel) and config.retrieval > 0)


def is_network(name: str) -> bool:
    """Whether the registered model `name` is a network (its settings are NeuralModel's: epochs, retrieval, ...)."""
    return isinstance(entry_named(name), Network)


def uses_language_model(model_: str | AnyModel) -> bool:
    """Whether the model reads a description of the data through a language model (TimeLLM's prompt)."""
    name = model_ if isinstance(model_, str) else model_.name
    entry = entry_named(name)
    return isinstance(entry, Network) and entry.language_model


__all__ = ["REGISTRY", "register", "model", "build", "config_class", "description", "uses_language_model",
           "network_named", "Model", "GlobalModel", "NeuralModel", "FittedNetwork", "PanelFit", "History", "Fitted",
           "FitState", "SeriesForecast", "Naive", "SeasonalNaive", "Drift", "Naive2", "ETS", "ARIMA", "Theta", "MSTL",
           "Linear", "Pretrained", "AlmanacBase"]

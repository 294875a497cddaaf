"""A network's declaration: everything the product needs to train and predict it, in one place.

Each backbone file ends with a `Network` (several for variants, such as an ablation): its name,
config dataclass, module, which optional `Batch` inputs it reads, and the product's defaults for
its settings, computed from plain numbers about the data (`DataShape`). The product's registry
lists these declarations and trains every one of them the same way; it never reaches into a
backbone's internals.

Config dataclasses share their first fields: `lookback`, `horizon`, `channels` and `quantiles`;
a network with a decoder start token also has `label_len` (the calendar features of `Batch.y_time`
then cover label_len + horizon steps).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields

from torch import Tensor, nn

SHAPE = ("lookback", "horizon", "channels", "quantiles")   # every config's first fields


@dataclass(frozen=True)
class DataShape:
    """Plain numbers about the data a network is built for."""

    lookback: int               # history steps per window
    horizon: int                # forecast steps
    channels: int               # series per window (1: channel independent)
    n_series: int               # training series (those get a number in Batch.series)
    calendar_features: int      # F, calendar features per step in Batch.x_time / y_time
    description: str            # the data in a sentence, e.g. "3 series of hourly observations."
    series_descriptions: tuple[str, ...] = ()   # per training series, its description in the user's words ('' none)
    description_dim: int = 0    # width of each series' encoded description within Batch.series_embedding (0: none)


def _no_defaults(data: DataShape) -> dict:
    return {}


@dataclass(frozen=True)
class Network:
    """A registered network.

    defaults: the product's settings for this data, under the user's own (e.g. RevIN on, since series
        in a panel drift in level and scale, which a window-wise normalisation absorbs).
    inputs: the optional Batch fields `forward` reads ("x_time", "y_time", "series", "series_embedding",
        "retrieved": TimeLLM's prompt summarises the analogues retrieved).
    series_statistics: for networks that read Batch.series_embedding, how to compute it from a series'
        whole history: x [1, T, 1] -> [1, 1, E].
    language_model: it holds a pretrained language model (the app then asks what the data is).
    quantiles: it can emit quantiles [B, H, C, Q]; otherwise it is trained for a point forecast.
    training: the product's training settings where this network needs other ones than the rest.
    """

    name: str
    summary: str                                   # one line, for menus and `almanac models`
    config: type
    module: type[nn.Module]
    defaults: Callable[[DataShape], dict] = _no_defaults
    inputs: frozenset[str] = frozenset()
    series_statistics: Callable[[Tensor], Tensor] | None = None
    language_model: bool = False
    quantiles: bool = True
    training: dict = field(default_factory=dict)

    @property
    def settings(self) -> list[str]:
        """What `network={...}` may set: the config's fields but the shape, which the product sets."""
        return [f.name for f in fields(self.config) if f.name not in SHAPE]

    def build(self, settings: dict) -> nn.Module:
        config = self.config(**{**settings, "quantiles": tuple(settings.get("quantiles", ()))})
        return self.module(config)

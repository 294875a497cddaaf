"""The one registry: every model's name, a model's config class or a network's declaration."""
from __future__ import annotations

from backbones.network import Network
from forecasting.models.base import GlobalModel, Model

Entry = type[Model] | type[GlobalModel] | Network   # a local model's or a global model's config class, or a network

REGISTRY: dict[str, Entry] = {}


def register(entry: Entry) -> Entry:
    """Make a model available by its name (Forecaster, CLI, app, saved files); returns it."""
    if entry.name in REGISTRY and REGISTRY[entry.name] is not entry:
        raise ValueError(f"a model named {entry.name!r} is registered already")
    REGISTRY[entry.name] = entry
    return entry


def entry_named(name: str) -> Entry:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(REGISTRY)}") from None


def network_named(name: str) -> Network:
    entry = entry_named(name)
    if not isinstance(entry, Network):
        raise ValueError(f"{name!r} is not a network; networks: "
                         f"{', '.join(n for n, e in REGISTRY.items() if isinstance(e, Network))}")
    return entry

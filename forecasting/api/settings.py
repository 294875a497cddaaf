"""Model settings from text, as `--set MODEL.FIELD=VALUE` gives them: typed and checked before anything runs.

VALUE is read as JSON when it parses as JSON, else as text, and then validated by pydantic against
the type of the field it sets: the model's own settings (`epochs`, `season_length`, ...) or, under
`MODEL.network.KEY`, the network's config. An unknown field or a value of the wrong type is a
ValueError that names the field, what it takes, and what was given.
"""
from __future__ import annotations

import json
import typing
from dataclasses import fields, replace

from pydantic import TypeAdapter, ValidationError

from backbones.network import Network
from forecasting.models import AnyModel, NeuralModel, entry_named, model, retrieves


def configured_models(names: list[str], settings: list[str], library: str | None = None) -> list[AnyModel]:
    """The models `names`, each with the `MODEL.FIELD=VALUE` settings that name it; a `library` file goes to
    the models that retrieve analogues (there must be one)."""
    overrides: dict[str, dict] = {name: {} for name in names}
    for setting in settings:
        key, sep, text = setting.partition("=")
        name, _, field = key.partition(".")
        if not sep or not field:
            raise ValueError(f"--set {setting!r}: write MODEL.FIELD=VALUE, e.g. --set informer.epochs=5")
        if name not in overrides:
            raise ValueError(f"--set {setting!r}: {name!r} is not among the chosen models ({', '.join(names)})")
        if field.startswith("network."):
            key = field.removeprefix("network.")
            overrides[name].setdefault("network", {})[key] = _typed(setting, key, _network_types(setting, name), text)
        else:
            overrides[name][field] = _typed(setting, field, _model_types(name), text)
    models = [model(name, **config) for name, config in overrides.items()]
    if library is None:
        return models
    if not any(retrieves(config) for config in models):
        raise ValueError("--library lends its series to models that retrieve analogues: choose analog, or set a "
                         "network's retrieval, e.g. --set dlinear.retrieval=10")
    return [replace(config, library=library) if retrieves(config) else config for config in models]


def _model_types(name: str) -> dict[str, object]:
    entry = entry_named(name)
    config_class = NeuralModel if isinstance(entry, Network) else entry
    hints = typing.get_type_hints(config_class)
    return {f.name: hints[f.name] for f in fields(config_class) if f.init and f.name != "name"}


def _network_types(setting: str, name: str) -> dict[str, object]:
    entry = entry_named(name)
    if not isinstance(entry, Network):
        raise ValueError(f"--set {setting!r}: {name!r} is not a network, so it has no network settings")
    hints = typing.get_type_hints(entry.config)
    return {key: hints[key] for key in entry.settings}


def _typed(setting: str, field: str, types: dict[str, object], text: str) -> object:
    if field not in types:
        raise ValueError(f"--set {setting!r}: unknown setting {field!r}; it takes {', '.join(sorted(types))}")
    adapter = TypeAdapter(types[field])
    candidates = [text]
    try:
        candidates.insert(0, json.loads(text))
    except json.JSONDecodeError:
        pass
    for candidate in candidates:
        try:
            return adapter.validate_python(candidate)
        except ValidationError:
            continue
    raise ValueError(f"--set {setting!r}: {field} takes {_type_words(types[field])}, not {text!r}")


def _type_words(annotation: object) -> str:
    return str(annotation).replace("typing.", "").replace("<class '", "").replace("'>", "")

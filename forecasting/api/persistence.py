"""Saving and loading a fitted Forecaster as `config.json` + `model.safetensors`.

Nothing is pickled: the config is JSON, numbers are safetensors arrays, and models are rebuilt
from their registered names. The config records the weights file's SHA-256, so a changed or
swapped file is refused with a clear message instead of giving silently different forecasts.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from forecasting.errors import ModelFileError
from forecasting.models import FitState, History

FORMAT = "almanac.forecaster"
FORMAT_VERSION = 1
CONFIG, WEIGHTS = "config.json", "model.safetensors"


@dataclass
class Saved:
    """What a saved Forecaster holds: its settings, each model as (name, config), the series it was
    fitted on, and each model's fits as plain data."""

    settings: dict                     # h, freq, inferred_freq, level, fill, duplicates, nonnegative(_used)
    models: list[tuple[str, dict]]
    history: History
    states: list[list[FitState]]       # per model: a FitState per series, or one for a global model


def write(directory: Path, saved: Saved) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    history = saved.history
    arrays = {"history": np.concatenate(history.values)}
    for m, states in enumerate(saved.states):
        for s, state in enumerate(states):
            arrays.update({f"fit/{m}/{s}/{key}": np.ascontiguousarray(value) for key, value in state.arrays.items()})
    save_file(arrays, directory / WEIGHTS)
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "almanac_version": _almanac_version(),
        **saved.settings,
        "models": [{"name": name, "config": config} for name, config in saved.models],
        "series": {"ids": history.ids, "lengths": [len(y) for y in history.values],
                   "last_ds": [ts.isoformat() for ts in history.last_ds]},
        "fits": [[state.spec for state in states] for states in saved.states],
        "weights_sha256": _sha256(directory / WEIGHTS),
    }
    (directory / CONFIG).write_text(json.dumps(config, indent=1))
    return directory


def read(directory: Path) -> Saved:
    config = _read_config(directory)
    weights = directory / WEIGHTS
    if not weights.is_file():
        raise ModelFileError(f"{weights} is missing: a saved model needs both {CONFIG} and {WEIGHTS}")
    if _sha256(weights) != config["weights_sha256"]:
        raise ModelFileError(f"{weights} does not match {directory / CONFIG} (SHA-256 differs): the file was "
                             "changed or comes from another save. Save the model again.")
    try:
        arrays = load_file(weights)
    except (SafetensorError, OSError) as error:
        raise ModelFileError(f"{weights} is not a readable safetensors file ({error}). Save the model again.") from None
    with reading(directory):
        series = config["series"]
        bounds = np.cumsum([0] + series["lengths"])
        history = History(ids=series["ids"],
                          values=[arrays["history"][a:b] for a, b in zip(bounds[:-1], bounds[1:])],
                          last_ds=[pd.Timestamp(ts) for ts in series["last_ds"]])
        states = [[FitState(spec=spec, arrays={key.rsplit("/", 1)[1]: value for key, value in arrays.items()
                                               if key.startswith(f"fit/{m}/{s}/")})
                   for s, spec in enumerate(specs)]
                  for m, specs in enumerate(config["fits"])]
        settings = {key: config[key] for key in ("h", "freq", "inferred_freq", "level", "fill", "duplicates")}
        # saved before forecasts could be kept at or above zero: they were not
        settings.update(nonnegative=config.get("nonnegative"), nonnegative_used=config.get("nonnegative_used", False))
        return Saved(settings, [(entry["name"], entry["config"]) for entry in config["models"]], history, states)


@contextmanager
def reading(directory: Path) -> Iterator[None]:
    """Turns what an incomplete or inconsistent save raises while it is read or rebuilt into a ModelFileError."""
    try:
        yield
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{directory / CONFIG} is incomplete or inconsistent ({error!r}). Save the model again.") from None


def _read_config(directory: Path) -> dict:
    path = directory / CONFIG
    if not path.is_file():
        raise ModelFileError(f"{path} is missing: is {directory} a directory written by Forecaster.save?")
    try:
        config = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{path} is not valid JSON ({error}). Save the model again.") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not an Almanac forecaster (format {config.get('format') if isinstance(config, dict) else None!r}).")
    if config.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was saved in format version {config.get('format_version')!r} by almanac "
            f"{config.get('almanac_version')}; this is almanac {_almanac_version()}, which reads version "
            f"{FORMAT_VERSION}. Refit and save with this version."
        )
    return config


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _almanac_version() -> str:
    try:
        return version("almanac")
    except PackageNotFoundError:
        return "unknown"

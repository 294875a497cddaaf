"""Saving and loading a fitted Forecaster as `config.json` + `model.safetensors`.

Nothing is pickled: the config is JSON, numbers are safetensors arrays, and models are rebuilt
from their registered names. The config records the weights file's SHA-256, so a changed or
swapped file is refused with a clear message instead of giving silently different forecasts.
"""
from __future__ import annotations

import hashlib
import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from .errors import ModelFileError
from .forecaster import Forecaster, History
from .models import FitState, from_config

FORMAT = "almanac.forecaster"
FORMAT_VERSION = 1
CONFIG, WEIGHTS = "config.json", "model.safetensors"


def save_forecaster(forecaster: Forecaster, directory: Path) -> Path:
    history = forecaster.history
    if history is None:
        raise RuntimeError("fit the Forecaster before saving it")
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {"history": np.concatenate(history.values)}
    fits = []
    for m, states in enumerate(forecaster.states):
        fits.append([state.spec for state in states])
        for s, state in enumerate(states):
            arrays.update({f"fit/{m}/{s}/{key}": np.ascontiguousarray(value) for key, value in state.arrays.items()})
    save_file(arrays, directory / WEIGHTS)
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "almanac_version": _almanac_version(),
        "h": forecaster.h,
        "freq": forecaster.freq,
        "inferred_freq": forecaster.freq_,
        "level": forecaster.level,
        "fill": forecaster.fill,
        "duplicates": forecaster.duplicates,
        "models": [{"name": model.name, "config": model.config()} for model in forecaster.models],
        "series": {"ids": history.ids, "lengths": [len(y) for y in history.values],
                   "last_ds": [ts.isoformat() for ts in history.last_ds]},
        "fits": fits,
        "weights_sha256": _sha256(directory / WEIGHTS),
    }
    (directory / CONFIG).write_text(json.dumps(config, indent=1))
    return directory


def load_forecaster(directory: Path) -> Forecaster:
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
    try:
        forecaster = Forecaster(
            models=[from_config(entry["name"], entry["config"]) for entry in config["models"]],
            h=config["h"], freq=config["freq"], level=config["level"],
            fill=config["fill"], duplicates=config["duplicates"],
        )
        series = config["series"]
        bounds = np.cumsum([0] + series["lengths"])
        forecaster.freq_ = config["inferred_freq"]
        forecaster.history = History(
            ids=series["ids"],
            values=[arrays["history"][a:b] for a, b in zip(bounds[:-1], bounds[1:])],
            last_ds=[pd.Timestamp(ts) for ts in series["last_ds"]],
        )
        forecaster.states = [
            [FitState(spec=spec, arrays={key.rsplit("/", 1)[1]: value for key, value in arrays.items()
                                         if key.startswith(f"fit/{m}/{s}/")})
             for s, spec in enumerate(specs)]
            for m, specs in enumerate(config["fits"])
        ]
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{directory / CONFIG} is incomplete or inconsistent ({error!r}). Save the model again.") from None
    return forecaster


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

"""Saving and loading a fitted Forecaster as `config.json` + `model.safetensors`.

Nothing is pickled: the config is JSON, numbers are safetensors arrays, and models are rebuilt
from their registered names. One SHA-256 over both files' contents is recorded in the config, so
an edit of either is refused instead of giving silently different forecasts. Then every part of the
config is read against its schema (types and ranges, no unknown fields): the settings and the
series here, each model's config with its config class, each fit's spec with its model's schema;
a network is rebuilt from local files only. Whatever does not fit is a ModelFileError that names
the file, the field and the fix.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from pydantic import AfterValidator, BaseModel, Field, PositiveInt, model_validator
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from forecasting.data.frame import DUPLICATES, FILLS
from forecasting.errors import ModelFileError
from backbones.language.text_encoder import TextEncoderConfig
from forecasting.models import AnyModel, FitState, GlobalModel, History, Model, PanelFit, config_class
from forecasting.models.base import HistoryText, SeriesDescriptions
from forecasting.models.text import TextComponents
from forecasting.models.base import SAVED, Place, SavedError, place_text, read_saved
from forecasting.models.statistical.fitting import check_fit

FORMAT = "almanac.forecaster"
FORMAT_VERSION = 2
CONFIG, WEIGHTS = "config.json", "model.safetensors"
DIGEST = "sha256"                   # the config's key for the SHA-256 of both files
MAX_HORIZON = 100_000               # steps; a forecast this long is a reading error, not a plan
FIX = "Fit the model again and save it with this version of Almanac."
SHOWN = 5                           # problems a message names


def _frequency(alias: str) -> str:
    try:
        to_offset(alias)
    except ValueError:
        raise ValueError(f"{alias!r} is not a pandas frequency alias") from None
    return alias


def _timestamp(text: str) -> str:
    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        stamp = pd.NaT
    if stamp is pd.NaT:
        raise ValueError(f"{text!r} is not a timestamp")
    return text


def _levels(levels: list[int]) -> list[int]:
    if levels != sorted(set(levels)):
        raise ValueError(f"{levels} are not ascending levels, each once")
    return levels


Frequency = Annotated[str, AfterValidator(_frequency)]
Levels = Annotated[list[Annotated[int, Field(gt=0, lt=100)]], AfterValidator(_levels)]


class Settings(BaseModel):
    """The Forecaster's settings, as `Forecaster.save` writes them and `Forecaster.load` passes them on."""

    model_config = SAVED
    h: Annotated[int, Field(ge=1, le=MAX_HORIZON)]
    freq: Frequency | None                 # the frequency asked for; None: inferred
    inferred_freq: Frequency               # the frequency the models were fitted at
    level: Levels
    fill: Literal[FILLS]
    duplicates: Literal[DUPLICATES]
    nonnegative: bool | None
    nonnegative_used: bool
    text_cols: list[str] | None = None     # as asked for; the text the fit used is in `text`
    future_text_cols: list[str] = []
    description_col: str | None = None


class SavedEncoder(BaseModel):
    model_config = SAVED
    model: str | None
    pooling: Literal["mean", "cls"]
    max_tokens: Annotated[int, Field(ge=2)]
    batch_size: PositiveInt


class SavedText(BaseModel):
    """The series' text covariates: the columns, which are known in advance, the encoder, and the distinct texts
    (the array text_codes [rows, columns] holds each row's text as an index into `distinct`, 0 for none)."""

    model_config = SAVED
    columns: list[str] = Field(min_length=1)
    known: list[bool]
    encoder: SavedEncoder
    distinct: list[str]

    @model_validator(mode="after")
    def _consistent(self) -> SavedText:
        if len(self.known) != len(self.columns):
            raise ValueError(f"known has {len(self.known)} entries for {len(self.columns)} columns")
        if not self.distinct or self.distinct[0] != "":
            raise ValueError("distinct must start with '' (no text)")
        return self


class SavedDescriptions(BaseModel):
    """Each series' description ('' none) and the encoder that reads them."""

    model_config = SAVED
    texts: list[str]
    encoder: SavedEncoder


class SavedComponents(BaseModel):
    """The components of the known-in-advance text (arrays text_components.mean and .basis) and the texts
    they were found on."""

    model_config = SAVED
    columns: list[str] = Field(min_length=1)
    texts: list[list[str]]


class SavedSeries(BaseModel):
    """The series the models were fitted on (their values are the weights' "history")."""

    model_config = SAVED
    ids: list[str] = Field(min_length=1)
    lengths: list[PositiveInt]
    last_ds: list[Annotated[str, AfterValidator(_timestamp)]]

    @model_validator(mode="after")
    def _one_entry_per_series(self) -> SavedSeries:
        if not len(self.ids) == len(self.lengths) == len(self.last_ds):
            raise ValueError(f"{len(self.ids)} ids, {len(self.lengths)} lengths and {len(self.last_ds)} last_ds: "
                             "give one of each per series")
        if len(set(self.ids)) != len(self.ids):
            raise ValueError("ids repeat a series")
        return self


class SavedModel(BaseModel):
    model_config = SAVED
    name: str
    config: dict                           # read with the model's config class


class ConfigFile(Settings):
    """config.json. Its parts that depend on the model (configs, fits) are read by the model's schemas."""

    format: Literal[FORMAT]
    format_version: Literal[FORMAT_VERSION]
    almanac_version: str
    models: list[SavedModel] = Field(min_length=1)
    series: SavedSeries
    fits: list[list[dict]]                 # per model: a fit's spec per series, or one for a global model
    text: SavedText | None = None
    text_components: SavedComponents | None = None
    descriptions: SavedDescriptions | None = None
    sha256: Annotated[str, Field(pattern="^[0-9a-f]{64}$")]

    @model_validator(mode="after")
    def _each_model_once(self) -> ConfigFile:
        names = [model.name for model in self.models]
        if len(set(names)) != len(names):
            raise ValueError(f"models {names} repeat a model")
        return self


@dataclass
class Saved:
    """What a saved Forecaster holds: its settings, its models, the series it was fitted on, and each
    model's fits (FitStates; a global model's fit is live in memory once read)."""

    settings: Settings
    models: list[AnyModel]
    history: History
    states: list[list[FitState | PanelFit]]     # per model: a FitState per series, or one fit for a global model
    text_components: TextComponents | None = None


def write(directory: Path, saved: Saved) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    history = saved.history
    states = [[state.to_state() if isinstance(state, PanelFit) else state for state in model_states]
              for model_states in saved.states]
    arrays = {"history": np.concatenate(history.values)}
    text = None
    if history.text is not None:
        cells = np.concatenate(history.text.past)
        distinct = [""] + sorted(set(cells.reshape(-1).tolist()) - {""})
        code = {cell: i for i, cell in enumerate(distinct)}
        arrays["text_codes"] = np.vectorize(code.__getitem__, otypes=[np.int64])(cells).reshape(cells.shape)
        text = {"columns": history.text.columns, "known": history.text.known,
                "encoder": asdict(history.text.encoder), "distinct": distinct}
    components = saved.text_components
    if components is not None:
        arrays["text_components.mean"], arrays["text_components.basis"] = components.mean, components.basis
    for m, model_states in enumerate(states):
        for s, state in enumerate(model_states):
            arrays.update({f"fit/{m}/{s}/{key}": np.ascontiguousarray(value) for key, value in state.arrays.items()})
    save_file(arrays, directory / WEIGHTS)
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "almanac_version": _almanac_version(),
        **saved.settings.model_dump(),
        "models": [saved_model(model).model_dump() for model in saved.models],
        "series": {"ids": history.ids, "lengths": [len(y) for y in history.values],
                   "last_ds": [ts.isoformat() for ts in history.last_ds]},
        "fits": [[state.spec for state in model_states] for model_states in states],
        "text": text,
        "descriptions": None if history.descriptions is None else {
            "texts": history.descriptions.texts, "encoder": asdict(history.descriptions.encoder)},
        "text_components": None if components is None else {"columns": components.columns,
                                                             "texts": components.texts},
    }
    config = json.loads(json.dumps(config))                          # as reading will see it
    config[DIGEST] = content_digest(config, directory / WEIGHTS)
    (directory / CONFIG).write_text(json.dumps(config, indent=1))
    return directory


def read(directory: Path) -> Saved:
    """The Forecaster saved in `directory`, every part checked; raises ModelFileError."""
    config = _read_config(directory)
    weights = directory / WEIGHTS
    if not weights.is_file():
        raise ModelFileError(f"{weights} is missing: a saved model needs both {CONFIG} and {WEIGHTS}. {FIX}")
    if DIGEST not in config:
        raise ModelFileError(f"{directory / CONFIG}: {DIGEST} is missing, so the files cannot be checked. {FIX}")
    if config[DIGEST] != content_digest(config, weights):
        raise ModelFileError(
            f"{directory / CONFIG} or {weights} changed since the model was saved: their SHA-256 differs from the "
            f"one recorded in {CONFIG}. {FIX}")
    with _reading(directory):
        file = read_saved(ConfigFile, config)
    try:
        arrays = load_file(weights)
    except (SafetensorError, OSError) as error:
        raise ModelFileError(f"{weights} is not a readable safetensors file ({error}). {FIX}") from None
    settings = Settings(**{key: getattr(file, key) for key in Settings.model_fields})
    history = _history(directory, file.series, arrays)
    history.text = _text(directory, file, history, arrays)
    if file.descriptions is not None:
        if len(file.descriptions.texts) != len(history.ids):
            raise ModelFileError(f"{directory / CONFIG}: descriptions.texts has {len(file.descriptions.texts)} "
                                 f"entries for {len(history.ids)} series. {FIX}")
        history.descriptions = SeriesDescriptions(file.descriptions.texts,
                                                  TextEncoderConfig(**file.descriptions.encoder.model_dump()))
    models = []
    for m, entry in enumerate(file.models):
        with _reading(directory, ("models", m)):
            models.append(model_from_saved(entry))
    return Saved(settings, models, history, _fits(directory, file, models, history, arrays),
                 _components(directory, file, arrays))


@contextmanager
def _reading(directory: Path, where: Place = ()) -> Iterator[None]:
    """Turns what a part of a save at `where` raises while it is read or rebuilt into a ModelFileError."""
    try:
        yield
    except SavedError as error:
        problems = "; ".join(f"{place_text(where + place) or 'the file'}: {problem}"
                             for place, problem in error.problems[:SHOWN])
        if len(error.problems) > SHOWN:
            problems += f"; and {len(error.problems) - SHOWN} more problems"
        raise ModelFileError(f"{directory / CONFIG}: {problems}. {FIX}") from None
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError, OSError) as error:
        raise ModelFileError(f"{directory / CONFIG}: {place_text(where) or 'the file'}: {error}. {FIX}") from None


def content_digest(config: dict, weights: Path) -> str:
    """SHA-256 of the config (all but its digest, as canonical JSON) followed by the weights file's bytes."""
    digest = hashlib.sha256(json.dumps({key: value for key, value in config.items() if key != DIGEST},
                                       sort_keys=True).encode())
    with weights.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_config(directory: Path) -> dict:
    path = directory / CONFIG
    if not path.is_file():
        raise ModelFileError(f"{path} is missing: is {directory} a directory written by Forecaster.save?")
    try:
        config = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{path} is not valid JSON ({error}). {FIX}") from None
    except RecursionError:
        raise ModelFileError(f"{path} nests its values too deeply to be a saved model. {FIX}") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not an Almanac forecaster (format {config.get('format') if isinstance(config, dict) else None!r}).")
    if config.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was saved in format version {config.get('format_version')!r} by almanac "
            f"{config.get('almanac_version')}; this is almanac {_almanac_version()}, which reads version "
            f"{FORMAT_VERSION}. Refit and save with this version."
        )
    return config


def _history(directory: Path, series: SavedSeries, arrays: dict[str, np.ndarray]) -> History:
    values = arrays.get("history")
    if values is None or values.ndim != 1 or len(values) != sum(series.lengths):
        raise ModelFileError(f"{directory / WEIGHTS}: history does not hold the {sum(series.lengths)} values that "
                             f"series.lengths in {CONFIG} add up to. {FIX}")
    bounds = np.cumsum([0] + series.lengths)
    return History(ids=series.ids, values=[values[a:b] for a, b in zip(bounds[:-1], bounds[1:])],
                   last_ds=[pd.Timestamp(ts) for ts in series.last_ds])


def _text(directory: Path, file: ConfigFile, history: History, arrays: dict[str, np.ndarray]) -> HistoryText | None:
    if file.text is None:
        return None
    codes, columns = arrays.get("text_codes"), len(file.text.columns)
    rows = sum(len(y) for y in history.values)
    if codes is None or codes.shape != (rows, columns) or codes.min(initial=0) < 0 \
            or codes.max(initial=0) >= len(file.text.distinct):
        raise ModelFileError(f"{directory / WEIGHTS}: text_codes is not a code of text.distinct for each of the "
                             f"{rows} rows and {columns} text columns. {FIX}")
    cells = np.asarray(file.text.distinct, object)[codes]
    bounds = np.cumsum([0] + [len(y) for y in history.values])
    h = file.h
    return HistoryText(columns=file.text.columns, known=file.text.known,
                       past=[cells[a:b] for a, b in zip(bounds[:-1], bounds[1:])],
                       ahead=[np.full((h, columns), "", object) for _ in history.ids],
                       encoder=TextEncoderConfig(**file.text.encoder.model_dump()))


def _components(directory: Path, file: ConfigFile, arrays: dict[str, np.ndarray]) -> TextComponents | None:
    saved = file.text_components
    if saved is None:
        return None
    mean, basis = arrays.get("text_components.mean"), arrays.get("text_components.basis")
    columns = len(saved.columns)
    if file.text is None or mean is None or basis is None or mean.ndim != 2 or basis.ndim != 3 \
            or len(mean) != columns or basis.shape[0] != columns or basis.shape[2] != mean.shape[1] \
            or len(saved.texts) != columns:
        raise ModelFileError(f"{directory / WEIGHTS}: text_components.mean and .basis are not the components of "
                             f"the {columns} text columns known in advance. {FIX}")
    return TextComponents(saved.columns, mean, basis, saved.texts,
                          TextEncoderConfig(**file.text.encoder.model_dump()))


def saved_model(model: AnyModel) -> SavedModel:
    """What a model file keeps of a model: its name and settings."""
    return SavedModel(name=model.name, config=model.config())


def model_from_saved(entry: SavedModel) -> AnyModel:
    """The model a SavedModel describes, its settings read with its config class (raises SavedError)."""
    model_class = config_class(entry.name)
    unsaved = sorted(set(entry.config) & model_class.unsaved)
    if unsaved:
        raise SavedError([(("config", key), "a model file never sets this: it concerns the machine that fitted the "
                                            "model, and a path in a file is not trusted") for key in unsaved])
    model = read_saved(model_class, entry.config, at=("config",))
    if model.name != entry.name:
        raise SavedError([(("config", "name"), f"is {model.name!r}, but the model is {entry.name!r}")])
    return model


def _fits(directory: Path, file: ConfigFile, models: list[AnyModel], history: History,
          arrays: dict[str, np.ndarray]) -> list[list[FitState | PanelFit]]:
    """Each model's fits, checked against its schema; a global model's rebuilt."""
    if len(file.fits) != len(models):
        raise ModelFileError(f"{directory / CONFIG}: fits has {len(file.fits)} entries for {len(models)} models. {FIX}")
    fit_arrays: dict[str, dict[str, np.ndarray]] = {}         # "fit/m/s/" -> that fit's arrays by name
    for key, value in arrays.items():
        prefix, _, name = key.rpartition("/")
        fit_arrays.setdefault(f"{prefix}/", {})[name] = value
    states = []
    for m, (model, specs) in enumerate(zip(models, file.fits)):
        expected = 1 if isinstance(model, GlobalModel) else len(history.ids)
        if len(specs) != expected:
            raise ModelFileError(f"{directory / CONFIG}: fits[{m}] has {len(specs)} fits, but {model.name} has "
                                 f"{expected} ({'one for the panel' if expected == 1 else 'one per series'}). {FIX}")
        model_states = [FitState(spec=spec, arrays=fit_arrays.get(f"fit/{m}/{s}/", {})) for s, spec in enumerate(specs)]
        for s, state in enumerate(model_states):
            with _reading(directory, ("fits", m, s)):
                model_states[s] = restore_fit(model, state, history.ids, file.h, file.level)
        states.append(model_states)
    return states


def restore_fit(model: AnyModel, state: FitState, series: list[str], h: int, levels: list[int]) -> FitState | PanelFit:
    """A saved fit of `model`, checked (a local model's) or live again (a global model's); raises ValueError or
    SavedError where it is not a fit that `model` writes."""
    if isinstance(model, Model):
        check_fit(model, state, h, levels)
        return state
    return model.restore_panel(state, series, h, levels)


def _almanac_version() -> str:
    try:
        return version("almanac")
    except PackageNotFoundError:
        return "unknown"

"""Every registered network as a Forecaster model: one network trained across all series.

Every series is standardised with the mean and deviation of its own training rows and cut into
windows (channel independent: one channel per window, so series of any length and start mix).
Each series is split by time into train | validation | calibration, the last two of `max(h, 10%)`
rows each (see `forecasting.models.splits`). The calibration rows grow, out of the train rows,
until the panel's series together hold the windows the highest level needs (`windows_needed`:
80% needs 4, 95% needs 19), as far as the train rows keep the lookback and a horizon; a network
calibrated on fewer says so (`ShortCalibration`). Training runs twice. First on the train rows, early-stopped on the validation rows:
that chooses the number of epochs. The calibration windows, which chose nothing, then calibrate
the intervals of this network: conformal intervals from its absolute errors for point networks,
conformalised quantile regression for quantile heads (trained with the pinball loss, the default
when levels are asked for). Then the final network trains on every row for the chosen number of
epochs, from the same seed, so it has seen the latest rows; it keeps the calibration of the first
(`retrain_on_all_rows=False` keeps the first network instead).

The trained network stays in memory from `fit` to `predict` (a `FittedNetwork`); it becomes
arrays only when the Forecaster is saved.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import torch
from accelerate.utils import set_seed
from pydantic import AllowInfNan, BaseModel, Field, NonNegativeInt, PositiveFloat, PositiveInt
from torch import nn

from backbones.network import DataShape, Network
from backbones.retrieval import FusionConfig, RetrievalFusion, RetrievalPrepend
from backbones.sources import local_sources_only
from backbones.state import load_trained_state, trained_state
from backbones.text_fusion import TextFusion, TextFusionConfig
from forecasting.errors import DataError
from forecasting.models.base import (SAVED, FitState, GlobalModel, History, PanelFit, SavedError, SeriesDescriptions,
                                     SeriesForecast, read_saved)
from forecasting.models.intervals import conformal_quantile, quantile_interval_scores, windows_needed
from forecasting.models.neural.training import TrainingConfig, TrainingResult, train
from forecasting.models.neural.windows import (Scaler, TextRows, Windows, calendar_features, make_windows,
                                               n_calendar_features)
from forecasting.models.registry import network_named
from forecasting.models.splits import Split, grow_calibration, held_out_rows, split_rows
from forecasting.models.text import encoded, text_encoder
from forecasting.retrieval.index import WindowIndex
from forecasting.retrieval.library import check_library, library_series, own_series
from forecasting.retrieval.retriever import NextAnalogues, Retriever, last_windows

LOSSES = ("quantile", "mse")
MIN_LOOKBACK = 4
STEPS_PER_EPOCH = 100


@dataclass
class NeuralModel(GlobalModel):
    """A registered network trained through the shared training engine.

    name: the network's registered name ("dlinear", "timellm", ...).
    lookback: history steps per window (None: max(2h, 32), shortened to fit short series).
    network: overrides of the network's config, e.g. {"d_model": 64}.
    loss: "quantile" (pinball loss on a quantile head) or "mse" (point forecast, conformal intervals);
        None: quantile where the network has a quantile head.
    steps_per_epoch: None: the network's default (100; TimeLLM's 20).
    description: what the data is, in a sentence, for networks that read one (TimeLLM's prompt);
        None: "<n> series of <frequency> observations." Each series' own description (Forecaster's
        description_col) goes into TimeLLM's prompt, and, encoded, into HyperMamba's conditioning.
    retrain_on_all_rows: once early stopping has chosen the number of epochs, train the final
        network again on every row, the held-out latest ones included. False keeps the early-stopped
        network (about half the training time, but it never learns from the latest rows).
    retrieval: analogues fused into each window's forecast (0: none): the futures of the k past windows
        most like it (see `forecasting.retrieval`; never one that ends after the window's cutoff), weighted
        by a learned softmax over similarity and fused by a linear layer that starts at zero (RAFT-style,
        `backbones.retrieval`). retrieval_dtw: re-rank the most similar windows by DTW distance.
        retrieval_fusion: "blend" (the above) or "prepend": the most similar analogue's window, lookback and
        future, is put before the input as earlier history (RAF-style).
    library: other series to retrieve from besides the user's own (a file path, a Panel or a long
        frame). It is data, not a setting: a model file keeps its windows in the index, never the library.
    text_fusion: how the network reads text covariates, where the history has them (see
        `backbones.text_fusion`): "late" (a gated MLP of each step's text embedding, a learned shift of the
        forecast) or "cross" (the series' tokens attend to the text tokens). Without text the network is as it is.
    checkpoint_dir, resume: where training checkpoints each epoch, and whether it continues the run
        found there (one folder per training set and settings). They concern this machine, so a model
        file keeps neither.
    The remaining fields are the training settings (see `TrainingConfig`).
    """

    unsaved = frozenset({"checkpoint_dir", "resume", "library"})
    name: str
    lookback: Annotated[int, Field(ge=MIN_LOOKBACK)] | None = None
    epochs: int = 10
    batch_size: int = 32
    learning_rate: PositiveFloat = 1e-3
    optimizer: str = "adamw"
    loss: str | None = None
    patience: PositiveInt = 3
    steps_per_epoch: PositiveInt | None = None
    seed: NonNegativeInt = 0
    precision: str = "no"
    network: dict = field(default_factory=dict)
    description: str | None = None
    checkpoint_dir: str | None = None
    resume: bool = False
    retrain_on_all_rows: bool = True
    retrieval: NonNegativeInt = 0
    retrieval_dtw: bool = False
    retrieval_fusion: Literal["blend", "prepend"] = "blend"
    library: Any = None
    text_fusion: Literal["late", "cross"] = "late"

    def __post_init__(self) -> None:
        spec = self.spec
        if self.loss is not None and self.loss not in LOSSES:
            raise ValueError(f"{self.name}: loss must be one of {LOSSES}, got {self.loss!r}")
        if self.loss == "quantile" and not spec.quantiles:
            raise ValueError(f"{self.name} gives point forecasts only: use loss='mse' (conformal intervals)")
        unknown = set(self.network) - set(spec.settings)
        if unknown:
            raise ValueError(f"{self.name}: unknown network settings {sorted(unknown)}; "
                             f"the network takes {sorted(spec.settings)}")
        self.training_config()  # validates optimizer, precision, epochs, batch size
        check_library(self.library)

    @property
    def spec(self) -> Network:
        return network_named(self.name)

    @property
    def summary(self) -> str:
        return self.spec.summary

    def training_config(self) -> TrainingConfig:
        steps = self.steps_per_epoch or self.spec.training.get("steps_per_epoch", STEPS_PER_EPOCH)
        return TrainingConfig(epochs=self.epochs, batch_size=self.batch_size, learning_rate=self.learning_rate,
                              optimizer=self.optimizer, patience=self.patience,
                              steps_per_epoch=steps, seed=self.seed, precision=self.precision)

    def min_length(self, h: int) -> int:
        # the lookback, a training window, then the validation and calibration rows
        return (self.lookback or MIN_LOOKBACK) + h + held_out_rows(h)

    # ---- fit and forecast ------------------------------------------------------------------

    def fit_panel(self, history: History, freq: str, h: int, levels: list[int],
                  progress: Callable[[int, int], None] | None = None) -> FittedNetwork:
        splits = [split_rows(len(y), h) for y in history.values]
        lookback = self._lookback(history, h, splits)
        # each series' share of the windows the highest level needs, pooled over the panel
        share = math.ceil(windows_needed(max(levels)) / len(splits)) if levels else 1
        splits = [grow_calibration(split, h, share, lookback + h) for split in splits]
        scalers = [Scaler.fit(y[split.train, None]) for y, split in zip(history.values, splits)]
        described = self._reads_descriptions(history)
        config = self._network_config(lookback, h, freq, levels, len(history.ids),
                                      history.descriptions if described else None)
        quantiles = tuple(config["quantiles"])
        blocks = _blocks(history, freq, scalers)
        statistics = self._series_statistics([values[split.train, 0] for (values, _), split in zip(blocks, splits)],
                                             history if described else None)

        retriever = self._retriever(history, freq, lookback, h)
        stamps = _stamps(history, freq) if retriever else None
        text = _text_rows(history, with_ahead=False)
        text_spec = None if text is None else {"columns": int(text.known.size), "dim": int(text.table.shape[1]),
                                               "mode": self.text_fusion}

        def windows(rows: list[range]) -> Windows:
            return make_windows(blocks, lookback, h, rows, label_len=config.get("label_len", 0),
                                series_embedding=statistics, retriever=retriever, stamps=stamps, text=text)

        run = self._checkpoints(history, freq, config, retriever, text_spec)
        network, chosen = self._train(config, text_spec, windows([s.train for s in splits]),
                                      windows([s.validation for s in splits]),
                                      self.epochs, run / "early-stopping" if run else None, progress)
        scores = _calibration_scores(network, windows([s.calibration for s in splits]), quantiles, levels) if levels else None
        training = {"epochs_run": chosen.epochs_run, "best_epoch": chosen.best_epoch,
                    "best_val_loss": chosen.best_val_loss, "final_epochs": 0, "final_train_loss": None}
        if self.retrain_on_all_rows:  # it keeps the calibration of the early-stopped network
            network, final = self._train(config, text_spec, windows([range(len(y)) for y in history.values]), None,
                                         chosen.best_epoch, run / "final" if run else None, progress)
            training.update(final_epochs=final.epochs_run, final_train_loss=final.history[-1]["train_loss"])
        return FittedNetwork(network=network, config=config, lookback=lookback, series=list(history.ids),
                             scalers=scalers, calibration_levels=levels, calibration_scores=scores, training=training,
                             retriever=retriever, text=text_spec, described=described)

    def forecast_panel(self, history: History, freq: str, h: int, levels: list[int],
                       fit: FittedNetwork) -> list[SeriesForecast]:
        lookback, quantiles = fit.lookback, tuple(fit.config["quantiles"])
        short = [i for i, y in zip(history.ids, history.values) if len(y) < lookback]
        if short:
            raise DataError(f"{self.name}: series {short[:5]} are shorter than the network's lookback of {lookback} steps")
        # Each series gets one window whose targets are the h steps after its end.
        blocks, scaled = [], _blocks(history, freq, fit.scalers)
        if fit.described and history.descriptions is None:
            raise DataError(f"{self.name} was trained with each series' description: give the series to forecast "
                            "theirs too (description_col)")
        statistics = self._series_statistics([values[:, 0] for values, _ in scaled],
                                             history if fit.described else None)
        for (values, time), last in zip(scaled, history.last_ds):
            future = pd.date_range(last, periods=h + 1, freq=freq)[1:]
            blocks.append((np.concatenate([values, np.zeros((h, 1), np.float32)]),
                           np.concatenate([time, calendar_features(future, freq)])))
        # series seen in training keep their number; others are unseen (0)
        trained = {series: number for number, series in enumerate(fit.series, start=1)}
        windows = make_windows(blocks, lookback, h, [range(len(y), len(y) + h) for y in history.values],
                               label_len=fit.config.get("label_len", 0), series=[trained.get(i, 0) for i in history.ids],
                               series_embedding=statistics, retriever=fit.retriever,
                               stamps=_stamps(history, freq, h) if fit.retriever else None,
                               text=self._forecast_text(history, fit))
        with torch.no_grad():
            output = torch.cat([fit.network(windows.batch(index)[0])
                                for index in torch.arange(len(windows)).split(1024)]).numpy()
        output = output[:, :, 0]                                                     # [S, h] or [S, h, Q]
        # per level, standardised: a quantile head's widening, or a point forecast's half-width
        margins = {level: conformal_quantile(fit.calibration(level), level) for level in levels}
        forecasts = []
        for s, scaler in enumerate(fit.scalers):
            margin = {level: standardised * scaler.std[0] for level, standardised in margins.items()}
            if quantiles:
                paths = scaler.inverse(np.sort(output[s], axis=-1)[:, None, :], channel_axis=1)[:, 0, :]
                forecast = _quantile_forecast(paths, quantiles, margin)
            else:
                mean = scaler.inverse(output[s][:, None])[:, 0]
                forecast = SeriesForecast(mean=mean, lower={level: mean - m for level, m in margin.items()},
                                          upper={level: mean + m for level, m in margin.items()})
            forecasts.append(forecast)
        return forecasts

    def restore_panel(self, state: FitState, series: list[str], h: int, levels: list[int]) -> FittedNetwork:
        return FittedNetwork.from_state(self.spec, state, series, h, levels, self.retrieval, self.retrieval_dtw,
                                        self.retrieval_fusion)

    def _forecast_text(self, history: History, fit: FittedNetwork) -> TextRows | None:
        """The text rows of each series' history and horizon, for a network trained with text."""
        if fit.text is None:
            return None
        if history.text is None or len(history.text.columns) != fit.text["columns"]:
            given = 0 if history.text is None else len(history.text.columns)
            raise DataError(f"{self.name} was trained with {fit.text['columns']} text columns, but the series to "
                            f"forecast have {given}: give the same text columns as at fit")
        return _text_rows(history, with_ahead=True)

    # ---- helpers ---------------------------------------------------------------------------

    def _train(self, config: dict, text: dict | None, train_windows: Windows, val_windows: Windows | None,
               epochs: int, checkpoint_dir: Path | None,
               progress: Callable[[int, int], None] | None) -> tuple[nn.Module, TrainingResult]:
        """A new network from the seed, trained (early-stopped on val_windows, if any) and in eval mode."""
        set_seed(self.seed)
        network = build_network(self.spec, config, self.retrieval, self.retrieval_fusion, text)
        result = train(network, train_windows, val_windows, replace(self.training_config(), epochs=epochs),
                       tuple(config["quantiles"]), checkpoint_dir=checkpoint_dir, resume=self.resume, progress=progress)
        return network.eval(), result

    def _lookback(self, history: History, h: int, splits: list[Split]) -> int:
        shortest = min(splits, key=lambda split: len(split.train))
        windows_room = len(shortest.train) - h
        if self.lookback is not None:
            if self.lookback > windows_room:
                held_out = len(shortest.validation) + len(shortest.calibration)
                raise DataError(f"{self.name}: lookback {self.lookback} leaves no training window in the shortest series "
                                f"({len(shortest.train)} training rows once its last {held_out} rows are held out for "
                                f"early stopping and calibration, horizon {h}); lower lookback or give longer series")
            return self.lookback
        return min(max(2 * h, 32), windows_room)  # min_length keeps this at least MIN_LOOKBACK

    def _reads_descriptions(self, history: History) -> bool:
        """Whether this network reads the series' descriptions: it has a prompt or conditions on them, and some
        series has one."""
        return (history.descriptions is not None and any(history.descriptions.texts)
                and (self.spec.series_statistics is not None or self.spec.language_model))

    def _network_config(self, lookback: int, h: int, freq: str, levels: list[int], n_series: int,
                        descriptions: SeriesDescriptions | None = None) -> dict:
        """The network's settings: the shape, the product's defaults for this data, then the user's."""
        quantile = (self.loss or ("quantile" if self.spec.quantiles else "mse")) == "quantile"
        data = DataShape(lookback=lookback, horizon=h, channels=1, n_series=n_series,
                         calendar_features=n_calendar_features(freq),
                         description=self.description or f"{n_series} series of {_frequency_words(freq)} observations.",
                         series_descriptions=tuple(descriptions.texts) if descriptions else (),
                         description_dim=text_encoder(descriptions.encoder).dim
                         if descriptions and self.spec.series_statistics else 0)
        return {"lookback": lookback, "horizon": h, "channels": 1, "quantiles": _quantiles(levels) if quantile else [],
                **self.spec.defaults(data), **self.network}

    def _series_statistics(self, histories: list[np.ndarray], described: History | None = None) -> np.ndarray | None:
        """Batch.series_embedding rows from each series' standardised history, for networks that read them; with
        `described`, each series' encoded description after them (zeros where it has none)."""
        statistics = self.spec.series_statistics
        if statistics is None:
            return None
        rows = np.stack([statistics(torch.from_numpy(np.ascontiguousarray(y, np.float32))[None, :, None])[0, 0].numpy()
                         for y in histories])
        if described is None:
            return rows
        descriptions = described.descriptions
        return np.concatenate([rows, text_encoder(descriptions.encoder).encode(descriptions.texts)], axis=1)

    def _retriever(self, history: History, freq: str, lookback: int, h: int) -> Retriever | None:
        """The analogues' source: every window of the history (and the library), or None without retrieval."""
        if not self.retrieval:
            return None
        index = WindowIndex.build(own_series(history.ids, history.values, history.last_ds, freq), lookback, h, library_series(self.library))
        return Retriever(index, self.retrieval, self.retrieval_dtw)

    def _checkpoints(self, history: History, freq: str, config: dict, retriever: Retriever | None,
                     text: dict | None) -> Path | None:
        """A folder per training set and settings under checkpoint_dir, so resuming never continues a
        run that trained on other data (e.g. another backtest cutoff) or with other settings (the
        network's config, which holds lookback, horizon and quantiles, and the training settings, which
        hold the seed); each of the two trainings checkpoints in its own sub-folder."""
        if self.checkpoint_dir is None:
            return None
        digest = hashlib.sha256(json.dumps([history.ids, [len(y) for y in history.values],
                                            [str(ds) for ds in history.last_ds], freq, config,
                                            asdict(self.training_config()), self.retrieval,
                                            retriever.index.names if retriever else None, text,
                                            history.descriptions.texts if history.descriptions else None],
                                           sort_keys=True).encode())
        for y in history.values:
            digest.update(np.ascontiguousarray(y, dtype=np.float64).tobytes())
        for cells in history.text.past if history.text else []:
            digest.update(json.dumps(cells.tolist()).encode())
        return Path(self.checkpoint_dir) / f"{self.name}-{digest.hexdigest()[:16]}"


class TrainingRecord(BaseModel):
    """FittedNetwork.training: the early-stopped training (epochs run, the best epoch and its validation
    loss) and the final one on every row (its epochs and last training loss)."""

    model_config = SAVED
    epochs_run: NonNegativeInt
    best_epoch: NonNegativeInt
    best_val_loss: Annotated[float, AllowInfNan(True)]    # NaN without validation windows
    final_epochs: NonNegativeInt
    final_train_loss: float | None                      # None: no final training


class SavedTextFusion(BaseModel):
    """A network's text fusion: the text columns it reads, the embeddings' width, and its mode."""

    model_config = SAVED
    columns: PositiveInt
    dim: PositiveInt
    mode: Literal["late", "cross"]


class SavedNetwork(TrainingRecord):
    """A FittedNetwork's spec in a model file (`to_state` writes it, `from_state` reads it)."""

    network: dict                                       # the network's config, read with its config class
    lookback: PositiveInt
    series: list[str]
    calibration_levels: list[int]
    retrieved_from: list[str] | None = None             # with retrieval: the indexed series, library ones first
    text: SavedTextFusion | None = None                 # with text covariates: how the network reads them
    described: bool = False                             # it reads each series' description


@dataclass
class FittedNetwork(PanelFit):
    """A trained network (in eval mode) and what forecasting with it needs."""

    network: nn.Module
    config: dict                       # the network's settings, as JSON
    lookback: int
    series: list[str]                  # the training series, numbered from 1 in Batch.series
    scalers: list[Scaler]              # per training series, from its training rows
    calibration_levels: list[int]      # the interval levels calibrated (none: no intervals)
    # standardised scores on the calibration windows: absolute errors [N, h] of a point network, or
    # per level (in calibration_levels' order) the CQR scores [L, N, h] of a quantile head
    calibration_scores: np.ndarray | None
    training: dict                     # a TrainingRecord's fields
    retriever: Retriever | None = None  # with retrieval: the index of windows each forecast's analogues come from
    text: dict | None = None           # with text covariates: a SavedTextFusion's fields
    described: bool = False            # it reads each series' description (History.descriptions)

    def calibration(self, level: int) -> np.ndarray:
        """The scores [N, h] that calibrate the `level`% interval."""
        if level not in self.calibration_levels:
            raise ValueError(f"the network's intervals were calibrated for levels {self.calibration_levels}, "
                             f"not {level}: fit it with level={sorted({*self.calibration_levels, level})}")
        if self.config["quantiles"]:
            return self.calibration_scores[self.calibration_levels.index(level)]
        return self.calibration_scores

    def calibration_windows(self) -> int | None:
        return None if self.calibration_scores is None else self.calibration_scores.shape[-2]

    def to_state(self) -> FitState:
        arrays = {f"network.{key}": value.detach().cpu().numpy() for key, value in trained_state(self.network).items()}
        arrays["scaler_mean"] = np.array([s.mean[0] for s in self.scalers])
        arrays["scaler_std"] = np.array([s.std[0] for s in self.scalers])
        if self.calibration_scores is not None:
            arrays["calibration_scores"] = self.calibration_scores
        spec = {"network": self.config, "lookback": self.lookback, "series": self.series,
                "calibration_levels": self.calibration_levels, **self.training}
        if self.retriever is not None:
            arrays.update(self.retriever.index.to_arrays())
            spec["retrieved_from"] = self.retriever.index.names
        if self.text is not None:
            spec["text"] = self.text
        if self.described:
            spec["described"] = True
        return FitState(spec=spec, arrays=arrays)

    @property
    def retrieves(self) -> bool:
        return self.retriever is not None

    def next_analogues(self, history: History) -> NextAnalogues:
        """The analogues fused into each series' next forecast, weighted as the trained fusion weighs them."""
        if self.retriever is None:
            return super().next_analogues(history)
        retrieved = self.retriever.retrieve(*last_windows(history.values, history.last_ds, self.lookback))
        with torch.no_grad():
            fusion = self.network.backbone if isinstance(self.network, TextFusion) else self.network
            weights = fusion.weights(torch.from_numpy(retrieved.found.similarity)).numpy()
        return NextAnalogues(retrieved, weights, self.retriever.index)

    @classmethod
    def from_state(cls, spec: Network, state: FitState, series: list[str], h: int, levels: list[int],
                   retrieval: int, dtw: bool, fusion: str) -> FittedNetwork:
        """The network `to_state` wrote, rebuilt (its pretrained parts from local files only) to forecast
        `series` h steps at `levels`, with `retrieval` analogues. Raises ValueError (a SavedError that places the
        problem) where it is not such a fit."""
        saved = read_saved(SavedNetwork, state.spec)
        read_saved(spec.config, saved.network, at=("network",))
        _check_saved_network(spec.name, saved, state.arrays, series, h, levels)
        retriever = _saved_retriever(spec.name, saved, state.arrays, h, retrieval, dtw)
        try:
            with local_sources_only():
                text = None if saved.text is None else saved.text.model_dump()
                network = build_network(spec, saved.network, retrieval, fusion, text)
            load_trained_state(network, {key.removeprefix("network."): torch.from_numpy(np.asarray(value))
                                         for key, value in state.arrays.items() if key.startswith("network.")})
        except (OSError, RuntimeError, TypeError, ValueError) as error:
            raise SavedError([(("network",), f"the saved {spec.name} network cannot be rebuilt from it: {error}")]) \
                from None
        network.eval()
        scalers = [Scaler(mean=np.array([m]), std=np.array([s]))
                   for m, s in zip(state.arrays["scaler_mean"], state.arrays["scaler_std"])]
        return cls(network=network, config=saved.network, lookback=saved.lookback, series=saved.series,
                   scalers=scalers, calibration_levels=saved.calibration_levels,
                   calibration_scores=state.arrays.get("calibration_scores"),
                   training={key: getattr(saved, key) for key in TrainingRecord.model_fields}, retriever=retriever,
                   text=text, described=saved.described)


def _check_saved_network(name: str, saved: SavedNetwork, arrays: dict[str, np.ndarray], series: list[str], h: int,
                         levels: list[int]) -> None:
    """Raise where a saved network does not forecast `series` h steps at `levels` as it says."""
    needed = ["scaler_mean", "scaler_std"] + (["calibration_scores"] if saved.calibration_levels else [])
    missing = [key for key in needed if key not in arrays]
    if missing:
        raise ValueError(f"the saved {name} network lacks {', '.join(missing)}: it was saved by an earlier version "
                         "of Almanac (before calibration windows)")
    config, problems = saved.network, []
    if config.get("horizon") != h:
        problems.append((("network", "horizon"), f"is {config.get('horizon')!r}, but the forecaster's h is {h}"))
    if config.get("lookback") != saved.lookback:
        problems.append((("network", "lookback"), f"is {config.get('lookback')!r}, but lookback is {saved.lookback}"))
    if saved.series != series:
        problems.append((("series",), f"are {saved.series[:5]}, but the saved history's are {series[:5]}"))
    if saved.calibration_levels != levels:
        problems.append((("calibration_levels",), f"are {saved.calibration_levels}, but the forecaster's levels are "
                                                  f"{levels}"))
    quantiles = list(config.get("quantiles", []))
    if quantiles and quantiles != _quantiles(levels):
        problems.append((("network", "quantiles"), f"are {quantiles}, not {_quantiles(levels)} (levels {levels})"))
    mean, std = arrays["scaler_mean"], arrays["scaler_std"]
    if mean.shape != (len(series),) or std.shape != mean.shape or not np.isfinite([mean, std]).all() \
            or (std <= 0).any():
        problems.append(((), "scaler_mean and scaler_std are not a finite mean and a positive deviation per series"))
    if saved.calibration_levels:
        scores = arrays["calibration_scores"]
        if (scores.ndim != (3 if quantiles else 2) or scores.shape[-1] != h or scores.shape[-2] == 0
                or (quantiles and len(scores) != len(levels))):
            problems.append(((), f"calibration_scores have the shape {list(scores.shape)}, not "
                                 f"{'[levels, windows, h]' if quantiles else '[windows, h]'} with h = {h}"))
    if problems:
        raise SavedError(problems)


def build_network(spec: Network, config: dict, retrieval: int, fusion: str, text: dict | None = None) -> nn.Module:
    """The registered network, wrapped in the retrieval fusion when it fuses analogues, and in the text fusion
    when it reads text covariates (text: a SavedTextFusion's fields)."""
    network = _with_retrieval(spec, config, retrieval, fusion)
    if text is None:
        return network
    lookback = config["lookback"]
    return TextFusion(network, TextFusionConfig(lookback=lookback, horizon=config["horizon"], text_dim=text["dim"],
                                                columns=text["columns"], mode=text["mode"],
                                                patch_len=min(16, lookback), stride=min(8, lookback)))


def _with_retrieval(spec: Network, config: dict, retrieval: int, fusion: str) -> nn.Module:
    if not retrieval:
        return spec.build(config)
    fusion_config = FusionConfig(horizon=config["horizon"], quantiles=tuple(config["quantiles"]))
    if fusion == "prepend":     # the backbone reads the analogue's window before the query's own
        return RetrievalPrepend(spec.build({**config, "lookback": 2 * config["lookback"] + config["horizon"]}),
                                fusion_config)
    return RetrievalFusion(spec.build(config), fusion_config)


def _text_rows(history: History, with_ahead: bool) -> TextRows | None:
    """The history's text covariates as the windows read them (None: it has none)."""
    if history.text is None:
        return None
    codes, table = encoded(history.text, with_ahead)
    return TextRows(codes=codes, table=table, known=np.asarray(history.text.known, bool))


def _saved_retriever(name: str, saved: SavedNetwork, arrays: dict[str, np.ndarray], h: int,
                     retrieval: int, dtw: bool) -> Retriever | None:
    """The saved index of a network that fuses analogues; None for one that does not."""
    if bool(retrieval) != (saved.retrieved_from is not None):
        raise SavedError([(("retrieved_from",), f"the saved {name} network was fitted "
                                                f"{'with' if saved.retrieved_from is not None else 'without'} "
                                                f"retrieval, but the model's retrieval is {retrieval}")])
    if not retrieval:
        return None
    try:
        index = WindowIndex.from_arrays(arrays, saved.retrieved_from, saved.lookback, h)
    except (KeyError, RuntimeError, ValueError) as error:
        raise SavedError([(("retrieved_from",), f"the saved {name} network's index cannot be read: {error}")]) \
            from None
    return Retriever(index, retrieval, dtw)


def _stamps(history: History, freq: str, ahead: int = 0) -> list[np.ndarray]:
    """Each series' row times (int64 ns), and `ahead` steps past its end: what a window may see is decided by them."""
    return [pd.date_range(end=last, periods=len(y), freq=freq).append(
                pd.date_range(last, periods=ahead + 1, freq=freq)[1:]).asi8 for y, last in zip(history.values, history.last_ds)]


def _blocks(history: History, freq: str, scalers: list[Scaler]) -> list[tuple[np.ndarray, np.ndarray]]:
    blocks = []
    for y, last, scaler in zip(history.values, history.last_ds, scalers):
        ds = pd.date_range(end=last, periods=len(y), freq=freq)
        blocks.append((scaler.transform(y[:, None]), calendar_features(ds, freq)))
    return blocks


def _quantiles(levels: list[int]) -> list[float]:
    """The median and both ends of each central interval, ascending."""
    ends = {round(0.5 + sign * level / 200, 6) for level in levels for sign in (-1, 1)}
    return sorted(ends | {0.5})


def _quantile_forecast(paths: np.ndarray, quantiles: tuple[float, ...], widening: dict[int, np.ndarray]) -> SeriesForecast:
    """paths [h, Q] in ascending quantile order -> the median forecast, and each level's interval ends
    moved out by its widening [h] (in, where negative)."""
    forecast = SeriesForecast(mean=paths[:, quantiles.index(0.5)])
    lower = upper = forecast.mean
    for level in sorted(widening):  # a narrowing never takes an end past the median or inside a narrower level
        low, high = _interval_ends(quantiles, level)
        lower = np.minimum(lower, paths[:, low] - widening[level])
        upper = np.maximum(upper, paths[:, high] + widening[level])
        forecast.lower[level], forecast.upper[level] = lower, upper
    return forecast


def _interval_ends(quantiles: tuple[float, ...], level: int) -> tuple[int, int]:
    """Where the ends of the central `level`% interval are among `quantiles`."""
    column = {round(q, 6): i for i, q in enumerate(quantiles)}
    return column[round(0.5 - level / 200, 6)], column[round(0.5 + level / 200, 6)]


def _calibration_scores(network: nn.Module, windows, quantiles: tuple[float, ...], levels: list[int]) -> np.ndarray:
    """Standardised scores of the network on the calibration windows: absolute errors [N, h] of a
    point forecast, or per level the CQR scores [L, N, h] of a quantile head's interval."""
    with torch.no_grad():
        outputs, targets = zip(*[(network(batch)[:, :, 0], target[:, :, 0]) for batch, target in
                                 (windows.batch(index) for index in torch.arange(len(windows)).split(1024))])
    output, target = torch.cat(outputs).numpy(), torch.cat(targets).numpy()
    if not quantiles:
        return np.abs(output - target)
    output = np.sort(output, axis=-1)                       # as forecasts sort them
    ends = [_interval_ends(quantiles, level) for level in levels]
    return np.stack([quantile_interval_scores(output[..., low], output[..., high], target) for low, high in ends])


def _frequency_words(freq: str) -> str:
    names = {"h": "hourly", "d": "daily", "w": "weekly", "m": "monthly", "ms": "monthly", "me": "monthly",
             "q": "quarterly", "qs": "quarterly", "y": "yearly", "ys": "yearly", "min": "minutely", "s": "secondly"}
    return names.get(freq.lstrip("0123456789").split("-")[0].lower(), freq or "regular")

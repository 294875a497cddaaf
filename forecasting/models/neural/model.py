"""Every registered network as a Forecaster model: one network trained across all series.

Every series is standardised with the mean and deviation of its own training rows and cut into
windows (channel independent: one channel per window, so series of any length and start mix).
The last `max(h, 10%)` rows of each series are the validation split for early stopping and, for
point-forecast networks, the calibration set of conformal intervals. With levels and the default
quantile loss the network has a quantile head trained with the pinball loss.

The trained network stays in memory from `fit` to `predict` (a `FittedNetwork`); it becomes
arrays only when the Forecaster is saved.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from accelerate.utils import set_seed
from torch import nn

from backbones.network import DataShape, Network
from backbones.state import load_trained_state, trained_state

from forecasting.errors import DataError
from forecasting.models.base import FitState, GlobalModel, History, PanelFit, SeriesForecast
from forecasting.models.intervals import add_conformal_bounds
from forecasting.models.neural.training import TrainingConfig, train
from forecasting.models.neural.windows import Scaler, calendar_features, make_windows, n_calendar_features
from forecasting.models.registry import network_named

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
        None: "<n> series of <frequency> observations."
    The remaining fields are the training settings (see `TrainingConfig`).
    """

    name: str
    lookback: int | None = None
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    optimizer: str = "adamw"
    loss: str | None = None
    patience: int = 3
    steps_per_epoch: int | None = None
    seed: int = 0
    precision: str = "no"
    network: dict = field(default_factory=dict)
    description: str | None = None
    checkpoint_dir: str | None = None
    resume: bool = False

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
        return (self.lookback or MIN_LOOKBACK) + 2 * h

    # ---- fit and forecast ------------------------------------------------------------------

    def fit_panel(self, history: History, freq: str, h: int, levels: list[int],
                  progress: Callable[[int, int], None] | None = None) -> FittedNetwork:
        val_rows = [max(h, len(y) // 10) for y in history.values]
        lookback = self._lookback(history, h, val_rows)
        scalers = [Scaler.fit(y[:len(y) - v, None]) for y, v in zip(history.values, val_rows)]
        config = self._network_config(lookback, h, freq, levels, len(history.ids))
        blocks = _blocks(history, freq, scalers)
        statistics = self._series_statistics([values[:len(values) - v, 0] for (values, _), v in zip(blocks, val_rows)])
        label_len = config.get("label_len", 0)
        train_windows = make_windows(blocks, lookback, h, [range(0, len(y) - v) for y, v in zip(history.values, val_rows)],
                                     label_len=label_len, series_embedding=statistics)
        val_windows = make_windows(blocks, lookback, h, [range(len(y) - v, len(y)) for y, v in zip(history.values, val_rows)],
                                   label_len=label_len, series_embedding=statistics)
        set_seed(self.seed)
        network = self.spec.build(config)
        result = train(network, train_windows, val_windows, self.training_config(), tuple(config["quantiles"]),
                       checkpoint_dir=self._checkpoints(history), resume=self.resume, progress=progress)
        network.eval()
        scores = _validation_errors(network, val_windows) if levels and not config["quantiles"] else None
        return FittedNetwork(network=network, config=config, lookback=lookback, series=list(history.ids),
                             scalers=scalers, conformal_scores=scores,
                             training={"epochs_run": result.epochs_run, "best_epoch": result.best_epoch,
                                       "best_val_loss": result.best_val_loss})

    def forecast_panel(self, history: History, freq: str, h: int, levels: list[int],
                       fit: FittedNetwork) -> list[SeriesForecast]:
        lookback, quantiles = fit.lookback, tuple(fit.config["quantiles"])
        short = [i for i, y in zip(history.ids, history.values) if len(y) < lookback]
        if short:
            raise DataError(f"{self.name}: series {short[:5]} are shorter than the network's lookback of {lookback} steps")
        # Each series gets one window whose targets are the h steps after its end.
        blocks, scaled = [], _blocks(history, freq, fit.scalers)
        statistics = self._series_statistics([values[:, 0] for values, _ in scaled])
        for (values, time), last in zip(scaled, history.last_ds):
            future = pd.date_range(last, periods=h + 1, freq=freq)[1:]
            blocks.append((np.concatenate([values, np.zeros((h, 1), np.float32)]),
                           np.concatenate([time, calendar_features(future, freq)])))
        # series seen in training keep their number; others are unseen (0)
        trained = {series: number for number, series in enumerate(fit.series, start=1)}
        windows = make_windows(blocks, lookback, h, [range(len(y), len(y) + h) for y in history.values],
                               label_len=fit.config.get("label_len", 0), series=[trained.get(i, 0) for i in history.ids],
                               series_embedding=statistics)
        with torch.no_grad():
            output = torch.cat([fit.network(windows.batch(index)[0])
                                for index in torch.arange(len(windows)).split(1024)]).numpy()
        output = output[:, :, 0]                                                     # [S, h] or [S, h, Q]
        forecasts = []
        for s, scaler in enumerate(fit.scalers):
            if quantiles:
                paths = scaler.inverse(np.sort(output[s], axis=-1)[:, None, :], channel_axis=1)[:, 0, :]
                forecast = _quantile_forecast(paths, quantiles, levels)
            else:
                forecast = SeriesForecast(mean=scaler.inverse(output[s][:, None])[:, 0])
                if levels:
                    add_conformal_bounds(forecast, fit.conformal_scores * scaler.std[0], levels)
            forecasts.append(forecast)
        return forecasts

    def restore_panel(self, state: FitState) -> FittedNetwork:
        return FittedNetwork.from_state(self.spec, state)

    # ---- helpers ---------------------------------------------------------------------------

    def _lookback(self, history: History, h: int, val_rows: list[int]) -> int:
        shortest = min(len(y) - v for y, v in zip(history.values, val_rows)) - h
        if self.lookback is not None:
            if self.lookback > shortest:
                raise DataError(f"{self.name}: lookback {self.lookback} leaves no training window in the shortest series "
                                 f"({shortest + h} training rows, horizon {h}); lower lookback or give longer series")
            return self.lookback
        return min(max(2 * h, 32), shortest)  # min_length keeps this at least MIN_LOOKBACK

    def _network_config(self, lookback: int, h: int, freq: str, levels: list[int], n_series: int) -> dict:
        """The network's settings: the shape, the product's defaults for this data, then the user's."""
        quantile = (self.loss or ("quantile" if self.spec.quantiles else "mse")) == "quantile"
        data = DataShape(lookback=lookback, horizon=h, channels=1, n_series=n_series,
                         calendar_features=n_calendar_features(freq),
                         description=self.description or f"{n_series} series of {_frequency_words(freq)} observations.")
        return {"lookback": lookback, "horizon": h, "channels": 1, "quantiles": _quantiles(levels) if quantile else [],
                **self.spec.defaults(data), **self.network}

    def _series_statistics(self, histories: list[np.ndarray]) -> np.ndarray | None:
        """Batch.series_embedding rows from each series' standardised history, for networks that read them."""
        statistics = self.spec.series_statistics
        if statistics is None:
            return None
        return np.stack([statistics(torch.from_numpy(np.ascontiguousarray(y, np.float32))[None, :, None])[0, 0].numpy()
                         for y in histories])

    def _checkpoints(self, history: History) -> Path | None:
        """A folder per training set under checkpoint_dir, so resuming never continues a run
        that trained on other data (e.g. another backtest cutoff)."""
        if self.checkpoint_dir is None:
            return None
        digest = hashlib.sha256(json.dumps([history.ids, [len(y) for y in history.values],
                                            [str(ds) for ds in history.last_ds]]).encode())
        for y in history.values:
            digest.update(np.ascontiguousarray(y, dtype=np.float64).tobytes())
        return Path(self.checkpoint_dir) / f"{self.name}-{digest.hexdigest()[:16]}"


@dataclass
class FittedNetwork(PanelFit):
    """A trained network (in eval mode) and what forecasting with it needs."""

    network: nn.Module
    config: dict                       # the network's settings, as JSON
    lookback: int
    series: list[str]                  # the training series, numbered from 1 in Batch.series
    scalers: list[Scaler]              # per training series, from its training rows
    conformal_scores: np.ndarray | None  # [N, h] standardised validation errors (point-forecast networks)
    training: dict                     # epochs_run, best_epoch, best_val_loss

    def to_state(self) -> FitState:
        arrays = {f"network.{key}": value.detach().cpu().numpy() for key, value in trained_state(self.network).items()}
        arrays["scaler_mean"] = np.array([s.mean[0] for s in self.scalers])
        arrays["scaler_std"] = np.array([s.std[0] for s in self.scalers])
        if self.conformal_scores is not None:
            arrays["conformal_scores"] = self.conformal_scores
        return FitState(spec={"network": self.config, "lookback": self.lookback, "series": self.series, **self.training},
                        arrays=arrays)

    @classmethod
    def from_state(cls, spec: Network, state: FitState) -> FittedNetwork:
        config = state.spec["network"]
        network = spec.build(config)
        load_trained_state(network, {key.removeprefix("network."): torch.from_numpy(np.asarray(value))
                                     for key, value in state.arrays.items() if key.startswith("network.")})
        network.eval()
        scalers = [Scaler(mean=np.array([m]), std=np.array([s]))
                   for m, s in zip(state.arrays["scaler_mean"], state.arrays["scaler_std"])]
        training = {key: state.spec[key] for key in ("epochs_run", "best_epoch", "best_val_loss")}
        return cls(network=network, config=config, lookback=state.spec["lookback"], series=state.spec["series"],
                   scalers=scalers, conformal_scores=state.arrays.get("conformal_scores"), training=training)


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


def _quantile_forecast(paths: np.ndarray, quantiles: tuple[float, ...], levels: list[int]) -> SeriesForecast:
    """paths [h, Q] in ascending quantile order -> median forecast with the interval ends."""
    column = {round(q, 6): i for i, q in enumerate(quantiles)}
    forecast = SeriesForecast(mean=paths[:, column[0.5]])
    for level in levels:
        forecast.lower[level] = paths[:, column[round(0.5 - level / 200, 6)]]
        forecast.upper[level] = paths[:, column[round(0.5 + level / 200, 6)]]
    return forecast


def _validation_errors(network: nn.Module, windows) -> np.ndarray:
    """Absolute standardised errors [N, h] of the trained network on the validation windows."""
    errors = []
    with torch.no_grad():
        for index in torch.arange(len(windows)).split(1024):
            batch, target = windows.batch(index)
            errors.append((network(batch) - target).abs()[:, :, 0].numpy())
    return np.concatenate(errors)


def _frequency_words(freq: str) -> str:
    names = {"h": "hourly", "d": "daily", "w": "weekly", "m": "monthly", "ms": "monthly", "me": "monthly",
             "q": "quarterly", "qs": "quarterly", "y": "yearly", "ys": "yearly", "min": "minutely", "s": "secondly"}
    return names.get(freq.lstrip("0123456789").split("-")[0].lower(), freq or "regular")

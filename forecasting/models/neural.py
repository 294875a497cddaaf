"""Neural networks as Forecaster models: one network trained across all series.

Every series is standardised with the mean and deviation of its own training rows and cut into
windows (channel independent: one channel per window, so series of any length and start mix).
The last `max(h, 10%)` rows of each series are the validation split for early stopping and, for
point-forecast networks, the calibration set of conformal intervals. With levels and the default
`loss="quantile"` the network has a quantile head trained with the pinball loss.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
from accelerate.utils import set_seed

from backbones import BACKBONES
from backbones.hypermamba import N_STATISTICS, window_statistics

from ..errors import DataError
from ..intervals import add_conformal_bounds
from ..training import TrainingConfig, load_trained_state, train, trained_state
from ..windows import Scaler, calendar_features, make_windows, n_calendar_features
from .base import FitState, GlobalModel, History, SeriesForecast

LOSSES = ("quantile", "mse")
MIN_LOOKBACK = 4


@dataclass
class NeuralModel(GlobalModel):
    """A registered backbone trained through the shared training engine.

    lookback: history steps per window (None: max(2h, 2 seasons, 32), shortened to fit short series).
    network: overrides of the backbone's config, e.g. {"d_model": 64}.
    The remaining fields are the training settings (see `forecasting.training.TrainingConfig`).
    """

    backbone: ClassVar[str]
    lookback: int | None = None
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    optimizer: str = "adamw"
    loss: str = "quantile"
    patience: int = 3
    steps_per_epoch: int | None = 100
    seed: int = 0
    precision: str = "no"
    network: dict = field(default_factory=dict)
    checkpoint_dir: str | None = None
    resume: bool = False

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"{self.name}: loss must be one of {LOSSES}, got {self.loss!r}")
        known = {f.name for f in fields(BACKBONES[self.backbone][0])}
        unknown = set(self.network) - known
        if unknown:
            raise ValueError(f"{self.name}: unknown network settings {sorted(unknown)}; "
                             f"the backbone takes {sorted(known)}")
        self.training_config()  # validates optimizer, precision, epochs, batch size

    def training_config(self) -> TrainingConfig:
        return TrainingConfig(epochs=self.epochs, batch_size=self.batch_size, learning_rate=self.learning_rate,
                              optimizer=self.optimizer, patience=self.patience,
                              steps_per_epoch=self.steps_per_epoch, seed=self.seed, precision=self.precision)

    def network_defaults(self, lookback: int, n_time: int, n_series: int, freq: str) -> dict:
        """The product's defaults for the backbone's settings, under the user's `network`: those
        derived from the data (e.g. Informer's label_len and time features), and RevIN on, since
        series in a panel drift in level and scale, which a window-wise normalisation absorbs and
        a fixed per-series standardisation does not."""
        return {"revin": True}

    def series_descriptors(self, histories: list[np.ndarray]) -> np.ndarray | None:
        """Batch.series_embedding rows for series with these standardised histories (None: no such input)."""
        return None

    def min_length(self, h: int) -> int:
        return (self.lookback or MIN_LOOKBACK) + 2 * h

    # ---- fit and forecast ------------------------------------------------------------------

    def fit_panel(self, history: History, freq: str, h: int, levels: list[int], progress=None) -> FitState:
        val_rows = [max(h, len(y) // 10) for y in history.values]
        lookback = self._lookback(history, h, val_rows)
        scalers = [Scaler.fit(y[:len(y) - v, None]) for y, v in zip(history.values, val_rows)]
        blocks = self._blocks(history, freq, scalers)
        descriptors = self.series_descriptors([values[:len(values) - v, 0] for (values, _), v in zip(blocks, val_rows)])
        train_windows = make_windows(blocks, lookback, h, [range(0, len(y) - v) for y, v in zip(history.values, val_rows)],
                                     label_len=self._label_len(lookback), series_embedding=descriptors)
        val_windows = make_windows(blocks, lookback, h, [range(len(y) - v, len(y)) for y, v in zip(history.values, val_rows)],
                                   label_len=self._label_len(lookback), series_embedding=descriptors)
        config = self._network_config(lookback, h, n_calendar_features(freq), levels, len(history.ids), freq)
        set_seed(self.seed)
        network = self._build(config)
        result = train(network, train_windows, val_windows, self.training_config(), tuple(config["quantiles"]),
                       checkpoint_dir=self._checkpoints(history), resume=self.resume, progress=progress)
        arrays = {f"network.{key}": value.numpy() for key, value in trained_state(network).items()}
        arrays["scaler_mean"] = np.array([s.mean[0] for s in scalers])
        arrays["scaler_std"] = np.array([s.std[0] for s in scalers])
        if levels and not config["quantiles"]:
            arrays["conformal_scores"] = _validation_errors(network, val_windows)
        return FitState(spec={"network": config, "lookback": lookback, "series": list(history.ids),
                              "epochs_run": result.epochs_run,
                              "best_epoch": result.best_epoch, "best_val_loss": result.best_val_loss},
                        arrays=arrays)

    def forecast_panel(self, history: History, freq: str, h: int, levels: list[int],
                       state: FitState) -> list[SeriesForecast]:
        config = state.spec["network"]
        lookback, quantiles = state.spec["lookback"], tuple(config["quantiles"])
        network = self._build(config)
        load_trained_state(network, {key.removeprefix("network."): torch.from_numpy(np.asarray(value))
                                      for key, value in state.arrays.items() if key.startswith("network.")})
        network.eval()
        scalers = [Scaler(mean=np.array([m]), std=np.array([s]))
                   for m, s in zip(state.arrays["scaler_mean"], state.arrays["scaler_std"])]
        # Each series gets one window whose targets are the h steps after its end.
        blocks, scaled = [], self._blocks(history, freq, scalers)
        descriptors = self.series_descriptors([values[:, 0] for values, _ in scaled])
        for (values, time), scaler, last in zip(scaled, scalers, history.last_ds):
            future = pd.date_range(last, periods=h + 1, freq=freq)[1:]
            blocks.append((np.concatenate([values, np.zeros((h, 1), np.float32)]),
                           np.concatenate([time, calendar_features(future, freq)])))
        short = [i for i, y in zip(history.ids, history.values) if len(y) < lookback]
        if short:
            raise DataError(f"{self.name}: series {short[:5]} are shorter than the network's lookback of {lookback} steps")
        # series seen in training keep their number; others (and all, in files saved before numbering) are unseen
        trained = {series: number for number, series in enumerate(state.spec.get("series", []), start=1)}
        windows = make_windows(blocks, lookback, h, [range(len(y), len(y) + h) for y in history.values],
                               label_len=self._label_len(lookback), series=[trained.get(i, 0) for i in history.ids],
                               series_embedding=descriptors)
        with torch.no_grad():
            output = torch.cat([network(windows.batch(index)[0])
                                for index in torch.arange(len(windows)).split(1024)]).numpy()
        output = output[:, :, 0]                                                     # [S, h] or [S, h, Q]
        forecasts = []
        for s, scaler in enumerate(scalers):
            if quantiles:
                paths = scaler.inverse(np.sort(output[s], axis=-1)[:, None, :], channel_axis=1)[:, 0, :]
                forecast = _quantile_forecast(paths, quantiles, levels)
            else:
                forecast = SeriesForecast(mean=scaler.inverse(output[s][:, None])[:, 0])
                if levels:
                    add_conformal_bounds(forecast, state.arrays["conformal_scores"] * scaler.std[0], levels)
            forecasts.append(forecast)
        return forecasts

    # ---- helpers ---------------------------------------------------------------------------

    def _lookback(self, history: History, h: int, val_rows: list[int]) -> int:
        shortest = min(len(y) - v for y, v in zip(history.values, val_rows)) - h
        if self.lookback is not None:
            if self.lookback > shortest:
                raise DataError(f"{self.name}: lookback {self.lookback} leaves no training window in the shortest series "
                                 f"({shortest + h} training rows, horizon {h}); lower lookback or give longer series")
            return self.lookback
        return min(max(2 * h, 32), shortest)  # min_length keeps this at least MIN_LOOKBACK

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

    def _build(self, config: dict) -> torch.nn.Module:
        config_class, network_class = BACKBONES[self.backbone]
        return network_class(config_class(**{**config, "quantiles": tuple(config["quantiles"])}))

    def _label_len(self, lookback: int) -> int:
        return self._network_config(lookback, 1, 0, [], 0, "").get("label_len", 0)

    def _network_config(self, lookback: int, h: int, n_time: int, levels: list[int], n_series: int,
                        freq: str) -> dict:
        config = {"lookback": lookback, "horizon": h, "channels": 1,
                  "quantiles": _quantiles(levels) if self.loss == "quantile" else [],
                  **self.network_defaults(lookback, n_time, n_series, freq), **self.network}
        return config

    @staticmethod
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


def _validation_errors(network: torch.nn.Module, windows) -> np.ndarray:
    """Absolute standardised errors [N, h] of the trained network on the validation windows."""
    network.eval()
    errors = []
    with torch.no_grad():
        for index in torch.arange(len(windows)).split(1024):
            batch, target = windows.batch(index)
            errors.append((network(batch) - target).abs()[:, :, 0].numpy())
    return np.concatenate(errors)


@dataclass
class Informer(NeuralModel):
    """Informer: ProbSparse-attention transformer with a generative decoder (Zhou et al. 2021)"""

    name: ClassVar[str] = "informer"
    backbone: ClassVar[str] = "informer"

    def network_defaults(self, lookback: int, n_time: int, n_series: int, freq: str) -> dict:
        # A quarter of the paper's width (d_model 128, d_ff 512) trains in minutes on a CPU and came within
        # 15% of the paper's ETTh1 score (BENCHMARKS.md); network={"d_model": 512, "d_ff": 2048} is the paper's.
        return {**super().network_defaults(lookback, n_time, n_series, freq), "label_len": lookback // 2, "time_features": n_time,
                "d_model": 128, "d_ff": 512}


@dataclass
class DLinear(NeuralModel):
    """DLinear: trend/remainder split with one linear map each (Zeng et al. 2023)"""

    name: ClassVar[str] = "dlinear"
    backbone: ClassVar[str] = "dlinear"


@dataclass
class PatchTST(NeuralModel):
    """PatchTST: channel-independent transformer over patches of the history (Nie et al. 2023)"""

    name: ClassVar[str] = "patchtst"
    backbone: ClassVar[str] = "patchtst"


@dataclass
class Mamba(NeuralModel):
    """Mamba: selective state-space blocks over patches of the history (Gu & Dao 2023)"""

    name: ClassVar[str] = "mamba"
    backbone: ClassVar[str] = "mamba"

    def network_defaults(self, lookback: int, n_time: int, n_series: int, freq: str) -> dict:
        # one series per window here, so the scan runs over patches in time, not across variates
        return {**super().network_defaults(lookback, n_time, n_series, freq), "tokens": "patch"}


@dataclass
class HyperMamba(NeuralModel):
    """HyperMamba: Mamba whose scan parameters a hypernetwork sets per series, from its statistics and a learned embedding

    Its conditioning: the window's statistics, a learned embedding of each training series, and as
    the external embedding the same statistics over the series' whole history (its training rows
    when fitting; everything before the forecast origin when forecasting), which is what lets it
    adapt to a series it was not trained on.
    """

    name: ClassVar[str] = "hypermamba"
    backbone: ClassVar[str] = "hypermamba"

    def network_defaults(self, lookback: int, n_time: int, n_series: int, freq: str) -> dict:
        return {**super().network_defaults(lookback, n_time, n_series, freq), "n_series": n_series,
                "external_dim": N_STATISTICS}

    def series_descriptors(self, histories: list[np.ndarray]) -> np.ndarray:
        return np.stack([window_statistics(torch.from_numpy(np.ascontiguousarray(y, np.float32))[None, :, None])[0, 0]
                         .numpy() for y in histories])


@dataclass
class TimeLLM(NeuralModel):
    """TimeLLM: patches reprogrammed into a frozen language model, with a prompt describing the data (Jin et al. 2024)

    description: what the data is, for the prompt (None: "<n> series of <frequency> observations").
    network={"language_model": "path/or/hub-name", "llm_layers": 6, "tuning": "lora"} picks the
    language model (default: the bundled MiniLM), how many of its blocks to keep and what trains.
    Epochs are 20 steps, not 100: every step runs the language model over the prompt and the
    patches of 32 windows (about 1.5 s on 2 CPU cores), so the default fit takes minutes, not half
    an hour; steps_per_epoch=100 restores the common budget.
    """

    name: ClassVar[str] = "timellm"
    backbone: ClassVar[str] = "timellm"
    body: ClassVar[str] = "language_model"
    steps_per_epoch: int | None = 20
    description: str | None = None

    def network_defaults(self, lookback: int, n_time: int, n_series: int, freq: str) -> dict:
        description = self.description or f"{n_series} series of {_frequency_words(freq)} observations."
        return {**super().network_defaults(lookback, n_time, n_series, freq), "description": description,
                "body": self.body}


@dataclass
class TimeLLMWithoutLM(TimeLLM):
    """TimeLLM with the language model removed: reprogrammed patches straight to the head (ablation)"""

    name: ClassVar[str] = "timellm_no_lm"
    body: ClassVar[str] = "none"


@dataclass
class TimeLLMAttention(TimeLLM):
    """TimeLLM with the language model replaced by one trained attention layer (ablation)"""

    name: ClassVar[str] = "timellm_attention"
    body: ClassVar[str] = "attention"


def _frequency_words(freq: str) -> str:
    names = {"h": "hourly", "d": "daily", "w": "weekly", "m": "monthly", "ms": "monthly", "me": "monthly",
             "q": "quarterly", "qs": "quarterly", "y": "yearly", "ys": "yearly", "min": "minutely", "s": "secondly"}
    return names.get(freq.lstrip("0123456789").split("-")[0].lower(), freq or "regular")

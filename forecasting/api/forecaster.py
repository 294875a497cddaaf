"""The Forecaster: fit many series with several models, predict with intervals, backtest, save.

Output frames follow the long convention: `unique_id, ds, <model>, <model>-lo-<level>, ...,
<model>-hi-<level>`; cross-validation adds `cutoff` and `y`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import dask.dataframe as dd
import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from backbones.language.text_encoder import TextEncoderConfig
from distributed import Client

from forecasting.api import distributed, persistence
from forecasting.api.parallel import Progress, map_tasks
from forecasting.api.text import check_future_ids, check_future_text, history_text, with_future_text
from forecasting.data.frame import require_length, validate_frame
from forecasting.data.frequency import candidate_seasons, season_length
from forecasting.data.panel import Panel
from forecasting.data.text import TextColumns, series_descriptions, text_columns
from forecasting.models import FitState, GlobalModel, History, Model, PanelFit, SeriesForecast, build
from forecasting.models.base import NO_ANALOGUES, SeriesDescriptions
from forecasting.models.intervals import ShortCalibration, describe_short_calibrations, windows_needed
from forecasting.models.season_fallback import SeasonFallback, describe_fallbacks, season_fallbacks
from forecasting.models.statistical.arima import text_effects
from forecasting.models.statistical.fitting import SeriesTask, describe_recent, run_task
from forecasting.models.text import TextComponents
from forecasting.retrieval.retriever import NextAnalogues


class Forecaster:
    """Fits every model to every series of a long frame.

    Local models (ets, theta, ...) are fitted per series in worker processes; global models (the
    neural networks) are trained once across all series.

    models: registered names ("ets", "informer", ...) or model configs (`fc.ETS(season_length=12)`,
        `fc.model("dlinear", lookback=192, epochs=20)`).
    h: forecast horizon in steps of the data's frequency.
    freq: pandas alias to resample to; None infers it from the data.
    level: central interval levels in percent, e.g. [80, 95].
    n_jobs: worker processes (None: all cores).
    fill, duplicates: repair policies for gaps and repeated timestamps (see `validate_frame`).
    nonnegative: keep forecasts and interval bounds at or above zero. None: when no value the models
        learn from is negative (counts, sales, rates); `nonnegative_` says what was decided.
    progress: called as progress(stage, done, total) while fitting, predicting and backtesting.
    text_cols: the text covariate columns the models read (None: every column that holds text; []: none).
        Networks fuse each step's sentence embedding (see NeuralModel.text_fusion); ARIMA takes the principal
        components of the known-in-advance columns' embeddings as regressors; the other models ignore text.
    future_text_cols: those of the text columns known in advance (a planned promotion): their text over the
        horizon is read, from the data in a backtest and from `predict(future_text=...)` in a forecast. The
        others are observed in the past only (an incident log).
    description_col: a column holding what each series is, in words ("weekly sales of a seaside ice-cream
        shop"; one text per series, on any of its rows). TimeLLM reads it in its prompt, HyperMamba conditions on
        its embedding; it is not a text covariate.
    text_encoder: the BERT or RoBERTa model that encodes the text (a hub name or a local directory; None: the
        bundled MiniLM), or a TextEncoderConfig (pooling, token limit). Embeddings are cached on disk.
    engine: a Dask cluster to run on (see forecasting.api.distributed): a `distributed.Client`, a scheduler
        address ("tcp://HOST:8786") or "local:N" (N worker processes here). With an engine, or given a Dask
        DataFrame (then the current client, else a local cluster), `predict` and `cross_validation` return a
        Dask DataFrame, computed only when asked, with an `error` column naming what failed on a series.
        Global models train once on the client, on at most `train_series` series (chosen by a hash of their
        ids); every distinct text is encoded once, on the client, and its vector shared with the workers.

    After `fit` or `cross_validation`, `fallbacks` lists each (model, series) fitted without its
    season because the series was too short for it (see `SeasonFallback`), `short_calibrations` each
    global model and level whose band was calibrated on fewer windows than the level needs (see
    `ShortCalibration`), and `fallback_notes` says both in sentences.
    """

    def __init__(self, models: Sequence[str | Model | GlobalModel], h: int, freq: str | None = None,
                 level: Sequence[int] | None = None, n_jobs: int | None = None,
                 fill: str = "interpolate", duplicates: str = "error", nonnegative: bool | None = None,
                 progress: Progress | None = None, text_cols: Sequence[str] | None = None,
                 future_text_cols: Sequence[str] = (), description_col: str | None = None,
                 text_encoder: str | TextEncoderConfig | None = None, engine: distributed.Engine | None = None,
                 train_series: int = 10_000):
        self.models = [build(model) for model in models]
        names = [model.name for model in self.models]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"give at least one model and each model once; got {names}")
        if int(h) != h or not 1 <= h <= persistence.MAX_HORIZON:
            raise ValueError(f"h must be a positive whole number of steps, at most {persistence.MAX_HORIZON}, "
                             f"got {h!r}")
        levels = sorted({int(level_) for level_ in level or []})
        if any(not 0 < level_ < 100 for level_ in levels):
            raise ValueError(f"interval levels are percentages strictly between 0 and 100, got {list(level)}")
        self.h, self.freq, self.level, self.n_jobs = int(h), freq, levels, n_jobs
        self.fill, self.duplicates, self.nonnegative, self.progress = fill, duplicates, nonnegative, progress
        self.text_cols = None if text_cols is None else [str(name) for name in text_cols]
        self.future_text_cols = [str(name) for name in future_text_cols]
        self.description_col = description_col
        self.engine, self.train_series = engine, int(train_series)
        if self.train_series < 1:
            raise ValueError(f"train_series must be at least 1, got {train_series}")
        # with an engine: the data persisted on the cluster by series, and the job every partition runs
        self.cluster_: tuple[dd.DataFrame, distributed.Job] | None = None
        self.client_: Client | None = None
        self.text_encoder = text_encoder if isinstance(text_encoder, TextEncoderConfig) else \
            TextEncoderConfig(model=text_encoder)
        self.text_columns_: TextColumns = TextColumns()     # decided at fit (or cross-validation)
        # of the known-in-advance text, for the models that take it as regressors (ARIMA); None: no such text
        self.text_components_: TextComponents | None = None
        # a cluster's job sets these: the components found over all series, for every partition to use
        self.shared_text_components: TextComponents | None = None
        self.nonnegative_: bool | None = None     # decided at fit (or cross-validation)
        self.panel: Panel | None = None           # the data of the last fit or cross-validation
        self.freq_: str | None = None
        self.history: History | None = None
        self.states: list[list[FitState | PanelFit]] = []   # per model: a FitState per series, or one PanelFit
        self.fallbacks: list[SeasonFallback] = []           # of the last fit or cross_validation
        # of the last cross_validation, per window: its cutoffs' history, and each model's fit if it retrieves
        self.backtest_fits: list[tuple[History, list[PanelFit | None]]] = []
        self.short_calibrations: list[ShortCalibration] = []  # likewise
        self.history_notes: list[str] = []      # likewise: the local models that read only a series' latest values

    # ---- fitting and prediction -------------------------------------------------------------

    def fit(self, data: pd.DataFrame | Panel | dd.DataFrame, *, id_col: str = "unique_id", time_col: str = "ds",
            target_col: str = "y", fitted: Mapping[str, PanelFit] | None = None) -> Forecaster:
        """Fit every model to every series of `data`: a Panel (from read_table), or a long frame that
        is validated here (id_col, time_col and target_col name its columns). fitted: fits of global models, by
        name, to forecast with instead of training them (what a cluster's partitions share).

        On a cluster (`engine`, or a Dask DataFrame): the data is gathered by series there and the global models
        trained; the local models fit on the workers when `predict` is computed."""
        if self._on_cluster(data):
            self.client_ = distributed.connect(self.engine)     # kept: the data persisted there lives as long
            self.cluster_ = distributed.plan(self._job(), data, id_col, time_col, target_col, self.client_,
                                             self.train_series)
            job = self.cluster_[1]
            self.freq_, self.nonnegative_ = job.freq, job.nonnegative
            self.text_columns_ = TextColumns(past=tuple(name for name in job.text.cols if name not in
                                                        job.text.future_cols), future=tuple(job.text.future_cols))
            self.text_components_ = job.text.components
            return self
        panel = self._panel(data, id_col, time_col, target_col, self._min_train_length())
        self.history = self._history(panel)
        self.text_components_ = self._text_components(self.history)
        self.nonnegative_ = self._keeps_nonnegative(self.history.values)
        self.states = self._run([self.history], None, None, "fit", self.text_components_,
                                None if fitted is None else [fitted])[0][0]
        self._record_fallbacks(self.history.ids, [self.states])
        return self

    def predict(self, future_text: pd.DataFrame | None = None) -> pd.DataFrame | dd.DataFrame:
        """Forecast h steps after each series' end. future_text: the text known in advance over the horizon (a
        frame of unique_id, ds and some of the future_text_cols; a step it does not give carries no text).
        After a fit on a cluster: a Dask DataFrame, with an `error` column (None where the series forecast)."""
        if self.cluster_ is not None:
            if future_text is not None:
                check_future_text(future_text, list(self.text_columns_.future))
                ids = self.cluster_[0]["unique_id"]
                named = set(future_text["unique_id"].astype(str))
                found = self.client_.compute(ids[ids.isin(named)].unique(split_out=1), sync=True)
                check_future_ids(named - set(found), sorted(named & set(found)) or ["(none of those named)"])
            return distributed.forecasts(*self.cluster_, future_text)
        if self.history is None:
            raise RuntimeError("call fit(df) before predict()")
        history = self.history
        if future_text is not None:
            history = replace(history, text=with_future_text(history, future_text, self.h, self.freq_))
        forecasts = self._run([history], [self.states], self.h, "predict", self.text_components_)[1][0]
        ds = _futures(history.last_ds, self.h, self.freq_)
        out = pd.DataFrame({"unique_id": np.repeat(history.ids, self.h), "ds": ds})
        return self._add_forecast_columns(out, [f for model_forecasts in forecasts for f in model_forecasts],
                                          len(history.ids))

    def forecasts_for(self, history: History) -> list[list[SeriesForecast]]:
        """The fitted models' forecasts of h steps after the end of each series of `history` (the same series, or
        longer histories of them), from the fits as they are: forecasts[m][s] for model m and series s."""
        return self._run([history], [self.states], self.h, "predict", self.text_components_)[1][0]

    def cross_validation(self, data: pd.DataFrame | Panel | dd.DataFrame, n_windows: int = 1,
                         step_size: int | None = None, refit: bool = True, *, id_col: str = "unique_id",
                         time_col: str = "ds", target_col: str = "y",
                         fitted: Sequence[Mapping[str, PanelFit]] | None = None) -> pd.DataFrame | dd.DataFrame:
        """Rolling-origin backtest: `n_windows` forecasts of h steps, the last ending at each
        series' end, origins `step_size` (default h) apart. Each window's models see only the
        data up to its cutoff. `refit=False` estimates once, at the first cutoff, and re-uses the
        parameters on the longer histories of later windows. fitted: per window (the first alone without refit),
        fits of global models by name to forecast with instead of training them (`train_windows`'s).
        On a cluster: a Dask DataFrame; global models train on the client's sample at each cutoff."""
        step = int(step_size or self.h)
        if n_windows < 1 or step < 1:
            raise ValueError(f"n_windows and step_size must be positive, got {n_windows} and {step}")
        if fitted is not None and len(fitted) != (n_windows if refit else 1):
            raise ValueError(f"fitted holds {len(fitted)} windows' fits; this backtest trains "
                             f"{n_windows if refit else 1}")
        if self._on_cluster(data):
            self.client_ = distributed.connect(self.engine)
            frame, job = distributed.plan(self._job(backtest=(int(n_windows), step, bool(refit))), data, id_col,
                                          time_col, target_col, self.client_, self.train_series)
            self.freq_, self.nonnegative_, self.text_components_ = job.freq, job.nonnegative, job.text.components
            return distributed.forecasts(frame, job)
        history, series_ds, origins, cutoff = self._backtest_windows(data, n_windows, step, id_col, time_col,
                                                                     target_col)
        # every window's regressors from the components of the text known at the first cutoff
        components = self._text_components(cutoff[0])
        self.nonnegative_ = self._keeps_nonnegative(cutoff[0].values)     # what every window's models could see
        if refit:
            states, forecasts = self._run(cutoff, None, self.h, "backtest", components, fitted)
        else:  # every later window re-uses the fits of the first cutoff
            states, forecasts = self._run(cutoff[:1], None, self.h, "backtest", components, fitted)
            if n_windows > 1:
                forecasts += self._run(cutoff[1:], states * (n_windows - 1), self.h, "backtest", components)[1]
        self._record_fallbacks(history.ids, states)
        self.backtest_fits = [(cutoff[w], [fit if isinstance(fit := states[w if refit else 0][m][0], PanelFit)
                                           and fit.retrieves else None for m in range(len(self.models))])
                              for w in range(n_windows)]
        windows = [(s, origin) for s, series_origins in enumerate(origins) for origin in series_origins]
        rows = pd.DataFrame({
            "unique_id": np.repeat([history.ids[s] for s, _ in windows], self.h),
            "ds": np.concatenate([series_ds[s][o:o + self.h] for s, o in windows]),
            "cutoff": np.repeat([series_ds[s][o - 1] for s, o in windows], self.h),
            "y": np.concatenate([history.values[s][o:o + self.h] for s, o in windows]),
        })
        ordered = [forecasts[w][m][s] for m in range(len(self.models))
                   for s in range(len(history.ids)) for w in range(n_windows)]
        return self._add_forecast_columns(rows, ordered, len(history.ids) * n_windows)

    def train_windows(self, data: pd.DataFrame | Panel, n_windows: int, step_size: int,
                      refit: bool) -> list[dict[str, PanelFit]]:
        """The global models trained at each backtest window's cutoff (the first alone without refit), by name:
        what `cross_validation(fitted=...)` forecasts with, on other series' partitions."""
        cutoff = self._backtest_windows(data, n_windows, step_size, "unique_id", "ds", "y")[3]
        self.nonnegative_ = self._keeps_nonnegative(cutoff[0].values)
        states = self._run(cutoff if refit else cutoff[:1], None, None, "fit")[0]
        return [{model.name: window[m][0] for m, model in enumerate(self.models) if isinstance(model, GlobalModel)}
                for window in states]

    def _backtest_windows(self, data: pd.DataFrame | Panel, n_windows: int, step: int, id_col: str, time_col: str,
                          target_col: str) -> tuple[History, list[np.ndarray], list[list[int]], list[History]]:
        """The validated history, each series' stamps, origins[s][w] (the index of window w's first forecast step
        in series s) and each window's history up to its cutoff."""
        needed = self._min_train_length() + self.h + (n_windows - 1) * step
        panel = self._panel(data, id_col, time_col, target_col, needed)
        history = self._history(panel)
        origins = [[len(y) - self.h - (n_windows - 1 - w) * step for w in range(n_windows)]
                   for y in history.values]
        series_ds = _ds_by_series(panel.frame)
        cutoff = [History(ids=history.ids, values=[y[:o[w]] for y, o in zip(history.values, origins)],
                          last_ds=[pd.Timestamp(ds[o[w] - 1]) for ds, o in zip(series_ds, origins)],
                          text=history.text and history.text.cut([o[w] for o in origins], self.h),
                          descriptions=history.descriptions)
                  for w in range(n_windows)]
        return history, series_ds, origins, cutoff

    def analogues(self, model: str | None = None) -> pd.DataFrame:
        """The past windows that `model`'s next forecast of each series uses (None: the first model that
        retrieves any): one row per series and analogue, with unique_id, rank, series (where the window comes
        from; a library series' name starts with "library:"), library, start, cutoff (its last compared step),
        end (its future's last step), similarity (mean Pearson correlation over granularities) and weight."""
        return _analogue_table(self._fit_that_retrieves(model).next_analogues(self.history), self.history)

    def analogue_futures(self, model: str | None = None) -> pd.DataFrame:
        """The futures of the analogues in `analogues`, in each series' units and on its forecast's dates:
        one row per series, analogue and step, with unique_id, rank, ds and value."""
        analogues = self._fit_that_retrieves(model).next_analogues(self.history)
        return _analogue_futures(analogues, self.history, self.h, self.freq_)

    @property
    def retrieving_models(self) -> list[str]:
        """The fitted models whose forecasts use retrieved analogues (those `analogues` can show), in order."""
        return [config.name for config, states in zip(self.models, self.states)
                if isinstance(states[0], PanelFit) and states[0].retrieves]

    def window_analogues(self, model: str, series_id: str, cutoff: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
        """After `cross_validation`: what `model` retrieved for the forecast of `series_id` from `cutoff`, as
        `analogues` and `analogue_futures` give it for a forecast after `fit`."""
        for history, fits in self.backtest_fits:
            if series_id in history.ids and history.last_ds[history.ids.index(series_id)] == pd.Timestamp(cutoff):
                fit = fits[[config.name for config in self.models].index(model)]
                if fit is None:
                    raise ValueError(f"{model}: {NO_ANALOGUES}")
                s = history.ids.index(series_id)
                one = History(ids=[series_id], values=[history.values[s]], last_ds=[history.last_ds[s]])
                analogues = fit.next_analogues(one)
                return _analogue_table(analogues, one), _analogue_futures(analogues, one, self.h, self.freq_)
        raise ValueError(f"no backtest window of series {series_id!r} ends at {cutoff}: run cross_validation first")

    def _fit_that_retrieves(self, model: str | None) -> PanelFit:
        """The fit of `model` (None: the first model that retrieves) after `fit`."""
        if self.cluster_ is not None:
            raise ValueError("analogues are listed after an in-process fit: on a cluster each worker retrieves for "
                             "its own series from the shared index. Fit the series you want to see without an engine")
        if self.history is None:
            raise RuntimeError("call fit(df) before asking for analogues")
        names = [config.name for config in self.models]
        fits = {name: states[0] for name, states in zip(names, self.states)}
        if model is None:
            model = (self.retrieving_models or names)[0]
        if model not in names:
            raise ValueError(f"no model {model!r} in this forecaster; it has {names}")
        if not isinstance(fits[model], PanelFit):
            raise ValueError(f"{model}: {NO_ANALOGUES}")
        return fits[model]

    def text_effects(self) -> pd.DataFrame:
        """After `fit`: what the text known in advance does in the models that take it as regressors (ARIMA). One
        row per model, series and regressor its fit used, with the coefficient (in the series' units, per unit of
        the regressor: a step with text, or a component's score), its p-value, and the texts that score highest and
        lowest on the regressor (what a component means)."""
        columns = ["model", "unique_id", "regressor", "effect", "p_value", "high", "low"]
        if self.history is None:
            raise RuntimeError("call fit(df) before asking for text effects")
        if self.text_components_ is None:
            return pd.DataFrame(columns=columns)
        names, meaning = self.text_components_.names, self.text_components_.describe().set_index("regressor")
        rows = []
        for model, states in zip(self.models, self.states):
            if not (isinstance(model, Model) and model.takes_text):
                continue
            for series_id, state in zip(self.history.ids, states):
                if state.spec.get("constant"):
                    continue
                for k, effect, p_value in text_effects(state):
                    rows.append({"model": model.name, "unique_id": series_id, "regressor": names[k], "effect": effect,
                                 "p_value": p_value, **meaning.loc[names[k]].to_dict()})
        return pd.DataFrame(rows, columns=columns)

    # ---- persistence ---------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write `config.json` and `model.safetensors` into directory `path`."""
        if self.history is None:
            raise RuntimeError("fit the Forecaster before saving it")
        settings = persistence.Settings.model_validate(
            {"h": self.h, "freq": self.freq, "inferred_freq": self.freq_, "level": self.level, "fill": self.fill,
             "duplicates": self.duplicates, "nonnegative": self.nonnegative, "nonnegative_used": self.nonnegative_,
             "text_cols": self.text_cols, "future_text_cols": self.future_text_cols,
             "description_col": self.description_col}, strict=False)
        return persistence.write(Path(path), persistence.Saved(settings, self.models, self.history, self.states,
                                                               self.text_components_))

    @classmethod
    def load(cls, path: str | Path) -> Forecaster:
        """A saved Forecaster, ready to predict (networks are rebuilt in memory once, here). Raises
        ModelFileError where the files changed since they were saved, or do not hold what a save writes."""
        saved = persistence.read(Path(path))
        settings = saved.settings
        text = saved.history.text
        forecaster = cls(saved.models, h=settings.h, freq=settings.freq, level=settings.level, fill=settings.fill,
                         duplicates=settings.duplicates, nonnegative=settings.nonnegative,
                         text_cols=settings.text_cols, future_text_cols=settings.future_text_cols,
                         description_col=settings.description_col,
                         text_encoder=(text or saved.history.descriptions).encoder
                         if text or saved.history.descriptions else None)
        forecaster.freq_, forecaster.history = settings.inferred_freq, saved.history
        forecaster.text_components_ = saved.text_components
        if text is not None:
            forecaster.text_columns_ = TextColumns(
                past=tuple(c for c, known in zip(text.columns, text.known) if not known),
                future=tuple(c for c, known in zip(text.columns, text.known) if known))
        forecaster.nonnegative_ = settings.nonnegative_used
        forecaster.states = saved.states
        forecaster._record_fallbacks(saved.history.ids, [forecaster.states])
        return forecaster

    # ---- helpers ---------------------------------------------------------------------------

    def _on_cluster(self, data: object) -> bool:
        """Whether to run on a Dask cluster: an engine was given, or the data is a Dask DataFrame."""
        return self.engine is not None or isinstance(data, dd.DataFrame)

    def _job(self, backtest: tuple[int, int, bool] | None = None) -> distributed.Job:
        """This Forecaster's settings as the work a cluster's partitions do (frequency and sign still open)."""
        text = distributed.JobText(cols=self.text_cols, future_cols=self.future_text_cols,
                                   description_col=self.description_col, encoder=self.text_encoder)
        return distributed.Job(forecaster_class=type(self), models=self.models, h=self.h, freq=self.freq,
                               level=self.level, fill=self.fill, duplicates=self.duplicates,
                               nonnegative=self.nonnegative, backtest=backtest, text=text)

    def _panel(self, data: pd.DataFrame | Panel, id_col: str, time_col: str, target_col: str,
               min_length: int) -> Panel:
        """The data as a Panel: one validated at the frequency asked for is taken as it is; a frame, or
        a Panel to resample, is validated here (a Panel keeps its earlier repairs)."""
        if isinstance(data, Panel) and self.freq in (None, data.freq):
            require_length(data, min_length)
            panel = data
        else:
            panel = validate_frame(data, id_col=id_col, time_col=time_col, target_col=target_col, freq=self.freq,
                                   min_length=min_length, fill=self.fill, duplicates=self.duplicates)
        self.panel, self.freq_ = panel, panel.freq
        return panel

    def _history(self, panel: Panel) -> History:
        """The panel's series as arrays, with the text columns asked for (decided here: `text_columns_`)."""
        self.text_columns_ = text_columns(panel, self.text_cols, self.future_text_cols, self.description_col)
        history = _history(panel.frame)
        history.text = history_text(panel, self.text_columns_, self.h, self.text_encoder)
        if self.description_col is not None:
            history.descriptions = SeriesDescriptions(series_descriptions(panel, self.description_col),
                                                      self.text_encoder)
        return history

    def _text_components(self, history: History) -> TextComponents | None:
        """The components of the known-in-advance text, where a model takes them as regressors."""
        wanted = [model.text_components for model in self.models if isinstance(model, Model) and model.takes_text]
        if history.text is None or not any(wanted):
            return None
        if self.shared_text_components is not None:
            return self.shared_text_components
        return TextComponents.fit(history.text, max(wanted))

    @staticmethod
    def _regressors(history: History, components: TextComponents | None) -> list[np.ndarray | None]:
        """Per series, the text regressors of its rows and horizon [T + h, K] (None: there are none)."""
        if components is None or history.text is None:
            return [None] * len(history.ids)
        text = history.text
        return [components.regressors(text.columns, np.concatenate([past, ahead]))
                for past, ahead in zip(text.past, text.ahead)]

    def _min_train_length(self) -> int:
        """Shortest history a fit needs: conformal intervals calibrate on at least one h-step
        window; a network needs its lookback plus training and validation windows."""
        local = [model for model in self.models if isinstance(model, Model)]
        calibrates = bool(self.level) and any(not model.model_intervals for model in local)
        needs = [self.h + 2 if calibrates else 3]
        needs += [model.min_length(self.h) for model in self.models if isinstance(model, GlobalModel)]
        return max(needs)

    def _run(self, histories: list[History], states: list[list[list[FitState | PanelFit]]] | None, h: int | None,
             stage: str, components: TextComponents | None = None,
             fitted: Sequence[Mapping[str, PanelFit]] | None = None) -> tuple[list, list]:
        """Fit (where `states` is None) and forecast h steps (unless h is None) every model on
        each history. Returns states[w][m][s] and forecasts[w][m][s] for history w, model m,
        series s; a global model has a single state per history (`fitted[w]`'s, by name, where given). Local
        work for all histories goes to the worker pool at once. components: the text regressors' (for models that
        take text)."""
        local = [m for m, model in enumerate(self.models) if isinstance(model, Model)]
        regressors = [self._regressors(history, components) if any(self.models[m].takes_text for m in local)
                      else None for history in histories]
        seasons = (season_length(self.freq_), tuple(candidate_seasons(self.freq_)))     # once, not per series
        tasks = [self._task(self.models[m], series_id, y, seasons, h=h,
                            state=None if states is None else states[w][m][s],
                            regressors=regressors[w][s] if self.models[m].takes_text else None)
                 for w, history in enumerate(histories) for m in local
                 for s, (series_id, y) in enumerate(zip(history.ids, history.values))]
        results = iter(map_tasks(run_task, tasks, self.n_jobs, stage, self.progress))
        local_results = {(w, m): [next(results) for _ in history.ids]
                         for w, history in enumerate(histories) for m in local}
        all_states, all_forecasts = [], []
        for w, history in enumerate(histories):
            window_states, window_forecasts = [], []
            for m, model in enumerate(self.models):
                if isinstance(model, GlobalModel):
                    if states is not None:
                        state = states[w][m][0]
                    elif fitted and model.name in fitted[w]:
                        state = fitted[w][model.name]
                    else:
                        state = model.fit_panel(history, self.freq_, self.h, self.level, self._epoch_progress(model))
                    window_states.append([state])
                    window_forecasts.append(None if h is None else
                                            model.forecast_panel(history, self.freq_, h, self.level, state))
                else:
                    window_states.append([state for state, _ in local_results[(w, m)]])
                    window_forecasts.append([forecast for _, forecast in local_results[(w, m)]])
            all_states.append(window_states)
            all_forecasts.append(window_forecasts)
        return all_states, all_forecasts

    @property
    def choice_notes(self) -> list[str]:
        """What the fitted models chose from the data, one sentence each (auto's model, linear's lookback)."""
        return [note for states in self.states for state in states[:1]
                if isinstance(state, PanelFit) and (note := state.choice_note())]

    def comparisons(self) -> dict[str, pd.DataFrame]:
        """Per model that chose by comparing options (auto), the table of what it compared."""
        return {config.name: table for config, states in zip(self.models, self.states) for state in states[:1]
                if isinstance(state, PanelFit) and (table := state.comparison()) is not None}

    @property
    def fallback_notes(self) -> list[str]:
        """One sentence per model that fitted series without their season, and per model and level
        whose band was calibrated on too few windows."""
        return describe_fallbacks(self.fallbacks) + describe_short_calibrations(self.short_calibrations) + \
            self.history_notes

    def _record_fallbacks(self, ids: list[str], windows: list[list[list[FitState | PanelFit]]]) -> None:
        """The fits' fallbacks, from `windows[w][m]` (model m's fits in backtest window w)."""
        self.fallbacks = season_fallbacks([model.name for model in self.models], ids, windows)
        lengths = self.panel.frame.groupby("unique_id", sort=False).size().tolist() if self.panel is not None else \
            [len(y) for y in self.history.values] if self.history is not None else []
        self.history_notes = describe_recent([model for model in self.models if isinstance(model, Model)], lengths)
        self.short_calibrations = []
        for m, model in enumerate(self.models):
            counts = [window[m][0].calibration_windows() for window in windows if isinstance(window[m][0], PanelFit)]
            counts = [count for count in counts if count is not None]
            if counts:  # later backtest windows re-use or refit on longer histories: the first has the fewest
                self.short_calibrations += [ShortCalibration(model.name, level, min(counts), windows_needed(level))
                                            for level in self.level if min(counts) < windows_needed(level)]

    def _epoch_progress(self, model: GlobalModel):
        if self.progress is None:
            return None
        return lambda epoch, epochs: self.progress(f"train {model.name}", epoch, epochs)

    def _task(self, model: Model, series_id: str, y: np.ndarray, seasons: tuple[int, tuple[int, ...]],
              h: int | None = None, state: FitState | None = None, regressors: np.ndarray | None = None) -> SeriesTask:
        """seasons: the frequency's usual season and every season it may have."""
        usual, candidates = seasons
        return SeriesTask(model=model, series_id=series_id, y=y, season_length=model.season_length or usual,
                          h=h, levels=tuple(self.level), state=state,
                          interval_horizon=self.h if self.level else 0, regressors=regressors,
                          seasons=(model.season_length,) if model.season_length else candidates)

    def _keeps_nonnegative(self, values: list[np.ndarray]) -> bool:
        if self.nonnegative is not None:
            return self.nonnegative
        return all(np.nanmin(y) >= 0 for y in values)

    def _add_forecast_columns(self, out: pd.DataFrame, forecasts: list[SeriesForecast],
                              per_model: int) -> pd.DataFrame:
        """Columns `<model>`, `<model>-lo-<l>` (widest first), `<model>-hi-<l>`; forecasts are
        ordered model-major, in the row order of `out`. Kept at or above zero when `nonnegative_`."""
        columns = {}
        for m, model in enumerate(self.models):
            block = forecasts[m * per_model:(m + 1) * per_model]
            columns[model.name] = np.concatenate([f.mean for f in block])
            for level in reversed(self.level):
                columns[f"{model.name}-lo-{level}"] = np.concatenate([f.lower[level] for f in block])
            for level in self.level:
                columns[f"{model.name}-hi-{level}"] = np.concatenate([f.upper[level] for f in block])
        for name, values in columns.items():
            out[name] = np.maximum(values, 0.0) if self.nonnegative_ else values
        return out


def _history(frame: pd.DataFrame) -> History:
    """The validated training series, as arrays."""
    groups = frame.groupby("unique_id", sort=False)
    return History(
        ids=[str(key) for key in groups.groups],
        values=[group["y"].to_numpy(dtype=float) for _, group in groups],
        last_ds=[group["ds"].iloc[-1] for _, group in groups],
    )


def _ds_by_series(frame: pd.DataFrame) -> list[np.ndarray]:
    return [group["ds"].to_numpy() for _, group in frame.groupby("unique_id", sort=False)]


def _analogue_table(analogues: NextAnalogues, history: History) -> pd.DataFrame:
    table = analogues.index.describe(analogues.retrieved.found, analogues.weights)
    table.insert(0, "unique_id", [history.ids[q] for q in table.pop("query")])
    return table


def _analogue_futures(analogues: NextAnalogues, history: History, h: int, freq: str) -> pd.DataFrame:
    series, rank = np.nonzero(analogues.retrieved.found.rows >= 0)
    return pd.DataFrame({
        "unique_id": np.repeat([history.ids[s] for s in series], h),
        "rank": np.repeat(rank + 1, h),
        "ds": np.concatenate([_future(history.last_ds[s], h, freq) for s in series])
              if len(series) else np.array([], "datetime64[ns]"),
        "value": analogues.retrieved.futures[series, rank].reshape(-1).astype(float),
    })


def _future(last: pd.Timestamp, h: int, freq: str) -> np.ndarray:
    return pd.date_range(last, periods=h + 1, freq=freq)[1:].to_numpy()


def _futures(lasts: list[pd.Timestamp], h: int, freq: str) -> np.ndarray:
    """The h stamps after each of `lasts`, series by series: `_future` of each, computed a step at a time for all
    series at once (a validated series ends on its frequency's grid, where adding k steps is the k-th stamp)."""
    if not lasts:
        return np.array([], "datetime64[ns]")
    offset, ends = to_offset(freq), pd.DatetimeIndex(lasts)
    return np.stack([(ends + k * offset).to_numpy() for k in range(1, h + 1)], axis=1).reshape(-1)

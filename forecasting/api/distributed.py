"""Forecasting on a Dask cluster: series gathered by unique_id into partitions, each forecast on a worker.

A partition holds whole series, so a worker fits each local model (ETS, seasonal naive, ...) exactly as the
in-process Forecaster does. A global model (a network, `linear`) trains once, on the client, on a sample of
at most `train_series` series chosen by a hash of their ids (all of them when there are fewer); its fit travels
in the job, which the graph holds once, so each worker receives it once and forecasts its partitions with it.

A series that fails (too short, a model that cannot fit it) does not stop the job: its rows carry the error
(`ERROR_COLUMN`), naming the series and the model, and every other series completes. A worker lost mid-job
costs only the partitions it held: the scheduler recomputes them elsewhere, and each partition's rows are
its series' whole result, so nothing is lost and nothing is duplicated.
"""
from __future__ import annotations

import logging
import os
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
from distributed import Client, LocalCluster, as_completed, futures_of
from pandas.api.types import is_bool_dtype, is_numeric_dtype
from tqdm.auto import tqdm

from backbones.language.text_encoder import TextEncoderConfig
from forecasting.data.frame import validate_frame
from forecasting.data.lazy import SERIES_COLUMNS
from forecasting.data.panel import Panel
from forecasting.data.text import TextColumns, series_descriptions, text_cells, text_columns
from forecasting.errors import DataError
from forecasting.models import GlobalModel, Model, PanelFit
from forecasting.models.text import TextComponents, text_encoder

ERROR_COLUMN = "error"
SERIES_PER_PARTITION = 1_000     # enough work per task that scheduling costs little; few enough to spread
SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")     # a scheduler's address: tcp://HOST:PORT, ...
Engine = str | Client


def connect(engine: Engine | None) -> Client:
    """A client for `engine`: a Client as it is; "local" or "local:N" a LocalCluster of N single-threaded worker
    processes (all cores without N) on this machine; "tcp://HOST:PORT" the scheduler there. None: the client
    already current in this process, else a LocalCluster on every core."""
    if isinstance(engine, Client):
        return engine
    if engine is None:
        try:
            return Client.current()
        except ValueError:
            engine = "local"
    if engine == "local" or engine.startswith("local:"):
        count = engine.partition(":")[2] or str(os.cpu_count() or 1)
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"engine {engine!r}: local:N needs a whole number of workers N of at least 1")
        cluster = LocalCluster(n_workers=int(count), threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR)
        return Client(cluster)
    if engine.partition("://")[0] in SCHEMES and "://" in engine:
        try:
            return Client(engine, timeout="10s")
        except OSError as error:
            raise OSError(f"engine {engine!r}: no Dask scheduler answered there ({error}). Start one with "
                          f"`dask scheduler` and workers with `dask worker {engine}`, or use --engine local:N.") \
                from None
    raise ValueError(f"engine {engine!r}: use local, local:N (N worker processes here) or a scheduler address "
                     f"such as tcp://10.0.0.5:8786")


def by_series(data: dd.DataFrame | pd.DataFrame | Panel, id_col: str, time_col: str, target_col: str,
              client: Client) -> dd.DataFrame:
    """unique_id, ds, y and the covariates, each series' rows in one partition, persisted on the cluster: a frame in
    memory sent in partitions of SERIES_PER_PARTITION series; a Dask DataFrame (one partition per file read) as it
    is where no series spans partitions, else shuffled by unique_id into as many."""
    if isinstance(data, Panel):
        data = data.frame
    missing = [column for column in (id_col, time_col, target_col) if column not in data.columns]
    if missing:
        raise DataError(f"the table has no column {', '.join(repr(c) for c in missing)}; its columns are "
                        f"{', '.join(map(str, data.columns))}. Name them with id_col=, time_col=, target_col=.")
    covariates = [column for column in data.columns if column not in (id_col, time_col, target_col)]
    frame = data[[id_col, time_col, target_col, *covariates]].rename(
        columns=dict(zip((id_col, time_col, target_col), SERIES_COLUMNS)))
    if isinstance(frame, pd.DataFrame):      # in the graph, not scattered: a lost worker's part is sent again
        frame = frame.astype({"unique_id": str})
        frame.index = pd.Index(pd.factorize(frame["unique_id"])[0] // SERIES_PER_PARTITION, name="part")
        frame = frame.sort_index(kind="stable")
        parts = int(frame.index[-1]) + 1 if len(frame) else 1
        return client.persist(dd.from_pandas(frame, npartitions=parts, sort=True).reset_index(drop=True))
    frame = client.persist(frame)
    each, total = client.compute([frame["unique_id"].map_partitions(lambda ids: pd.Series([ids.nunique()]),
                                                                    meta=(None, int)).sum(),
                                  frame["unique_id"].nunique(split_out=1)], sync=True)
    if each == total:        # files that each hold whole series (a partitioned output, say) need no shuffle
        return frame
    return client.persist(frame.shuffle(on="unique_id", npartitions=frame.npartitions))


def sampled(ids: pd.Series, share: float) -> np.ndarray:
    """Whether each id falls in a `share` of all ids, the same ones on every run and machine (a CRC of the id)."""
    if share >= 1:
        return np.ones(len(ids), bool)
    return np.array([zlib.crc32(str(i).encode()) % 1_000_000 < share * 1_000_000 for i in ids], bool)


@dataclass
class JobText:
    """The text the partitions read: its columns, decided over all series, and each distinct text's vector, encoded
    once on the client and shared with every worker (whose encoder then never loads its model)."""

    cols: list[str] | None = None         # the text covariates (None: `plan` detects them, as the Forecaster does)
    future_cols: list[str] = field(default_factory=list)
    description_col: str | None = None
    encoder: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)        # by text hash (TextEncoder.share)
    components: TextComponents | None = None       # of the known-in-advance text over all series (ARIMA's)


@dataclass
class Job:
    """What every partition's work needs; the graph holds it once, so each worker receives it once."""

    forecaster_class: type                # the Forecaster (passed in: it is the module that calls this one)
    models: list[Model | GlobalModel]
    h: int
    freq: str | None                      # None: `plan` infers it
    level: list[int]
    fill: str
    duplicates: str
    nonnegative: bool | None              # None: `plan` decides it from the data
    fits: list[dict[str, PanelFit]] = field(default_factory=list)  # the global models', by name: per backtest window
    backtest: tuple[int, int, bool] | None = None                 # n_windows, step_size, refit
    text: JobText = field(default_factory=JobText)

    def forecaster(self, models: list[Model | GlobalModel] | None = None) -> Any:
        """An in-process Forecaster of these settings, on one process (the worker's), reading the shared text."""
        if self.text.vectors:
            text_encoder(self.text.encoder).share(self.text.vectors)
        forecaster = self.forecaster_class(models or self.models, h=self.h, freq=self.freq, level=self.level,
                                           n_jobs=1, fill=self.fill, duplicates=self.duplicates,
                                           nonnegative=self.nonnegative, text_cols=self.text.cols or [],
                                           future_text_cols=self.text.future_cols,
                                           description_col=self.text.description_col, text_encoder=self.text.encoder)
        forecaster.shared_text_components = self.text.components
        return forecaster

    def run(self, frame: pd.DataFrame, models: list[Model | GlobalModel] | None = None,
            future_text: pd.DataFrame | None = None) -> pd.DataFrame:
        """The forecasts (or backtest) of the series in `frame` by `models` (all: None), in-process; future_text:
        the horizon's text of these series (a forecast's)."""
        forecaster = self.forecaster(models)
        names = {model.name for model in forecaster.models}
        fits = [{name: fit for name, fit in window.items() if name in names} for window in self.fits] or None
        if self.backtest is None:
            return forecaster.fit(frame, fitted=fits and fits[0]).predict(future_text)
        n_windows, step, refit = self.backtest
        return forecaster.cross_validation(frame, n_windows=n_windows, step_size=step, refit=refit, fitted=fits)

    def meta(self) -> pd.DataFrame:
        """The columns and types of what `forecast_partition` returns."""
        columns = {"unique_id": pd.Series(dtype=object), "ds": pd.Series(dtype="datetime64[ns]")}
        if self.backtest is not None:
            columns |= {"cutoff": pd.Series(dtype="datetime64[ns]"), "y": pd.Series(dtype=float)}
        for model in self.models:
            names = [model.name, *(f"{model.name}-lo-{level}" for level in reversed(self.level)),
                     *(f"{model.name}-hi-{level}" for level in self.level)]
            columns |= {name: pd.Series(dtype=float) for name in names}
        return pd.DataFrame(columns | {ERROR_COLUMN: pd.Series(dtype=object)})


def forecast_partition(frame: pd.DataFrame, job: Job, future_text: pd.DataFrame | None = None) -> pd.DataFrame:
    """One partition's forecasts (with the rows of `future_text` that are its series'); where the partition fails as
    a whole, each series alone, and each of its models alone, so that only what failed becomes error rows."""
    meta = job.meta()
    if frame.empty:
        return meta
    try:
        return _conformed(job.run(frame, future_text=_rows_of(future_text, frame)), meta)
    except DataError:
        pass
    parts = [_series_result(group, job, meta, _rows_of(future_text, group))
             for _, group in frame.groupby("unique_id", sort=False)]
    return pd.concat(parts, ignore_index=True)


def _rows_of(future_text: pd.DataFrame | None, frame: pd.DataFrame) -> pd.DataFrame | None:
    """The rows of future_text for the series in frame."""
    if future_text is None:
        return None
    return future_text[future_text["unique_id"].astype(str).isin(frame["unique_id"].unique())]


def _series_result(series: pd.DataFrame, job: Job, meta: pd.DataFrame,
                   future_text: pd.DataFrame | None) -> pd.DataFrame:
    """One series' forecasts by each model that could make them; the others' errors in ERROR_COLUMN."""
    try:
        return _conformed(job.run(series, future_text=future_text), meta)
    except DataError as whole:
        if len(job.models) == 1:
            return _conformed(pd.DataFrame({"unique_id": [series["unique_id"].iloc[0]], ERROR_COLUMN: [str(whole)]}),
                              meta)
    results, errors = [], []
    for model in job.models:
        try:
            results.append(job.run(series, [model], future_text))
        except DataError as error:
            errors.append(f"{model.name}: {error}")
    if not results:
        return _conformed(pd.DataFrame({"unique_id": [series["unique_id"].iloc[0]],
                                        ERROR_COLUMN: [" ".join(errors)]}), meta)
    keys = [column for column in ("unique_id", "ds", "cutoff", "y") if column in results[0].columns]
    merged = results[0]
    for other in results[1:]:
        merged = merged.merge(other, on=keys, how="outer")
    merged[ERROR_COLUMN] = " ".join(errors)
    return _conformed(merged, meta)


def _conformed(result: pd.DataFrame, meta: pd.DataFrame) -> pd.DataFrame:
    """`result` with meta's columns in meta's order and types: a model's missing columns as NaN, no error as None."""
    out = result.reindex(columns=meta.columns)
    out["unique_id"] = out["unique_id"].astype(str)
    if ERROR_COLUMN not in result.columns:
        out[ERROR_COLUMN] = None
    return out.astype(meta.dtypes.to_dict())


def plan(job: Job, data: dd.DataFrame | pd.DataFrame | Panel, id_col: str, time_col: str, target_col: str,
         client: Client, train_series: int) -> tuple[dd.DataFrame, Job]:
    """The data gathered by series and persisted on the cluster, and the job completed: the frequency (given, or
    the first series'), whether forecasts stay non-negative (given, or from the data a fit may see), the text
    (its columns, every distinct text's vector and the components, found once over all series) and the global
    models' fits, trained here on the sample."""
    frame = by_series(data, id_col, time_col, target_col, client)     # this client's, whichever is current
    series, lengths, lowest = client.compute([frame["unique_id"].nunique(split_out=1), frame.map_partitions(len),
                                              frame["y"].min()], sync=True)
    first = next((p for p, length in enumerate(lengths) if length), 0)
    one = _first_valid_series(client.compute(frame.get_partition(first), sync=True), job)
    job = replace(job, freq=job.freq or one.freq)
    columns = _text_columns(job.text, frame, one, client)
    texted = [*columns.names, *([job.text.description_col] if job.text.description_col else [])]
    summary = None
    if texted or (job.nonnegative is None and (job.backtest is not None or job.duplicates != "error")):
        # what the fits see, the series validated as they will be: before the first cutoff, repeated stamps merged
        summary = client.compute(frame.map_partitions(_seen, job, texted, list(columns.future),
                                                      meta=_seen(frame._meta, job, texted, list(columns.future))),
                                 sync=True)
    if job.nonnegative is None:       # validation fills gaps between values or with zeros: no lower value
        job = replace(job, nonnegative=bool((lowest if summary is None else summary["lowest"].min()) >= 0))
    job = replace(job, text=replace(job.text, cols=list(columns.names), future_cols=list(columns.future)))
    if texted:
        job = replace(job, text=_shared_text(job, columns, summary))
    global_models = [model for model in job.models if isinstance(model, GlobalModel)]
    if global_models:
        share = train_series / int(series)
        chosen = frame["unique_id"].map_partitions(lambda ids: pd.Series(sampled(ids, share), ids.index),
                                                   meta=("unique_id", bool))
        sample = client.compute(frame[chosen], sync=True)
        trainer = job.forecaster(global_models)
        needed = job.forecaster()._min_train_length()      # what every model needs: a shorter series is an error row
        if job.backtest is None:
            trained = trainer.fit(_fit_for(sample, job, needed))
            job.fits = [{model.name: states[0] for model, states in zip(trained.models, trained.states)}]
        else:         # trained at each window's cutoff, as an in-process backtest would
            n_windows, step, refit = job.backtest
            job.fits = trainer.train_windows(_fit_for(sample, job, needed + job.h + (n_windows - 1) * step),
                                             n_windows, step, refit)
    return frame, job


def _text_columns(text: JobText, frame: dd.DataFrame, one: Panel, client: Client) -> TextColumns:
    """The text covariates: those asked for, or every covariate that holds text in some series (as the Forecaster
    detects them over a whole frame); checked on the first series, with the Forecaster's messages."""
    covariates = [column for column in frame.columns if column not in SERIES_COLUMNS]
    names = text.cols
    if names is None:
        candidates = [column for column in covariates if column != text.description_col
                      and not is_numeric_dtype(frame[column].dtype) and not is_bool_dtype(frame[column].dtype)]
        counts = client.compute([frame[column].count() for column in candidates], sync=True)
        names = [column for column, count in zip(candidates, counts) if count]
        names += [column for column in text.future_cols if column not in names and column in covariates]
    columns = text_columns(one, names, text.future_cols, text.description_col)
    if text.description_col is not None:
        series_descriptions(one, text.description_col)
    return columns


def _shared_text(job: Job, columns: TextColumns, summary: pd.DataFrame) -> JobText:
    """The job's text settled: its columns, every distinct text's vector (encoded here, once) and the components of
    the known-in-advance text the fits see, where a model takes them."""
    texts = sorted(set().union(*summary["texts"]))
    vectors = text_encoder(job.text.encoder).vectors(texts)
    wanted = [model.text_components for model in job.models if isinstance(model, Model) and model.takes_text]
    components = None
    if columns.future and any(wanted):
        known = [sorted(set().union(*(seen[m] for seen in summary["known"]))) for m in range(len(columns.future))]
        components = TextComponents.from_texts(list(columns.future), known, max(wanted), job.text.encoder)
    return replace(job.text, vectors=vectors, components=components)


def _fit_for(frame: pd.DataFrame, job: Job, min_length: int) -> pd.DataFrame:
    """The series of `frame` that validate, each alone where the whole does not (the others get error rows)."""
    try:
        validate_frame(frame, freq=job.freq, min_length=min_length, fill=job.fill, duplicates=job.duplicates)
        return frame
    except DataError:
        pass
    kept = []
    for _, rows in frame.groupby("unique_id", sort=False):
        try:
            validate_frame(rows, freq=job.freq, min_length=min_length, fill=job.fill, duplicates=job.duplicates)
            kept.append(rows)
        except DataError:
            continue
    if not kept:
        raise DataError(f"none of the {frame['unique_id'].nunique()} series sampled to train "
                        f"{', '.join(m.name for m in job.models if isinstance(m, GlobalModel))} is valid and at "
                        f"least {min_length} steps long: lower h, or forecast with local models only")
    return pd.concat(kept)


def _first_valid_series(frame: pd.DataFrame, job: Job) -> Panel:
    """The first series of `frame` that validates (its frequency is the job's, unless given); the first one's
    error where none does."""
    first_error = None
    for _, rows in frame.groupby("unique_id", sort=False):
        try:
            return validate_frame(rows, freq=job.freq, fill=job.fill, duplicates=job.duplicates)
        except DataError as error:
            first_error = first_error or error
    raise first_error or DataError("the data has no rows: give at least one series")


def _seen(frame: pd.DataFrame, job: Job, texted: list[str], known: list[str]) -> pd.DataFrame:
    """One row: the lowest value a fit may see in this partition (inf where none), the distinct texts of its
    `texted` columns, and per `known` column those a fit may see. Its series validated as the fit will validate
    them; a fit sees all of each series, or in a backtest what precedes its first window's cutoff (and, of the text
    known in advance, the first window's too)."""
    row = {"lowest": [np.inf], "texts": [set()], "known": [[set() for _ in known]]}
    if frame.empty:
        return pd.DataFrame(row)
    try:
        series = [validate_frame(frame, freq=job.freq, fill=job.fill, duplicates=job.duplicates).frame]
    except DataError:       # one series at a time: those that fail add no forecast to keep non-negative
        series = []
        for _, rows in frame.groupby("unique_id", sort=False):
            try:
                series.append(validate_frame(rows, freq=job.freq, fill=job.fill, duplicates=job.duplicates).frame)
            except DataError:
                continue
    lowest, texts, seen_known = np.inf, set(), [set() for _ in known]
    for validated in series:
        texts.update(*(text_cells(validated[column]) for column in texted))
        for _, rows in validated.groupby("unique_id", sort=False):
            y, ahead = rows["y"].to_numpy(), len(rows)
            if job.backtest is not None:
                n_windows, step, _ = job.backtest
                ahead = len(y) - (n_windows - 1) * step
                y = y[:max(ahead - job.h, 0)]
            if len(y):
                lowest = min(lowest, float(np.nanmin(y)))
            for m, column in enumerate(known):
                seen_known[m].update(text_cells(rows[column].iloc[:max(ahead, 0)]))
    row = {"lowest": [lowest], "texts": [texts - {""}], "known": [[cells - {""} for cells in seen_known]]}
    return pd.DataFrame(row)


def forecasts(frame: dd.DataFrame, job: Job, future_text: pd.DataFrame | None = None) -> dd.DataFrame:
    """The lazy forecasts (or backtest) of every partition, with the horizon's text of `future_text` (a forecast's:
    unique_id, ds and columns known in advance); the job and the future text enter the graph once."""
    if future_text is not None:
        job = replace(job, text=replace(job.text, vectors=job.text.vectors | text_encoder(job.text.encoder).vectors(
            [cell for column in future_text.columns if column not in ("unique_id", "ds")
             for cell in text_cells(future_text[column])])))
    shared = dask.delayed(job, name=f"almanac-job-{uuid.uuid4().hex}", traverse=False)
    future = dask.delayed(future_text, name=f"almanac-future-text-{uuid.uuid4().hex}", traverse=False)
    return frame.map_partitions(forecast_partition, shared, future, meta=job.meta(), align_dataframes=False)


def write_parquet(result: dd.DataFrame, folder: str | os.PathLike, client: Client,
                  progress: Callable[[int, int], None] | None = None) -> tuple[int, int]:
    """Write each partition of `result` to folder/part-NNNNN.parquet as it completes, with a progress bar over
    partitions. A partition recomputed after a lost worker rewrites its own file. Returns (rows, error rows)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("part-*.parquet"):
        stale.unlink()
    counts = result.map_partitions(_write_part, str(folder), meta=pd.DataFrame({"rows": [0], "errors": [0]}),
                                   align_dataframes=False)
    parts = futures_of(client.persist(counts))
    rows = errors = done = 0
    with tqdm(total=len(parts), desc="partitions", unit="partition", disable=None) as bar:
        for future in as_completed(parts):
            written = future.result()
            rows, errors, done = rows + int(written["rows"].iloc[0]), errors + int(written["errors"].iloc[0]), done + 1
            bar.update()
            if progress is not None:
                progress(done, len(parts))
    return rows, errors


def _write_part(part: pd.DataFrame, folder: str, partition_info: dict | None = None) -> pd.DataFrame:
    number = partition_info["number"] if partition_info else 0
    part.to_parquet(Path(folder) / f"part-{number:05d}.parquet", index=False)
    return pd.DataFrame({"rows": [len(part)], "errors": [int(part[ERROR_COLUMN].notna().sum())]})

"""Sliding windows for neural training: splits by time, a train-only scaler, calendar features.

Series are stored as blocks of aligned channels ([T, C] values, [T, F] calendar features): one
block per series (channel independent) or one block holding several aligned series as channels
(channel-grouped, e.g. ETTh1's seven columns). A window is `lookback` steps of history followed by
`horizon` targets, both inside one block; windows are addressed by the row of their first target,
so a split ("targets inside these rows") may take its history from the rows before it, as the
Informer protocol does.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from gluonts.time_feature import time_features_from_frequency_str

from backbones.batch import Batch
from forecasting.retrieval.index import Analogues
from forecasting.retrieval.retriever import Retriever


def calendar_features(ds: pd.DatetimeIndex, freq: str) -> np.ndarray:
    """Informer's "timeF" features for `freq` (hour of day, day of week, ... each in [-0.5, 0.5]): [T, F]."""
    functions = time_features_from_frequency_str(freq)
    if not functions:
        return np.zeros((len(ds), 0), dtype=np.float32)
    return np.stack([function(ds) for function in functions], axis=1).astype(np.float32)


def n_calendar_features(freq: str) -> int:
    return len(time_features_from_frequency_str(freq))


@dataclass(frozen=True)
class Split:
    """Row ranges whose rows are the *targets* of a split's windows."""

    train: range
    val: range
    test: range


def informer_split(n_rows: int, steps_per_hour: int = 1) -> Split:
    """The ETT protocol of Informer (Zhou et al. 2021): 12 months train, 4 validation, 4 test,
    counted in 30-day months from the first row."""
    month = 30 * 24 * steps_per_hour
    if n_rows < 20 * month:
        raise ValueError(f"the Informer split needs {20 * month} rows (20 months), got {n_rows}")
    return Split(train=range(0, 12 * month), val=range(12 * month, 16 * month), test=range(16 * month, 20 * month))


def fraction_split(n_rows: int, train: float = 0.7, val: float = 0.1) -> Split:
    """Chronological split by fractions (the 7:1:2 protocol used for non-ETT data in the literature)."""
    n_train, n_val = int(n_rows * train), int(n_rows * val)
    return Split(train=range(0, n_train), val=range(n_train, n_train + n_val), test=range(n_train + n_val, n_rows))


SPLITS = {"informer": informer_split, "fractions": fraction_split}


@dataclass
class Scaler:
    """Per-channel standardisation with statistics taken from training rows only."""

    mean: np.ndarray  # [C]
    std: np.ndarray   # [C]

    @classmethod
    def fit(cls, values: np.ndarray) -> Scaler:
        # statistics of values divided by their peak, so magnitudes like 1e200 do not overflow
        peak = np.max(np.abs(values), axis=0)
        peak = np.where(peak > 0, peak, 1.0)
        std = (values / peak).std(axis=0) * peak
        return cls(mean=(values / peak).mean(axis=0) * peak, std=np.where(std > 0, std, 1.0))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return ((values - self.mean) / self.std).astype(np.float32)

    def inverse(self, values: np.ndarray, channel_axis: int = -1) -> np.ndarray:
        shape = [1] * values.ndim
        shape[channel_axis] = len(self.mean)
        return values * self.std.reshape(shape) + self.mean.reshape(shape)


@dataclass(frozen=True)
class TextRows:
    """Text covariates of the blocks' rows: each row's text in each of M columns, as a row of `table` (the
    distinct texts' embeddings [V, E], row 0 all zeros: no text), and which columns are known in advance."""

    codes: list[np.ndarray]   # per block, [T_b, M] int
    table: np.ndarray         # [V, E]
    known: np.ndarray         # [M] bool: the column's text over the horizon may be read


@dataclass
class Windows:
    """Every window whose targets start at one of `targets`; blocks concatenated row-wise."""

    values: torch.Tensor   # [T, C]
    time: torch.Tensor     # [T, F]
    targets: torch.Tensor  # [N] row of each window's first target
    series: torch.Tensor   # [N] the series number of each window's block (Batch.series)
    lookback: int
    horizon: int
    label_len: int = 0
    series_embedding: torch.Tensor | None = None  # [N, E] its block's external embedding (Batch.series_embedding)
    retriever: Retriever | None = None  # gives each window its analogues (Batch.retrieved), by ...
    stamps: np.ndarray | None = None    # [T] int64 ns: ... the time of each row, so a window sees only the past
    text_codes: torch.Tensor | None = None   # [T, M] each row's text per column, a row of text_table (see TextRows)
    text_table: torch.Tensor | None = None   # [V, E]
    text_known: torch.Tensor | None = None   # [M] long: 1 where the column's future text may be read
    _found: Analogues | None = field(default=None, repr=False)   # each window's analogues, once searched

    def __len__(self) -> int:
        return len(self.targets)

    def batch(self, index: torch.Tensor) -> tuple[Batch, torch.Tensor]:
        """Windows `index` -> (Batch with x [B, L, C] and calendar features, targets [B, H, C])."""
        first = self.targets[index]
        history = (first[:, None] - self.lookback + torch.arange(self.lookback))          # [B, L]
        future = first[:, None] + torch.arange(self.horizon)                               # [B, H]
        decoder = first[:, None] - self.label_len + torch.arange(self.label_len + self.horizon)
        has_time = self.time.shape[1] > 0
        batch = Batch(x=self.values[history],
                      x_time=self.time[history] if has_time else None,
                      y_time=self.time[decoder] if has_time else None,
                      series=self.series[index],
                      series_embedding=None if self.series_embedding is None else self.series_embedding[index])
        if self.text_codes is not None:
            codes = self.text_codes[torch.cat([history, future], dim=1)]                    # [B, L + H, M]
            codes[:, self.lookback:] *= self.text_known                # observed-only columns: none ahead
            batch.text = self.text_table[codes]                                             # [B, L + H, M, E]
        if self.retriever is not None:
            if self.values.shape[1] != 1:
                raise ValueError("retrieval needs windows of one channel (channel independent)")
            retrieved = self.retriever.futures_of(self._analogues(index.numpy(), batch.x[:, :, 0].numpy()),
                                                  batch.x[:, :, 0].numpy())
            batch.retrieved = torch.from_numpy(retrieved.futures)[..., None]                # [B, k, H, 1]
            batch.retrieved_similarity = torch.from_numpy(retrieved.found.similarity)       # [B, k]
            batch.retrieved_history = torch.from_numpy(retrieved.histories)[..., None]      # [B, k, L, 1]
        return batch, self.values[future]

    def _analogues(self, index: np.ndarray, queries: np.ndarray) -> Analogues:
        """The analogues of windows `index` (queries [B, L] their histories), each searched once: a window
        drawn again in a later epoch, or validated every epoch, reuses its search."""
        if self._found is None:
            self._found = Analogues(np.full((len(self), self.retriever.k), -2, np.int64),
                                    np.full((len(self), self.retriever.k), np.nan, np.float32))
        new = np.unique(index[self._found.rows[index, 0] == -2])
        if len(new):
            position = {window: i for i, window in enumerate(index)}
            rows = [position[window] for window in new]
            found = self.retriever.search(queries[rows], self.stamps[self.targets.numpy()[new] - 1])
            self._found.rows[new], self._found.similarity[new] = found.rows, found.similarity
        return Analogues(self._found.rows[index], self._found.similarity[index])


def make_windows(blocks: Sequence[tuple[np.ndarray, np.ndarray]], lookback: int, horizon: int,
                 target_rows: Sequence[range] | None = None, label_len: int = 0,
                 series: Sequence[int] | None = None, series_embedding: np.ndarray | None = None,
                 retriever: Retriever | None = None, stamps: Sequence[np.ndarray] | None = None,
                 text: TextRows | None = None) -> Windows:
    """Windows over `blocks` of (values [T, C], calendar features [T, F]).

    target_rows[b]: rows of block b allowed as targets (None: all). A window needs `lookback`
    rows of history before its first target and `horizon` target rows inside the range, so no
    window is dropped or truncated at the end of a split. series[b]: block b's number in Batch.series
    (None: b + 1, every block a known series); series_embedding[b]: its row of Batch.series_embedding.
    retriever: gives each window the analogues its cutoff may see, by the times stamps[b] [T_b] (int64 ns)
    of block b's rows. text: the rows' text covariates (Batch.text).
    """
    if label_len > lookback:
        raise ValueError(f"label_len ({label_len}) cannot exceed lookback ({lookback})")
    offsets = np.cumsum([0] + [len(values) for values, _ in blocks])
    firsts, numbers = [], []
    series = range(1, len(blocks) + 1) if series is None else series
    for b, (values, _) in enumerate(blocks):
        rows = target_rows[b] if target_rows is not None else range(len(values))
        start, stop = max(rows.start, lookback), min(rows.stop, len(values))
        firsts.append(offsets[b] + np.arange(start, stop - horizon + 1))
        numbers.append(np.full(len(firsts[-1]), series[b]))
    return Windows(
        values=torch.from_numpy(np.concatenate([values for values, _ in blocks]).astype(np.float32)),
        time=torch.from_numpy(np.concatenate([time for _, time in blocks]).astype(np.float32)),
        targets=torch.from_numpy(np.concatenate(firsts).astype(np.int64)),
        series=torch.from_numpy(np.concatenate(numbers).astype(np.int64)),
        series_embedding=None if series_embedding is None else torch.from_numpy(
            np.repeat(np.asarray(series_embedding, np.float32), [len(f) for f in firsts], axis=0)),
        lookback=lookback, horizon=horizon, label_len=label_len,
        retriever=retriever, stamps=None if stamps is None else np.concatenate(stamps).astype(np.int64),
        **({} if text is None else {
            "text_codes": torch.from_numpy(np.concatenate(text.codes).astype(np.int64)),
            "text_table": torch.from_numpy(np.asarray(text.table, np.float32)),
            "text_known": torch.from_numpy(np.asarray(text.known, bool).astype(np.int64))}),
    )

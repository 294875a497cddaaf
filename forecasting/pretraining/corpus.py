"""The pretraining corpus: fixed windows of real series, synthetic ones and mixtures, none downloaded.

- Real: the shipped files in ../shared/data that no benchmark holds out (`REAL_SOURCES`). The targets the
  transfer tables score (`HELD_OUT`) are never read; of ETTh1 and ETTm1 (one transformer station, ETTh1's
  few-shot target) only the first 12 months, the Informer protocol's training months; of M4 Hourly the
  training part only.
- Synthetic (KernelSynth, Chronos): Gaussian process samples whose kernel is a random composition, by sums
  and products, of up to five kernels drawn from a bank (linear, RBF, periodic at common seasons, rational
  quadratic, white noise, constant); four series from each composition.
- TSMixup (Chronos): a convex combination, Dirichlet weights, of 1 to 3 real windows each scaled by its mean
  absolute value.

Windows are drawn once (the seed fixes every draw), so an epoch is one pass over the same windows, as the
language-model corpora were: that is what makes BERT's static masks and RoBERTa's redrawn ones differ. Real
windows are drawn source by source (`real_sampling`: each file equally often, or in proportion to the square
root of how many distinct windows it holds, so that a file shorter than one window is not drawn as often as
a year of weather), then a series, then a start; a series shorter than a window is padded at its start with
its first value, as a forecast pads a short history. With `aggregations`, a real window is drawn at a random
temporal aggregation (the means of blocks of k steps: an hourly file read as 4-hourly or daily), the slower
dynamics of coarser data that the shipped files lack (neither option lowered the validation loss of the
bundled model's corpus: BENCHMARKS.md). Windows whose
scaled values repeat another's are dropped (deduplication). A share of the real series, chosen by a hash of
their names, is held out from training to score the pretraining (validation), with synthetic windows of their
own seed.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
HELD_OUT = ("ETTh2.csv", "ETTm2.csv.gz", "national_illness.csv", "exchange_rate.csv", "exchange_rate.txt",
            "M4-Weekly-train.csv", "M4-Weekly-test.csv", "pedestrians_daily.csv")
MAX_STEPS = 200_000           # a series' latest steps kept (weather's 52k rows x 21 fit; none is longer)


def _columns(file: str, date: str, rows: int | None = None) -> Callable[[Path], dict[str, np.ndarray]]:
    def read(folder: Path) -> dict[str, np.ndarray]:
        frame = pd.read_csv(folder / file).drop(columns=[date]).iloc[:rows]
        return {f"{file}:{column}": frame[column].to_numpy(float) for column in frame.columns}
    return read


def _m4(file: str) -> Callable[[Path], dict[str, np.ndarray]]:
    def read(folder: Path) -> dict[str, np.ndarray]:
        frame = pd.read_csv(folder / file, index_col=0)
        return {f"{file}:{name}": row.dropna().to_numpy(float) for name, row in frame.iterrows()}
    return read


YEAR = 12 * 30 * 24           # the Informer protocol's 12 training months, in hours
REAL_SOURCES: dict[str, Callable[[Path], dict[str, np.ndarray]]] = {
    "ETTh1.csv": _columns("ETTh1.csv", "date", rows=YEAR),
    "ETTm1.csv.gz": _columns("ETTm1.csv.gz", "date", rows=4 * YEAR),
    "weather.csv.gz": _columns("weather.csv.gz", "date"),
    "M4-Hourly-train.csv": _m4("M4-Hourly-train.csv"),
    "AirPassengers.csv": _columns("AirPassengers.csv", "ds"),
    "retail_sales_monthly.csv": _columns("retail_sales_monthly.csv", "ds"),
    "peyton_manning_log_daily.csv": _columns("peyton_manning_log_daily.csv", "ds"),
}


REAL_SAMPLING = ("source", "windows")


@dataclass
class CorpusConfig:
    windows: int = 20_000                 # training windows
    validation_windows: int = 1_000
    real: float = 0.6                     # the mix: shares of real, KernelSynth and TSMixup windows
    synthetic: float = 0.3
    mixup: float = 0.1
    validation_share: float = 0.05        # real series held out for validation, by a hash of their names
    sources: tuple[str, ...] = tuple(REAL_SOURCES)
    real_sampling: str = "source"         # "source": each file equally; "windows": by sqrt(its distinct windows)
    aggregations: tuple[int, ...] = (1,)  # block sizes a real window is drawn at, uniformly
    seed: int = 0

    def __post_init__(self) -> None:
        if self.real_sampling not in REAL_SAMPLING:
            raise ValueError(f"real_sampling must be one of {REAL_SAMPLING}, got {self.real_sampling!r}")
        if not self.aggregations or min(self.aggregations) < 1:
            raise ValueError(f"aggregations are block sizes of at least 1 step, got {self.aggregations}")
        self.aggregations = tuple(int(k) for k in self.aggregations)
        shares = (self.real, self.synthetic, self.mixup)
        if min(shares) < 0 or not np.isclose(sum(shares), 1):
            raise ValueError(f"real, synthetic and mixup are shares of the windows: non-negative, summing to 1, "
                             f"got {shares}")
        unknown = set(self.sources) - set(REAL_SOURCES)
        if unknown:
            raise ValueError(f"unknown corpus sources {sorted(unknown)}; known: {', '.join(REAL_SOURCES)}")
        if self.real + self.mixup > 0 and not self.sources:
            raise ValueError("real and mixup windows need at least one real source")
        self.sources = tuple(self.sources)


@dataclass
class Corpus:
    windows: np.ndarray                   # [W, T] float32 training windows
    validation: np.ndarray                # [V, T] validation windows
    origin: np.ndarray                    # [W] "real" | "synthetic" | "mixup"
    config: CorpusConfig
    stats: dict = field(default_factory=dict)

    def record(self) -> dict:
        """What a checkpoint keeps about its corpus."""
        return {"config": asdict(self.config), **self.stats}


def series_hash(values: np.ndarray) -> str:
    """A series' identity up to level and scale: its standardised values to 4 significant digits."""
    scaled = (values - values.mean()) / (values.std() + 1e-12)
    return hashlib.sha1(np.round(scaled, 4).astype(np.float32).tobytes()).hexdigest()


def read_real(sources: tuple[str, ...], folder: Path = DATA) -> dict[str, dict[str, np.ndarray]]:
    """Per source file, its series (name -> values), finite values only, each at most MAX_STEPS long."""
    out = {}
    for source in sources:
        if source in HELD_OUT:
            raise ValueError(f"{source} is held out for evaluation and never enters the corpus")
        series = {}
        for name, values in REAL_SOURCES[source](folder).items():
            values = values[np.isfinite(values)][-MAX_STEPS:]
            if len(values) > 1 and values.std() > 0:
                series[name] = values
        out[source] = series
    return out


def is_validation(name: str, share: float) -> bool:
    return int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) / 16 ** 8 < share


def window_of(values: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """A window of `length` steps at a random start; a shorter series padded at its start with its first value."""
    if len(values) < length:
        return np.concatenate([np.full(length - len(values), values[0]), values])
    start = rng.integers(0, len(values) - length + 1)
    return values[start:start + length]


def aggregated(values: np.ndarray, k: int) -> np.ndarray:
    """The means of consecutive blocks of k steps, the blocks ending at the series' last step."""
    usable = len(values) // k * k
    return values[len(values) - usable:].reshape(-1, k).mean(1) if k > 1 else values


def real_windows(series: dict[str, dict[str, np.ndarray]], count: int, length: int, rng: np.random.Generator,
                 config: CorpusConfig) -> np.ndarray:
    """`count` windows: a source (by config.real_sampling), then one of its series, then an aggregation that
    leaves it at least half a window long (by config.aggregations; 1 always qualifies), then a start."""
    sources = [source for source in series if series[source]]
    if config.real_sampling == "windows":
        weights = np.sqrt([sum(max(1, len(v) - length + 1) for v in series[source].values()) for source in sources])
        weights /= weights.sum()
    out = np.empty((count, length))
    for row in range(count):
        pick = (rng.integers(len(sources)) if config.real_sampling == "source"
                else rng.choice(len(sources), p=weights))
        named = series[sources[pick]]
        values = list(named.values())[rng.integers(len(named))]
        if len(config.aggregations) > 1:
            values = aggregated(values, rng.choice([k for k in config.aggregations
                                                    if len(values) // k >= length // 2] or [1]))
        out[row] = window_of(values, length, rng)
    return out


def mixup_windows(series: dict[str, dict[str, np.ndarray]], count: int, length: int, rng: np.random.Generator,
                  config: CorpusConfig, alpha: float = 1.5, most: int = 3) -> np.ndarray:
    """TSMixup: each window a Dirichlet(alpha) mixture of 1 to `most` real windows, each scaled by its mean
    absolute value first."""
    out = np.empty((count, length))
    for row in range(count):
        k = rng.integers(1, most + 1)
        parts = real_windows(series, k, length, rng, config)
        parts /= np.abs(parts).mean(1, keepdims=True) + 1e-12
        out[row] = rng.dirichlet(np.full(k, alpha)) @ parts
    return out


# KernelSynth's bank, for a window of T steps on a time axis scaled to [0, 1]
PERIODS = (4, 7, 12, 24, 48, 52, 96, 168, 336, 365)


def kernel_bank(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One kernel from the bank, evaluated on the time axis t [T] -> [T, T]."""
    d = t[:, None] - t[None, :]
    kind = rng.integers(6)
    if kind == 0:                                        # linear (a trend)
        c = rng.uniform(0, 1)
        return (t[:, None] - c) * (t[None, :] - c) * rng.uniform(0.5, 2)
    if kind == 1:                                        # RBF (smooth variation)
        return np.exp(-0.5 * d ** 2 / rng.choice([0.01, 0.05, 0.1, 0.5]) ** 2)
    if kind == 2:                                        # periodic, at a common season in steps
        period = rng.choice(PERIODS) / len(t)
        return np.exp(-2 * np.sin(np.pi * np.abs(d) / period) ** 2 / rng.choice([0.5, 1.0, 2.0]) ** 2)
    if kind == 3:                                        # rational quadratic
        alpha, scale_ = rng.choice([0.1, 1.0, 10.0]), rng.choice([0.05, 0.1, 0.5])
        return (1 + d ** 2 / (2 * alpha * scale_ ** 2)) ** -alpha
    if kind == 4:                                        # white noise
        return np.eye(len(t)) * rng.choice([0.01, 0.1, 1.0])
    return np.full((len(t), len(t)), rng.uniform(0.1, 1))   # constant


def kernel_synth(length: int, rng: np.random.Generator, samples: int = 1, most: int = 5) -> np.ndarray:
    """KernelSynth series [samples, length]: draws from one GP whose kernel composes 1 to `most` bank kernels
    by + or *."""
    t = np.linspace(0, 1, length)
    kernel = kernel_bank(t, rng)
    for _ in range(rng.integers(0, most)):
        other = kernel_bank(t, rng)
        kernel = kernel + other if rng.random() < 0.5 else kernel * other
    jitter = 1e-6 * np.trace(kernel) / length + 1e-8
    cholesky = np.linalg.cholesky(kernel + jitter * np.eye(length))
    return (cholesky @ rng.standard_normal((length, samples))).T


SAMPLES_PER_KERNEL = 4        # series drawn from each composed kernel: the factorisation is most of the cost


def synthetic_windows(count: int, length: int, rng: np.random.Generator) -> np.ndarray:
    out = []
    while len(out) < count:
        try:
            out.extend(kernel_synth(length, rng, samples=min(SAMPLES_PER_KERNEL, count - len(out))))
        except np.linalg.LinAlgError:   # a composition not positive definite enough to factorise: draw again
            continue
    return np.array(out).reshape(count, length)


def build_corpus(config: CorpusConfig, length: int, folder: Path = DATA) -> Corpus:
    """The fixed training and validation windows of `length` steps, deduplicated, with what went in."""
    rng = np.random.default_rng(config.seed)
    real = read_real(config.sources, folder) if config.real + config.mixup > 0 else {}
    training = {source: {name: v for name, v in named.items() if not is_validation(name, config.validation_share)}
                for source, named in real.items()}
    held = {source: {name: v for name, v in named.items() if is_validation(name, config.validation_share)}
            for source, named in real.items()}
    counts = np.round(np.array([config.real, config.synthetic, config.mixup]) * config.windows).astype(int)
    counts[0] = config.windows - counts[1:].sum()
    parts = [real_windows(training, counts[0], length, rng, config), synthetic_windows(counts[1], length, rng),
             mixup_windows(training, counts[2], length, rng, config)]
    windows = np.concatenate(parts).astype(np.float32)
    origin = np.repeat(np.array(["real", "synthetic", "mixup"]), counts)
    windows, origin, duplicates = _deduplicated(windows, origin)
    validation = _validation_windows(config, held, length)
    stats = {"window_steps": length, "windows_by_origin": {kind: int((origin == kind).sum())
                                                           for kind in ("real", "synthetic", "mixup")},
             "duplicate_windows_dropped": duplicates,
             "series_by_source": {source: len(named) for source, named in training.items()},
             "validation_series": sorted(name for named in held.values() for name in named),
             "validation_windows": len(validation), "held_out_files": list(HELD_OUT)}
    return Corpus(windows, validation, origin, config, stats)


def _deduplicated(windows: np.ndarray, origin: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    seen, keep = set(), np.zeros(len(windows), bool)
    for row, window in enumerate(windows):
        key = series_hash(window)
        keep[row] = key not in seen
        seen.add(key)
    return windows[keep], origin[keep], int((~keep).sum())


def _validation_windows(config: CorpusConfig, held: dict[str, dict[str, np.ndarray]], length: int) -> np.ndarray:
    """Windows of the held-out real series, and synthetic ones of their own seed, in the corpus' mix."""
    rng = np.random.default_rng([config.seed, 1])
    count = config.validation_windows
    synthetic = round(count * config.synthetic)
    real = count - synthetic if any(held.values()) else 0
    parts = [real_windows(held, real, length, rng, config) if real else np.empty((0, length)),
             synthetic_windows(count - real if real else count, length, rng)]
    return np.concatenate(parts).astype(np.float32)

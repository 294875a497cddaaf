"""Text covariates with a known truth: real daily series, with planned events written as text that move them by
a known amount, and a test period that words the same events in ways training never saw.

The base panel is 16 real daily series from ../shared/data: pedestrians (Prophet's example), Peyton Manning's
Wikipedia views (log), and ETTh1's and ETTh2's seven channels as daily means. Onto each series, events fall
on about one day in twelve: a sale (+2 deviations that day), a closure (-2.5 that day), a heat warning (+1 for
three days), or a distractor that moves nothing ("staff meeting"). A deviation is the series' own standard
deviation of day-to-day changes over its training part, so every series gets effects of the same size in its
own units. The event's text sits in the column "event", known in advance (planned), on its first day.

Training and validation rows word each event with TRAIN_WORDINGS; the test rows with TEST_WORDINGS only, which
share no sentence with them ("everything a third cheaper today" for a sale): a model gains on the test rows
only as far as it reads what the text means. The control replaces every text by random letters of the same
length, so that what remains is that some text is there, not what it says.

    .venv/bin/python benchmarks/text_covariates.py        # the panel's description: events per split and kind
"""
from __future__ import annotations

import argparse
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TRAIN, VALIDATION = 0.7, 0.1          # chronological shares of each series; the rest is the test part
EVENT_RATE = 1 / 12                   # days that start an event


@dataclass(frozen=True)
class EventKind:
    effect: float                     # in deviations of the series' day-to-day changes, each day it lasts
    days: int


KINDS = {"sale": EventKind(2.0, 1), "closure": EventKind(-2.5, 1), "heat": EventKind(1.0, 3),
         "distractor": EventKind(0.0, 1)}
TRAIN_WORDINGS = {
    "sale": ["flash sale 30% off", "weekend sale: 30 percent off everything", "half-price promotion today",
             "discount day with big price cuts", "clearance sale, all items reduced"],
    "closure": ["store closed for inventory", "shop shut for stocktaking", "closed all day for renovation",
                "no opening today: maintenance works"],
    "heat": ["heatwave warning", "extreme heat alert issued", "very hot days ahead, stay cool"],
    "distractor": ["staff meeting at noon", "new manager started this week", "parking lot repainted",
                   "quarterly report published"],
}
TEST_WORDINGS = {
    "sale": ["everything a third cheaper today", "prices slashed for one day only", "bargain day: deep reductions"],
    "closure": ["we are not open today due to the annual stock count", "doors remain locked today for repairs"],
    "heat": ["temperatures expected to soar in the coming days", "scorching weather forecast"],
    "distractor": ["team lunch scheduled", "office plants watered"],
}


def base_series() -> dict[str, pd.Series]:
    """The 16 real daily series, each indexed by its dates."""
    series = {}
    for name, file in (("pedestrians", "pedestrians_daily.csv"), ("peyton_manning", "peyton_manning_log_daily.csv")):
        frame = pd.read_csv(DATA / file, parse_dates=["ds"])
        series[name] = frame.set_index("ds")["y"].asfreq("D").interpolate()
    for data_set in ("ETTh1", "ETTh2"):
        frame = pd.read_csv(DATA / f"{data_set}.csv", parse_dates=["date"]).set_index("date")
        daily = frame.resample("D").mean()
        for column in daily.columns:
            series[f"{data_set} {column}"] = daily[column]
    return series


def split_of(length: int) -> np.ndarray:
    """Each row's part: 0 training, 1 validation, 2 test."""
    part = np.full(length, 2)
    part[:int(length * (TRAIN + VALIDATION))] = 1
    part[:int(length * TRAIN)] = 0
    return part


def semi_synthetic_panel(seed: int = 0, control: bool = False) -> pd.DataFrame:
    """unique_id, ds, y (the real series plus the events' effects), event (text on an event's first day, '' on
    others), kind and part (the truth and the split, for scoring: not inputs). control: random letters instead of
    each text, of the same length."""
    rng, letters = np.random.default_rng(seed), np.random.default_rng([seed, 1])   # the control's own draws:
    # the events fall on the same days, with the same kinds, with and without it
    frames = []
    for name, values in base_series().items():
        y = values.to_numpy(float).copy()
        part = split_of(len(y))
        deviation = np.std(np.diff(y[part == 0]))
        events, kinds = np.full(len(y), "", dtype=object), np.full(len(y), "", dtype=object)
        day = 0
        while day < len(y):
            if rng.random() < EVENT_RATE:
                kind = rng.choice(list(KINDS))
                wordings = TEST_WORDINGS if part[day] == 2 else TRAIN_WORDINGS
                text = rng.choice(wordings[kind])
                events[day] = _random_letters(len(text), letters) if control else text
                lasting = slice(day, min(day + KINDS[kind].days, len(y)))
                y[lasting] += KINDS[kind].effect * deviation
                kinds[lasting] = kind
                day += KINDS[kind].days + 1           # events never overlap
            else:
                day += 1
        frames.append(pd.DataFrame({"unique_id": name, "ds": values.index, "y": y, "event": events,
                                    "kind": kinds, "part": part}))
    return pd.concat(frames, ignore_index=True)


def _random_letters(length: int, rng: np.random.Generator) -> str:
    """`length` random letters, with spaces between words as often as in English (never at either end)."""
    cells = rng.choice(np.array(list(string.ascii_lowercase)), length)
    cells[1:-1][rng.random(max(length - 2, 0)) < 0.18] = " "
    return "".join(cells)


def describe(panel: pd.DataFrame) -> pd.DataFrame:
    """Events per split and kind, and the distinct texts of each."""
    starts = panel[panel["event"] != ""]
    table = starts.groupby(["part", "kind"]).agg(events=("event", "size"), distinct_texts=("event", "nunique"))
    return table.rename(index={0: "train", 1: "validation", 2: "test"}, level="part")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    panel = semi_synthetic_panel(args.seed)
    print(f"{panel['unique_id'].nunique()} series, {len(panel):,} rows, "
          f"{(panel['event'] != '').sum():,} events")
    print(describe(panel).to_string())


if __name__ == "__main__":
    main()

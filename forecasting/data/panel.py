"""A typed panel: the validated long frame and everything known about it, produced once and passed down.

`read_table` and `validate_frame` make one; the Forecaster, backtests, reports, the CLI and the app
take it as it is, so a frame is validated once per request and what was found while reading (the
repairs, the sniffed format, the frequency) travels as typed values, never as text or DataFrame.attrs.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Repair:
    """One policy applied to the data: what, where, how many rows, in a sentence."""

    policy: str
    series: str | None
    rows: int
    detail: str


@dataclass(frozen=True)
class RepairSummary:
    """The repairs of one policy together: the rows they touched and the series, or the one repair's detail."""

    policy: str
    rows: int
    series: list[str]
    detail: str

    def __str__(self) -> str:
        if len(self.series) > 1:
            return f"{self.policy}: {self.rows} rows in {len(self.series)} series ({quoted(self.series)})"
        return f"{self.policy} ({self.rows} rows): {self.detail}"


@dataclass(frozen=True)
class Note:
    """Something decided while reading that the user should know: a guess between two readings that both
    fit the file, a column's role, a conversion. Unlike a repair it changes no value the file holds."""

    topic: str  # "date_order", "number_style", "timezone", "id_column", "column", "placeholders", "header"
    column: str | None
    detail: str

    def __str__(self) -> str:
        return f"{self.topic}: {self.detail}"


@dataclass(frozen=True)
class FrameReport:
    """What reading decided and validation found and repaired."""

    source: str
    n_series: int
    n_rows: int
    freq: str
    repairs: tuple[Repair, ...]
    notes: tuple[Note, ...] = ()

    def by_policy(self) -> list[RepairSummary]:
        """One entry per repair policy, in the order the policies were first applied."""
        groups: dict[str, list[Repair]] = {}
        for repair in self.repairs:
            groups.setdefault(repair.policy, []).append(repair)
        return [RepairSummary(policy, sum(r.rows for r in group),
                              [r.series for r in group if r.series is not None], group[0].detail)
                for policy, group in groups.items()]

    def summary(self) -> str:
        """Readable text: the frame's shape, the notes on how it was read, then each repair policy with the
        rows it touched."""
        lines = [f"{self.source}: {self.n_series} series, {self.n_rows} rows, frequency {self.freq}"]
        if self.notes:
            lines += ["notes:", *(f"- {note}" for note in self.notes)]
        if not self.repairs:
            return "\n".join([*lines, "no repairs needed"])
        return "\n".join([*lines, "repairs:", *(f"- {entry}" for entry in self.by_policy())])


@dataclass(frozen=True)
class TableFormat:
    """How a file was read, so a user can see (and override) what was sniffed."""

    encoding: str
    sep: str
    decimal: str
    thousands: str | None
    time_col: str
    date_format: str
    layout: str  # "long" (an id column) or "wide" (one series per numeric column)
    id_col: str | None = None
    # The day/month order used (None when the dates have none, e.g. ISO dates), whether the other order reads
    # every date too (then read_table(dayfirst=not dayfirst) is the switch), and whether the data itself could
    # not tell the two apart, so the order was a guess (the report's notes say from what).
    dayfirst: bool | None = None
    other_date_order_reads: bool = False
    dayfirst_ambiguous: bool = False
    # Whether some numbers read differently with the other decimal mark and nothing in the data told which is
    # meant (the notes say what decided; read_table(decimal=...) is the switch).
    decimal_ambiguous: bool = False
    timezone: str | None = None  # the zone dates with UTC offsets were converted to; None when they had none


@dataclass(frozen=True)
class Panel:
    """A validated long frame (unique_id, ds, y, covariates: sorted, regular) with its report and,
    when it was read from a file, how the file was read."""

    frame: pd.DataFrame
    report: FrameReport
    format: TableFormat | None = None

    @property
    def freq(self) -> str:
        return self.report.freq

    @property
    def source(self) -> str:
        return self.report.source

    @property
    def series_ids(self) -> list[str]:
        return [str(series_id) for series_id in self.frame["unique_id"].unique()]

    @property
    def never_negative(self) -> bool:
        """No value is below zero: counts, sales, rates, whose forecasts should not be either."""
        return not bool((self.frame["y"] < 0).any())


def quoted(names: object, shown: int = 5) -> str:
    """Up to `shown` names in quotes, then how many more."""
    names = list(names)
    listed = ", ".join(f"'{name}'" for name in names[:shown])
    return listed + (f" and {len(names) - shown} more" if len(names) > shown else "")

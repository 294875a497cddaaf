"""How a model that learns across a panel holds out each series' latest rows: train | validation | calibration.

Validation rows choose settings (a network's epochs, the linear model's penalty); calibration rows, which chose
nothing, calibrate the intervals. Each holds the last max(h, 10%) rows (VALIDATION_ROWS, CALIBRATION_ROWS).
"""
from __future__ import annotations

from dataclasses import dataclass

# The last rows of each series held out, as (horizons, share): max(horizons * h, share of the rows).
VALIDATION_ROWS = (1, 0.1)
CALIBRATION_ROWS = (1, 0.1)


@dataclass(frozen=True)
class Split:
    """Rows of one series whose windows' targets train, validate (choose settings), and calibrate."""

    train: range
    validation: range
    calibration: range


def split_rows(n_rows: int, h: int) -> Split:
    """train | validation | calibration, the last two of VALIDATION_ROWS and CALIBRATION_ROWS."""
    calibration = n_rows - _held_out(CALIBRATION_ROWS, n_rows, h)
    validation = calibration - _held_out(VALIDATION_ROWS, n_rows, h)
    return Split(train=range(0, validation), validation=range(validation, calibration),
                 calibration=range(calibration, n_rows))


def held_out_rows(h: int) -> int:
    """The fewest rows a series holds out (validation and calibration, h each)."""
    return (VALIDATION_ROWS[0] + CALIBRATION_ROWS[0]) * h


def grow_calibration(split: Split, h: int, windows: int, min_train: int) -> Split:
    """`split` with calibration rows for `windows` windows of h per series, taken from the train rows as
    far as these keep `min_train` (the validation rows move back with them)."""
    grow = max(0, min(h - 1 + windows - len(split.calibration), len(split.train) - min_train))
    return Split(train=range(0, split.train.stop - grow),
                 validation=range(split.validation.start - grow, split.validation.stop - grow),
                 calibration=range(split.calibration.start - grow, split.calibration.stop))


def _held_out(rows: tuple[int, float], n_rows: int, h: int) -> int:
    horizons, share = rows
    return max(horizons * h, int(share * n_rows + 1e-9))

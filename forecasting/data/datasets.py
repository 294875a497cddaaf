"""The small sample datasets shipped in the repository's data/ folder, read as validated panels."""

from __future__ import annotations

from pathlib import Path

from forecasting.data.panel import Panel
from forecasting.data.reading import read_table

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
_FILES = {
    "air_passengers": "AirPassengers.csv",
    "etth1": "ETTh1.csv",
    "pedestrians": "pedestrians_daily.csv",
}


def available() -> list[str]:
    """Names that load() accepts."""
    return sorted(_FILES)


def load(name: str) -> Panel:
    """A bundled dataset as a Panel (its frame: unique_id, ds, y)."""
    if name not in _FILES:
        raise ValueError(f"unknown dataset {name!r}; available: {', '.join(available())}")
    path = DATA_DIR / _FILES[name]
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the samples ship in the repository's data/ folder, so install "
                                "Almanac from a checkout with `pip install -e .` (as `make run` does)")
    return read_table(path)

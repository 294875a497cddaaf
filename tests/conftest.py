from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def air_passengers() -> pd.DataFrame:
    frame = pd.read_csv(REPO / "data" / "AirPassengers.csv", parse_dates=["ds"])
    return frame.assign(unique_id="air")[["unique_id", "ds", "y"]]


def hourly_series() -> pd.DataFrame:
    """Two hourly series with a daily cycle and different levels, 240 hours each."""
    rng = np.random.default_rng(0)
    ds = pd.date_range("2024-01-01", periods=240, freq="h")
    cycle = np.sin(2 * np.pi * np.arange(240) / 24)
    return pd.concat([
        pd.DataFrame({"unique_id": "a", "ds": ds, "y": 10 + 3 * cycle + rng.normal(0, 0.3, 240)}),
        pd.DataFrame({"unique_id": "b", "ds": ds, "y": 500 + 40 * cycle + rng.normal(0, 5, 240)}),
    ], ignore_index=True)


@pytest.fixture
def two_series() -> pd.DataFrame:
    return hourly_series()


@pytest.fixture
def one_thread():
    """Tiny networks: a second intra-op thread only adds synchronisation, which stalls on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

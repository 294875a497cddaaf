"""A `dask scheduler` and two `dask worker` processes on 127.0.0.1, as on a real cluster: forecasts equal the
in-process run's, and a worker killed mid-job costs nothing. (Apart from test_distributed.py, whose local cluster
would otherwise be the process's current client.)"""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from distributed import Client

from forecasting import Forecaster
from forecasting.api import distributed
from tests.test_distributed import MODELS, assert_same, etth1_series


@pytest.fixture(scope="module")
def series():
    return etth1_series()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def process_cluster():
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1; yields (address, worker processes)."""
    dask = str(Path(sys.executable).parent / "dask")
    address = f"tcp://127.0.0.1:{free_port()}"
    started = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                                 "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    workers = [subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--nworkers", "1", "--no-nanny",
                                 "--no-dashboard", "--host", "127.0.0.1"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
    started += workers
    try:
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address, workers
    finally:
        for process in started:
            process.send_signal(signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def test_a_scheduler_address_runs_on_its_workers(process_cluster, series):
    address, _ = process_cluster
    on_cluster = Forecaster(MODELS, h=24, level=[80], engine=address).fit(series).predict().compute()
    in_process = Forecaster(MODELS, h=24, level=[80], n_jobs=1).fit(series).predict()
    assert_same(on_cluster, in_process)


def test_a_worker_killed_mid_job_loses_and_duplicates_nothing(process_cluster, series, monkeypatch):
    address, workers = process_cluster
    monkeypatch.setattr(distributed, "SERIES_PER_PARTITION", 3)          # 14 partitions to share out
    with Client(address) as client:
        pids = client.run(os.getpid)                                      # worker address -> its process id
        result = Forecaster(["ets", "seasonal_naive"], h=24, engine=client).fit(series).predict()
        future = client.compute(result)
        victim = None
        while victim is None and not future.done():
            busy = [worker for worker, keys in client.processing().items() if keys]
            victim = busy[0] if busy else None
            time.sleep(0.05)
        assert victim is not None, "the job ended before a worker could be killed"
        os.kill(pids[victim], signal.SIGKILL)
        on_cluster = future.result()
        assert victim not in client.scheduler_info()["workers"]
    assert on_cluster.groupby("unique_id").size().eq(24).all()
    assert sorted(on_cluster["unique_id"].unique()) == sorted(series["unique_id"].unique())
    in_process = Forecaster(["ets", "seasonal_naive"], h=24, n_jobs=1).fit(series).predict()
    assert_same(on_cluster, in_process)
    assert sum(worker.poll() is None for worker in workers) == 1


def test_an_address_with_no_scheduler_says_how_to_start_one():
    with pytest.raises(OSError, match="no Dask scheduler answered there.*dask scheduler"):
        distributed.connect(f"tcp://127.0.0.1:{free_port()}")

"""Forecasting on a real Dask cluster on loopback, a LocalCluster of two worker processes, and reading folders of
files lazily. Results must equal the in-process Forecaster's exactly (test_distributed_processes.py: a `dask
scheduler` with two `dask worker` processes)."""
from pathlib import Path

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster

import forecasting as fc
from backbones.language.text_encoder import TextEncoderConfig
from forecasting import DataError, Forecaster, read_table
from forecasting.api import distributed
from forecasting.api.cli import main
from forecasting.models.text import text_encoder
from tests.conftest import REPO
from tests.test_text_forecaster import a_sale_on_day, event_panel

MODELS = ["seasonal_naive", "theta", "linear"]     # a closed form, a fitted local model, a global one
KEYS = ["unique_id", "cutoff", "ds"]


def etth1_series(chunks: int = 6, hours: int = 240) -> pd.DataFrame:
    """Real hourly series: each of ETTh1's 7 columns cut into `chunks` consecutive stretches of `hours`."""
    frame = read_table(REPO / "data" / "ETTh1.csv").frame
    parts = []
    for name, rows in frame.groupby("unique_id", sort=False, observed=True):
        for k in range(chunks):
            part = rows.iloc[k * hours:(k + 1) * hours]
            parts.append(pd.DataFrame({"unique_id": f"{name}-{k}", "ds": part["ds"].to_numpy(),
                                       "y": part["y"].to_numpy()}))
    return pd.concat(parts, ignore_index=True)


def ordered(frame: pd.DataFrame) -> pd.DataFrame:
    keys = [key for key in KEYS if key in frame.columns]
    return frame.sort_values(keys).reset_index(drop=True)


def assert_same(on_cluster: pd.DataFrame, in_process: pd.DataFrame) -> None:
    """The cluster's rows (none an error) are the in-process run's, to the last bit, whatever their order."""
    assert on_cluster[distributed.ERROR_COLUMN].isna().all(), on_cluster[distributed.ERROR_COLUMN].dropna().unique()
    pd.testing.assert_frame_equal(ordered(on_cluster.drop(columns=distributed.ERROR_COLUMN)), ordered(in_process),
                                  check_exact=True)


def read_each(folder: Path) -> pd.DataFrame:
    """The files of `folder` read one by one, in memory: the input the in-process run is given."""
    frames = [read_table(path).frame for path in sorted(folder.glob("*.csv"))]
    return pd.concat([frame.astype({"unique_id": str}) for frame in frames], ignore_index=True)


@pytest.fixture(scope="module")
def local_cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def series() -> pd.DataFrame:
    return etth1_series()


def test_forecasts_on_a_local_cluster_equal_the_in_process_run(local_cluster, series):
    forecaster = Forecaster(["seasonal_naive", "ets", "linear"], h=24, level=[80, 95], engine=local_cluster)
    lazy = forecaster.fit(series).predict()
    assert isinstance(lazy, dd.DataFrame)
    on_cluster = lazy.compute()
    in_process = Forecaster(["seasonal_naive", "ets", "linear"], h=24, level=[80, 95], n_jobs=1).fit(series).predict()
    assert_same(on_cluster, in_process)
    assert forecaster.freq_ == "h" and forecaster.nonnegative_ is False     # ETTh1's loads go below zero


def test_a_dask_dataframe_is_forecast_on_the_current_client(local_cluster, series):
    """In three partitions, each searching the one index analog built on the client over all series."""
    frame = dd.from_pandas(series, npartitions=3)
    forecaster = Forecaster(["seasonal_naive", "theta", "analog"], h=12).fit(frame)
    assert forecaster.cluster_[0].npartitions == 3
    on_cluster = forecaster.predict().compute()
    in_process = Forecaster(["seasonal_naive", "theta", "analog"], h=12, n_jobs=1).fit(series).predict()
    assert_same(on_cluster, in_process.astype({"analog": float}))     # a cluster's forecast columns are all float64
    with pytest.raises(ValueError, match="analogues are listed after an in-process fit"):
        forecaster.analogues()


def whole_positive(series: pd.DataFrame) -> pd.DataFrame:
    """The series with no value at or below zero (a series' gap is interpolated alike on both sides)."""
    kept = series[series["y"] > 0]
    return kept[kept.groupby("unique_id")["ds"].transform("size") == 240]


def test_a_backtest_on_a_cluster_equals_the_in_process_one(local_cluster, series):
    kept = whole_positive(series)
    lazy = Forecaster(["seasonal_naive", "theta"], h=24, level=[80], engine=local_cluster)
    on_cluster = lazy.cross_validation(kept, n_windows=2, step_size=12).compute()
    in_process = Forecaster(["seasonal_naive", "theta"], h=24, level=[80], n_jobs=1)
    in_process = in_process.cross_validation(kept, n_windows=2, step_size=12)
    assert_same(on_cluster, in_process)
    assert lazy.nonnegative_ is True


@pytest.mark.parametrize("refit", [True, False])
def test_a_global_models_backtest_on_a_cluster_trains_at_each_cutoff_as_in_process(local_cluster, series, refit):
    """linear trains on the client at each window's cutoff (the first alone without refit); the workers forecast."""
    kept, settings = whole_positive(series), {"h": 24, "level": [80]}
    on_cluster = Forecaster(["seasonal_naive", "linear"], engine=local_cluster, **settings)
    on_cluster = on_cluster.cross_validation(kept, n_windows=3, step_size=12, refit=refit).compute()
    in_process = Forecaster(["seasonal_naive", "linear"], n_jobs=1, **settings)
    assert_same(on_cluster, in_process.cross_validation(kept, n_windows=3, step_size=12, refit=refit))


def test_a_backtest_given_fits_for_other_windows_says_so(series):
    forecaster = Forecaster(["linear"], h=24, n_jobs=1)
    fits = forecaster.train_windows(whole_positive(series), n_windows=3, step_size=12, refit=False)
    assert len(fits) == 1 and list(fits[0]) == ["linear"]
    with pytest.raises(ValueError, match="fitted holds 1 windows' fits; this backtest trains 3"):
        forecaster.cross_validation(series, n_windows=3, step_size=12, fitted=fits)


def test_a_backtest_on_a_cluster_decides_non_negative_from_before_its_first_cutoff(local_cluster):
    """A negative value after the first cutoff must not change what the backtest's models saw."""
    ds = pd.date_range("2024-01-01", periods=100, freq="D")
    y = np.abs(np.sin(np.arange(100) / 3)) * 10
    y[-5] = -1.0
    frame = pd.DataFrame({"unique_id": "a", "ds": ds, "y": y})
    lazy = Forecaster(["naive"], h=10, engine=local_cluster)
    lazy.cross_validation(frame, n_windows=2)
    in_process = Forecaster(["naive"], h=10, n_jobs=1)
    in_process.cross_validation(frame, n_windows=2)
    assert lazy.nonnegative_ is in_process.nonnegative_ is True


def test_a_series_that_fails_gets_an_error_row_and_the_rest_complete(local_cluster, series):
    short = pd.DataFrame({"unique_id": "too-short", "ds": pd.date_range("2020-01-01", periods=2, freq="h"),
                          "y": np.arange(2.0)})     # too short for every model
    with_short = pd.concat([series, short], ignore_index=True)
    with pytest.raises(DataError, match="too-short"):        # in-process the whole fit stops
        Forecaster(MODELS, h=24, level=[80], n_jobs=1).fit(with_short)
    on_cluster = Forecaster(MODELS, h=24, level=[80], engine=local_cluster).fit(with_short).predict().compute()
    failed = on_cluster[on_cluster[distributed.ERROR_COLUMN].notna()]
    assert failed["unique_id"].tolist() == ["too-short"]
    message = failed[distributed.ERROR_COLUMN].iloc[0]
    for model in MODELS:
        assert f"{model}: " in message
    assert "'too-short' (2 rows)" in message and "Lower h or drop these series" in message
    assert failed[MODELS].isna().all().all() and failed["ds"].isna().all()
    in_process = Forecaster(MODELS, h=24, level=[80], n_jobs=1).fit(series).predict()
    assert_same(on_cluster[on_cluster["unique_id"] != "too-short"], in_process)


def test_a_model_that_fails_on_a_series_leaves_the_others_forecasts(local_cluster, series):
    """linear needs more history than seasonal naive: a series long enough only for seasonal naive keeps it."""
    medium = series[series["unique_id"] == "OT-0"].iloc[:60].assign(unique_id="medium")
    frame = pd.concat([series, medium], ignore_index=True)
    on_cluster = Forecaster(["seasonal_naive", "linear"], h=24, engine=local_cluster).fit(frame).predict().compute()
    rows = on_cluster[on_cluster["unique_id"] == "medium"]
    assert len(rows) == 24 and rows["seasonal_naive"].notna().all() and rows["linear"].isna().all()
    assert rows[distributed.ERROR_COLUMN].str.startswith("linear: ").all()
    alone = Forecaster(["seasonal_naive"], h=24, n_jobs=1).fit(medium).predict()
    np.testing.assert_array_equal(rows["seasonal_naive"].to_numpy(), alone["seasonal_naive"].to_numpy())


def text_panel() -> pd.DataFrame:
    """Daily sales with a sale written on about one day in ten (known in advance), and a description per store
    (none for the last)."""
    frame = event_panel(n_series=4, length=120)
    frame["about"] = frame["unique_id"].map({f"store {s}": text for s, text in enumerate(
        ["a seaside kiosk", "an office canteen", "a station newsagent", ""])})
    return frame


TEXT_SETTINGS = dict(h=7, text_cols=["event"], future_text_cols=["event"], description_col="about")


def text_models() -> list:
    return ["arima", "naive", fc.model("hypermamba", epochs=1, steps_per_epoch=4, batch_size=8, seed=0,
                                       network={"d_model": 8, "n_layers": 1})]


def test_text_on_a_cluster_equals_the_in_process_run_and_is_encoded_once(local_cluster, one_thread):
    """ARIMA's text components are found over all series, the network reads each step's text and each series'
    description, and the planned text of the horizon reaches the workers: all as in-process, and every text's
    vector encoded on the client alone (the workers' encoder never loads its model)."""
    frame = text_panel()
    on_cluster = Forecaster(text_models(), engine=local_cluster, **TEXT_SETTINGS).fit(frame)
    in_process = Forecaster(text_models(), n_jobs=1, **TEXT_SETTINGS).fit(frame)
    assert on_cluster.text_columns_ == in_process.text_columns_
    assert on_cluster.text_components_.texts == in_process.text_components_.texts
    assert_same(on_cluster.predict().compute(), in_process.predict())
    planned = a_sale_on_day(in_process, 3)
    assert_same(on_cluster.predict(future_text=planned).compute(), in_process.predict(future_text=planned))
    workers = local_cluster.run(lambda: (len(text_encoder(TextEncoderConfig()).shared),
                                         text_encoder(TextEncoderConfig())._language_model is not None))
    assert any(shared for shared, _ in workers.values()) and not any(loaded for _, loaded in workers.values())
    with pytest.raises(DataError, match="future_text names series 'store 9' that the forecaster was not fitted on"):
        on_cluster.predict(future_text=planned.assign(unique_id="store 9"))


def test_a_backtest_with_text_on_a_cluster_equals_the_in_process_one(local_cluster, one_thread):
    frame = text_panel()
    settings = dict(TEXT_SETTINGS, models=["arima", "naive"])
    on_cluster = Forecaster(engine=local_cluster, **settings).cross_validation(frame, n_windows=2)
    in_process = Forecaster(n_jobs=1, **settings)
    assert_same(on_cluster.compute(), in_process.cross_validation(frame, n_windows=2))


def test_text_columns_are_detected_over_all_series_on_a_cluster(local_cluster):
    frame = text_panel().drop(columns="about")
    frame.loc[frame["unique_id"] != "store 3", "event"] = None       # text in the last series alone
    on_cluster = Forecaster(["naive"], h=7, engine=local_cluster).fit(frame)
    assert on_cluster.text_columns_ == Forecaster(["naive"], h=7, n_jobs=1).fit(frame).text_columns_
    assert on_cluster.text_columns_.past == ("event",)
    with pytest.raises(DataError, match="future_text_cols names 'promo', which is not a covariate column"):
        Forecaster(["naive"], h=7, future_text_cols=["promo"], engine=local_cluster).fit(frame)


def write_files(folder: Path, frame: pd.DataFrame, files: int) -> None:
    folder.mkdir()
    ids = frame["unique_id"].unique()
    for k in range(files):
        frame[frame["unique_id"].isin(ids[k::files])].to_csv(folder / f"part{k}.csv", index=False)


def test_read_table_reads_a_folder_or_glob_lazily_one_partition_per_file(tmp_path, series):
    write_files(tmp_path / "big", series, 3)
    lazy = read_table(tmp_path / "big")
    assert isinstance(lazy, dd.DataFrame) and lazy.npartitions == 3
    assert list(lazy.columns) == ["unique_id", "ds", "y"]
    whole = lazy.compute().astype({"unique_id": object}).sort_values(["unique_id", "ds"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(whole, read_each(tmp_path / "big").sort_values(["unique_id", "ds"])
                                  .reset_index(drop=True), check_exact=True)
    pd.testing.assert_frame_equal(whole, series.sort_values(["unique_id", "ds"]).reset_index(drop=True),
                                  check_dtype=False)      # what was written, to within the CSV's digits
    assert read_table(str(tmp_path / "big" / "part[01].csv")).npartitions == 2


def test_a_bad_file_in_a_folder_is_named_when_its_partition_is_read(tmp_path, series):
    write_files(tmp_path / "big", series, 2)
    (tmp_path / "big" / "part1.csv").write_text("unique_id,ds,y\na,2024-01-01 00:00,1\na,2024-01-01 01:00,oops\n")
    lazy = read_table(tmp_path / "big")
    with pytest.raises(DataError, match=r"part1\.csv.*'y'.*oops"):
        lazy.compute()


def test_a_file_at_another_frequency_is_named(tmp_path, series):
    write_files(tmp_path / "big", series, 2)
    daily = pd.DataFrame({"unique_id": "d", "ds": pd.date_range("2024-01-01", periods=30, freq="D"), "y": 1.0})
    daily.to_csv(tmp_path / "big" / "part9.csv", index=False)
    with pytest.raises(DataError, match=r"part9\.csv: its frequency is D, the first file's is h"):
        read_table(tmp_path / "big").compute()


def test_a_file_with_other_columns_is_named(tmp_path, series):
    write_files(tmp_path / "big", series, 2)
    other = series[series["unique_id"] == "OT-0"].assign(unique_id="extra", price=1.0)
    other.to_csv(tmp_path / "big" / "part9.csv", index=False)
    with pytest.raises(DataError, match=r"part9\.csv: its columns are unique_id, ds, y, price; the first file's are "
                                        r"unique_id, ds, y\. Give every file the same columns"):
        read_table(tmp_path / "big").compute()


def test_the_cli_reads_text_and_the_planned_text_on_a_scheduler(local_cluster, tmp_path, capsys, one_thread):
    """Text columns travel with the files' partitions; --future-text reaches the workers; forecasts as in-process."""
    frame = text_panel()
    write_files(tmp_path / "big", frame, 2)
    in_process = Forecaster(["arima", "naive"], n_jobs=1, **TEXT_SETTINGS).fit(read_each(tmp_path / "big"))
    planned = a_sale_on_day(in_process, 2)
    planned.to_csv(tmp_path / "planned.csv", index=False)
    out = tmp_path / "forecast"
    assert main(["forecast", str(tmp_path / "big"), "--engine", local_cluster.scheduler.address, "--h", "7",
                 "--model", "arima", "naive", "--future-text-cols", "event", "--description-col", "about",
                 "--future-text", str(tmp_path / "planned.csv"), "--out", str(out)]) == 0
    assert_same(pd.read_parquet(out), in_process.predict(future_text=planned))
    assert "text columns read: event (known in advance: event)" in capsys.readouterr().err


def test_an_empty_folder_says_what_it_looked_for(tmp_path):
    (tmp_path / "none").mkdir()
    with pytest.raises(DataError, match="no CSV or Parquet files there"):
        read_table(tmp_path / "none")


def test_a_series_spread_over_files_is_forecast_whole(local_cluster, tmp_path, series):
    folder = tmp_path / "by_month"
    folder.mkdir()
    months = series["ds"].dt.to_period("M")
    for month in months.unique():                       # every series spans several files
        series[months == month].to_csv(folder / f"{month}.csv", index=False)
    on_cluster = Forecaster(["seasonal_naive", "theta"], h=24, engine=local_cluster).fit(read_table(folder)).predict()
    in_process = Forecaster(["seasonal_naive", "theta"], h=24, n_jobs=1).fit(read_each(folder)).predict()
    assert_same(on_cluster.compute(), in_process)


def test_the_cli_forecasts_a_folder_into_partitioned_parquet(tmp_path, series, capsys):
    write_files(tmp_path / "big", series, 3)
    out = tmp_path / "forecast"
    assert main(["forecast", str(tmp_path / "big"), "--engine", "local:2", "--h", "12", "--model", "seasonal_naive",
                 "theta", "--level", "80", "--out", str(out)]) == 0
    parts = sorted(out.glob("part-*.parquet"))
    assert parts
    written = pd.read_parquet(out)
    in_process = Forecaster(["seasonal_naive", "theta"], h=12, level=[80], n_jobs=1)
    in_process = in_process.fit(read_each(tmp_path / "big")).predict()
    assert_same(written, in_process)
    assert f"{len(in_process)} rows" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--plot", "chart.html"], "--plot cannot be used on a cluster"),
    (["--out", "forecast.csv"], "on a cluster the forecasts are written as a folder of Parquet parts"),
    (["--engine", "mesos://x"], "use local, local:N"),
    (["--engine", "local:none"], "local:N needs a whole number of workers"),
])
def test_the_cli_says_what_a_cluster_run_cannot_do(tmp_path, series, capsys, extra, message):
    write_files(tmp_path / "big", series, 2)
    assert main(["forecast", str(tmp_path / "big"), "--h", "12", "--model", "naive", *extra]) == 2
    assert message in capsys.readouterr().err

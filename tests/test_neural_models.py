"""Neural models through the Forecaster: trained beside classical ones, saved, backtested."""
import numpy as np
import pandas as pd
import pytest

import forecasting as fc

TINY = {
    "dlinear": fc.model("dlinear", epochs=3, steps_per_epoch=20),
    "patchtst": fc.model("patchtst", epochs=3, steps_per_epoch=20,
                         network={"d_model": 16, "n_heads": 2, "e_layers": 1, "d_ff": 32}),
    "informer": fc.model("informer", epochs=2, steps_per_epoch=10,
                         network={"d_model": 16, "n_heads": 2, "d_ff": 32, "e_layers": 2, "d_layers": 1}),
    "hypermamba": fc.model("hypermamba", epochs=2, steps_per_epoch=10, network={"d_model": 16, "d_state": 4}),
}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def etth1_tail() -> pd.DataFrame:
    """The bundled ETTh1 sample: three of its seven series, the last 40 days."""
    frame = fc.datasets.load("etth1").frame
    frame = frame[frame["unique_id"].isin(["HUFL", "MUFL", "OT"])]
    return frame.groupby("unique_id").tail(960).reset_index(drop=True)


@pytest.mark.parametrize("name", list(TINY))
def test_neural_and_classical_models_fit_side_by_side(name, etth1_tail):
    forecaster = fc.Forecaster([TINY[name], "seasonal_naive"], h=24, level=[80, 95]).fit(etth1_tail)
    out = forecaster.predict()
    assert out.shape[0] == 3 * 24
    assert list(out.columns[2:7]) == [name, f"{name}-lo-95", f"{name}-lo-80", f"{name}-hi-80", f"{name}-hi-95"]
    assert np.isfinite(out[name]).all()
    # quantile heads give ordered interval ends around the median
    assert (out[f"{name}-lo-95"] <= out[f"{name}-lo-80"]).all() and (out[f"{name}-lo-80"] <= out[name]).all()
    assert (out[name] <= out[f"{name}-hi-80"]).all() and (out[f"{name}-hi-80"] <= out[f"{name}-hi-95"]).all()
    # forecasts come back on each series' own scale
    for series_id, group in out.groupby("unique_id"):
        history = etth1_tail.loc[etth1_tail["unique_id"] == series_id, "y"]
        assert history.min() - 3 * history.std() < group[name].mean() < history.max() + 3 * history.std()
    state = forecaster.states[0][0]
    assert state.config["quantiles"] == [0.025, 0.1, 0.5, 0.9, 0.975]
    assert state.training["epochs_run"] >= 1 and state.training["final_epochs"] == state.training["best_epoch"]


def test_registry_names_build_neural_models_with_paper_defaults():
    forecaster = fc.Forecaster(["informer", "dlinear", "patchtst", "ets"], h=96)
    assert [type(model).__name__ for model in forecaster.models] == ["NeuralModel"] * 3 + ["ETS"]
    assert [model.name for model in forecaster.models] == ["informer", "dlinear", "patchtst", "ets"]
    assert {"informer", "dlinear", "patchtst"} <= set(fc.REGISTRY)


def test_config_overrides_by_keyword_reach_the_network(etth1_tail):
    model = fc.model("dlinear", lookback=48, epochs=1, steps_per_epoch=5,
                     network={"moving_average": 5, "individual": True})
    forecaster = fc.Forecaster([model], h=12).fit(etth1_tail)
    fit = forecaster.states[0][0]
    assert fit.lookback == 48 and fit.config["moving_average"] == 5
    assert fit.config["quantiles"] == [0.5]  # no levels: the median alone
    with pytest.raises(ValueError, match=r"unknown network settings \['d_modle'\]"):
        fc.model("patchtst", network={"d_modle": 64})
    with pytest.raises(ValueError, match=r"unknown network settings \['horizon'\]"):   # the product sets the shape
        fc.model("patchtst", network={"horizon": 64})
    with pytest.raises(ValueError, match="loss must be one of"):
        fc.model("dlinear", loss="mae")
    with pytest.raises(ValueError, match="optimizer must be one of"):
        fc.model("dlinear", optimizer="sgd")
    with pytest.raises(ValueError, match="unknown model 'dlinaer'"):
        fc.model("dlinaer")


def test_mse_loss_gives_conformal_intervals_from_calibration_windows(etth1_tail):
    model = fc.model("dlinear", epochs=2, steps_per_epoch=10, loss="mse")
    forecaster = fc.Forecaster([model], h=24, level=[50, 95]).fit(etth1_tail)
    out = forecaster.predict()
    state = forecaster.states[0][0]
    assert state.config["quantiles"] == []
    assert state.calibration_levels == [50, 95] and state.calibration_scores.shape[1] == 24
    width50 = out["dlinear-hi-50"] - out["dlinear-lo-50"]
    width95 = out["dlinear-hi-95"] - out["dlinear-lo-95"]
    assert (width50 > 0).all() and (width95 > width50).all()
    np.testing.assert_allclose(out["dlinear"], (out["dlinear-hi-95"] + out["dlinear-lo-95"]) / 2)


def test_saved_neural_forecaster_predicts_identically(etth1_tail, tmp_path):
    forecaster = fc.Forecaster([TINY["patchtst"], "naive"], h=24, level=[90]).fit(etth1_tail)
    expected = forecaster.predict()
    forecaster.save(tmp_path / "model")
    loaded = fc.Forecaster.load(tmp_path / "model")
    assert loaded.models[0] == TINY["patchtst"]
    pd.testing.assert_frame_equal(loaded.predict(), expected)


def trainings(calls: list[tuple]) -> int:
    """How many trainings the progress calls (stage, epochs done, epochs) report: each one's first steps report 0."""
    done = [epochs_done for stage, epochs_done, _ in calls if stage == "train dlinear"]
    return sum(1 for before, now in zip([None, *done], done) if now == 0 and before != 0)


def test_cross_validation_trains_once_without_refit(etth1_tail):
    calls = []
    forecaster = fc.Forecaster([TINY["dlinear"], "naive"], h=24, level=[80], progress=lambda *args: calls.append(args))
    cv = forecaster.cross_validation(etth1_tail, n_windows=3, step_size=24, refit=False)
    assert len(cv) == 3 * 3 * 24 and cv["cutoff"].nunique() == 3
    assert trainings(calls) == 2  # the early-stopped one and the final one, for all three windows
    # each window's forecast differs: the network sees each cutoff's latest history
    first = cv.groupby("cutoff")["dlinear"].apply(lambda s: s.iloc[0])
    assert first.nunique() == 3
    refit = fc.Forecaster([TINY["dlinear"]], h=24, progress=lambda *args: calls.append(args))
    calls.clear()
    refit.cross_validation(etth1_tail, n_windows=2, step_size=24, refit=True)
    assert trainings(calls) == 2 * 2


def test_series_too_short_for_a_network_get_a_clear_error():
    frame = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2024-01-01", periods=30, freq="D"),
                          "y": np.arange(30.0)})
    # lookback + a training, a validation and a calibration window of h steps
    with pytest.raises(fc.DataError, match=r"shorter than the 82 rows needed: 'a' \(30 rows\)"):
        fc.Forecaster([fc.model("dlinear", lookback=40)], h=14).fit(frame)
    with pytest.raises(fc.DataError, match=r"shorter than the 46 rows needed"):
        fc.Forecaster(["dlinear"], h=14).fit(frame)
    # long enough for validation and calibration, but a fixed lookback leaves no training window
    longer = pd.concat([frame, frame.assign(ds=frame["ds"] + pd.Timedelta(days=30))], ignore_index=True)
    with pytest.raises(fc.DataError, match=r"lookback 52 leaves no training window in the shortest series \(48 "
                                           r"training rows once its last 12 rows are held out"):
        fc.Forecaster([fc.model("dlinear", lookback=52)], h=2).fit(longer)


@pytest.mark.parametrize("name", list(TINY))
def test_constant_and_huge_series_give_finite_forecasts(name):
    ds = pd.date_range("2024-01-01", periods=120, freq="h")
    frame = pd.concat([pd.DataFrame({"unique_id": "constant", "ds": ds, "y": 7.0}),
                       pd.DataFrame({"unique_id": "huge", "ds": ds, "y": 1e200 * (1 + 0.1 * np.sin(np.arange(120)))})])
    out = fc.Forecaster([TINY[name]], h=6, level=[90]).fit(frame).predict()
    assert np.isfinite(out.drop(columns=["unique_id", "ds"]).to_numpy()).all()
    huge = out[out["unique_id"] == "huge"]
    assert (huge[name] > 0.5e200).all() and (huge[name] < 2e200).all()


def test_forecaster_checkpoints_resume_per_training_set(etth1_tail, tmp_path):
    model = fc.model("dlinear", epochs=2, steps_per_epoch=5, checkpoint_dir=str(tmp_path), resume=True)
    forecaster = fc.Forecaster([model], h=24).fit(etth1_tail)
    first = forecaster.predict()
    runs = list(tmp_path.iterdir())
    # each training checkpoints in its own folder: the final one ran the best epoch count
    assert len(runs) == 1 and (runs[0] / "early-stopping" / "latest").read_text() == "epoch-0002"
    best = forecaster.states[0][0].training["best_epoch"]
    assert (runs[0] / "final" / "latest").read_text() == f"epoch-{best:04d}"
    # the same data resumes the finished run: same weights, no new training
    calls = []
    again = fc.Forecaster([model], h=24, progress=lambda *args: calls.append(args)).fit(etth1_tail).predict()
    pd.testing.assert_frame_equal(again, first)
    assert calls == []
    # other data (a shorter history) trains in its own folder
    fc.Forecaster([model], h=24).fit(etth1_tail.groupby("unique_id").head(700))
    assert len(list(tmp_path.iterdir())) == 2

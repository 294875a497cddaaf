"""Networks' intervals are calibrated on windows that selected nothing, and the final network has
seen every row: conformalised quantile regression, the train | validation | calibration split, the
final training on all rows, and saving what calibrates."""
import json

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.numpy import load_file, save_file

import forecasting as fc
from forecasting.api import persistence
from forecasting.models.intervals import conformal_quantile, quantile_interval_scores, windows_needed
from forecasting.models.neural import model as neural

pytestmark = pytest.mark.usefixtures("one_thread")


def noisy_panel(n_series: int, length: int, noise: float = 1.0, seed: int = 0) -> pd.DataFrame:
    """Daily cycles of different amplitudes plus Gaussian noise of a known deviation."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2024-01-01", periods=length, freq="h")
    cycle = np.sin(2 * np.pi * np.arange(length) / 24)
    return pd.concat([pd.DataFrame({"unique_id": f"s{i}", "ds": ds,
                                    "y": 10 * i + (1 + i % 3) * cycle + rng.normal(0, noise, length)})
                      for i in range(n_series)], ignore_index=True)


@pytest.mark.parametrize("half_width", [0.5, 3.0])   # too narrow, then too wide, for N(0, 1) noise
def test_conformalised_quantile_regression_reaches_its_level_on_fresh_draws(half_width):
    rng = np.random.default_rng(0)
    calibration, fresh = rng.normal(size=(500, 4)), rng.normal(size=(40_000, 4))
    scores = quantile_interval_scores(np.full_like(calibration, -half_width), np.full_like(calibration, half_width),
                                      calibration)
    widening = conformal_quantile(scores, 80)
    inside = (fresh >= -half_width - widening) & (fresh <= half_width + widening)
    np.testing.assert_allclose(inside.mean(axis=0), 0.80, atol=0.03)
    raw = ((fresh >= -half_width) & (fresh <= half_width)).mean()
    assert abs(raw - 0.8) > 0.15                     # the quantiles alone were far off


def test_conformal_quantile_takes_the_largest_score_when_too_few():
    scores = np.arange(1.0, 4.0)[:, None]            # n = 3: the 95% rank ceil(4 * 0.95) = 4 exceeds n
    assert conformal_quantile(scores, 95)[0] == 3.0
    assert conformal_quantile(scores, 50)[0] == 2.0  # ceil(4 * 0.5) = 2nd smallest


@pytest.mark.parametrize("level, needed", [(50, 1), (80, 4), (90, 9), (95, 19), (99, 99)])
def test_windows_needed_is_the_fewest_whose_conformal_quantile_is_not_the_largest(level, needed):
    assert windows_needed(level) == needed
    scores = np.arange(1.0, needed + 1)[:, None]
    assert conformal_quantile(scores, level)[0] <= needed                   # a rank inside the scores
    if needed > 1:                                                         # one fewer: the largest by default
        rank = int(np.ceil(needed * level / 100 - 1e-9))
        assert rank > needed - 1


def monthly(n_series: int, length: int) -> pd.DataFrame:
    ds = pd.date_range("2010-01-01", periods=length, freq="MS")
    season = 10 * np.sin(2 * np.pi * np.arange(length) / 12)
    return pd.concat([pd.DataFrame({"unique_id": f"s{i}", "ds": ds, "y": 100 + 5 * i + season + np.arange(length)})
                      for i in range(n_series)], ignore_index=True)


@pytest.mark.parametrize("n_series, per_series", [(1, 19), (2, 10), (3, 7)])
def test_the_calibration_split_holds_the_windows_the_highest_level_needs(n_series, per_series, monkeypatch):
    """AirPassengers' length: 102 monthly rows, h = 12. Its max(h, 10%) = 12 calibration rows hold one
    window; a 95% band needs 19, shared out over the series."""
    calibrations = []
    scores = neural._calibration_scores
    monkeypatch.setattr(neural, "_calibration_scores", lambda network, windows, *args:
                        calibrations.append(windows) or scores(network, windows, *args))
    forecaster = fc.Forecaster([fc.model("dlinear", epochs=1, steps_per_epoch=2)], h=12, level=[80, 95])
    fit = forecaster.fit(monthly(n_series, 102)).states[0][0]
    assert fit.calibration_windows() == n_series * per_series and len(calibrations[0]) == n_series * per_series
    # the windows' targets are each series' last 12 + per_series - 1 rows
    first_targets = (calibrations[0].targets % 102).tolist()
    assert first_targets == [row for _ in range(n_series) for row in range(102 - 12 - per_series + 1, 102 - 11)]
    assert fit.lookback == 32 and forecaster.short_calibrations == [] and forecaster.fallback_notes == []


def test_a_series_too_short_for_the_windows_is_calibrated_on_fewer_and_says_so(tmp_path):
    """50 rows, h = 12: the train rows keep the lookback (14) and a horizon, so the calibration rows
    stay 12, one window; the 80% and 95% bands fall back to the largest error, in words."""
    forecaster = fc.Forecaster([fc.model("dlinear", epochs=1, steps_per_epoch=2)], h=12, level=[80, 95])
    fit = forecaster.fit(monthly(1, 50)).states[0][0]
    assert (fit.lookback, fit.calibration_windows()) == (14, 1)
    assert forecaster.short_calibrations == [fc.ShortCalibration("dlinear", 80, 1, 4),
                                             fc.ShortCalibration("dlinear", 95, 1, 19)]
    assert forecaster.fallback_notes[1] == (
        "dlinear's 95% band was calibrated on 1 window, fewer than the 19 that level needs: it is as wide as the "
        "largest error seen and may cover less than 95%. Give longer series, or a lower level.")
    forecaster.save(tmp_path / "short")                  # the scores saved say how many windows there were
    assert fc.Forecaster.load(tmp_path / "short").short_calibrations == forecaster.short_calibrations
    backtest = fc.run_backtest(monthly(1, 74), ["dlinear"], h=12, n_windows=2, level=[80])
    assert backtest.fallback_notes == [
        "dlinear's 80% band was calibrated on 1 window, fewer than the 4 that level needs: it is as wide as the "
        "largest error seen and may cover less than 80%. Give longer series, or a lower level."]
    assert "calibrated on 1 window" in fc.render_report(backtest)


def test_a_quantile_head_is_calibrated_to_its_level_on_fresh_windows():
    """An undertrained head gives far too narrow quantiles; the calibration windows widen them."""
    panel = noisy_panel(n_series=30, length=400)
    model = fc.model("dlinear", epochs=1, steps_per_epoch=5, learning_rate=1e-4)
    forecaster = fc.Forecaster([model], h=8, level=[80])
    # one fit at the first cutoff, then forecasts at 8 later origins it never saw: 30 x 8 x 8 actuals
    cv = forecaster.cross_validation(panel, n_windows=8, step_size=8, refit=False)
    coverage = ((cv["y"] >= cv["dlinear-lo-80"]) & (cv["y"] <= cv["dlinear-hi-80"])).mean()
    assert 0.72 <= coverage <= 0.88


def test_calibration_windows_are_disjoint_from_training_and_early_stopping_windows(two_series, monkeypatch):
    trainings, calibrations = [], []
    train, scores = neural.train, neural._calibration_scores
    monkeypatch.setattr(neural, "train", lambda network, train_windows, val_windows, *args, **kwargs:
                        trainings.append((train_windows, val_windows))
                        or train(network, train_windows, val_windows, *args, **kwargs))
    monkeypatch.setattr(neural, "_calibration_scores", lambda network, windows, *args:
                        calibrations.append(windows) or scores(network, windows, *args))
    fc.Forecaster([fc.model("dlinear", epochs=2, steps_per_epoch=3)], h=6, level=[80]).fit(two_series)

    def target_rows(windows) -> set[tuple[int, int]]:
        """(series, row) of every target of every window."""
        rows = windows.targets[:, None] + torch.arange(windows.horizon)
        return {(int(series), int(row)) for series, targets in zip(windows.series, rows) for row in targets}

    (train_windows, val_windows), (final_windows, no_validation) = trainings
    fitted, stopping, calibration = target_rows(train_windows), target_rows(val_windows), target_rows(calibrations[0])
    assert fitted and stopping and calibration and no_validation is None
    assert not fitted & stopping and not fitted & calibration and not stopping & calibration
    # 240 rows a series: the last 24 (10%) calibrate, the 24 before them stop early
    series_length = 240
    assert calibration == {(series, series_length * (series - 1) + row) for series in (1, 2) for row in range(216, 240)}
    assert max(row - series_length for series, row in stopping if series == 2) == 215
    # the final network trains on every target row, the last ones included
    assert fitted | stopping | calibration <= target_rows(final_windows)


def test_the_final_network_has_trained_on_the_last_rows():
    """Each series moves to a new level in its last 15% of rows, after the training rows end: the
    early-stopped network never saw it, the final one did."""
    rng = np.random.default_rng(0)
    length, jump_at = 400, 340
    ds = pd.date_range("2024-01-01", periods=length, freq="h")
    panel = pd.concat([pd.DataFrame({"unique_id": f"s{i}", "ds": ds,
                                     "y": np.where(np.arange(length) < jump_at, 0.0, 5.0) + rng.normal(0, 0.3, length)})
                       for i in range(4)], ignore_index=True)
    settings = {"lookback": 24, "epochs": 20, "steps_per_epoch": 30, "patience": 20, "network": {"revin": False}}
    retrained = fc.Forecaster([fc.model("dlinear", **settings)], h=6).fit(panel)
    assert np.abs(retrained.predict()["dlinear"] - 5.0).mean() < 1.0
    training = retrained.states[0][0].training
    assert training["final_epochs"] == training["best_epoch"] < training["epochs_run"]
    early_stopped = fc.Forecaster([fc.model("dlinear", retrain_on_all_rows=False, **settings)], h=6).fit(panel)
    assert np.abs(early_stopped.predict()["dlinear"] - 5.0).mean() > 3.0
    assert early_stopped.states[0][0].training["final_epochs"] == 0


def test_saved_calibration_gives_identical_forecasts_and_a_missing_one_a_clear_error(tmp_path):
    panel = noisy_panel(n_series=3, length=200)
    for loss, level in (("quantile", [80, 95]), ("mse", [90])):
        forecaster = fc.Forecaster([fc.model("dlinear", epochs=2, steps_per_epoch=5, loss=loss)], h=6, level=level)
        expected = forecaster.fit(panel).predict()
        forecaster.save(tmp_path / loss)
        loaded = fc.Forecaster.load(tmp_path / loss)
        assert loaded.states[0][0].calibration_levels == level
        pd.testing.assert_frame_equal(loaded.predict(), expected)
    # a file without the calibration scores (as an earlier version wrote it) says what is wrong
    weights, config = tmp_path / "mse" / persistence.WEIGHTS, tmp_path / "mse" / persistence.CONFIG
    save_file({key: value for key, value in load_file(weights).items() if not key.endswith("/calibration_scores")},
              weights)
    settings = json.loads(config.read_text())
    config.write_text(json.dumps({**settings, persistence.DIGEST: persistence.content_digest(settings, weights)}))
    with pytest.raises(fc.ModelFileError, match="the saved dlinear network lacks calibration_scores: it was saved by "
                                                "an earlier version"):
        fc.Forecaster.load(tmp_path / "mse")

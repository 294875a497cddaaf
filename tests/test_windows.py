import numpy as np
import pandas as pd
import pytest
import torch

from forecasting.models.neural.windows import (Scaler, TextRows, calendar_features, fraction_split, informer_split,
                                                make_windows, n_calendar_features)


def test_informer_split_is_twelve_four_four_months_of_thirty_days():
    split = informer_split(17420)
    assert (split.train, split.val, split.test) == (range(0, 8640), range(8640, 11520), range(11520, 14400))
    assert informer_split(69680, steps_per_hour=4).test == range(46080, 57600)
    with pytest.raises(ValueError, match="20 months"):
        informer_split(1000)


def test_fraction_split_is_chronological_and_covers_every_row():
    split = fraction_split(1000)
    assert (split.train, split.val, split.test) == (range(0, 700), range(700, 800), range(800, 1000))


def test_every_test_window_is_kept_and_histories_reach_back_into_validation():
    values = np.arange(17420, dtype=float)[:, None]
    block = (values, np.zeros((17420, 0)))
    for horizon in (24, 720):
        test = make_windows([block], lookback=96, horizon=horizon, target_rows=[informer_split(17420).test])
        assert len(test) == 2880 - horizon + 1  # no drop_last: the partial final batch is still there
        batch, target = test.batch(torch.tensor([0, len(test) - 1]))
        assert batch.x[0, :, 0].tolist() == list(range(11520 - 96, 11520))
        assert target[0, 0, 0] == 11520 and target[1, -1, 0] == 14399


def test_windows_never_cross_series_and_carry_calendar_features_for_the_decoder():
    ds = pd.date_range("2024-01-01", periods=40, freq="h")
    time = calendar_features(ds, "h")
    a = (np.arange(40, dtype=float)[:, None], time)
    b = (1000 + np.arange(30, dtype=float)[:, None], time[:30])
    windows = make_windows([a, b], lookback=8, horizon=4, label_len=3)
    assert len(windows) == (40 - 12 + 1) + (30 - 12 + 1)
    batch, target = windows.batch(torch.arange(len(windows)))
    assert torch.all(batch.x[:, -1, 0] + 1 == target[:, 0, 0])  # history ends right before the targets
    assert torch.all(target[:, -1, 0] - batch.x[:, 0, 0] == 11)   # no window straddles a and b
    assert batch.x_time.shape == (len(windows), 8, 4) and batch.y_time.shape == (len(windows), 7, 4)
    # the decoder's first label_len steps are the last label_len history steps
    assert torch.equal(batch.y_time[:, :3], batch.x_time[:, -3:])
    # each window names its series: block number + 1 unless given (0 reads as unseen in training)
    from_a = batch.x[:, 0, 0] < 1000
    assert torch.all(batch.series[from_a] == 1) and torch.all(batch.series[~from_a] == 2)
    renamed = make_windows([a, b], lookback=8, horizon=4, series=[7, 0]).batch(torch.arange(len(windows)))[0]
    assert torch.equal(renamed.series, torch.where(from_a, 7, 0))
    described = make_windows([a, b], lookback=8, horizon=4, series_embedding=np.array([[1.0, 2.0], [3.0, 4.0]]))
    embedding = described.batch(torch.arange(len(windows)))[0].series_embedding
    assert embedding.shape == (len(windows), 2)
    assert torch.equal(embedding, torch.where(from_a[:, None], torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])))
    assert batch.series_embedding is None
    with pytest.raises(ValueError, match="label_len"):
        make_windows([a], lookback=2, horizon=4, label_len=3)


def test_calendar_features_match_the_frequency():
    ds = pd.date_range("2024-01-01", periods=48, freq="h")
    features = calendar_features(ds, "h")
    assert features.shape == (48, n_calendar_features("h")) == (48, 4)
    assert features.min() >= -0.5 and features.max() <= 0.5
    assert features[0, 0] == -0.5 and features[23, 0] == 0.5  # hour of day
    assert calendar_features(pd.date_range("2000", periods=5, freq="YS"), "YS").shape == (5, 0)


def test_scaler_uses_training_rows_only_and_inverts():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0, 1, (500, 2)), rng.normal(50, 10, (100, 2))])
    scaler = Scaler.fit(values[:500])
    np.testing.assert_allclose(scaler.mean, values[:500].mean(axis=0))
    scaled = scaler.transform(values)
    assert abs(scaled[:500].mean()) < 1e-6 and scaled[500:].mean() > 20  # test data not used for the fit
    np.testing.assert_allclose(scaler.inverse(scaled), values, rtol=1e-5, atol=1e-4)
    quantiles = np.stack([scaled, scaled + 1], axis=-1)                  # [T, C, Q]
    np.testing.assert_allclose(scaler.inverse(quantiles, channel_axis=1)[..., 0], values, rtol=1e-5, atol=1e-4)
    assert Scaler.fit(np.ones((5, 1))).std[0] == 1.0  # a constant channel does not divide by zero


def test_windows_carry_each_steps_text_and_the_future_text_only_of_columns_known_in_advance():
    """Two blocks, two text columns: a planned one (known in advance) and a logged one (observed only)."""
    table = np.arange(4 * 3, dtype=np.float32).reshape(4, 3) + 1
    table[0] = 0                                                        # row 0: no text
    codes = [np.zeros((20, 2), np.int64), np.zeros((20, 2), np.int64)]
    codes[0][12, 0], codes[0][9, 1] = 1, 2     # block 0: planned text on row 12, logged text on row 9
    codes[1][11, 1] = 3                        # block 1: logged text on row 11, past the window's cutoff
    blocks = [(np.arange(20, dtype=np.float32)[:, None], np.zeros((20, 0), np.float32))] * 2
    windows = make_windows(blocks, 8, 4, [range(10, 14)] * 2,
                           text=TextRows(codes=codes, table=table, known=np.array([True, False])))
    assert len(windows) == 2
    batch, _ = windows.batch(torch.tensor([0, 1]))          # each block's window, whose targets are rows 10-13
    assert batch.text.shape == (2, 12, 2, 3)                 # [B, L + H, M, E]
    torch.testing.assert_close(batch.text[0, 12 - 2, 0], torch.from_numpy(table[1]))   # planned, ahead: read
    torch.testing.assert_close(batch.text[0, 9 - 2, 1], torch.from_numpy(table[2]))    # logged, behind: read
    assert batch.text[0].abs().sum() == table[1].sum() + table[2].sum()                # nothing else
    assert batch.text[1].abs().sum() == 0                    # logged text ahead of the cutoff is never read
    assert make_windows(blocks, 8, 4).batch(torch.tensor([0]))[0].text is None

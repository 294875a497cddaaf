"""Text covariates through the Forecaster: networks and ARIMA read them, backtests see the horizon's planned
text, predictions take the text typed for the horizon, and a saved forecaster keeps it."""
import json

import numpy as np
import pandas as pd
import pytest

import forecasting as fc
from forecasting.errors import DataError, ModelFileError
from forecasting.models.text import text_encoder

SALES = ["flash sale 30% off", "half-price promotion today", "clearance sale, all items reduced"]


def event_panel(n_series: int = 3, length: int = 240, seed: int = 0) -> pd.DataFrame:
    """Daily series with a weekly pattern; a sale (+3) on about one day in ten, written in the column 'event'."""
    rng = np.random.default_rng(seed)
    frames = []
    for s in range(n_series):
        days = np.arange(length)
        sale = rng.random(length) < 0.1
        y = 10 + s + np.sin(2 * np.pi * days / 7) + rng.normal(0, 0.3, length) + 3.0 * sale
        event = np.where(sale, rng.choice(SALES, length), "")
        frames.append(pd.DataFrame({"unique_id": f"store {s}", "ds": pd.date_range("2023-01-01", periods=length),
                                    "y": y, "event": event}))
    return pd.concat(frames, ignore_index=True)


def a_sale_on_day(forecaster: fc.Forecaster, step: int, text: str = "prices slashed for one day only") -> pd.DataFrame:
    last = forecaster.history.last_ds
    return pd.DataFrame({"unique_id": forecaster.history.ids,
                         "ds": [stamp + pd.Timedelta(days=step) for stamp in last], "event": text})


def test_text_columns_are_detected_unless_named_and_none_when_empty():
    df = event_panel(1, 80)
    detected = fc.Forecaster(["naive"], h=7).fit(df)
    assert detected.text_columns_.past == ("event",) and detected.text_columns_.future == ()
    assert detected.history.text.past[0].shape == (80, 1)
    none = fc.Forecaster(["naive"], h=7, text_cols=[]).fit(df)
    assert not none.text_columns_ and none.history.text is None
    planned = fc.Forecaster(["naive"], h=7, text_cols=["event"], future_text_cols=["event"]).fit(df)
    assert planned.text_columns_.future == ("event",)


def test_arima_learns_what_sales_do_and_forecasts_the_typed_one(one_thread):
    df = event_panel()
    forecaster = fc.Forecaster(["arima", "naive"], h=7, text_cols=["event"], future_text_cols=["event"], n_jobs=1)
    forecaster.fit(df)
    plain = forecaster.predict()
    planned = forecaster.predict(future_text=a_sale_on_day(forecaster, 3))
    lift = (planned["arima"] - plain["arima"]).to_numpy().reshape(3, 7)
    # the sale's day moves by about its +3, a paraphrase never seen in training; the other days do not move
    assert np.all((lift[:, 2] > 1.5) & (lift[:, 2] < 4.5)), lift
    assert np.abs(np.delete(lift, 2, axis=1)).max() < 0.3
    assert np.array_equal(planned["naive"], plain["naive"])          # models without text ignore it
    effects = forecaster.text_effects()
    has_text = effects[effects["regressor"] == "event: has text"]
    assert set(has_text["unique_id"]) == {"store 0", "store 1", "store 2"}
    assert (has_text["effect"].between(1.5, 4.5)).all() and (has_text["p_value"] < 0.01).all()
    component = effects[effects["regressor"] == "event: component 1"].iloc[0]
    assert {*component["high"].split(" | "), *component["low"].split(" | ")} <= set(SALES)


def test_a_network_with_empty_text_computes_exactly_what_it_computes_without(one_thread):
    df = event_panel(2, 160).assign(event="")
    settings = dict(epochs=2, steps_per_epoch=5, batch_size=8, network={"d_model": 16, "n_heads": 2, "e_layers": 1, "d_ff": 32})
    with_text = fc.Forecaster([fc.model("patchtst", **settings)], h=7, text_cols=["event"]).fit(df)
    without = fc.Forecaster([fc.model("patchtst", **settings)], h=7, text_cols=[]).fit(df)
    assert type(with_text.states[0][0].network).__name__ == "TextFusion"
    np.testing.assert_array_equal(with_text.predict()["patchtst"], without.predict()["patchtst"])


def test_a_network_reads_the_planned_text_of_its_horizon(one_thread):
    df = event_panel(3, 300)
    forecaster = fc.Forecaster([fc.model("dlinear", epochs=10, steps_per_epoch=60, seed=0)], h=7,
                               text_cols=["event"], future_text_cols=["event"]).fit(df)
    assert forecaster.states[0][0].text == {"columns": 1, "dim": 384, "mode": "late"}
    lift = (forecaster.predict(future_text=a_sale_on_day(forecaster, 4))["dlinear"]
            - forecaster.predict()["dlinear"]).to_numpy().reshape(3, 7)
    assert np.all(lift[:, 3] > 1.0), lift                            # the sale's day rises (the truth is +3)
    assert np.all(lift[:, 3] > 2 * np.abs(np.delete(lift, 3, axis=1)).max(axis=1)), lift


def test_a_backtest_reads_each_windows_planned_text_and_only_known_columns_ahead(one_thread):
    df = event_panel(1, 200)
    sale_days = np.flatnonzero(df["event"].to_numpy() != "")
    last_window = sale_days[sale_days >= 193]
    assert len(last_window), "the panel's seed puts a sale in the last week"
    known = fc.Forecaster(["arima"], h=7, text_cols=["event"], future_text_cols=["event"], n_jobs=1)
    past_only = fc.Forecaster(["arima"], h=7, text_cols=["event"], n_jobs=1)
    with_known = known.cross_validation(df, n_windows=2)
    without = past_only.cross_validation(df, n_windows=2)
    rows = with_known["ds"].isin(df["ds"].iloc[last_window])
    assert (with_known.loc[rows, "arima"] - without.loc[rows, "arima"]).min() > 1.0
    # text observed in the past only gives ARIMA no regressor to read: the backtest of a forecaster without text
    plain = fc.Forecaster(["arima"], h=7, text_cols=[], n_jobs=1).cross_validation(df, n_windows=2)
    pd.testing.assert_frame_equal(without, plain)


def test_future_text_errors_name_the_problem_and_the_fix():
    df = event_panel(2, 80)
    forecaster = fc.Forecaster(["naive"], h=7, text_cols=["event"], future_text_cols=["event"]).fit(df)
    good = a_sale_on_day(forecaster, 1)
    with pytest.raises(DataError, match=r"'price', which is not a text column known in advance \('event'\)"):
        forecaster.predict(future_text=good.assign(price=1.0))
    with pytest.raises(DataError, match=r"names series 'store 9' that the forecaster was not fitted on"):
        forecaster.predict(future_text=good.assign(unique_id="store 9"))
    with pytest.raises(DataError, match=r"row 0 \(store 0 at 2023-04-01.*not on the forecast's horizon"):
        forecaster.predict(future_text=good.assign(ds=pd.Timestamp("2023-04-01")).head(1))
    with pytest.raises(DataError, match=r"row 1 \(store 0 at .*\) repeats a series and date"):
        forecaster.predict(future_text=pd.concat([good.head(1), good.head(1)], ignore_index=True))
    with pytest.raises(DataError, match="lacks the column 'ds'"):
        forecaster.predict(future_text=good.drop(columns="ds"))
    past_only = fc.Forecaster(["naive"], h=7, text_cols=["event"]).fit(df)
    with pytest.raises(DataError, match=r"no text column is known in advance: fit with future_text_cols"):
        past_only.predict(future_text=good)


def test_a_saved_forecaster_keeps_its_text_and_forecasts_alike(tmp_path, one_thread):
    df = event_panel(2, 160)
    forecaster = fc.Forecaster([fc.model("dlinear", epochs=2, steps_per_epoch=10), "arima"], h=7, n_jobs=1,
                               text_cols=["event"], future_text_cols=["event"]).fit(df)
    planned = a_sale_on_day(forecaster, 2)
    expected = forecaster.predict(future_text=planned)
    forecaster.save(tmp_path / "model")
    loaded = fc.Forecaster.load(tmp_path / "model")
    assert loaded.text_columns_ == forecaster.text_columns_
    np.testing.assert_array_equal(loaded.history.text.past[1], forecaster.history.text.past[1])
    got = loaded.predict(future_text=planned)
    np.testing.assert_allclose(got["dlinear"], expected["dlinear"], rtol=1e-6)
    np.testing.assert_allclose(got["arima"], expected["arima"], rtol=1e-9)
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["text"]["columns"] == ["event"] and config["text"]["distinct"][0] == ""
    assert set(config["text"]["distinct"][1:]) == set(df["event"]) - {""}


def test_a_saved_text_that_does_not_fit_its_codes_is_refused(tmp_path):
    df = event_panel(1, 80)
    fc.Forecaster(["naive"], h=7, text_cols=["event"]).fit(df).save(tmp_path / "model")
    path = tmp_path / "model" / "config.json"
    config = json.loads(path.read_text())
    config["text"]["distinct"] = config["text"]["distinct"][:1]
    from forecasting.api.persistence import WEIGHTS, content_digest
    config["sha256"] = content_digest(config, tmp_path / "model" / WEIGHTS)
    path.write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match=r"text_codes is not a code of text.distinct for each of the 80 rows"):
        fc.Forecaster.load(tmp_path / "model")


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_any_local_bert_or_roberta_encodes_the_text(tiny_language_models, family, one_thread):
    df = event_panel(1, 120)
    forecaster = fc.Forecaster([fc.model("dlinear", epochs=1, steps_per_epoch=3)], h=7, text_cols=["event"],
                               text_encoder=tiny_language_models[family]).fit(df)
    assert forecaster.states[0][0].text["dim"] == 64               # the tiny model's width, not MiniLM's 384
    encoder = text_encoder(forecaster.history.text.encoder)
    assert encoder.source == tiny_language_models[family]
    assert forecaster.predict()["dlinear"].notna().all()


def test_a_gpt_model_is_refused_as_a_text_encoder(tiny_language_models):
    with pytest.raises(ValueError, match="encoded by BERT or RoBERTa models.*'gpt2'"):
        fc.Forecaster([fc.model("dlinear", epochs=1, steps_per_epoch=2)], h=7, text_cols=["event"],
                      text_encoder=tiny_language_models["gpt2"]).fit(event_panel(1, 120))


def test_missing_blank_and_empty_text_are_all_no_text(one_thread):
    df = event_panel(1, 120)
    messy = df.copy()
    blank = np.flatnonzero(messy["event"].to_numpy() == "")
    messy["event"] = messy["event"].astype(object)
    messy.loc[blank[0::3], "event"] = None
    messy.loc[blank[1::3], "event"] = np.nan
    messy.loc[blank[2::3], "event"] = "   "
    clean = fc.Forecaster(["arima"], h=7, text_cols=["event"], future_text_cols=["event"], n_jobs=1).fit(df)
    read = fc.Forecaster(["arima"], h=7, text_cols=["event"], future_text_cols=["event"], n_jobs=1).fit(messy)
    np.testing.assert_array_equal(read.history.text.past[0], clean.history.text.past[0])
    pd.testing.assert_frame_equal(read.predict(), clean.predict())

"""Each series' description, in the user's words: read from a column, in TimeLLM's prompt, in HyperMamba's
conditioning, kept by a saved forecaster, and refused where it is not one text per series."""
import numpy as np
import pandas as pd
import pytest
import torch

import forecasting as fc
from backbones.hypermamba import N_STATISTICS
from backbones.timellm import TimeLLM, TimeLLMConfig
from forecasting.errors import DataError

DESCRIPTIONS = {"beach": "ice cream sales at a seaside kiosk, busy on sunny weekends",
                "office": "coffee sold in an office canteen, closed at weekends"}


def described_panel(length: int = 200) -> pd.DataFrame:
    frames = []
    for k, (name, text) in enumerate(DESCRIPTIONS.items()):
        days = np.arange(length)
        y = 10 + 3 * k + np.sin(2 * np.pi * days / 7) * (1 + k) + np.random.default_rng(k).normal(0, 0.2, length)
        description = np.full(length, "", object)
        description[0] = text                       # written once per series, on any row
        frames.append(pd.DataFrame({"unique_id": name, "ds": pd.date_range("2024-01-01", periods=length), "y": y,
                                    "about": description}))
    return pd.concat(frames, ignore_index=True)


def test_the_prompt_starts_with_each_training_series_own_description(tiny_language_models):
    config = TimeLLMConfig(lookback=48, horizon=12, language_model=tiny_language_models["gpt2"], llm_layers=1,
                           n_prototypes=16, d_ff=16, series_descriptions=("sunny beach kiosk", ""))
    model = TimeLLM(config)
    x = torch.randn(3, 48)
    ids = model.prompt(x, series=torch.tensor([1, 2, 0]))
    tokenizer = model.language_model.tokenizer
    pad = tokenizer.pad_token_id or 0
    first = tokenizer.decode([i for i in ids[0].tolist() if i != pad]).replace(" ", "")
    assert first.startswith("seriesdescription:sunnybeachkioskdatasetdescription:")   # an uncased tokenizer
    # a series without a description (2) and an unseen one (0) read the same prompt, which has none
    width = model.prompt.series_text.shape[1]
    assert torch.equal(ids[1, :width], ids[2, :width]) and set(ids[1, :width].tolist()) == {pad}
    assert "seriesdescription" not in tokenizer.decode([i for i in ids[2].tolist() if i != pad]).replace(" ", "")
    assert ids.shape[1] == model.prompt(x).shape[1] + width


def test_timellm_reads_the_descriptions_and_a_saved_forecaster_keeps_them(tiny_language_models, tmp_path, one_thread):
    network = {"language_model": tiny_language_models["bert"], "llm_layers": 1, "n_prototypes": 16, "d_ff": 16}
    forecaster = fc.Forecaster([fc.model("timellm", epochs=1, steps_per_epoch=2, network=network)], h=7,
                               description_col="about").fit(described_panel())
    assert forecaster.states[0][0].config["series_descriptions"] == list(DESCRIPTIONS.values())
    assert not forecaster.text_columns_                   # the description is not a text covariate
    out = forecaster.predict()
    forecaster.save(tmp_path / "m")
    loaded = fc.Forecaster.load(tmp_path / "m")
    assert loaded.history.descriptions.texts == list(DESCRIPTIONS.values())
    pd.testing.assert_frame_equal(loaded.predict(), out)


def test_hypermamba_conditions_on_the_encoded_description(one_thread):
    forecaster = fc.Forecaster([fc.model("hypermamba", epochs=2, steps_per_epoch=20, batch_size=16,
                                         network={"d_model": 16, "n_layers": 1})], h=7,
                               description_col="about").fit(described_panel())
    fit = forecaster.states[0][0]
    assert fit.described and fit.config["external_dim"] == N_STATISTICS + 384
    plain = forecaster.predict()["hypermamba"].to_numpy()
    swapped = forecaster.history.descriptions.texts[::-1]
    forecaster.history.descriptions.texts = swapped
    moved = forecaster.predict()["hypermamba"].to_numpy()
    assert np.abs(moved - plain).max() > 1e-4            # the description reaches the forecast


def test_a_description_column_must_hold_one_text_per_series():
    df = described_panel(30)
    df.loc[5, "about"] = "something else"
    with pytest.raises(DataError, match=r"series 'beach' has 2 different descriptions in column 'about' "
                                        r"\('ice cream sales.*', 'something else'\)"):
        fc.Forecaster(["naive"], h=7, description_col="about").fit(df)
    with pytest.raises(DataError, match=r"column 'about' is the series' description \(description_col\)"):
        fc.Forecaster(["naive"], h=7, description_col="about", text_cols=["about"]).fit(described_panel(30))
    with pytest.raises(DataError, match=r"description_col names 'notes', which is not a covariate column"):
        fc.Forecaster(["naive"], h=7, description_col="notes").fit(described_panel(30))

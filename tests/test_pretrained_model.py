"""A pretrained checkpoint through the Forecaster: zero-shot trains nothing, each tuning mode trains what it says."""
import numpy as np
import pandas as pd
import pytest
import torch

import forecasting as fc
from backbones.patch_lm import PatchLMConfig
from forecasting.models.pretrained import FittedPretrained, _mixer_layers, _set_trainable
from forecasting.pretraining.corpus import CorpusConfig, build_corpus
from forecasting.pretraining.objectives import ObjectiveConfig
from forecasting.pretraining.train import PretrainConfig, load_checkpoint, pretrain

TINY = dict(d_model=16, n_layers=2, n_heads=2, d_ff=32, patch_len=4, max_patches=12, forecast_patches=2)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pretrained") / "masked"
    corpus = build_corpus(CorpusConfig(windows=64, validation_windows=16, real=0.0, synthetic=1.0, mixup=0.0,
                                       sources=()), 48)
    pretrain(PatchLMConfig(objective="masked", **TINY), ObjectiveConfig("masked"), corpus,
             PretrainConfig(epochs=1, batch_size=16), out=folder, show_progress=False)
    return folder


@pytest.fixture
def panel():
    t = np.arange(120)
    return pd.DataFrame({"unique_id": np.repeat(["a", "b"], 120),
                         "ds": np.tile(pd.date_range("2021-01-01", periods=120, freq="h"), 2),
                         "y": np.r_[np.sin(t / 4) * 10 + 50, np.cos(t / 6) * 3 + 10]})


def _weights(model) -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in model.state_dict().items()}


def test_zero_shot_trains_nothing_and_forecasts_median_inside_its_bands(checkpoint, panel, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("zero-shot must not train")
    monkeypatch.setattr(torch.optim.AdamW, "step", no_training)
    forecaster = fc.Forecaster([fc.model("pretrained", checkpoint=str(checkpoint))], h=10, level=[80, 95])
    out = forecaster.fit(panel).predict()
    stored, _ = load_checkpoint(checkpoint)
    assert out.shape == (20, 7)
    assert (out["pretrained-lo-95"] <= out["pretrained-lo-80"]).all()
    assert ((out["pretrained-lo-80"] <= out["pretrained"]) & (out["pretrained"] <= out["pretrained-hi-80"])).all()
    assert "zero-shot" in forecaster.choice_notes[0]
    # the forecast is the checkpoint's own: the last 40 steps of each series (its context), nothing else
    paths = forecaster.models[0].sample_paths
    assert paths > 1                             # h = 10 is more than one step of 8: later patches are sampled
    direct = stored.forecast(torch.tensor(np.stack([panel["y"][:120].to_numpy()[-40:],
                                                    panel["y"][120:].to_numpy()[-40:]]), dtype=torch.float32), 10,
                             paths)
    np.testing.assert_allclose(out["pretrained"].to_numpy(), direct[..., 5].flatten().numpy(), rtol=1e-5)
    assert all(torch.equal(value, stored.state_dict()[key])
               for key, value in _fitted_model(forecaster).state_dict().items())


@pytest.mark.parametrize("tuning", ["linear_probe", "gradual", "full", "lora"])
def test_each_tuning_mode_changes_what_it_trains_and_nothing_else(checkpoint, panel, tuning):
    before, _ = load_checkpoint(checkpoint)
    forecaster = fc.Forecaster([fc.model("pretrained", checkpoint=str(checkpoint), tuning=tuning, epochs=2,
                                         steps_per_epoch=3, learning_rate=1e-2)], h=8)
    forecaster.fit(panel)
    after = _fitted_model(forecaster)
    changed = {key for key, value in after.state_dict().items() if not torch.equal(value, before.state_dict()[key])}
    assert any(key.startswith("patch_head") for key in changed)
    if tuning == "linear_probe":
        assert all(key.startswith(("patch_head", "norm.")) for key in changed)
    if tuning == "gradual":       # two epochs: the head, then the top layer; the bottom layer never trained
        assert any(key.startswith("mixer.layers.layers.1.") for key in changed)
        assert not any(key.startswith(("mixer.layers.layers.0.", "embed")) for key in changed)
    if tuning == "full":
        assert any(key.startswith("embed") for key in changed)
    if tuning == "lora":          # adapters folded into the mixer's linear maps; the embedding is untouched
        assert any("linear1" in key or "out_proj" in key for key in changed)
        assert not any(key.startswith("embed") for key in changed) and "lora" not in " ".join(after.state_dict())
    assert f"fine-tuned ({tuning})" in forecaster.choice_notes[0]


def _fitted_model(forecaster):
    fit = forecaster.states[0][0]
    assert isinstance(fit, FittedPretrained)
    return fit.model


def test_gradual_unfreezing_opens_one_more_layer_each_epoch(checkpoint):
    model, _ = load_checkpoint(checkpoint)
    layers = _mixer_layers(model)
    opened = []
    for epoch in range(4):
        _set_trainable(model, "gradual", epoch)
        opened.append([all(p.requires_grad for p in layer.parameters()) for layer in layers])
        assert all(p.requires_grad for p in model.patch_head.parameters())
    assert opened == [[False, False], [False, True], [True, True], [True, True]]
    assert model.embed.weight.requires_grad      # past the last layer: everything


def test_a_saved_fine_tuned_forecaster_forecasts_the_same(checkpoint, panel, tmp_path):
    forecaster = fc.Forecaster([fc.model("pretrained", checkpoint=str(checkpoint), tuning="full", epochs=1,
                                         steps_per_epoch=2)], h=6, level=[90])
    first = forecaster.fit(panel).predict()
    path = forecaster.save(tmp_path / "model.almanac")
    again = fc.Forecaster.load(path).predict()
    np.testing.assert_allclose(again.iloc[:, 2:].to_numpy(), first.iloc[:, 2:].to_numpy(), rtol=1e-5)


def test_a_folder_that_is_not_a_checkpoint_is_named(panel, tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a pretrained checkpoint"):
        fc.Forecaster([fc.model("pretrained", checkpoint=str(tmp_path))], h=4).fit(panel)
    with pytest.raises(ValueError, match="tuning"):
        fc.model("pretrained", tuning="half")


def test_almanac_pretrain_writes_a_checkpoint_the_forecaster_reads(tmp_path, panel):
    from tests.test_cli import almanac
    out = tmp_path / "span"
    run = almanac("pretrain", "--out", str(out), "--objective", "span", "--mask-rate", "0.3", "--windows", "64",
                  "--epochs", "1", "--mix", "0", "1", "0", "--patch-len", "4", "--window-patches", "12",
                  "--forecast-patches", "2", "--d-model", "16", "--layers", "1", "--batch-size", "16")
    assert run.returncode == 0, run.stderr
    assert "4 steps in" in run.stderr and "zero-shot forecast loss" in run.stderr
    _, record = load_checkpoint(out)
    assert record["objective"]["mask_rate"] == 0.3 and record["corpus"]["windows_by_origin"]["synthetic"] == 64
    forecast = fc.Forecaster([fc.model("pretrained", checkpoint=str(out))], h=5).fit(panel).predict()
    assert forecast["pretrained"].notna().all() and len(forecast) == 10
    bad = almanac("pretrain", "--out", str(tmp_path / "x"), "--mix", "0.5", "0.2", "0.1")
    assert bad.returncode == 2 and "summing to 1" in bad.stderr


def test_the_bundled_almanac_base_forecasts_a_new_series_zero_shot_with_quantile_intervals():
    from forecasting.data import datasets
    from forecasting.models.pretrained import BUNDLED
    from forecasting.pretraining.corpus import HELD_OUT
    size = sum(path.stat().st_size for path in BUNDLED.iterdir())
    assert size <= 20 * 2 ** 20 and (BUNDLED / "model.safetensors").is_file()
    _, record = load_checkpoint(BUNDLED)
    assert record["corpus"]["held_out_files"] == list(HELD_OUT)
    assert not set(record["corpus"]["config"]["sources"]) & set(HELD_OUT)
    assert record["result"]["steps"] > 0 and record["objective"]["name"] in ("causal", "masked", "span")
    frame = datasets.load("air_passengers")
    forecaster = fc.Forecaster(["almanac_base"], h=12, level=[80, 95])
    out = forecaster.fit(frame).predict()
    assert len(out) == 12 and out["almanac_base"].between(200, 900).all()
    assert (out["almanac_base-lo-95"] < out["almanac_base-lo-80"]).all()
    assert (out["almanac_base-hi-80"] < out["almanac_base-hi-95"]).all()
    assert "zero-shot" in forecaster.choice_notes[0]


def test_pretrained_without_a_checkpoint_names_the_setting_and_the_bundled_model(panel):
    with pytest.raises(ValueError, match="give checkpoint=.*almanac_base"):
        fc.Forecaster(["pretrained"], h=4).fit(panel)


def test_a_saved_network_that_does_not_fit_its_config_is_refused(checkpoint, panel, tmp_path):
    forecaster = fc.Forecaster([fc.model("pretrained", checkpoint=str(checkpoint))], h=4).fit(panel)
    state = forecaster.states[0][0].to_state()
    state.arrays["weight:embed.weight"] = state.arrays["weight:embed.weight"][:, :2]
    with pytest.raises(ValueError, match="does not fit its config"):
        FittedPretrained.from_state(state, "pretrained")


@pytest.mark.parametrize("tuning", ["full", "lora", "gradual"])
def test_fine_tuning_a_timellm_stack_trains_the_reprogramming_and_never_the_language_model(tuning, panel, tmp_path,
                                                                                           tiny_language_models):
    from backbones.language import load_language_model
    folder = tmp_path / "timellm"
    corpus = build_corpus(CorpusConfig(windows=32, validation_windows=16, real=0.0, synthetic=1.0, mixup=0.0,
                                       sources=()), 48)
    config = PatchLMConfig(objective="causal", mixer="timellm", language_model=tiny_language_models["gpt2"],
                           llm_layers=2, n_prototypes=16, **TINY)
    pretrain(config, ObjectiveConfig("causal"), corpus, PretrainConfig(epochs=1, batch_size=16), out=folder,
             show_progress=False)
    shared = load_language_model(tiny_language_models["gpt2"], layers=2).body      # the process-wide frozen one
    shared_before = {key: value.clone() for key, value in shared.state_dict().items()}
    before, _ = load_checkpoint(folder)
    forecaster = fc.Forecaster([fc.model("pretrained", checkpoint=str(folder), tuning=tuning, epochs=3,
                                         steps_per_epoch=2, learning_rate=1e-2)], h=6, level=[80])
    first = forecaster.fit(panel).predict()
    after = _fitted_model(forecaster)
    changed = {key for key, value in after.state_dict().items() if not torch.equal(value, before.state_dict()[key])}
    assert any(key.startswith("mixer.reprogramming.") or key.startswith("mixer.out.") for key in changed)
    assert not any("language_model" in key for key in changed)
    assert all(torch.equal(value, shared_before[key]) for key, value in shared.state_dict().items())
    again = fc.Forecaster.load(forecaster.save(tmp_path / "model.almanac")).predict()
    np.testing.assert_allclose(again.iloc[:, 2:].to_numpy(), first.iloc[:, 2:].to_numpy(), rtol=1e-5)


def test_almanac_pretrain_pretrains_a_hypermamba_stack(tmp_path, panel):
    from tests.test_cli import almanac
    out = tmp_path / "hypermamba"
    run = almanac("pretrain", "--out", str(out), "--objective", "causal", "--mixer", "hypermamba", "--windows",
                  "32", "--epochs", "1", "--mix", "0", "1", "0", "--patch-len", "4", "--window-patches", "12",
                  "--forecast-patches", "2", "--d-model", "16", "--layers", "1", "--batch-size", "16")
    assert run.returncode == 0, run.stderr
    model, record = load_checkpoint(out)
    assert record["model"]["mixer"] == "hypermamba" and hasattr(model.mixer, "hyper")
    forecast = fc.Forecaster([fc.model("pretrained", checkpoint=str(out))], h=5).fit(panel).predict()
    assert forecast["pretrained"].notna().all() and len(forecast) == 10


def test_fine_tuning_runs_through_accelerate_at_the_precision_asked(checkpoint, panel, monkeypatch):
    from forecasting.models import pretrained
    seen = []
    scaled_loss = pretrained._scaled_loss

    def recording(model, x, y, h):
        seen.append(torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16)
        return scaled_loss(model, x, y, h)
    monkeypatch.setattr(pretrained, "_scaled_loss", recording)
    forecaster = fc.Forecaster([fc.model("pretrained", checkpoint=str(checkpoint), tuning="full", epochs=2,
                                         steps_per_epoch=2, precision="bf16")], h=6)
    out = forecaster.fit(panel).predict()
    assert seen and all(seen)                    # every training and validation pass under bf16 autocast
    model = _fitted_model(forecaster)
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in model.parameters())
    assert out["pretrained"].notna().all()
    with pytest.raises(ValueError, match="precision"):
        fc.model("pretrained", precision="fp8")


def test_fine_tuning_clips_the_future_of_a_flat_history_and_names_series_too_short(checkpoint):
    from forecasting.models.base import History
    from forecasting.models.pretrained import Pretrained, fine_tune
    t = np.arange(160)
    flat_then_moving = np.r_[np.full(100, 5.0), 5 + 3 * np.sin(t[:60] / 3)].astype(np.float32)
    history = History(ids=["flat start"], values=[flat_then_moving], last_ds=[pd.Timestamp("2021-01-01")])
    model, _ = load_checkpoint(checkpoint)
    rows = fine_tune(model, history, 6, Pretrained(tuning="full", epochs=2, steps_per_epoch=5, batch_size=64))
    # a window ending in the flat part scales the jump after it by 1e-5: unclipped, its loss is ~1e5
    assert all(np.isfinite(row["train_loss"]) and row["train_loss"] < 60 for row in rows)
    short = History(ids=["a", "tiny"], values=[flat_then_moving, flat_then_moving[:10]], last_ds=[pd.Timestamp(0)] * 2)
    with pytest.raises(ValueError, match=r"needs at least 13 rows a series.*\['tiny'\].*zero_shot"):
        fine_tune(model, short, 6, Pretrained(tuning="full"))

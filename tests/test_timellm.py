"""Time-LLM: reprogramming onto a language model, the vectorised prompt, the ablations and tuning modes."""
import math

import pytest
import torch

from backbones import Batch
from backbones.timellm import TimeLLM, TimeLLMConfig, _analogue_change, _top_lags

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = dict(lookback=48, horizon=12, channels=2, patch_len=8, stride=8, d_model=16, n_heads=4, d_ff=16,
             n_prototypes=20, dropout=0.0, llm_layers=1, description="Hourly load of a transformer.")


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def network(tiny_language_models, family="gpt2", **overrides) -> TimeLLM:
    torch.manual_seed(0)
    return TimeLLM(TimeLLMConfig(**{**SMALL, "language_model": tiny_language_models[family], **overrides}))


def batch() -> Batch:
    generator = torch.Generator().manual_seed(0)
    return Batch(x=torch.randn(3, 48, 2, generator=generator).cumsum(1))


@pytest.mark.parametrize("family", ["gpt2", "t5", "bert", "roberta", "llama"])
def test_every_language_model_family_forecasts_and_only_the_time_series_parts_train(tiny_language_models, family):
    model = network(tiny_language_models, family)
    out = model(batch())
    assert out.shape == (3, 12, 2) and torch.isfinite(out).all()
    out.pow(2).mean().backward()
    assert all(p.grad is None for p in model.language_model.parameters())
    trained = {name.split(".")[0] for name, p in model.named_parameters() if p.grad is not None}
    assert trained == {"patch_embedding", "to_prototypes", "reprogramming", "head", "revin"}


def test_over_a_whole_t5_the_decoder_reads_the_patches_and_attends_to_the_prompt(tiny_language_models):
    model = network(tiny_language_models, "t5", llm_decoder=True).eval()
    assert model.language_model.encoder_decoder
    with torch.no_grad():
        out = model(batch())
        assert out.shape == (3, 12, 2) and torch.isfinite(out).all()
        model.prompt.text_0 = model.prompt.text_0.flip(0)                     # another description, another forecast
        assert not torch.allclose(model(batch()), out, atol=1e-5)
    model.train()
    model(batch()).pow(2).mean().backward()
    assert all(p.grad is None for p in model.language_model.parameters())
    assert model.reprogramming.query.weight.grad is not None


def test_quantile_head_and_the_ablations(tiny_language_models):
    assert network(tiny_language_models, quantiles=(0.1, 0.5, 0.9))(batch()).shape == (3, 12, 2, 3)
    removed = network(tiny_language_models, body="none")
    assert removed.language_model is None and removed.prompt is None
    assert removed(batch()).shape == (3, 12, 2)
    attention = network(tiny_language_models, body="attention")
    assert attention.language_model is None and isinstance(attention.attention, torch.nn.TransformerEncoderLayer)
    assert attention(batch()).shape == (3, 12, 2)
    with pytest.raises(ValueError, match="body must be one of"):
        TimeLLMConfig(lookback=48, horizon=12, body="gpt")


def test_lora_and_linear_probe_train_what_they_say(tiny_language_models):
    lora = network(tiny_language_models, tuning="lora", lora_rank=2)
    lora(batch()).pow(2).mean().backward()
    in_language_model = [n for n, p in lora.language_model.named_parameters() if p.grad is not None]
    assert in_language_model and all("lora_" in n for n in in_language_model)
    probe = network(tiny_language_models, tuning="linear_probe")
    probe(batch()).pow(2).mean().backward()
    trained = {name.split(".")[0] for name, p in probe.named_parameters() if p.grad is not None}
    assert trained == {"head", "revin"}


def test_the_prompt_states_the_task_and_the_windows_statistics(tiny_language_models):
    model = network(tiny_language_models)
    x = torch.stack([torch.linspace(-1.5, 2.25, 48), torch.sin(2 * math.pi * torch.arange(48) / 12)])
    ids = model.prompt(x)
    assert ids.shape[0] == 2 and ids.dtype == torch.long
    text = model.language_model.tokenizer.decode(ids[0]).replace(" ", "")
    assert "hourlyloadofatransformer." in text and "next12steps" in text and "previous48steps" in text
    assert "minvalue-01.50" in text and "maxvalue+02.25" in text and "medianvalue+00.34" in text
    assert "trend+03.75" in text and "top5lagsare" in text
    # the batch's ids are each window's own: building them together changes nothing
    torch.testing.assert_close(ids[1:], model.prompt(x[1:]))


def test_the_prompt_says_where_the_retrieved_analogues_went(tiny_language_models):
    """Two windows of 48 steps ending at 0; three analogues each, whose futures end on average 2 (resp. -1) away
    from the window's last value; without analogues the prompt is as before."""
    model = network(tiny_language_models, channels=1)
    x = torch.stack([torch.linspace(-1.0, 0.0, 48), torch.linspace(1.0, 0.0, 48)])[..., None]      # [2, 48, 1]
    retrieved = torch.zeros(2, 3, 12, 1)
    retrieved[0, :, -1, 0] = torch.tensor([1.0, 2.0, 3.0])
    retrieved[1, :2, -1, 0] = torch.tensor([-1.0, -1.0])
    similarity = torch.tensor([[0.9, 0.8, 0.7], [0.9, 0.8, float("nan")]])                    # the third not found
    with_analogues = Batch(x=x, retrieved=retrieved, retrieved_similarity=similarity)
    deviation = x[:, :, 0].std(dim=1)
    torch.testing.assert_close(_analogue_change(with_analogues), torch.stack([2 / deviation[0], -1 / deviation[1]]))
    ids = model.prompt(x[:, :, 0], _analogue_change(with_analogues))
    text = model.language_model.tokenizer.decode(ids[0]).replace(" ", "")
    assert text.endswith(f"similarpastperiodsthenchangedby+{2 / deviation[0].item():05.2f}")
    plain = Batch(x=x)
    assert _analogue_change(plain) is None and _analogue_change(Batch(x=x, retrieved=retrieved[:, :0],
                                                                       retrieved_similarity=similarity[:, :0])) is None
    with torch.no_grad():
        model.eval()
        assert not torch.equal(model(with_analogues), model(plain))


def test_top_lags_find_the_period():
    t = torch.arange(96, dtype=torch.float32)
    lags = _top_lags(torch.sin(2 * math.pi * t / 12)[None], 3)
    assert lags[0, 0].item() == 12 and lags.shape == (1, 3)


def test_the_bundled_minilm_runs_time_llm(tiny_language_models):
    torch.manual_seed(0)
    model = TimeLLM(TimeLLMConfig(**{**SMALL, "llm_layers": 2, "n_prototypes": 50}))
    assert model.language_model.hidden_size == 384 and model.language_model.n_layers == 2
    out = model(batch())
    assert out.shape == (3, 12, 2) and torch.isfinite(out).all()


def test_through_the_forecaster_with_its_ablations_saved_without_the_language_model(tiny_language_models, tmp_path):
    import numpy as np
    import pandas as pd

    import forecasting as fc

    ds = pd.date_range("2024-01-01", periods=200, freq="h")
    frame = pd.concat([pd.DataFrame({"unique_id": name, "ds": ds, "y": np.sin(2 * np.pi * np.arange(200) / 24) + shift})
                       for name, shift in (("a", 0.0), ("b", 3.0))])
    network = {"language_model": tiny_language_models["gpt2"], "llm_layers": 1, "n_prototypes": 16, "d_ff": 16}
    models = [fc.model("timellm", epochs=1, steps_per_epoch=3, network=network, description="Two hourly test series."),
              fc.model("timellm_no_lm", epochs=1, steps_per_epoch=3, network=network),
              fc.model("timellm_attention", epochs=1, steps_per_epoch=3, network=network)]
    forecaster = fc.Forecaster(models, h=12, level=[80]).fit(frame)
    out = forecaster.predict()
    assert np.isfinite(out[["timellm", "timellm_no_lm", "timellm_attention", "timellm-lo-80"]].to_numpy()).all()
    spec = forecaster.states[0][0].config
    assert spec["description"] == "Two hourly test series." and spec["body"] == "language_model"
    assert forecaster.states[1][0].config["description"] == "2 series of hourly observations."
    # the frozen language model is not in the saved arrays; reloading rebuilds it from its directory
    saved = forecaster.states[0][0].to_state().arrays
    assert not any(".language_model." in key and "lora_" not in key for key in saved)
    forecaster.save(tmp_path / "t")
    pd.testing.assert_frame_equal(fc.Forecaster.load(tmp_path / "t").predict(), out)


@pytest.mark.parametrize("quantize", ["8bit", "4bit"])
def test_a_quantized_language_model_tunes_with_lora_and_its_forecaster_saves_and_reloads(
        tiny_language_models, tmp_path, quantize):
    import numpy as np
    import pandas as pd

    import forecasting as fc

    ds = pd.date_range("2024-01-01", periods=200, freq="h")
    frame = pd.DataFrame({"unique_id": "a", "ds": ds, "y": np.sin(2 * np.pi * np.arange(200) / 24)})
    network = {"language_model": tiny_language_models["llama"], "llm_layers": 1, "n_prototypes": 16, "d_ff": 16,
               "llm_quantize": quantize, "tuning": "lora", "lora_rank": 2}
    forecaster = fc.Forecaster([fc.model("timellm", epochs=1, steps_per_epoch=3, network=network)], h=12).fit(frame)
    out = forecaster.predict()
    assert np.isfinite(out["timellm"]).all()
    saved = forecaster.states[0][0].to_state().arrays
    in_language_model = [key for key in saved if ".language_model." in key]
    assert in_language_model and all("lora_" in key for key in in_language_model)   # adapters, no quantized weights
    forecaster.save(tmp_path / "q")
    # bitsandbytes repacks 4-bit weights for the CPU at their first inference pass, requantizing their
    # scales: the fitted and the reloaded model agree to about 1e-3, not bit for bit
    tolerance = {"rtol": 1e-3, "atol": 1e-3} if quantize == "4bit" else {}
    pd.testing.assert_frame_equal(fc.Forecaster.load(tmp_path / "q").predict(), out, **tolerance)


def test_saved_state_leaves_out_only_the_frozen_language_model(tiny_language_models):
    from backbones.state import load_trained_state, trained_state

    probe = network(tiny_language_models, tuning="linear_probe")
    state = trained_state(probe)
    assert not any(key.startswith("language_model.") for key in state)
    # frozen at their random start, but not rebuilt from any source: they must be saved
    assert {"patch_embedding.weight", "to_prototypes.weight", "reprogramming.query.weight", "head.2.weight"} <= set(state)
    rebuilt = network(tiny_language_models, tuning="linear_probe")
    with torch.no_grad():
        rebuilt.patch_embedding.weight.add_(1.0)
    load_trained_state(rebuilt, state)
    torch.testing.assert_close(rebuilt.eval()(batch()), probe.eval()(batch()))
    with pytest.raises(ValueError, match="missing.*head.2.weight"):
        load_trained_state(rebuilt, {k: v for k, v in state.items() if k != "head.2.weight"})


@pytest.mark.parametrize("body", ["language_model", "none"])
def test_the_prototypes_read_the_word_embeddings_where_they_are_after_a_move(tiny_language_models, body):
    model = network(tiny_language_models, body=body, tuning="full" if body == "language_model" else "frozen")
    embeddings = (model.language_model.body.get_input_embeddings() if body == "language_model"
                  else model.word_embedding.embedding).weight
    original = embeddings.detach().clone()
    try:
        model.to(torch.float64)                     # as .to(device) or accelerate's placement would move it
        assert model.word_embeddings.dtype == torch.float64
        assert model.word_embeddings.data_ptr() == embeddings.data_ptr()
        assert not any(name == "word_embeddings" for name, _ in model.named_buffers())      # no second copy
        before = model.eval()(Batch(x=batch().x.double()))
        with torch.no_grad():                       # what full tuning's optimizer step does to the embeddings
            embeddings.mul_(2.0)
        assert not torch.allclose(model(Batch(x=batch().x.double())), before)
    finally:                                        # the ablation's embeddings are the process-wide loaded ones
        model.to(torch.float32)
        with torch.no_grad():
            embeddings.copy_(original)


def test_a_frozen_language_model_is_loaded_once_per_process_and_tuning_works_on_a_copy(tiny_language_models,
                                                                                       monkeypatch):
    from backbones.language import loader

    loads = []
    original = loader._load
    monkeypatch.setattr(loader, "_load", lambda *args: loads.append(args) or original(*args))
    monkeypatch.setattr(loader, "_LOADED", {})
    frozen = [network(tiny_language_models, "bert") for _ in range(3)]
    assert len(loads) == 1 and frozen[0].language_model.body is frozen[1].language_model.body
    tuned = network(tiny_language_models, "bert", tuning="layernorm")
    assert len(loads) == 1 and tuned.language_model.body is not frozen[0].language_model.body
    assert not any(p.requires_grad for p in frozen[0].language_model.body.parameters())   # the shared one stays frozen
    assert any(p.requires_grad for p in tuned.language_model.body.parameters())

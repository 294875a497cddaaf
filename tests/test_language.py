"""Language models by family: tiny random configs saved to disk and reloaded offline, and the real MiniLM."""
import os
import pickle
import shutil

import pytest
import torch

from backbones.language import (apply_tuning, load_adapters, load_language_model, loader, merge_adapters,
                                save_adapters, trainable_parameters)
from backbones.sources import local_sources_only

from tests.conftest import TINY_WIDTH as WIDTH

pytestmark = pytest.mark.usefixtures("one_thread")

@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize("name,family", [("gpt2", "gpt2"), ("t5", "t5"), ("bert", "bert"), ("roberta", "bert"),
                                         ("llama", "llama")])
def test_every_family_loads_offline_truncated_and_frozen(tiny_language_models, name, family):
    lm = load_language_model(tiny_language_models[name], layers=1)
    assert lm.family == family and lm.n_layers == 1 and lm.hidden_size == WIDTH
    assert lm.word_embeddings.shape == (lm.tokenizer.vocab_size, WIDTH)
    assert not any(p.requires_grad for p in lm.parameters())
    full = load_language_model(tiny_language_models[name])
    assert full.n_layers == 2 and sum(p.numel() for p in full.parameters()) > sum(p.numel() for p in lm.parameters())
    tokens = lm.tokenizer(["load is high", "a longer sentence about the grid"], return_tensors="pt", padding=True)
    hidden = lm(lm.embed_tokens(tokens["input_ids"]), tokens["attention_mask"])
    assert hidden.shape == (2, tokens["input_ids"].shape[1], WIDTH) and torch.isfinite(hidden).all()
    # the kept block is the checkpoint's first one, not a fresh one
    first = dict(full.body.named_parameters())
    assert all(torch.equal(p, first[k]) for k, p in lm.body.named_parameters())


def test_gradients_flow_through_a_frozen_body_to_its_inputs(tiny_language_models):
    lm = load_language_model(tiny_language_models["gpt2"])
    inputs = torch.randn(2, 5, WIDTH, requires_grad=True)
    lm(inputs).sum().backward()
    assert inputs.grad.abs().sum() > 0 and all(p.grad is None for p in lm.parameters())


def test_unfrozen_bodies_train(tiny_language_models):
    lm = load_language_model(tiny_language_models["bert"], freeze=False)
    assert all(p.requires_grad for p in lm.parameters())


def test_decoders_get_a_pad_token(tiny_language_models):
    lm = load_language_model(tiny_language_models["llama"])
    assert lm.tokenizer.pad_token is not None


def test_the_bundled_minilm_is_a_real_pretrained_encoder():
    lm = load_language_model()
    assert lm.family == "bert" and lm.hidden_size == 384 and lm.n_layers == 6
    sentences = ["the cat sits on the mat", "a cat is sitting on a rug", "stock prices fell sharply today"]
    tokens = lm.tokenizer(sentences, return_tensors="pt", padding=True)
    with torch.no_grad():
        hidden = lm(lm.embed_tokens(tokens["input_ids"]), tokens["attention_mask"])
    mask = tokens["attention_mask"][..., None]
    pooled = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    similar, unrelated = float(pooled[0] @ pooled[1]), float(pooled[0] @ pooled[2])
    assert similar > unrelated + 0.3, (similar, unrelated)   # random weights would not separate them


def test_a_hub_name_offline_says_how_to_use_a_local_copy():
    with pytest.raises(OSError, match=r"could not load the language model 'gpt2'.*pass that directory instead"):
        load_language_model("gpt2")


class _MakesADirectory:
    """Unpickling this creates a directory: proof that a file was unpickled."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return os.mkdir, (self.path,)


def test_pickled_weights_are_never_loaded(tiny_language_models, tmp_path):
    pickled, marker = tmp_path / "pickled", tmp_path / "unpickled"
    shutil.copytree(tiny_language_models["gpt2"], pickled)
    (pickled / "model.safetensors").unlink()
    (pickled / "pytorch_model.bin").write_bytes(pickle.dumps(_MakesADirectory(marker)))
    with pytest.raises(OSError, match="holds no safetensors weights, and pickled ones .* are never loaded"):
        load_language_model(str(pickled))
    assert not marker.exists()


def test_where_only_local_sources_are_allowed_a_hub_name_is_refused_before_any_fetch(tiny_language_models,
                                                                                      monkeypatch):
    fetched, load = [], loader._load
    monkeypatch.setattr(loader, "_load", lambda *args: fetched.append(args) or load(*args))
    monkeypatch.setattr(loader, "_LOADED", {})
    with local_sources_only(), pytest.raises(OSError, match="'gpt2' is not a local directory.*hf download gpt2"):
        load_language_model("gpt2")
    assert fetched == []
    with local_sources_only():
        load_language_model(tiny_language_models["gpt2"], layers=1)     # a directory loads
    assert len(fetched) == 1


def test_bad_layer_counts_and_unsupported_families_are_named(tiny_language_models, tmp_path):
    with pytest.raises(ValueError, match=r"layers must be between 1 and 2 .* got 3"):
        load_language_model(tiny_language_models["bert"], layers=3)
    with pytest.raises(OSError, match="is not a Hugging Face model directory"):
        load_language_model(str(tmp_path))


FAMILY_NAMES = ["gpt2", "t5", "bert", "roberta", "llama"]


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_lora_trains_a_small_share_and_its_adapters_save_load_and_merge(tiny_language_models, name, tmp_path):
    torch.manual_seed(0)
    lm = apply_tuning(load_language_model(tiny_language_models[name]), "lora", lora_rank=2)
    trainable, total = trainable_parameters(lm)
    print(f"{name}: LoRA trains {trainable:,} of {total:,} parameters ({100 * trainable / total:.2f}%)")
    assert 0 < trainable < 0.01 * total
    assert all("lora_" in n for n, p in lm.body.named_parameters() if p.requires_grad)
    with torch.no_grad():                       # adapters start as a no-op; give them weights to carry
        for n, p in lm.body.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.5)
    x = torch.randn(2, 6, WIDTH)
    with torch.no_grad():
        tuned = lm(x)
        base = load_language_model(tiny_language_models[name])(x)
    assert not torch.allclose(tuned, base, atol=1e-4)
    save_adapters(lm, tmp_path / "adapters")
    assert sum(f.stat().st_size for f in (tmp_path / "adapters").iterdir()) < 200_000   # adapters only
    reloaded = load_adapters(load_language_model(tiny_language_models[name]), tmp_path / "adapters")
    merged = merge_adapters(reloaded)
    with torch.no_grad():
        torch.testing.assert_close(merged(x), tuned, rtol=1e-4, atol=1e-5)
    assert not any("lora_" in n for n, _ in merged.body.named_parameters())


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_layernorm_mode_trains_norms_and_positions_only(tiny_language_models, name):
    lm = apply_tuning(load_language_model(tiny_language_models[name]), "layernorm")
    names = [n for n, p in lm.body.named_parameters() if p.requires_grad]
    assert names and all(("norm" in n.lower()) or ("wpe" in n) or ("ln_" in n) or ("position" in n)
                         or ("relative_attention_bias" in n) for n in names), names
    assert 0 < trainable_parameters(lm)[0] < 0.2 * trainable_parameters(lm)[1]


@pytest.mark.parametrize("mode", ["frozen", "linear_probe", "lora", "layernorm", "full"])
def test_every_mode_takes_a_step_with_the_8bit_optimizer(tiny_language_models, mode):
    from forecasting.models.neural.training import TrainingConfig, build_optimizer
    torch.manual_seed(0)
    lm = apply_tuning(load_language_model(tiny_language_models["gpt2"]), mode)
    head = torch.nn.Linear(WIDTH, 1)
    network = torch.nn.ModuleDict({"lm": lm, "head": head})
    word_embeddings = lm.word_embeddings.detach().clone()
    optimizer = build_optimizer(network, TrainingConfig(optimizer="adamw8bit", learning_rate=1e-2))
    before = {n: p.detach().clone() for n, p in network.named_parameters() if p.requires_grad}
    x, target = torch.randn(4, 6, WIDTH), torch.randn(4, 6, 1)
    loss = (head(lm(x)) - target).pow(2).mean()
    loss.backward()
    optimizer.step()
    changed = [n for n, p in network.named_parameters() if p.requires_grad and not torch.equal(p, before[n])]
    assert changed and all(n in before for n in changed)
    assert any(n.startswith("lm.") for n in changed) == (mode in ("lora", "layernorm", "full"))
    # pretrained embeddings keep their module (no stable embedding's new layer norm); when they train
    # (full), their optimizer states are 32-bit while the other weights' are 8-bit. The position
    # embeddings (wpe) are the ones this forward from input embeddings uses.
    assert type(lm.body.get_input_embeddings()) is torch.nn.Embedding and type(lm.body.wpe) is torch.nn.Embedding
    if mode == "full":
        assert optimizer.state[lm.body.wpe.weight]["state1"].dtype == torch.float32
        assert optimizer.state[head.weight]["state1"].dtype == torch.float32      # too small to quantise
        embeddings = {id(m.weight) for m in lm.modules() if isinstance(m, torch.nn.Embedding)}
        big = max((p for p in lm.parameters() if id(p) not in embeddings), key=lambda p: p.numel())
        assert big.numel() >= 4096 and optimizer.state[big]["state1"].dtype == torch.uint8   # 4096: bnb's 8-bit minimum
    else:
        torch.testing.assert_close(lm.word_embeddings, word_embeddings)


def test_unknown_mode_is_named(tiny_language_models):
    with pytest.raises(ValueError, match="tuning mode must be one of"):
        apply_tuning(load_language_model(tiny_language_models["bert"]), "adapters")


@pytest.mark.parametrize("quantize,layer_class", [("8bit", "Linear8bitLt"), ("4bit", "Linear4bit")])
@pytest.mark.parametrize("name", ["gpt2", "llama", "bert"])
def test_quantized_loading_shrinks_the_body_and_keeps_its_function(tiny_language_models, name, quantize, layer_class):
    full = load_language_model(tiny_language_models[name], layers=1)
    quantized = load_language_model(tiny_language_models[name], layers=1, quantize=quantize)
    assert quantized.quantized and not full.quantized
    assert layer_class in {type(m).__name__ for m in quantized.body.modules()}
    assert quantized.body.get_memory_footprint() < full.body.get_memory_footprint()
    torch.testing.assert_close(quantized.word_embeddings, full.word_embeddings)      # embeddings stay exact
    x = torch.randn(2, 6, WIDTH, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        reference, approximate = full(x), quantized(x)
    error = float((approximate.float() - reference).norm() / reference.norm())
    assert 0 < error < (0.05 if quantize == "8bit" else 0.25), error


def test_qlora_trains_adapters_on_a_4bit_body_and_full_tuning_is_refused(tiny_language_models):
    lm = apply_tuning(load_language_model(tiny_language_models["llama"], quantize="4bit"), "lora", lora_rank=2)
    trained = [n for n, p in lm.body.named_parameters() if p.requires_grad]
    assert trained and all("lora_" in n for n in trained)
    lm(torch.randn(2, 6, WIDTH)).pow(2).mean().backward()
    assert all(p.grad is not None for p in lm.body.parameters() if p.requires_grad)
    with pytest.raises(ValueError, match="full tuning cannot train the quantized weights.*lora"):
        apply_tuning(load_language_model(tiny_language_models["gpt2"], quantize="8bit"), "full")
    with pytest.raises(ValueError, match="quantize must be one of"):
        load_language_model(tiny_language_models["gpt2"], quantize="int4")


def test_a_t5_loads_whole_for_heads_that_read_its_decoder(tiny_language_models):
    lm = load_language_model(tiny_language_models["t5"], layers=1, encoder_decoder=True)
    assert lm.encoder_decoder and lm.n_layers == 1 and lm.body.config.num_decoder_layers == 1
    assert not any(p.requires_grad for p in lm.parameters())
    generator = torch.Generator().manual_seed(0)
    encoder_input, decoder_input = torch.randn(2, 9, WIDTH, generator=generator), torch.randn(2, 4, WIDTH, generator=generator)
    with torch.no_grad():
        out = lm(encoder_input, decoder_inputs_embeds=decoder_input)
        assert out.shape == (2, 4, WIDTH) and torch.isfinite(out).all()
        # the decoder attends to the encoded input: another input, another output
        assert not torch.allclose(lm(encoder_input.flip(1), decoder_inputs_embeds=decoder_input), out, atol=1e-4)
    # the decoder block kept is the checkpoint's own
    whole = load_language_model(tiny_language_models["t5"], encoder_decoder=True)
    kept = dict(lm.body.named_parameters())
    for name, parameter in whole.body.named_parameters():
        if name in kept and "decoder.block.0." in name:
            torch.testing.assert_close(kept[name], parameter)
    with pytest.raises(ValueError, match="decoder_inputs_embeds go with an encoder-decoder body"):
        lm(encoder_input)
    with pytest.raises(ValueError, match="decoder_inputs_embeds go with an encoder-decoder body"):
        load_language_model(tiny_language_models["t5"], layers=1)(encoder_input, decoder_inputs_embeds=decoder_input)
    with pytest.raises(ValueError, match="encoder_decoder applies to T5 models; .* is a 'gpt2' model"):
        load_language_model(tiny_language_models["gpt2"], encoder_decoder=True)


@pytest.mark.parametrize("name", FAMILY_NAMES)
@pytest.mark.parametrize("mode", ["frozen", "lora"])
def test_reading_after_a_prefix_matches_one_pass_over_both(tiny_language_models, name, mode, monkeypatch):
    """Frozen decoders read the prefix as a no-grad key/value cache; the values and the gradients
    that reach the inputs (and any adapters) are those of one pass over prefix + inputs."""
    torch.manual_seed(0)
    lm = apply_tuning(load_language_model(tiny_language_models[name]), mode, lora_rank=2)
    if mode == "lora":
        with torch.no_grad():
            for n, p in lm.body.named_parameters():
                if "lora_B" in n:
                    p.normal_(0, 0.5)
    lm.eval()
    generator = torch.Generator().manual_seed(1)
    prefix = torch.randn(2, 9, WIDTH, generator=generator)
    inputs = torch.randn(2, 4, WIDTH, generator=generator, requires_grad=True)
    calls = []
    forward = lm.body.forward
    monkeypatch.setattr(lm.body, "forward", lambda **kwargs: calls.append(kwargs) or forward(**kwargs))
    split = lm.continue_after(prefix, inputs)
    cached = name in ("gpt2", "llama") and mode == "frozen"
    assert [call.get("cache") is not None for call in calls] == ([False, True] if cached else [False])
    whole = lm(torch.cat([prefix, inputs], dim=1))[:, 9:]
    torch.testing.assert_close(split, whole, rtol=1e-5, atol=1e-5)
    trained = [inputs] + [p for p in lm.parameters() if p.requires_grad]
    for a, b in zip(torch.autograd.grad(split.square().sum(), trained), torch.autograd.grad(whole.square().sum(), trained)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)

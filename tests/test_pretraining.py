"""Pretraining: each objective's masking is what it says, the corpus keeps held-out data out, checkpoints round-trip."""
import numpy as np
import pandas as pd
import pytest
import torch

from backbones.patch_lm import PatchLM, PatchLMConfig
from forecasting.pretraining import corpus as corpus_module
from forecasting.pretraining.corpus import HELD_OUT, CorpusConfig, build_corpus, kernel_synth, series_hash
from forecasting.pretraining.objectives import (ObjectiveConfig, draw_masks, objective_loss, span_batch,
                                                span_layout)
from forecasting.pretraining.train import PretrainConfig, load_checkpoint, pretrain
from tests.conftest import SHARED_DATA

TINY = dict(d_model=16, n_layers=1, n_heads=2, d_ff=32, patch_len=4, max_patches=12, forecast_patches=2)


def test_static_masks_repeat_every_epoch_and_dynamic_ones_are_drawn_again():
    windows = np.arange(200)
    static = ObjectiveConfig("masked", mask_rate=0.25, dynamic=False, forecast_share=0.0)
    dynamic = ObjectiveConfig("masked", mask_rate=0.25, dynamic=True, forecast_share=0.0)
    first, _ = draw_masks(static, 32, 4, windows, epoch=0, seed=0)
    np.testing.assert_array_equal(first, draw_masks(static, 32, 4, windows, epoch=5, seed=0)[0])
    again = draw_masks(dynamic, 32, 4, windows, epoch=1, seed=0)[0]
    assert (draw_masks(dynamic, 32, 4, windows, epoch=0, seed=0)[0] != again).any(1).mean() > 0.95
    for masks in (first, again):                     # 25% of 32 patches, wherever they fall
        assert (masks.sum(1) == 8).all()
        assert masks.mean(0).min() > 0.1 and masks.mean(0).max() < 0.45


def test_a_forecast_shaped_window_masks_its_last_patches_and_its_share_is_kept():
    config = ObjectiveConfig("masked", mask_rate=0.15, dynamic=True, forecast_share=0.5)
    masks, swapped = draw_masks(config, 32, 4, np.arange(2000), epoch=0, seed=1)
    tail = masks[:, -4:].all(1)
    assert 0.45 < tail.mean() < 0.55 and not swapped.any()
    assert (masks[tail].sum(1) == 4 + 5).all() and (masks[~tail].sum(1) == 5).all()


def test_next_segment_swaps_half_of_the_second_halves_and_the_head_sees_which():
    config = ObjectiveConfig("masked", dynamic=False, next_segment=True, forecast_share=0.0)
    _, swapped = draw_masks(config, 12, 2, np.arange(1000), epoch=0, seed=0)
    assert 0.45 < swapped.mean() < 0.55
    model = PatchLM(PatchLMConfig(objective="masked", next_segment=True, **TINY))
    windows = torch.randn(16, 48).cumsum(1)
    loss, parts = objective_loss(model, config, windows, np.arange(16), 0, 0, np.random.default_rng(0))
    assert set(parts) == {"patch_loss", "segment_loss", "segment_accuracy"}
    assert loss.item() == pytest.approx(parts["patch_loss"] + parts["segment_loss"], rel=1e-5)


@pytest.mark.parametrize("rate, mean_span", [(0.1, 1), (0.15, 3), (0.3, 3), (0.5, 5)])
def test_span_layouts_hold_the_rate_in_alternating_runs_ending_corrupted(rate, mean_span):
    config = ObjectiveConfig("span", mask_rate=rate, mean_span=mean_span)
    rng = np.random.default_rng(0)
    for forecast in (0, 4):
        layouts = np.stack([span_layout(config, 40, rng, forecast) for _ in range(50)])
        noise = (layouts > 0).sum(1)
        assert (noise == noise[0]).all() and (layouts.max(1) == layouts[0].max()).all()   # one shape per batch
        if not forecast:
            assert noise[0] == round(rate * 40)
            assert layouts.max() == max(1, round(round(rate * 40) / mean_span))
        for layout in layouts:
            runs = [value for i, value in enumerate(layout) if i == 0 or value != layout[i - 1]]
            spans = layout.max()
            assert runs == [v for k in range(1, spans + 1) for v in (0, k)]       # kept, span 1, kept, span 2...
            assert layout[-1] == spans
            if forecast:
                assert (layout[-4:] == spans).all() and (layout[:-4] != spans).all()


def test_span_batch_puts_one_sentinel_per_span_and_the_decoder_writes_each_span_after_it():
    config = ObjectiveConfig("span", mask_rate=0.3, mean_span=2)
    patches = torch.arange(10 * 3, dtype=torch.float32).reshape(1, 10, 3)
    layout = span_layout(config, 10, np.random.default_rng(3))
    batch = span_batch(patches, layout[None])
    spans = layout.max()
    kept = (layout == 0).sum()
    assert batch.encoder_patches.shape == (1, kept + spans, 3)
    assert batch.encoder_sentinel[0].tolist() == [k for i, k in enumerate(layout) if k == 0 or layout[i - 1] != k]
    sentinels = batch.decoder_sentinel[0].tolist()
    assert [s for s in sentinels if s] == list(range(1, spans + 1))
    expected = [row for k in range(1, spans + 1)
                for row in [None] + [patches[0, i] for i in np.flatnonzero(layout == k)]]
    for row, want in zip(batch.decoder_patches[0], expected):
        if want is not None:
            assert torch.equal(row, want)
    # state t predicts input t + 1 where that is a patch: every corrupted patch exactly once
    assert batch.has_target.sum() == (layout > 0).sum()
    np.testing.assert_array_equal(batch.target[batch.has_target].numpy(), patches[0, layout > 0].numpy())


@pytest.mark.parametrize("objective, mixer", [("causal", "transformer"), ("masked", "mamba"), ("span", "transformer")])
def test_each_objective_trains_and_forecasts_any_horizon_with_ordered_quantiles(objective, mixer):
    torch.manual_seed(0)
    model = PatchLM(PatchLMConfig(objective=objective, mixer=mixer, **TINY))
    loss, _ = objective_loss(model, ObjectiveConfig(objective), torch.randn(8, 48).cumsum(1), np.arange(8), 0, 0,
                             np.random.default_rng(0))
    loss.backward()
    assert all(p.grad is not None for name, p in model.named_parameters() )
    history = torch.randn(3, 7).cumsum(1) * 10 + 100           # shorter than a patch window: padded
    out = model.forecast(history, 21)                           # longer than one forecast step: 3 steps
    assert out.shape == (3, 21, len(model.config.quantiles))
    assert (out.diff(dim=-1) >= 0).all() and torch.isfinite(out).all()


def _stack(mixer: str, language_models: dict[str, str], family: str = "gpt2") -> dict:
    """The mixer's settings; Time-LLM's stack over a tiny language model of the family."""
    if mixer != "timellm":
        return {"mixer": mixer}
    return {"mixer": "timellm", "language_model": language_models[family], "llm_layers": 2, "n_prototypes": 16}


@pytest.mark.parametrize("objective, mixer, family", [("causal", "hypermamba", None), ("masked", "hypermamba", None),
                                                      ("span", "hypermamba", None), ("causal", "timellm", "gpt2"),
                                                      ("masked", "timellm", "bert"), ("span", "timellm", "roberta")])
def test_hypermamba_and_timellm_stacks_pretrain_by_each_objective(objective, mixer, family, tiny_language_models):
    torch.manual_seed(0)
    model = PatchLM(PatchLMConfig(objective=objective, **_stack(mixer, tiny_language_models, family), **TINY))
    frozen = {name: p.clone() for name, p in model.named_parameters() if not p.requires_grad}
    loss, _ = objective_loss(model, ObjectiveConfig(objective), torch.randn(8, 48).cumsum(1), np.arange(8), 0, 0,
                             np.random.default_rng(0))
    loss.backward()
    trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
    assert all(p.grad is not None for p in trainable.values())
    if mixer == "timellm":         # the language model is frozen and only it: the reprogramming trains
        assert frozen and all(name.startswith("mixer.language_model.") for name in frozen)
        assert any(name.startswith("mixer.reprogramming.") for name in trainable)
    else:                          # the hypernetwork's heads start at zero and learn
        assert not frozen and trainable["mixer.hyper.heads.0.weight"].grad.abs().sum() > 0
    out = model.eval().forecast(torch.randn(3, 30).cumsum(1) + 50, 13)
    assert out.shape == (3, 13, len(model.config.quantiles)) and (out.diff(dim=-1) >= 0).all()


def test_timellm_stack_refuses_the_causal_objective_over_a_language_model_that_reads_both_ways(tiny_language_models):
    with pytest.raises(ValueError, match="causal objective needs a language model that reads left to right.*bert"):
        PatchLM(PatchLMConfig(objective="causal", **_stack("timellm", tiny_language_models, "bert"), **TINY))


def test_a_timellm_checkpoint_stores_its_own_weights_not_the_language_models(tmp_path, tiny_language_models):
    from safetensors.torch import load_file
    corpus = build_corpus(CorpusConfig(windows=32, validation_windows=16, real=0.0, synthetic=1.0, mixup=0.0,
                                       sources=()), 48)
    config = PatchLMConfig(objective="masked", **_stack("timellm", tiny_language_models, "bert"), **TINY)
    model, _ = pretrain(config, ObjectiveConfig("masked"), corpus, PretrainConfig(epochs=1, batch_size=16),
                        out=tmp_path / "ckpt", show_progress=False)
    stored = load_file(tmp_path / "ckpt" / "model.safetensors")
    assert "mixer.reprogramming.query.weight" in stored and not any("language_model" in key for key in stored)
    loaded, record = load_checkpoint(tmp_path / "ckpt")
    assert record["model"]["language_model"] == tiny_language_models["bert"]
    history = torch.randn(2, 30).cumsum(1)
    torch.testing.assert_close(loaded.forecast(history, 10), model.eval().forecast(history, 10))


def test_a_per_token_modulation_constant_along_the_sequence_is_the_per_sequence_one():
    from backbones.mamba import MambaBlock, Modulation
    torch.manual_seed(0)
    block = MambaBlock(16, 4, 4, 2, 1, modulation_rank=2)
    per_sequence = Modulation(torch.randn(3, 32), torch.randn(3, 32), torch.randn(3, 4, 2), torch.randn(3, 4, 2))
    per_token = Modulation(*(t[:, None].expand(3, 7, *t.shape[1:]) for t in
                             (per_sequence.delta_bias, per_sequence.D, per_sequence.B_up, per_sequence.C_up)))
    x = torch.randn(3, 7, 16)
    torch.testing.assert_close(block(x, per_token), block(x, per_sequence))
    assert not torch.allclose(block(x, per_sequence), block(x))


@pytest.mark.parametrize("mixer", ["transformer", "hypermamba", "timellm"])
def test_the_causal_model_never_reads_a_later_patch(mixer, tiny_language_models):
    torch.manual_seed(0)
    model = PatchLM(PatchLMConfig(objective="causal", **_stack(mixer, tiny_language_models), **TINY)).eval()
    if mixer == "hypermamba":      # its heads start at zero: give the statistics something to change
        for head in model.mixer.hyper.heads:
            torch.nn.init.normal_(head.weight, std=0.1)
    patches = torch.randn(2, 12, 4)
    changed = patches.clone()
    changed[:, 7:] += 5
    np.testing.assert_allclose(model.encode(patches)[:, :7].detach(), model.encode(changed)[:, :7].detach(), atol=1e-5)


def test_kernel_synth_draws_finite_series_of_the_length_asked():
    series = kernel_synth(128, np.random.default_rng(0), samples=3)
    assert series.shape == (3, 128) and np.isfinite(series).all() and series.std(1).min() > 0


def test_a_held_out_file_is_refused_as_a_source():
    with pytest.raises(ValueError, match="ETTh2.csv is held out"):
        corpus_module.read_real(("ETTh2.csv",))


@pytest.mark.skipif(not SHARED_DATA.exists(), reason="needs ../shared/data")
def test_held_out_series_never_enter_the_corpus_and_duplicates_are_dropped():
    config = CorpusConfig(windows=600, validation_windows=60, sources=("ETTh1.csv", "AirPassengers.csv"))
    corpus = build_corpus(config, 48)
    assert corpus.windows.shape[1] == 48 and corpus.stats["held_out_files"] == list(HELD_OUT)
    keys = {series_hash(window) for window in corpus.windows}
    assert len(keys) == len(corpus.windows)                     # deduplicated
    import pandas as pd
    held = pd.read_csv(SHARED_DATA / "ETTh2.csv").drop(columns="date")
    for column in held:             # no window of ETTh2 (the same station's sibling file) is in the corpus
        values = held[column].to_numpy(float)
        assert not any(series_hash(values[start:start + 48]) in keys for start in range(0, len(values) - 48, 997))
    etth1 = pd.read_csv(SHARED_DATA / "ETTh1.csv")
    test_months = etth1.drop(columns="date").to_numpy(float)[corpus_module.YEAR:]
    real = corpus.windows[corpus.origin == "real"]
    assert not np.isin(np.round(real, 3), np.round(test_months, 3)).all(1).any()   # only the 12 training months
    validation = set(corpus.stats["validation_series"])
    assert not validation & {name for source in corpus.stats["series_by_source"] for name in [source]}


def test_a_checkpoint_round_trips_and_a_folder_without_one_is_named(tmp_path):
    config = CorpusConfig(windows=64, validation_windows=16, real=0.0, synthetic=1.0, mixup=0.0, sources=())
    corpus = build_corpus(config, 48)
    model_config = PatchLMConfig(objective="span", **TINY)
    model, result = pretrain(model_config, ObjectiveConfig("span"), corpus, PretrainConfig(epochs=2, batch_size=16),
                             out=tmp_path / "ckpt", show_progress=False)
    assert result.steps == 8 and len(result.history) == 2
    assert result.history[-1]["validation_patch_loss"] > 0
    loaded, record = load_checkpoint(tmp_path / "ckpt")
    assert record["objective"]["name"] == "span" and record["corpus"]["config"]["synthetic"] == 1.0
    history = torch.randn(2, 30).cumsum(1)
    torch.testing.assert_close(loaded.forecast(history, 10), model.eval().forecast(history, 10))
    with pytest.raises(FileNotFoundError, match="lacks model.safetensors, pretraining.json"):
        load_checkpoint(tmp_path)


def test_real_windows_drawn_by_distinct_windows_rarely_draw_a_file_shorter_than_a_window():
    t = np.arange(3000)
    series = {"weather.csv.gz": {"long": np.sin(t / 7) + t / 500}, "AirPassengers.csv": {"short": np.sin(t[:30])}}
    shares = {}
    for sampling in ("source", "windows"):
        config = CorpusConfig(real_sampling=sampling, sources=tuple(series))
        windows = corpus_module.real_windows(series, 2000, 48, np.random.default_rng(0), config)
        shares[sampling] = (windows[:, :18] == windows[:, :1]).all(1).mean()   # the short one, padded at its start
    assert 0.45 < shares["source"] < 0.55        # each file equally: half the draws are the one 30-step series
    assert 0.01 < shares["windows"] < 0.03       # sqrt(1) against sqrt(2953) distinct windows: about 2%


def test_aggregated_real_windows_are_the_means_of_blocks_of_the_series(tmp_path):
    t = np.arange(4000)
    pd.DataFrame({"date": t, "y": t % 100}).to_csv(tmp_path / "weather.csv.gz", index=False)   # a sawtooth
    config = CorpusConfig(windows=300, validation_windows=10, real=1.0, synthetic=0.0, mixup=0.0,
                          validation_share=0.0, sources=("weather.csv.gz",), aggregations=(1, 4))
    corpus = build_corpus(config, 48, tmp_path)
    steps = np.median(np.diff(corpus.windows, axis=1), axis=1)
    assert set(np.unique(steps)) == {1.0, 4.0}    # the series, and the means of blocks of 4: a step of 4
    assert np.isin(corpus.windows[steps == 4] % 4, [1.5]).all()
    with pytest.raises(ValueError, match="real_sampling must be one of"):
        CorpusConfig(real_sampling="size")


def test_the_mixture_of_sample_paths_has_the_quantiles_of_its_parts():
    from backbones.patch_lm import QUANTILES, at_level, mixture_quantiles
    grid = torch.tensor(QUANTILES)
    normal = torch.distributions.Normal(0.0, 1.0).icdf(grid)                         # [Q]
    same = mixture_quantiles(normal.expand(2, 5, 3, -1).clone(), QUANTILES)           # [B, S, H, Q] -> [B, H, Q]
    torch.testing.assert_close(same[..., 2:-2], normal[2:-2].expand(2, 3, -1), atol=0.06, rtol=0)
    apart = mixture_quantiles(torch.stack([normal - 10, normal + 10])[None, :, None], QUANTILES)[0, 0]
    assert apart[:5].max() < -8 and apart[-5:].min() > 8        # two far modes: half the levels in each
    step = normal.expand(2, 4, -1)                                                    # [B, P, Q]
    torch.testing.assert_close(at_level(step, QUANTILES, torch.tensor([0.5, 0.9])),
                               torch.stack([normal[5].expand(4), normal[9].expand(4)]))
    assert at_level(step, QUANTILES, torch.tensor([0.0, 0.15]))[1, 0].item() == pytest.approx(
        (normal[1] + normal[2]).item() / 2)                     # between two levels, linearly
    assert at_level(step, QUANTILES, torch.tensor([0.0, 0.15]))[0, 0].item() == pytest.approx(normal[0].item())


@pytest.mark.parametrize("horizon", [6, 14])     # one step (of 2 patches of 4), and 2 steps ending mid-patch
def test_the_first_patch_computed_once_is_what_every_path_would_compute(horizon):
    """Sampling encodes the history for the first patch once per series; each path run on its own copy of the
    history, from the same draws, writes the same forecast."""
    from backbones.patch_lm import history_patches, mixture_quantiles, scale, scaled_forecast
    torch.manual_seed(0)
    model = PatchLM(PatchLMConfig(objective="causal", **TINY)).eval()
    cfg, paths, history = model.config, 8, torch.randn(5, 40).cumsum(1)
    context = cfg.context_steps // cfg.patch_len
    scaled = scale(history_patches(history, cfg.patch_len, context).flatten(1), cfg.context_steps)[0]
    patches = scaled.unflatten(1, (context, cfg.patch_len)).repeat_interleave(paths, 0)     # [B * S, N, P]
    generator, steps, written = torch.Generator().manual_seed(0), [], 0
    while written < horizon:
        future = min(cfg.forecast_patches, -(-(horizon - written) // cfg.patch_len))
        step, fed = model.forecast_scaled(patches, future, torch.rand(len(patches), future, generator=generator))
        steps.append(step)
        patches, written = torch.cat([patches, fed], 1)[:, -context:], written + future * cfg.patch_len
    each = torch.cat(steps, 1).flatten(1, 2)[:, :horizon].unflatten(0, (-1, paths))         # [B, S, horizon, Q]
    expected = torch.cat([each[:, 0, :cfg.patch_len], mixture_quantiles(each[:, :, cfg.patch_len:], cfg.quantiles)],
                         1).sort(-1).values
    torch.testing.assert_close(scaled_forecast(model, history, horizon, paths)[0], expected)


def test_sample_paths_widen_the_bands_after_the_first_patch_and_keep_it():
    torch.manual_seed(0)
    model = PatchLM(PatchLMConfig(objective="causal", **TINY)).eval()
    history = torch.randn(16, 40).cumsum(1)
    median_fed, sampled = model.forecast(history, 16), model.forecast(history, 16, paths=32)
    torch.testing.assert_close(sampled[:, :4], median_fed[:, :4])          # the first patch reads only history
    width = lambda out: (out[:, 4:, -1] - out[:, 4:, 0]).mean()
    assert width(sampled) > width(median_fed)
    torch.testing.assert_close(model.forecast(history, 16, paths=32), sampled)   # the same draws every time
    torch.testing.assert_close(model.forecast(history, 4, paths=32), model.forecast(history, 4))   # one patch

"""Informer: ProbSparse attention against full attention, the lazy-query fill, shapes, decoder
causality, the start token, config validation, gradients, determinism, and that it can learn a sine."""
import math
from dataclasses import fields

import pytest
import torch

from backbones.batch import Batch
from backbones.informer import AttentionLayer, FullAttention, Informer, InformerConfig, ProbAttention, causal_mask

QUANTILES = (0.1, 0.5, 0.9)
SMALL = dict(d_model=16, n_heads=4, e_layers=2, d_layers=1, d_ff=32, factor=1, dropout=0.0)


pytestmark = pytest.mark.usefixtures("one_thread")


def informer(**kwargs) -> Informer:
    return Informer(InformerConfig(**{**SMALL, **kwargs}))


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def batch(model: Informer, size: int = 2, seed: int = 0) -> Batch:
    cfg = model.config
    F = cfg.time_features
    return Batch(x=randn(size, cfg.lookback, cfg.channels, seed=seed),
                 x_time=randn(size, cfg.lookback, F, seed=seed + 1) if F else None,
                 y_time=randn(size, cfg.label_len + cfg.horizon, F, seed=seed + 2) if F else None)


def qkv(L: int, d: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return randn(2, 3, L, d, seed=seed), randn(2, 3, L, d, seed=seed + 1), randn(2, 3, L, d, seed=seed + 2)


# ---- attention ----

@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("L", [1, 2, 9, 40])
def test_prob_attention_equals_full_when_every_query_is_active(causal, L):
    q, k, v = qkv(L)
    prob = ProbAttention(causal, factor=100)  # u = min(L, 100 * ceil(ln L)) = L
    assert prob.budget(L) == L
    torch.testing.assert_close(prob(q, k, v), FullAttention(causal)(q, k, v))


def test_full_attention_matches_the_textbook_formula():
    q, k, v = qkv(6)
    expected = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(8), -1) @ v
    torch.testing.assert_close(FullAttention()(q, k, v), expected)
    torch.testing.assert_close(FullAttention(causal=True)(q, k, v)[:, :, 0], v[:, :, 0])  # first step sees itself only


def peaked_and_flat_queries(L: int, active: list[int], d: int = 8):
    """Keys share a direction e; the `active` queries point along e (a peaked, large measure), the
    others are tiny (a flat, near-zero measure), so the top-u choice is known whatever keys are sampled."""
    e = torch.zeros(d)
    e[0] = 1.0
    k = randn(2, 3, L, d, seed=1) + 4 * e
    q = 0.01 * randn(2, 3, L, d, seed=0)
    q[:, :, active] = 3 * (e + 0.1 * randn(2, 3, len(active), d, seed=2))
    return q, k, randn(2, 3, L, d, seed=3)


@pytest.mark.parametrize("causal", [False, True])
def test_lazy_queries_get_the_mean_or_cumulative_sum_of_values(causal):
    L, active = 16, [3, 8, 14]
    prob = ProbAttention(causal, factor=1)
    assert prob.budget(L) == len(active)  # u = ceil(ln 16) = 3 < L
    q, k, v = peaked_and_flat_queries(L, active)
    out = prob(q, k, v)
    full = FullAttention(causal)(q, k, v)
    lazy = [i for i in range(L) if i not in active]
    fill = v.cumsum(-2) if causal else v.mean(-2, keepdim=True).expand_as(v)
    torch.testing.assert_close(out[:, :, lazy], fill[:, :, lazy], rtol=0, atol=1e-6)
    torch.testing.assert_close(out[:, :, active], full[:, :, active])
    assert (out[:, :, lazy] - full[:, :, lazy]).abs().max() > 1e-3  # the fill really is an approximation


def test_masked_attention_cannot_see_the_future():
    L, t = 12, 5
    q, k, v = qkv(L)
    q2, k2, v2 = (x.clone() for x in (q, k, v))
    for x in (q2, k2, v2):
        x[:, :, t:] = randn(2, 3, L - t, 8, seed=9)
    full = FullAttention(causal=True)
    torch.testing.assert_close(full(q2, k2, v2)[:, :, :t], full(q, k, v)[:, :, :t])
    assert not torch.allclose(full(q2, k2, v2)[:, :, t:], full(q, k, v)[:, :, t:])
    # ProbSparse: the choice of active queries depends on all queries and keys, but given that choice
    # (same queries, keys and sample) every output only mixes values at or before its own step
    prob = ProbAttention(causal=True, factor=1)
    torch.manual_seed(0)
    before = prob(q, k, v)
    torch.manual_seed(0)
    after = prob(q, k, v2)
    torch.testing.assert_close(after[:, :, :t], before[:, :, :t])
    assert not torch.allclose(after[:, :, t:], before[:, :, t:])


def test_causal_mask():
    assert causal_mask(torch.tensor([0, 2]), 4).tolist() == [[False, True, True, True], [False, False, False, True]]


def test_causal_prob_attention_needs_self_attention():
    q, k, v = randn(1, 1, 4, 8), randn(1, 1, 6, 8), randn(1, 1, 6, 8)
    with pytest.raises(ValueError, match="L_Q"):
        ProbAttention(causal=True)(q, k, v)
    assert ProbAttention(causal=False)(q, k, v).shape == (1, 1, 4, 8)  # cross-shaped is fine unmasked


@pytest.mark.parametrize("attention", [FullAttention(), ProbAttention(factor=100)])
def test_attention_layer_splits_and_merges_heads(attention):
    # head i attends with slice i of each projection, and the heads are concatenated back in order
    layer = AttentionLayer(attention, d_model=8, n_heads=2).eval()
    x = randn(2, 5, 8)
    out = layer(x, x, x)
    assert out.shape == (2, 5, 8)
    q, k, v = (project(x).view(2, 5, 2, 4) for project in (layer.query, layer.key, layer.value))
    heads = [torch.softmax(q[:, :, i] @ k[:, :, i].transpose(1, 2) / 2, -1) @ v[:, :, i] for i in range(2)]
    torch.testing.assert_close(out, layer.out(torch.cat(heads, -1)))


# ---- the model ----

def test_config_starts_with_the_common_fields():
    assert [f.name for f in fields(InformerConfig)][:4] == ["lookback", "horizon", "channels", "quantiles"]


def test_defaults_are_the_papers():
    cfg = InformerConfig(lookback=96, horizon=24)
    assert (cfg.label_len, cfg.d_model, cfg.n_heads, cfg.e_layers, cfg.d_layers, cfg.d_ff, cfg.factor,
            cfg.dropout, cfg.attention, cfg.distil) == (48, 512, 8, 2, 1, 2048, 5, 0.05, "prob", True)


@pytest.mark.parametrize("kwargs, message", [
    (dict(lookback=24, horizon=4, label_len=25), "label_len"),
    (dict(lookback=24, horizon=4, label_len=-1), "label_len"),
    (dict(lookback=24, horizon=4, label_len=8, attention="sparse"), "attention"),
    (dict(lookback=24, horizon=4, label_len=8, d_model=10, n_heads=4), "divisible"),
])
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        InformerConfig(**kwargs)


def test_missing_calendar_features_are_a_clear_error():
    model = informer(lookback=12, horizon=4, label_len=4, time_features=4)
    with pytest.raises(ValueError, match="time_features=0"):
        model(Batch(x=randn(2, 12, 1)))


@pytest.mark.parametrize("attention", ["prob", "full"])
@pytest.mark.parametrize("distil", [True, False])
@pytest.mark.parametrize("quantiles", [(), QUANTILES])
@pytest.mark.parametrize("B, L, label_len, H, C, F", [(1, 7, 3, 5, 2, 4), (3, 31, 31, 9, 1, 0), (2, 20, 0, 1, 3, 2)])
def test_output_shape(attention, distil, quantiles, B, L, label_len, H, C, F):
    model = informer(lookback=L, horizon=H, channels=C, label_len=label_len, time_features=F, quantiles=quantiles,
                     attention=attention, distil=distil, e_layers=3)
    y = model(batch(model, size=B))  # train mode: BatchNorm on batch statistics, even for B = 1
    assert y.shape == ((B, H, C, len(quantiles)) if quantiles else (B, H, C))
    assert torch.isfinite(y).all()
    assert model.eval()(batch(model, size=B)).shape == y.shape


def test_distilling_halves_the_encoder_length():
    lengths = {}
    for distil in (True, False):
        model = informer(lookback=13, horizon=3, label_len=5, e_layers=3, distil=distil).eval()
        model.encoder.register_forward_hook(lambda module, args, out, key=distil: lengths.update({key: out.shape[1]}))
        model(batch(model))
    assert lengths == {True: 4, False: 13}  # 13 -> 7 -> 4


def test_decoder_is_causal_in_the_full_model():
    # calendar features of forecast step t reach only outputs at steps >= t
    torch.manual_seed(0)
    model = informer(lookback=16, horizon=6, label_len=4, attention="full", d_layers=2).eval()
    b = batch(model)
    t = 3
    y_time = b.y_time.clone()
    y_time[:, 4 + t:] += 5.0
    with torch.no_grad():
        before, after = model(b), model(Batch(x=b.x, x_time=b.x_time, y_time=y_time))
    torch.testing.assert_close(after[:, :t], before[:, :t])
    assert (after[:, t:] - before[:, t:]).abs().amin(dim=(0, 2)).gt(1e-4).all()  # every later step moves


@pytest.mark.parametrize("label_len", [4, 0])
def test_decoder_starts_from_the_last_label_len_steps_then_zeros(label_len):
    model = informer(lookback=10, horizon=3, label_len=label_len, channels=2).eval()
    b = batch(model)
    seen = []
    model.dec_embedding.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    model(b)
    torch.testing.assert_close(seen[0], torch.cat([b.x[:, 10 - label_len:], torch.zeros(2, 3, 2)], dim=1))


def test_history_before_the_start_token_reaches_the_forecast_only_through_the_encoder():
    model = informer(lookback=10, horizon=3, label_len=4).eval()
    b = batch(model)
    early, late = b.x.clone(), b.x.clone()
    early[:, :6] += 1.0   # before the start token
    late[:, 6] += 1.0     # the start token's first step

    def run(x: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(0)  # the same ProbSparse samples in every run
        return model(Batch(x=x, x_time=b.x_time, y_time=b.y_time))

    with torch.no_grad():
        assert not torch.allclose(run(early), run(b.x))  # through the encoder
        model.encoder.register_forward_hook(lambda module, args, out: torch.zeros_like(out))  # cut it
        torch.testing.assert_close(run(early), run(b.x))
        assert not torch.allclose(run(late), run(b.x))   # through the decoder's start token


@pytest.mark.parametrize("attention", ["prob", "full"])
def test_gradients_reach_every_parameter(attention):
    model = informer(lookback=24, horizon=6, label_len=8, channels=2, attention=attention, e_layers=2, d_layers=2,
                     quantiles=QUANTILES)
    model(batch(model)).square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_seeded_forward_is_deterministic():
    model = informer(lookback=48, horizon=12, label_len=24, dropout=0.1)  # train mode: dropout and sampling
    b = batch(model)
    torch.manual_seed(7)
    first = model(b)
    torch.manual_seed(7)
    torch.testing.assert_close(model(b), first, rtol=0, atol=0)


def test_learns_a_sine():
    torch.manual_seed(0)
    L, H = 24, 8
    model = informer(lookback=L, horizon=H, label_len=8, time_features=0, d_model=32, d_ff=64, factor=3)
    t = torch.arange(L + H) + torch.arange(0.0, 64.0, 2.0)[:, None]     # 32 windows at different phases
    series = torch.sin(2 * math.pi * t / 12).unsqueeze(-1)               # [32, L + H, 1]
    data, target = Batch(x=series[:, :L]), series[:, L:]
    with torch.no_grad():
        initial = torch.mean((model.eval()(data) - target) ** 2).item()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(100):
        optimizer.zero_grad()
        loss = torch.mean((model(data) - target) ** 2)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        final = torch.mean((model.eval()(data) - target) ** 2).item()
    assert final < 0.2 * initial, (initial, final)

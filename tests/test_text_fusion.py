"""Text fusion around any backbone: exactly the backbone without text, and it learns what text means."""
import pytest
import torch

from backbones.batch import Batch
from backbones.text_fusion import TextFusion, TextFusionConfig
from forecasting.models import network_named

L, H, E = 32, 8, 16


def backbone(name: str = "dlinear", quantiles: tuple = ()) -> torch.nn.Module:
    spec = network_named(name)
    torch.manual_seed(0)
    return spec.module(spec.config(lookback=L, horizon=H, channels=1, quantiles=quantiles))


def batch_with_text(B: int = 6, M: int = 2, seed: int = 0) -> Batch:
    generator = torch.Generator().manual_seed(seed)
    text = torch.zeros(B, L + H, M, E)
    text[:, L + 2, 0] = torch.randn(B, E, generator=generator)    # a planned event on the third forecast step
    text[:, 5, 1] = torch.randn(B, E, generator=generator)        # a logged one in the history
    return Batch(x=torch.randn(B, L, 1, generator=generator), text=text)


@pytest.mark.parametrize("mode", ["late", "cross"])
@pytest.mark.parametrize("name,quantiles", [("dlinear", ()), ("patchtst", (0.1, 0.5, 0.9))])
def test_without_text_the_fusion_computes_exactly_the_backbone(mode, name, quantiles):
    plain = backbone(name, quantiles).eval()
    fused = TextFusion(backbone(name, quantiles), TextFusionConfig(L, H, E, columns=2, mode=mode)).eval()
    torch.nn.init.normal_(fused.read_out.weight)                  # as after training: the read-out is not zero
    torch.nn.init.normal_(fused.read_out.bias)
    batch = batch_with_text()
    expected = plain(Batch(x=batch.x))
    assert torch.equal(fused(Batch(x=batch.x)), expected)
    no_text = Batch(x=batch.x, text=torch.zeros_like(batch.text))
    assert torch.equal(fused(no_text), expected)
    # a batch where only some windows carry text: those without are untouched, the others moved
    some = Batch(x=batch.x, text=batch.text.clone())
    some.text[:3] = 0
    out = fused(some)
    assert torch.equal(out[:3], expected[:3]) and not torch.allclose(out[3:], expected[3:])


@pytest.mark.parametrize("mode", ["late", "cross"])
def test_an_untrained_fusion_starts_at_the_backbones_forecast(mode):
    plain = backbone().eval()
    fused = TextFusion(backbone(), TextFusionConfig(L, H, E, columns=2, mode=mode)).eval()
    batch = batch_with_text()
    assert torch.equal(fused(batch), plain(Batch(x=batch.x)))


@pytest.mark.parametrize("mode", ["late", "cross"])
def test_the_fusion_learns_an_events_effect_on_the_step_it_falls_on(mode):
    """Two kinds of planned event, each a vector, raise or lower the one forecast step they fall on; the plain
    backbone cannot know which, the fused one learns it."""
    torch.manual_seed(1)
    kinds = torch.randn(2, E)
    fused = TextFusion(backbone(), TextFusionConfig(L, H, E, columns=1, mode=mode, dropout=0.0))
    optimizer = torch.optim.Adam(fused.parameters(), lr=1e-2)

    def sample(B: int = 64) -> tuple[Batch, torch.Tensor]:
        x = torch.randn(B, L, 1) * 0.1
        step = torch.randint(0, H, (B,))
        kind = torch.randint(0, 2, (B,))
        text = torch.zeros(B, L + H, 1, E)
        text[torch.arange(B), L + step, 0] = kinds[kind]
        target = torch.zeros(B, H, 1)
        target[torch.arange(B), step, 0] = torch.where(kind == 0, 3.0, -3.0)
        return Batch(x=x, text=text), target

    def loss_of(batch, target) -> torch.Tensor:
        return ((fused(batch) - target) ** 2).mean()

    batch, target = sample(256)
    before = loss_of(batch, target).item()
    for _ in range(300):
        optimizer.zero_grad()
        loss_of(*sample()).backward()
        optimizer.step()
    with torch.no_grad():
        after = loss_of(batch, target).item()
    assert after < 0.2 * before, (before, after)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="text fusion mode must be one of"):
        TextFusionConfig(L, H, E, mode="early")
    with pytest.raises(ValueError, match=r"patch_len \(64\) must be between 1 and the lookback \(32\)"):
        TextFusionConfig(L, H, E, mode="cross", patch_len=64)

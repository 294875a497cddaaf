"""Retrieval fused into every network: k = 0 is the plain network, nothing comes from a window's future,
the fused network uses what it retrieves, and it saves and loads with its index."""
import numpy as np
import pandas as pd
import pytest
import torch

import forecasting as fc
from backbones.batch import Batch
from backbones.network import DataShape, Network
from backbones.retrieval import FusionConfig, RetrievalFusion, RetrievalPrepend
from forecasting.models import REGISTRY
from forecasting.models.neural.windows import make_windows
from forecasting.retrieval.index import IndexedSeries, WindowIndex
from forecasting.retrieval.retriever import Retriever

pytestmark = pytest.mark.usefixtures("one_thread")
LOOKBACK, HORIZON = 48, 12


def network_settings(entry: Network, tiny_language_models: dict[str, str]) -> dict:
    data = DataShape(lookback=LOOKBACK, horizon=HORIZON, channels=1, n_series=3, calendar_features=4,
                     description="Three test series.")
    settings = {"lookback": LOOKBACK, "horizon": HORIZON, "quantiles": (0.1, 0.5, 0.9), **entry.defaults(data)}
    if entry.name.startswith("timellm"):
        settings.update(language_model=tiny_language_models["gpt2"], llm_layers=1, n_prototypes=8, d_ff=16)
    return settings


def test_every_network_fused_with_k_0_is_the_plain_network_and_starts_halfway_to_the_analogues(
        tiny_language_models):
    batch = Batch(x=torch.randn(3, LOOKBACK, 1), x_time=torch.randn(3, LOOKBACK, 4), series=torch.tensor([1, 2, 0]))
    for name, entry in REGISTRY.items():
        if not isinstance(entry, Network):
            continue
        settings = network_settings(entry, tiny_language_models)
        batch.y_time = torch.randn(3, settings.get("label_len", 0) + HORIZON, 4)
        batch.series_embedding = torch.randn(3, settings.get("external_dim", 0))
        torch.manual_seed(0)
        plain = entry.build(settings).eval()
        torch.manual_seed(0)
        fused = RetrievalFusion(entry.build(settings), FusionConfig(horizon=HORIZON, quantiles=(0.1, 0.5, 0.9))).eval()
        with torch.no_grad():
            expected = plain(batch)                                              # [3, H, 1, 3]
            batch.retrieved, batch.retrieved_similarity = torch.randn(3, 0, HORIZON, 1), torch.rand(3, 0)
            torch.testing.assert_close(fused(batch), expected, rtol=0, atol=0, msg=f"{name} with k = 0")
            # five analogues, the last window with none: untrained, halfway from the median to the blend
            batch.retrieved = torch.randn(3, 5, HORIZON, 1)
            batch.retrieved_similarity = torch.rand(3, 5)
            batch.retrieved_similarity[2] = float("nan")
            if "retrieved" in entry.inputs:     # the backbone reads the analogues too (TimeLLM's prompt)
                expected = plain(batch)
            weights = torch.softmax(batch.retrieved_similarity[:2] / 0.1, dim=1)
            blended = torch.einsum("bk,bkhc->bhc", weights, batch.retrieved[:2])
            halfway = expected[:2] + 0.5 * (blended - expected[:2, ..., 1]).unsqueeze(-1)
            torch.testing.assert_close(fused(batch)[:2], halfway, msg=f"{name} with k = 5")
            torch.testing.assert_close(fused(batch)[2], expected[2], rtol=0, atol=0, msg=f"{name}: no analogues")
        batch.retrieved = batch.retrieved_similarity = None


def test_missing_analogues_weigh_nothing_and_keep_gradients_finite():
    fusion = RetrievalFusion(torch.nn.Identity(), FusionConfig(horizon=HORIZON))
    similarity = torch.tensor([[0.9, 0.5, float("nan")], [float("nan")] * 3])
    weights = fusion.weights(similarity)
    torch.testing.assert_close(weights.sum(dim=1), torch.tensor([1.0, 0.0]))
    assert weights[0, 2] == 0 and weights[0, 0] > weights[0, 1]
    (weights * torch.arange(3.0)).sum().backward()
    assert torch.isfinite(fusion.log_temperature.grad)


def test_each_training_window_gets_only_analogues_that_ended_before_its_cutoff():
    rng = np.random.default_rng(0)
    length = 300
    ds = pd.date_range("2024-01-01", periods=length, freq="h")
    values = [rng.normal(size=length).cumsum() for _ in range(2)]
    index = WindowIndex.build([IndexedSeries(f"s{i}", ds, y) for i, y in enumerate(values)], LOOKBACK, HORIZON)
    retriever = Retriever(index, 4)
    blocks = [(y[:, None].astype(np.float32), np.zeros((length, 0), np.float32)) for y in values]
    windows = make_windows(blocks, LOOKBACK, HORIZON, retriever=retriever, stamps=[ds.asi8, ds.asi8])
    picked = torch.arange(0, len(windows), 7)
    batch, _ = windows.batch(picked)
    cutoffs = windows.stamps[windows.targets[picked].numpy() - 1]
    direct = retriever.retrieve(batch.x[:, :, 0].numpy(), cutoffs)
    np.testing.assert_array_equal(batch.retrieved[..., 0].numpy(), direct.futures)
    np.testing.assert_array_equal(batch.retrieved_similarity.numpy(), direct.found.similarity)
    found = direct.found.rows >= 0
    assert (index.times[direct.found.rows[found], 2] <= np.broadcast_to(cutoffs[:, None], found.shape)[found]).all()
    assert (~found).any() and found.any()             # the earliest windows have fewer than four to see
    # searched once: drawn again (in another order, with others), a window gets the same analogues
    again, _ = windows.batch(torch.cat([picked.flip(0), torch.arange(1, len(windows), 7)]))
    np.testing.assert_array_equal(again.retrieved[:len(picked)].numpy(), batch.retrieved.flip(0).numpy())


def motifs(n_series: int, length: int, seed: int = 0) -> pd.DataFrame:
    """Series stitched from five random 36-step motifs in random order, with a little noise: a window's
    future is the rest of its motif, which another occurrence shows, but no linear map of the window gives."""
    rng = np.random.default_rng(seed)
    shapes = rng.normal(size=(5, 36)).cumsum(axis=1)
    ds = pd.date_range("2024-01-01", periods=length, freq="h")
    frames = []
    for i in range(n_series):
        y = np.concatenate([shapes[rng.integers(5)] for _ in range(length // 36 + 1)])[:length]
        frames.append(pd.DataFrame({"unique_id": f"s{i}", "ds": ds, "y": y + rng.normal(0, 0.05, length)}))
    return pd.concat(frames, ignore_index=True)


def test_a_fused_network_uses_what_it_retrieves():
    panel = motifs(4, 720)
    errors = {}
    for k in (0, 5):
        model = fc.model("dlinear", lookback=24, epochs=6, steps_per_epoch=40, retrieval=k, learning_rate=3e-3)
        backtest = fc.run_backtest(panel, [model], h=HORIZON, n_windows=4, step_size=HORIZON)
        errors[k] = backtest.summary.loc["rmse", "dlinear"]
    assert errors[5] < 0.5 * errors[0]


def test_saved_with_its_index_it_forecasts_the_same_and_a_mismatch_is_named(tmp_path):
    panel = motifs(2, 300)
    model = fc.model("dlinear", lookback=24, epochs=2, steps_per_epoch=5, retrieval=3, retrieval_dtw=True)
    forecaster = fc.Forecaster([model], h=HORIZON, level=[80]).fit(panel)
    forecaster.save(tmp_path / "fused")
    loaded = fc.Forecaster.load(tmp_path / "fused")
    pd.testing.assert_frame_equal(loaded.predict(), forecaster.predict())
    table = loaded.analogues()
    pd.testing.assert_frame_equal(table, forecaster.analogues())
    assert table.groupby("unique_id").size().to_dict() == {"s0": 3, "s1": 3}
    np.testing.assert_allclose(table.groupby("unique_id")["weight"].sum(), 1.0, rtol=1e-6)
    config = tmp_path / "fused" / "config.json"
    text = config.read_text()
    assert '"retrieval": 3' in text and '"retrieval_dtw": true' in text and loaded.states[0][0].retriever.dtw
    plain = fc.Forecaster([fc.model("dlinear", lookback=24, epochs=2, steps_per_epoch=5)], h=HORIZON).fit(panel)
    with pytest.raises(ValueError, match="retrieves no analogues"):
        plain.analogues()


class Recorder(torch.nn.Module):
    """A backbone that remembers its input and forecasts zeros."""

    def forward(self, batch: Batch) -> torch.Tensor:
        self.seen = batch
        return torch.zeros(batch.x.shape[0], HORIZON, 1)


def test_prepend_puts_the_best_ranked_analogues_window_before_the_input():
    fusion = RetrievalPrepend(Recorder(), FusionConfig(horizon=HORIZON))
    x = torch.randn(2, LOOKBACK, 1)
    history, future = torch.randn(2, 3, LOOKBACK, 1), torch.randn(2, 3, HORIZON, 1)
    similarity = torch.tensor([[0.9, 0.5, 0.2], [float("nan")] * 3])          # the second window found none
    batch = Batch(x=x, x_time=torch.randn(2, LOOKBACK, 4), retrieved=future, retrieved_similarity=similarity,
                  retrieved_history=history)
    fusion(batch)
    seen = fusion.backbone.seen
    assert seen.x.shape == (2, 2 * LOOKBACK + HORIZON, 1) and seen.x_time.shape == (2, 2 * LOOKBACK + HORIZON, 4)
    torch.testing.assert_close(seen.x[0], torch.cat([history[0, 0], future[0, 0], x[0]]))      # rank 1
    torch.testing.assert_close(seen.x[1, :LOOKBACK + HORIZON], x[1].mean().expand(LOOKBACK + HORIZON, 1))
    assert (seen.x_time[:, :LOOKBACK + HORIZON] == 0).all()
    torch.testing.assert_close(fusion.weights(similarity), torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))


def test_the_retrieved_history_is_the_analogues_own_window_in_the_querys_units():
    rng = np.random.default_rng(3)
    ds = pd.date_range("2024-01-01", periods=200, freq="h")
    y = rng.normal(size=200).cumsum()
    index = WindowIndex.build([IndexedSeries("s", ds, y)], LOOKBACK, HORIZON)
    query = 3 * y[140:140 + LOOKBACK] + 10                       # a rescaled copy of a later window
    retrieved = Retriever(index, 1).retrieve(query[None], np.array([ds[-1].value]))
    row = retrieved.found.rows[0, 0]
    start = int(np.searchsorted(ds.asi8, index.times[row, 0]))
    assert start == 140
    np.testing.assert_allclose(retrieved.histories[0, 0], query, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(retrieved.futures[0, 0], 3 * y[140 + LOOKBACK:140 + LOOKBACK + HORIZON] + 10,
                               rtol=1e-4, atol=1e-4)


def test_a_network_that_prepends_its_analogue_fits_saves_and_loads(tmp_path):
    panel = motifs(3, 400)
    model = fc.model("dlinear", lookback=24, epochs=3, steps_per_epoch=20, retrieval=3, retrieval_fusion="prepend")
    forecaster = fc.Forecaster([model], h=HORIZON).fit(panel)
    network = forecaster.states[0][0].network
    assert isinstance(network, RetrievalPrepend) and network.backbone.config.lookback == 2 * 24 + HORIZON
    forecaster.save(tmp_path / "prepend")
    pd.testing.assert_frame_equal(fc.Forecaster.load(tmp_path / "prepend").predict(), forecaster.predict())
    assert forecaster.analogues()["weight"].tolist() == [1.0, 0.0, 0.0] * 3

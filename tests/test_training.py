import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

from backbones.patchtst import PatchTST, PatchTSTConfig
from forecasting.models.neural.training import (TrainingConfig, TrainingError, build_optimizer, forecast_loss, train,
                                                use_stable_embeddings)
from forecasting.models.neural.windows import make_windows

from .conftest import REPO

CONFIG = dict(epochs=4, batch_size=16, steps_per_epoch=6, learning_rate=3e-3, patience=10, seed=3)
# Shared with the subprocess that gets killed: the same data and network, built the same way.
SETUP = """
import numpy as np, torch
from accelerate.utils import set_seed
from backbones.patchtst import PatchTST, PatchTSTConfig
from forecasting.models.neural.windows import make_windows

def setup():
    torch.set_num_threads(1)
    t = np.arange(400)
    values = (np.sin(t / 6) + 0.1 * np.cos(t / 2.3))[:, None].astype(np.float32)
    block = (values, np.zeros((400, 0), np.float32))
    train = make_windows([block], 32, 8, [range(0, 300)])
    val = make_windows([block], 32, 8, [range(300, 400)])
    set_seed(1)
    network = PatchTST(PatchTSTConfig(lookback=32, horizon=8, patch_len=8, stride=4, d_model=16, n_heads=2,
                                      e_layers=1, d_ff=32, dropout=0.3))
    return network, train, val
"""
namespace: dict = {}
exec(SETUP, namespace)
setup = namespace["setup"]


pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_killed_run_resumes_to_the_same_weights_as_an_uninterrupted_one(tmp_path):
    network, train_windows, val_windows = setup()
    reference = train(network, train_windows, val_windows, TrainingConfig(**CONFIG), show_bar=False)

    killed = tmp_path / "run"
    script = SETUP + textwrap.dedent(f"""
        import os, signal
        from forecasting.models.neural.training import TrainingConfig, train
        network, train_windows, val_windows = setup()
        def die(epoch, epochs):
            if epoch == 2:
                os.kill(os.getpid(), signal.SIGKILL)
        train(network, train_windows, val_windows, TrainingConfig(**{CONFIG!r}), checkpoint_dir={str(killed)!r},
              progress=die, show_bar=False)
    """)
    process = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert process.returncode == -signal.SIGKILL, process.stderr
    assert (killed / "latest").read_text() == "epoch-0002"

    resumed_network, _, _ = setup()
    resumed = train(resumed_network, train_windows, val_windows, TrainingConfig(**CONFIG), checkpoint_dir=killed,
                    resume=True, show_bar=False)
    assert resumed.history == reference.history
    assert resumed.epochs_run == 4 and resumed.best_epoch == reference.best_epoch
    for key, value in network.state_dict().items():
        assert torch.equal(value, resumed_network.state_dict()[key]), key


def test_progress_hears_of_every_step_and_an_exception_from_it_stops_training_within_the_epoch(tmp_path):
    class Leave(Exception):
        pass

    calls = []

    def progress(epochs_done: int, epochs: int) -> None:
        calls.append((epochs_done, epochs))
        if len(calls) == CONFIG["steps_per_epoch"] + 3:  # three steps into the second epoch
            raise Leave

    network, train_windows, val_windows = setup()
    with pytest.raises(Leave):
        train(network, train_windows, val_windows, TrainingConfig(**CONFIG), checkpoint_dir=tmp_path,
              progress=progress, show_bar=False)
    steps = CONFIG["steps_per_epoch"]
    assert calls == [(0, 4)] * steps + [(1, 4)] + [(1, 4)] * 2  # each step of epoch 1, its end, two steps of epoch 2
    assert (tmp_path / "latest").read_text() == "epoch-0001"


def test_checkpoint_weights_reload_bit_exactly_and_only_the_last_epoch_is_kept(tmp_path):
    network, train_windows, val_windows = setup()
    train(network, train_windows, val_windows, TrainingConfig(**{**CONFIG, "epochs": 2}), checkpoint_dir=tmp_path,
          show_bar=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0002", "latest"]
    saved = load_file(tmp_path / "epoch-0002" / "best.safetensors")
    assert saved.keys() == network.state_dict().keys()
    assert all(torch.equal(saved[key], value) for key, value in network.state_dict().items())
    state = torch.load(tmp_path / "epoch-0002" / "trainer_state.pt", weights_only=True)
    assert state["state"]["epoch"] == 2 and len(state["state"]["history"]) == 2
    assert state["scheduler"]["last_epoch"] == 2 * CONFIG["steps_per_epoch"]


class Stopped(Exception):
    """Raised from the progress callback: the run stops after that epoch's checkpoint, as a killed one would."""


def stop_after_epoch(last: int):
    def progress(epoch: int, epochs: int) -> None:
        if epoch == last:
            raise Stopped
    return progress


def test_a_partial_checkpoint_is_ignored_on_resume(tmp_path):
    network, train_windows, val_windows = setup()
    with pytest.raises(Stopped):
        train(network, train_windows, val_windows, TrainingConfig(**{**CONFIG, "epochs": 2}), checkpoint_dir=tmp_path,
              progress=stop_after_epoch(1), show_bar=False)
    (tmp_path / ".epoch-0002.partial").mkdir()  # what a kill in the middle of writing leaves behind
    resumed_network, _, _ = setup()
    result = train(resumed_network, train_windows, val_windows, TrainingConfig(**{**CONFIG, "epochs": 2}),
                   checkpoint_dir=tmp_path, resume=True, show_bar=False)
    assert [row["epoch"] for row in result.history] == [1, 2]
    assert (tmp_path / "latest").read_text() == "epoch-0002"


@pytest.mark.parametrize("changed, named", [({"learning_rate": 1e-2}, "learning_rate 0.003 there, 0.01 now"),
                                            ({"seed": 4}, "seed 3 there, 4 now"),
                                            ({"epochs": 3}, "epochs 2 there, 3 now")])
def test_resuming_with_other_settings_is_refused_and_names_them(tmp_path, changed, named):
    network, train_windows, val_windows = setup()
    with pytest.raises(Stopped):
        train(network, train_windows, val_windows, TrainingConfig(**{**CONFIG, "epochs": 2}), checkpoint_dir=tmp_path,
              progress=stop_after_epoch(1), show_bar=False)
    resumed_network, _, _ = setup()
    with pytest.raises(TrainingError, match=f"holds a run that differs from this one \\({named}\\).*resume=False"):
        train(resumed_network, train_windows, val_windows, TrainingConfig(**{**CONFIG, "epochs": 2, **changed}),
              checkpoint_dir=tmp_path, resume=True, show_bar=False)


def test_resuming_with_other_quantiles_or_another_network_is_refused(tmp_path):
    network, train_windows, val_windows = setup()
    train(network, train_windows, val_windows, TrainingConfig(**{**CONFIG, "epochs": 1}), checkpoint_dir=tmp_path,
          show_bar=False)
    quantile_head = PatchTST(PatchTSTConfig(lookback=32, horizon=8, patch_len=8, stride=4, d_model=16, n_heads=2,
                                            e_layers=1, d_ff=32, quantiles=(0.1, 0.5, 0.9)))
    with pytest.raises(TrainingError, match=r"quantiles \[\] there, \[0.1, 0.5, 0.9\] now; network weights head"):
        train(quantile_head, train_windows, val_windows, TrainingConfig(**{**CONFIG, "epochs": 1}),
              quantiles=(0.1, 0.5, 0.9), checkpoint_dir=tmp_path, resume=True, show_bar=False)


def test_training_is_seeded_and_deterministic_on_cpu():
    runs = []
    for _ in range(2):
        network, train_windows, val_windows = setup()
        runs.append(train(network, train_windows, val_windows, TrainingConfig(**{**CONFIG, "epochs": 2}),
                          show_bar=False).history)
    assert runs[0] == runs[1]
    network, train_windows, val_windows = setup()
    other = train(network, train_windows, val_windows, TrainingConfig(**{**CONFIG, "epochs": 2, "seed": 4}),
                  show_bar=False).history
    assert other != runs[0]


def test_early_stopping_keeps_the_best_epoch():
    network, train_windows, val_windows = setup()
    # A learning rate this high makes validation worse after the first epochs.
    result = train(network, train_windows, val_windows,
                   TrainingConfig(**{**CONFIG, "epochs": 30, "patience": 2, "learning_rate": 0.5}), show_bar=False)
    losses = [row["val_loss"] for row in result.history]
    assert result.epochs_run < 30 and result.epochs_run == result.best_epoch + 2
    assert result.best_val_loss == min(losses)
    network.eval()
    with torch.no_grad():
        batch, target = val_windows.batch(torch.arange(len(val_windows)))
        assert float(forecast_loss(network(batch), target, ())) == pytest.approx(result.best_val_loss, rel=1e-4)


def test_training_lowers_validation_loss_with_adamw_and_adamw8bit():
    for optimizer in ("adamw", "adamw8bit"):
        network, train_windows, val_windows = setup()
        result = train(network, train_windows, val_windows,
                       TrainingConfig(**{**CONFIG, "epochs": 5, "optimizer": optimizer}), show_bar=False)
        assert result.best_val_loss < 0.5 * result.history[0]["val_loss"] or result.history[0]["val_loss"] < 0.05


def test_adamw8bit_keeps_one_byte_per_state_entry():
    import bitsandbytes as bnb

    layer = nn.Linear(256, 256)
    optimizer = bnb.optim.AdamW8bit(layer.parameters(), lr=1e-3)
    layer(torch.randn(4, 256)).sum().backward()
    optimizer.step()
    state = optimizer.state[layer.weight]
    assert state["state1"].dtype == torch.uint8 and state["state2"].dtype == torch.uint8
    assert state["state1"].numel() == layer.weight.numel()


def test_bf16_mixed_precision_runs_through_accelerate_on_cpu():
    network, train_windows, val_windows = setup()
    result = train(network, train_windows, val_windows,
                   TrainingConfig(**{**CONFIG, "epochs": 1, "precision": "bf16"}), show_bar=False)
    assert np.isfinite(result.best_val_loss)
    assert all(p.dtype == torch.float32 for p in network.parameters())  # master weights stay fp32
    # and a full-precision run afterwards in the same process still works
    network, _, _ = setup()
    assert np.isfinite(train(network, train_windows, val_windows, TrainingConfig(**{**CONFIG, "epochs": 1}),
                             show_bar=False).best_val_loss)


def test_pinball_loss_values():
    target = torch.zeros(1, 1, 1)
    prediction = torch.tensor([1.0, -1.0]).reshape(1, 1, 1, 2)
    # q=0.1 over-forecast by 1 costs 0.9; q=0.9 under-forecast by 1 costs 0.9
    assert float(forecast_loss(prediction, target, (0.1, 0.9))) == pytest.approx(0.9)
    assert float(forecast_loss(torch.ones(2, 3, 1), torch.zeros(2, 3, 1), ())) == 1.0


def test_stable_embeddings_replace_embeddings_and_keep_weights():
    import bitsandbytes as bnb

    network = nn.Sequential(nn.Embedding(10, 8), nn.Sequential(nn.Embedding(5, 8)))
    weights = network[0].weight.detach().clone()
    use_stable_embeddings(network)
    assert isinstance(network[0], bnb.nn.StableEmbedding) and isinstance(network[1][0], bnb.nn.StableEmbedding)
    assert torch.equal(network[0].weight, weights)


def test_bad_training_settings_are_refused():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        TrainingConfig(optimizer="sgd")
    with pytest.raises(ValueError, match="precision must be one of"):
        TrainingConfig(precision="fp8")
    network, _, _ = setup()
    empty = make_windows([(np.zeros((10, 1), np.float32), np.zeros((10, 0), np.float32))], 32, 8)
    with pytest.raises(ValueError, match="shorter than lookback"):
        train(network, empty, None, TrainingConfig())


def test_two_process_data_parallel_training_keeps_ranks_in_sync(tmp_path):
    """The multi-GPU path (DDP through accelerate) on a CPU gloo group started by torchrun."""
    torchrun = Path(sys.executable).with_name("torchrun")
    process = subprocess.run([str(torchrun), "--nproc_per_node", "2", "--master_port", "29531",
                              str(REPO / "tests" / "ddp_train.py"), str(tmp_path)],
                             cwd=REPO, capture_output=True, text=True, timeout=600)
    assert process.returncode == 0, process.stderr[-3000:]
    rank0, rank1 = load_file(tmp_path / "rank0.safetensors"), load_file(tmp_path / "rank1.safetensors")
    assert all(torch.equal(rank0[key], rank1[key]) for key in rank0)
    metadata = [safe_open(tmp_path / f"rank{rank}.safetensors", "pt").metadata() for rank in (0, 1)]
    assert [m["world"] for m in metadata] == ["2", "2"]
    # one validation loss, reduced over both ranks' shards
    assert metadata[0]["val_loss"] == metadata[1]["val_loss"] and float(metadata[0]["val_loss"]) < 0.05


def test_a_diverged_run_stops_with_the_epoch_and_the_fix_never_an_untrained_model():
    network, train_windows, val_windows = setup()
    val_windows.values[350, 0] = float("nan")          # a NaN inside a validation target: the loss is NaN
    with pytest.raises(TrainingError, match=r"training diverged in epoch 1: .*validation loss nan.*Lower learning_rate"):
        train(network, train_windows, val_windows, TrainingConfig(**CONFIG), show_bar=False)


def test_weight_decay_spares_biases_norms_and_mambas_a_log_and_d():
    from backbones.mamba import Mamba, MambaConfig

    network = Mamba(MambaConfig(lookback=32, horizon=8, tokens="patch", d_model=16, d_state=4, n_layers=1))
    optimizer = build_optimizer(network, TrainingConfig(weight_decay=0.05))
    decay = {id(p) for group in optimizer.param_groups if group["weight_decay"] == 0.05 for p in group["params"]}
    names = {name: id(p) in decay for name, p in network.named_parameters()}
    spared = [name for name, decays in names.items() if not decays]
    assert all(names[name] for name in names if name.endswith(("in_proj.weight", "out_proj.weight", "head.weight")))
    assert any(name.endswith("A_log") for name in spared) and any(name.endswith(".D") for name in spared)
    assert all(not names[name] for name in names if name.endswith("bias") or "norm" in name)
    assert sum(p.numel() for group in optimizer.param_groups for p in group["params"]) == \
        sum(p.numel() for p in network.parameters())


def test_the_schedule_is_transformers_warmup_then_cosine():
    network, train_windows, val_windows = setup()
    config = TrainingConfig(epochs=2, batch_size=8, steps_per_epoch=10, learning_rate=1e-2, warmup=0.2, patience=5)
    rates = []
    optimizer_step = torch.optim.AdamW.step

    def record(self, *args, **kwargs):
        rates.append(self.param_groups[0]["lr"])
        return optimizer_step(self, *args, **kwargs)

    torch.optim.AdamW.step = record
    try:
        train(network, train_windows, val_windows, config, show_bar=False)
    finally:
        torch.optim.AdamW.step = optimizer_step
    # 20 steps, 4 of warm-up from 0, then a half cosine down to 0
    expected = [1e-2 * step / 4 for step in range(4)] + [1e-2 * 0.5 * (1 + np.cos(np.pi * k / 16)) for k in range(16)]
    np.testing.assert_allclose(rates, expected, rtol=1e-6)

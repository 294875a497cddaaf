"""What a TimeLLM training step costs, by tuning mode and optimizer, on a GPT-2-shaped language model.

The body is GPT-2 small's shape cut to --layers blocks (n_embd 768, 12 heads; random weights, which
cost the same as pretrained ones) with the bundled MiniLM's tokenizer (a 30,522-token vocabulary,
GPT-2's is 50,257). TimeLLM at the paper's sizes otherwise: 1,000 text prototypes, patch 16 /
stride 8, d_model 32, d_ff 128, lookback 512, horizon 96, with the prompt. Each (mode, optimizer)
runs in a fresh process: trainable parameters, optimizer-state bytes after a step, median step time
(forward, backward, optimizer step) and peak resident-memory growth per sample, as ratios to
frozen + AdamW in one table.

    .venv/bin/python benchmarks/timellm_cost.py [--layers 6] [--batch 8] [--steps 4] [--threads 2]
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import tempfile
from concurrent.futures import ProcessPoolExecutor
from datetime import date

import torch

from backbones import Batch, TimeLLM, TimeLLMConfig
from forecasting.training import TrainingConfig, build_optimizer
from optim_memory import state_bytes
from timing import median_seconds, memory_mark, peak_growth

MODES = ("frozen", "lora", "layernorm", "full")
OPTIMIZERS = ("adamw", "adamw8bit")
LOOKBACK, HORIZON = 512, 96


def save_gpt2_shaped(directory: str, layers: int) -> None:
    from transformers import AutoTokenizer, GPT2Config, GPT2Model

    from backbones.language import default_language_model
    tokenizer = AutoTokenizer.from_pretrained(default_language_model())
    torch.manual_seed(0)
    GPT2Model(GPT2Config(vocab_size=tokenizer.vocab_size, n_embd=768, n_head=12, n_layer=layers)).save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def measure(directory: str, mode: str, optimizer_name: str, batch_size: int, steps: int, threads: int) -> dict:
    """Meant for a fresh process."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    network = TimeLLM(TimeLLMConfig(lookback=LOOKBACK, horizon=HORIZON, language_model=directory, tuning=mode,
                                    description="Hourly electricity transformer load and oil temperature."))
    optimizer = build_optimizer(network, TrainingConfig(optimizer=optimizer_name))
    x = torch.randn(batch_size, LOOKBACK, 1).cumsum(1)
    target = torch.randn(batch_size, HORIZON, 1)

    def step():
        loss = (network(Batch(x=x)) - target).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()                                                    # allocates gradients and optimizer states
    mark = memory_mark("cpu")
    seconds = median_seconds(step, "cpu", warmup=1, repeats=steps, min_total=0)
    return {"trainable": sum(p.numel() for p in network.parameters() if p.requires_grad),
            "total": sum(p.numel() for p in network.parameters()), "state_bytes": state_bytes(optimizer),
            "seconds": seconds, "peak_per_sample": peak_growth(mark, "cpu") / batch_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as directory:
        save_gpt2_shaped(directory, args.layers)
        results = {}
        for mode in MODES:
            for optimizer in OPTIMIZERS:
                with ProcessPoolExecutor(1, mp_context=spawn) as fresh:
                    results[mode, optimizer] = fresh.submit(measure, directory, mode, optimizer, args.batch,
                                                            args.steps, args.threads).result()
                print(f"  {mode:9s} {optimizer:9s} {results[mode, optimizer]}", flush=True)
    base = results["frozen", "adamw"]
    print(f"\nTimeLLM training step on a GPT-2-shaped body ({args.layers} blocks, n_embd 768), lookback {LOOKBACK}, "
          f"horizon {HORIZON}, batch {args.batch}; {platform.machine()} CPU ({os.cpu_count()} cores), {args.threads} "
          f"thread(s); torch {torch.__version__}; median of {args.steps} steps; {date.today()}\n")
    print("| tuning | optimizer | trainable params | optimizer state MiB | step s | step vs frozen+AdamW "
          "| peak MiB / sample | memory vs frozen+AdamW |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for (mode, optimizer), r in results.items():
        print(f"| {mode} | {optimizer} | {r['trainable']:,} of {r['total']:,} | {r['state_bytes'] / 2**20:.1f} "
              f"| {r['seconds']:.2f} | {r['seconds'] / base['seconds']:.2f} | {r['peak_per_sample'] / 2**20:.1f} "
              f"| {r['peak_per_sample'] / max(base['peak_per_sample'], 1):.2f} |")


if __name__ == "__main__":
    main()

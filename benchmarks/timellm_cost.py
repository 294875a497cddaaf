"""What a TimeLLM training step costs, by tuning mode and optimizer, on a GPT-2-shaped language model.

The body is GPT-2 small's shape cut to --layers blocks (n_embd 768, 12 heads; random weights, which
cost the same as pretrained ones) with the bundled MiniLM's tokenizer (a 30,522-token vocabulary,
GPT-2's is 50,257). TimeLLM at the paper's sizes otherwise: 1,000 text prototypes, patch 16 /
stride 8, d_model 32, d_ff 128, lookback 512, horizon 96, with the prompt, on ETTh1 training windows
(all 7 channels: each step reads batch x 7 series). Each row runs in a fresh process: trainable
parameters, model and optimizer-state bytes after a step, median step time (forward, backward,
optimizer step) and peak memory growth per window, as ratios to frozen + AdamW in one table.

The peer: neuralforecast's TimeLLM (the `bench` extra) on the same model directory, the same windows,
the same sizes and the same optimizer (AdamW over its trainable parameters), its module stepped
directly so that neither trainer's bookkeeping is timed.

Two more rows load the language model through bitsandbytes: frozen over 8-bit weights, and LoRA over
4-bit NF4 weights (QLoRA).

    cd benchmarks && ../.venv/bin/python timellm_cost.py [--layers 6] [--batch 8] [--steps 4] [--threads 2] [--device cuda]
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
from etth1 import load_ett, windows_for
from optim_memory import state_bytes
from timing import median_seconds, memory_mark, peak_growth

from backbones import Batch, TimeLLM, TimeLLMConfig
from forecasting.models.neural.training import TrainingConfig, build_optimizer

LOOKBACK, HORIZON = 512, 96
DESCRIPTION = "Hourly electricity transformer load and oil temperature."
# (who, tuning, optimizer, language-model quantization), one fresh process each
ROWS = [("ours", tuning, optimizer, None) for tuning in ("frozen", "lora", "layernorm", "full")
        for optimizer in ("adamw", "adamw8bit")]
ROWS += [("ours", "frozen", "adamw", "8bit"), ("ours", "lora", "adamw", "4bit"),
         ("neuralforecast", "frozen", "adamw", None)]


def save_gpt2_shaped(directory: str, layers: int) -> None:
    from transformers import AutoTokenizer, GPT2Config, GPT2Model

    from backbones.language import default_language_model
    tokenizer = AutoTokenizer.from_pretrained(default_language_model())
    torch.manual_seed(0)
    GPT2Model(GPT2Config(vocab_size=tokenizer.vocab_size, n_embd=768, n_head=12, n_layer=layers)).save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def measure(directory: str, layers: int, row: tuple, batch_size: int, steps: int, threads: int, device: str) -> dict:
    """Meant for a fresh process."""
    who, tuning, optimizer_name, quantize = row
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    values, calendar, split = load_ett("ETTh1")
    windows = windows_for((values, calendar), split, LOOKBACK, HORIZON)["train"]
    batch, target = windows.batch(torch.arange(batch_size) * 97)              # spread over the training months
    x, target = batch.x.float().to(device), target.float().to(device)         # [B, L, 7], [B, H, 7]
    channels = x.shape[-1]
    if who == "neuralforecast":
        from neuralforecast.models import TimeLLM as PeerTimeLLM
        peer = PeerTimeLLM(h=HORIZON, input_size=LOOKBACK, llm=directory, d_llm=768, enc_in=channels, dec_in=channels,
                           patch_len=16, stride=8, d_model=32, n_heads=8, d_ff=128,
                           prompt_prefix=DESCRIPTION).to(device)
        network, forecast = peer, lambda: peer({"insample_y": x})
        optimizer = torch.optim.AdamW([p for p in peer.parameters() if p.requires_grad], lr=1e-3)
    else:
        ours = TimeLLM(TimeLLMConfig(lookback=LOOKBACK, horizon=HORIZON, channels=channels, language_model=directory, llm_layers=layers,
                                     tuning=tuning, llm_quantize=quantize, description=DESCRIPTION)).to(device)
        network, forecast = ours, lambda: ours(Batch(x=x))
        optimizer = build_optimizer(ours, TrainingConfig(optimizer=optimizer_name))

    def step():
        loss = (forecast() - target).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()                                                    # allocates gradients and optimizer states
    mark = memory_mark(device)
    seconds = median_seconds(step, device, warmup=1, repeats=steps, min_total=0)
    # each storage once: our word-embedding buffer is a view of the language model's embeddings
    tensors = {t.untyped_storage().data_ptr(): t for t in [*network.parameters(), *network.buffers()]}.values()
    return {"trainable": sum(p.numel() for p in network.parameters() if p.requires_grad),
            "model_bytes": sum(t.numel() * t.element_size() for t in tensors),
            "state_bytes": state_bytes(optimizer), "seconds": seconds,
            "peak_per_sample": peak_growth(mark, device) / batch_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = parser.parse_args()
    spawn = multiprocessing.get_context("spawn")
    results = {}
    with tempfile.TemporaryDirectory() as directory:
        save_gpt2_shaped(directory, args.layers)
        for row in ROWS:
            with ProcessPoolExecutor(1, mp_context=spawn) as fresh:
                results[row] = fresh.submit(measure, directory, args.layers, row, args.batch, args.steps,
                                            args.threads, args.device).result()
            print(f"  {row} {results[row]}", flush=True)
    base = results[ROWS[0]]
    machine = (torch.cuda.get_device_name() if args.device == "cuda" else
               f"{platform.machine()} CPU ({os.cpu_count()} cores), {args.threads} thread(s)")
    print(f"\nTimeLLM training step on a GPT-2-shaped body ({args.layers} blocks, n_embd 768), lookback {LOOKBACK}, "
          f"horizon {HORIZON}, batch {args.batch} ETTh1 windows x 7 channels; {machine}; torch {torch.__version__}; "
          f"median of {args.steps} steps; {date.today()}\n")
    print("| TimeLLM | tuning | LM weights | optimizer | trainable params | model MiB | optimizer state MiB | step s "
          "| step vs first row | peak MiB / sample | memory vs first row |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for (who, tuning, optimizer, quantize), r in results.items():
        print(f"| {who} | {tuning} | {quantize or 'fp32'} | {optimizer} | {r['trainable']:,} "
              f"| {r['model_bytes'] / 2**20:.0f} | {r['state_bytes'] / 2**20:.1f} | {r['seconds']:.2f} "
              f"| {r['seconds'] / base['seconds']:.2f} | {r['peak_per_sample'] / 2**20:.1f} "
              f"| {r['peak_per_sample'] / max(base['peak_per_sample'], 1):.2f} |")


if __name__ == "__main__":
    main()

"""ProbSparse vs full self-attention: one Informer multi-head attention layer (d_model 512, 8 heads,
batch 1, unmasked as in the encoder, dropout 0), forward + backward, at growing sequence lengths.

Each (attention, L) runs in a fresh process, so peak memory is its own: on CPU the peak resident set
(ru_maxrss) minus the resident set just before the first forward at that L, on CUDA
max_memory_allocated minus the memory allocated then. A pass at L = 8 before that loads the kernels
and allocates the weight gradients, so what is left is the memory that grows with L. Time is the
median of the timed repeats (at least --repeats of them and at least 1 s in all, so the fast small-L
cases get enough samples to beat the noise), after warm-up.

CPU threads default to 1: on a shared 2-core machine a second thread spins against other jobs and
makes small L up to 20x slower; pass --threads 2 on an idle machine.

    .venv/bin/python benchmarks/speed_attention.py [--lengths 96 384 1536 6144] [--device cpu|cuda] [--threads N]
"""
from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import platform
from concurrent.futures import ProcessPoolExecutor
from datetime import date

import torch
from timing import median_seconds, memory_mark, peak_growth

from backbones.informer import AttentionLayer, FullAttention, ProbAttention

D_MODEL, HEADS, BATCH, FACTOR = 512, 8, 1, 5


def measure(attention: str, length: int, device: str, threads: int, warmup: int,
            repeats: int) -> tuple[float, float]:
    """(median seconds, peak bytes) of forward + backward; meant to run in a fresh process."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    core = ProbAttention(factor=FACTOR) if attention == "prob" else FullAttention()
    layer = AttentionLayer(core, D_MODEL, HEADS).to(device)
    tiny = torch.randn(BATCH, 8, D_MODEL, device=device)
    layer(tiny, tiny, tiny).sum().backward()
    x = torch.randn(BATCH, length, D_MODEL, device=device, requires_grad=True)
    mark = memory_mark(device)
    seconds = median_seconds(lambda: layer(x, x, x).sum().backward(), device, warmup, repeats)
    return seconds, peak_growth(mark, device)


def growth(values: list[float], lengths: list[int]) -> list[str]:
    """Growth per 4x L between consecutive lengths: (v_i / v_{i-1}) ** (ln 4 / ln(L_i / L_{i-1}))."""
    out = [""]
    for i in range(1, len(values)):
        if values[i - 1] <= 0 or values[i] <= 0:
            out.append("n/a")
        else:
            out.append(f"{(values[i] / values[i - 1]) ** (math.log(4) / math.log(lengths[i] / lengths[i - 1])):.1f}x")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[96, 384, 1536, 6144])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    results = {}  # (attention, L) -> (seconds, peak bytes)
    spawn = multiprocessing.get_context("spawn")
    for length in args.lengths:
        for attention in ("full", "prob"):
            with ProcessPoolExecutor(1, mp_context=spawn) as fresh:
                results[attention, length] = fresh.submit(measure, attention, length, args.device, args.threads,
                                                          args.warmup, args.repeats).result()
            seconds, peak = results[attention, length]
            print(f"  {attention:4s} L={length:5d}: {1e3 * seconds:9.1f} ms, {peak / 2**20:8.1f} MiB", flush=True)

    L = args.lengths
    ms = {a: [1e3 * results[a, n][0] for n in L] for a in ("full", "prob")}
    mib = {a: [results[a, n][1] / 2**20 for n in L] for a in ("full", "prob")}
    time_growth = {a: growth(ms[a], L) for a in ms}
    mem_growth = {a: growth(mib[a], L) for a in mib}
    where = (torch.cuda.get_device_name() if args.device == "cuda"
             else f"{platform.machine()} CPU ({os.cpu_count()} cores), {args.threads} thread(s)")
    print(f"\nOne attention layer, d_model {D_MODEL}, {HEADS} heads, batch {BATCH}, forward + backward; {where}; "
          f"torch {torch.__version__}; median of >= {args.repeats} runs (>= 1 s) after {args.warmup} warm-up; "
          f"{date.today()}\n")
    print("| L | full ms | prob ms | time full/prob | full MiB | prob MiB | memory full/prob "
          "| full time growth | prob time growth | full memory growth | prob memory growth |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for i, n in enumerate(L):
        memory_ratio = f"{mib['full'][i] / mib['prob'][i]:.1f}" if mib["prob"][i] > 0 else "n/a"
        print(f"| {n} | {ms['full'][i]:.1f} | {ms['prob'][i]:.1f} | {ms['full'][i] / ms['prob'][i]:.2f} "
              f"| {mib['full'][i]:.1f} | {mib['prob'][i]:.1f} | {memory_ratio} "
              f"| {time_growth['full'][i]} | {time_growth['prob'][i]} "
              f"| {mem_growth['full'][i]} | {mem_growth['prob'][i]} |")
    print("\nGrowth is per 4x L from the previous row. Ideal: 16x for L^2; 4 ln(4L)/ln(L), about 4.5-5x, "
          "for L ln L.")


if __name__ == "__main__":
    main()

"""Selective scan on CPU: the sequential reference vs our chunked scan vs mambapy's parallel scan
(Blelloch-style pscan; the `bench` extra: `.venv/bin/pip install -e ".[bench]"`), forward and forward +
backward, at batch 8, d_inner 64, d_state 16 and growing L.

Every implementation computes the same thing from the same inputs: delta (already positive), the
decay exp(delta A), the input delta B u, the scan, and y = C.h (no skip, no gate), in fp32. mambapy
gets its inputs in its own [B, L, D] layout so it pays for no transposes. Each (implementation, L)
runs in a fresh process, so peak memory is its own (the resident-set growth over the run). Forward
runs under no_grad, as in inference; forward + backward takes the gradients of every input. Time is
the median of >= --repeats runs (>= 1 s in all) after warm-up. The reference is skipped above
--reference-max-length (its autograd graph grows with L: seconds per run).

A second table times forward + backward at the shapes the forecasters run (many short token
sequences: batch x channels x patches), where the sequences are too short for any scan to amortise.

    .venv/bin/python benchmarks/speed_scan.py [--lengths 96 512 2048 8192] [--threads 2]
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
from concurrent.futures import ProcessPoolExecutor
from datetime import date

import torch
from timing import median_seconds, memory_mark, peak_growth

from backbones.kernels import selective_scan_chunked, selective_scan_reference

BATCH, D_INNER, D_STATE = 8, 64, 16
IMPLEMENTATIONS = ("reference", "chunked", "mambapy")
# (batch, d_inner, d_state, L): ETTh1 windows of 32 x 7 channels over 12 patches at d_model 64; a
# panel batch of 64 series over 24 patches at d_model 128; 32 samples over 7 variate tokens at d_model 256
MODEL_SHAPES = [(224, 128, 16, 12), (64, 256, 16, 24), (32, 512, 16, 7)]


def mambapy_scan(u, delta, A, B, C):
    """mambapy's selective scan without its skip term: inputs [B, L, D] / [B, L, N]."""
    from mambapy.pscan import pscan
    decay = torch.exp(delta.unsqueeze(-1) * A)                                    # [B, L, D, N]
    x = (delta * u).unsqueeze(-1) * B.unsqueeze(2)                                # [B, L, D, N]
    return (pscan(decay, x) @ C.unsqueeze(-1)).squeeze(3)                         # [B, L, D]


def measure(implementation: str, shape: tuple[int, int, int, int], backward: bool, threads: int, warmup: int,
            repeats: int):
    """(median seconds, peak bytes) at shape (batch, d_inner, d_state, L); meant to run in a fresh process."""
    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(0)
    batch, d_inner, d_state, length = shape
    u = torch.randn(batch, d_inner, length, generator=generator)
    delta = torch.nn.functional.softplus(torch.randn(batch, d_inner, length, generator=generator) - 2)
    A = -torch.exp(torch.randn(d_inner, d_state, generator=generator))
    B = torch.randn(batch, d_state, length, generator=generator)
    C = torch.randn(batch, d_state, length, generator=generator)
    if implementation == "mambapy":
        u, delta, B, C = (v.transpose(1, 2).contiguous() for v in (u, delta, B, C))
        scan = mambapy_scan
    else:
        scan = selective_scan_reference if implementation == "reference" else selective_scan_chunked
    inputs = [v.requires_grad_(backward) for v in (u, delta, A, B, C)]

    def run():
        if backward:
            torch.autograd.grad(scan(*inputs).sum(), inputs)
        else:
            with torch.no_grad():
                scan(*inputs)

    mark = memory_mark("cpu")
    seconds = median_seconds(run, "cpu", warmup, repeats)
    return seconds, peak_growth(mark, "cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[96, 512, 2048, 8192])
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--reference-max-length", type=int, default=2048)
    args = parser.parse_args()

    spawn = multiprocessing.get_context("spawn")

    def fresh_measure(implementation, shape, backward):
        with ProcessPoolExecutor(1, mp_context=spawn) as fresh:
            seconds, peak = fresh.submit(measure, implementation, shape, backward, args.threads, args.warmup,
                                         args.repeats).result()
        print(f"  {implementation:9s} {shape} {'fwd+bwd' if backward else 'fwd    '}: "
              f"{1e3 * seconds:9.1f} ms, {peak / 2**20:7.1f} MiB", flush=True)
        return seconds, peak

    results = {}  # (implementation, L, backward) -> (seconds, bytes)
    for length in args.lengths:
        for backward in (False, True):
            for implementation in IMPLEMENTATIONS:
                if implementation == "reference" and length > args.reference_max_length:
                    continue
                results[implementation, length, backward] = fresh_measure(
                    implementation, (BATCH, D_INNER, D_STATE, length), backward)
    at_model_shapes = {(i, shape): fresh_measure(i, shape, True)[0] for shape in MODEL_SHAPES for i in IMPLEMENTATIONS}

    print(f"\nSelective scan, batch {BATCH}, d_inner {D_INNER}, d_state {D_STATE}, fp32; {platform.machine()} CPU "
          f"({os.cpu_count()} cores), {args.threads} thread(s); torch {torch.__version__}; median of >= "
          f"{args.repeats} runs (>= 1 s) after {args.warmup} warm-up; {date.today()}\n")
    print("| L | pass | reference ms | chunked ms | mambapy ms | mambapy / chunked | reference / chunked "
          "| reference MiB | chunked MiB | mambapy MiB |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for length in args.lengths:
        for backward in (False, True):
            row = {i: results.get((i, length, backward)) for i in IMPLEMENTATIONS}
            ms = {i: f"{1e3 * r[0]:.1f}" if r else "-" for i, r in row.items()}
            mib = {i: f"{r[1] / 2**20:.0f}" if r else "-" for i, r in row.items()}
            ratio = {i: f"{r[0] / row['chunked'][0]:.2f}" if r else "-" for i, r in row.items()}
            print(f"| {length} | {'fwd+bwd' if backward else 'fwd'} | {ms['reference']} | {ms['chunked']} "
                  f"| {ms['mambapy']} | {ratio['mambapy']} | {ratio['reference']} "
                  f"| {mib['reference']} | {mib['chunked']} | {mib['mambapy']} |")
    print("\nForward + backward at the forecasters' shapes\n")
    print("| batch x d_inner x d_state x L | reference ms | chunked ms | mambapy ms | reference / chunked | mambapy / chunked |")
    print("|---|---:|---:|---:|---:|---:|")
    for shape in MODEL_SHAPES:
        ms = {i: 1e3 * at_model_shapes[i, shape] for i in IMPLEMENTATIONS}
        print(f"| {' x '.join(map(str, shape))} | {ms['reference']:.1f} | {ms['chunked']:.1f} | {ms['mambapy']:.1f} "
              f"| {ms['reference'] / ms['chunked']:.2f} | {ms['mambapy'] / ms['chunked']:.2f} |")


if __name__ == "__main__":
    main()

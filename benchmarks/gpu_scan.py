"""Selective scan on a CUDA GPU: the Triton kernels against the chunked PyTorch implementation.

1. Checks the Triton scan against the sequential reference at a small size (fp32): outputs, last
   state and every gradient; prints the largest absolute errors.
2. Times forward (under torch.no_grad, so the Triton kernel stores no checkpoints) and forward +
   backward of both, in fp32 and bf16: batch 8, d_inner 64, d_state 16 at L = 96, 512, 2048, 8192,
   then a Mamba-training-like size, batch 32, d_inner 1536, d_state 16, L 2048. Times are medians of
   CUDA-event timings after warm-up (the Triton kernels compile during the warm-up).
3. Reports the bandwidth the Triton forward achieves: bytes it must move (read u, delta, z, B, C;
   write y; at the inputs' element sizes) over its time, against the device's peak where known.

The chunked scan is the fallback without Triton: its Python loops over chunk steps launch many small
kernels, so it is expected to lose by a wide margin on a GPU; a case that runs out of memory is
reported as OOM.

    .venv/bin/python benchmarks/gpu_scan.py [--warmup 3] [--repeats 10] [--out results.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from datetime import date

import torch

from backbones.kernels.selective_scan import selective_scan_chunked, selective_scan_reference

DEVICE = "cuda"  # one place to name the device
SIZES = [(8, 64, 16, 96), (8, 64, 16, 512), (8, 64, 16, 2048), (8, 64, 16, 8192), (32, 1536, 16, 2048)]


def peak_bandwidth(name: str) -> float | None:
    """Peak memory bandwidth in bytes/s by device name, None when unknown. The H100 SXM reports itself
    as "H100 80GB HBM3" (or "H100 SXM..."); the PCIe and NVL parts have other bandwidths."""
    if "H200" in name:
        return 4.8e12
    if "H100" in name and ("HBM3" in name or "SXM" in name):
        return 3.35e12
    if "A100" in name and "80GB" in name:
        return 2.0e12
    return None


def make_inputs(batch: int, channels: int, state: int, length: int, dtype: torch.dtype, grad: bool,
                seed: int = 0) -> dict:
    generator = torch.Generator(device=DEVICE).manual_seed(seed)

    def rand(*shape, scale=1.0, dt=dtype):
        value = (torch.randn(*shape, generator=generator, device=DEVICE) * scale).to(dt)
        return value.requires_grad_(grad)

    A = (-torch.exp(torch.randn(channels, state, generator=generator, device=DEVICE))).requires_grad_(grad)
    return dict(u=rand(batch, channels, length), delta=rand(batch, channels, length, scale=0.5), A=A,
                B=rand(batch, state, length), C=rand(batch, state, length), D=rand(channels, dt=torch.float32),
                z=rand(batch, channels, length), delta_bias=rand(channels, scale=0.3, dt=torch.float32),
                delta_softplus=True)


def leaves(args: dict) -> list[torch.Tensor]:
    return [value for value in args.values() if isinstance(value, torch.Tensor) and value.requires_grad]


def check(scan) -> dict:
    """{name: (largest |error|, largest |reference value|)} of the Triton scan against the reference,
    fp32, over several checkpoint chunks (L 300, chunks of 64)."""
    torch.backends.cuda.matmul.allow_tf32 = False  # the reference's einsum must stay fp32 to be the truth
    args = make_inputs(2, 24, 16, 300, torch.float32, grad=True, seed=1)
    results = []
    for fn in (scan, selective_scan_reference):
        y, last = fn(**args, return_last_state=True)
        gy = torch.randn(y.shape, generator=torch.Generator(device=DEVICE).manual_seed(2), device=DEVICE)
        glast = torch.randn(last.shape, generator=torch.Generator(device=DEVICE).manual_seed(3), device=DEVICE)
        grads = torch.autograd.grad((y * gy).sum() + (last * glast).sum(), leaves(args))
        results.append((y, last, grads))
    (y, last, grads), (y_ref, last_ref, grads_ref) = results
    names = [name for name, value in args.items() if isinstance(value, torch.Tensor) and value.requires_grad]
    pairs = {"y": (y, y_ref), "last_state": (last, last_ref)}
    pairs.update({f"d{name}": pair for name, *pair in zip(names, grads, grads_ref)})
    return {key: ((value - truth).abs().max().item(), truth.abs().max().item())
            for key, (value, truth) in pairs.items()}


def time_ms(fn, warmup: int, repeats: int) -> float:
    """Median milliseconds of fn, each run between its own pair of CUDA events."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def measure(scan, size: tuple, dtype: torch.dtype, warmup: int, repeats: int) -> tuple[float | None, float | None]:
    """(forward ms, forward + backward ms); None for a pass that ran out of memory."""
    batch, channels, state, length = size
    results = []
    for grad in (False, True):
        try:
            args = make_inputs(batch, channels, state, length, dtype, grad)
            if grad:
                gy = torch.randn(batch, channels, length, device=DEVICE, dtype=dtype)

                def run():
                    torch.autograd.grad(scan(**args), leaves(args), grad_outputs=gy)
            else:
                def run():
                    with torch.no_grad():
                        scan(**args)
            results.append(time_ms(run, warmup, repeats))
        except torch.cuda.OutOfMemoryError:
            results.append(None)
        finally:
            args = gy = run = None  # noqa: F841 - drop the inputs before the next case allocates
            torch.cuda.empty_cache()
    return results[0], results[1]


def forward_bytes(size: tuple, dtype: torch.dtype) -> int:
    """Bytes the forward must move at least: read u, delta, z and B, C, write y (A, D, bias are tiny)."""
    batch, channels, state, length = size
    element = torch.empty((), dtype=dtype).element_size()
    return element * length * batch * (4 * channels + 2 * state)


def fmt(value: float | None, spec: str = ".3f") -> str:
    return "OOM" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", help="also write the results to this JSON file")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("gpu_scan.py: no CUDA device found; this benchmark needs an NVIDIA GPU (the Triton kernels run on "
                 "CPU only under TRITON_INTERPRET=1, far too slowly to time).")
    from backbones.kernels.selective_scan_triton import selective_scan_triton

    name = torch.cuda.get_device_name()
    peak = peak_bandwidth(name)
    print(f"Device: {name}; peak bandwidth {f'{peak / 1e12:.2f} TB/s' if peak else 'unknown'}; "
          f"torch {torch.__version__}; {date.today()}\n")

    errors = check(selective_scan_triton)
    print("Check against the reference (fp32, batch 2, d_inner 24, d_state 16, L 300), max |error| (max |value|):")
    for key, (error, scale) in errors.items():
        print(f"  {key:12s} {error:.2e}  ({scale:.3g})")
    print()

    rows = []
    for dtype in (torch.float32, torch.bfloat16):
        for size in SIZES:
            triton_fwd, triton_both = measure(selective_scan_triton, size, dtype, args.warmup, args.repeats)
            chunked_fwd, chunked_both = measure(selective_scan_chunked, size, dtype, args.warmup, args.repeats)
            bandwidth = None if triton_fwd is None else forward_bytes(size, dtype) / (triton_fwd * 1e-3)
            row = dict(dtype=str(dtype).removeprefix("torch."), batch=size[0], d_inner=size[1], d_state=size[2],
                       length=size[3], triton_fwd_ms=triton_fwd, chunked_fwd_ms=chunked_fwd,
                       triton_fwd_bwd_ms=triton_both, chunked_fwd_bwd_ms=chunked_both,
                       triton_fwd_bytes_per_s=bandwidth,
                       triton_fwd_fraction_of_peak=None if bandwidth is None or peak is None else bandwidth / peak)
            rows.append(row)
            print(f"  {row['dtype']} {size}: triton {fmt(triton_fwd)} / {fmt(triton_both)} ms, "
                  f"chunked {fmt(chunked_fwd)} / {fmt(chunked_both)} ms", flush=True)

    def ratio(slow, fast):
        return "n/a" if slow is None or fast is None else f"{slow / fast:.2f}"

    print(f"\nSelective scan (with z, D, delta_bias, softplus), median of {args.repeats} runs after {args.warmup} "
          f"warm-up; ratio = chunked time / Triton time; bandwidth of the Triton forward.\n")
    print("| dtype | batch | d_inner | d_state | L | Triton fwd ms | chunked fwd ms | fwd ratio "
          "| Triton fwd+bwd ms | chunked fwd+bwd ms | fwd+bwd ratio | Triton fwd GB/s | of peak |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        bandwidth, fraction = row["triton_fwd_bytes_per_s"], row["triton_fwd_fraction_of_peak"]
        print(f"| {row['dtype']} | {row['batch']} | {row['d_inner']} | {row['d_state']} | {row['length']} "
              f"| {fmt(row['triton_fwd_ms'])} | {fmt(row['chunked_fwd_ms'])} "
              f"| {ratio(row['chunked_fwd_ms'], row['triton_fwd_ms'])} "
              f"| {fmt(row['triton_fwd_bwd_ms'])} | {fmt(row['chunked_fwd_bwd_ms'])} "
              f"| {ratio(row['chunked_fwd_bwd_ms'], row['triton_fwd_bwd_ms'])} "
              f"| {'n/a' if bandwidth is None else f'{bandwidth / 1e9:.0f}'} "
              f"| {'unknown' if fraction is None else f'{100 * fraction:.1f}%'} |")

    if args.out:
        with open(args.out, "w") as handle:
            check_errors = {key: dict(max_abs_error=error, max_abs_reference=scale)
                            for key, (error, scale) in errors.items()}
            json.dump(dict(device=name, peak_bytes_per_s=peak, torch=torch.__version__, date=str(date.today()),
                           warmup=args.warmup, repeats=args.repeats, check=check_errors, rows=rows),
                      handle, indent=2)
        print(f"\nWrote {args.out}")


if __name__ == "__main__":
    main()

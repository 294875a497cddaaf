#!/usr/bin/env bash
# Everything that needs an NVIDIA GPU, in one run (about 15 minutes on an H100/H200 class device):
# the Triton scan tests on CUDA, the scan timings with achieved bandwidth, bf16 Mamba/HyperMamba
# training steps through the product's trainer, the ETTh1 lookback-96 protocol at full size for
# one horizon; then the language-model tests on CUDA (8-bit/4-bit loading on the GPU), the TimeLLM
# step cost against neuralforecast's at GPT-2 small's depth, and TimeLLM's full protocol (lookback
# 512) for one horizon, each capped by a timeout; last, pretraining throughput. Results land in $OUT (default out/gpu).
#     bash benchmarks/gpu_session.sh
set -euo pipefail
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
PY=${PY:-.venv/bin/python}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/device.csv"
$PY -m pytest -q tests/test_selective_scan_triton.py tests/test_mamba.py tests/test_hypermamba.py 2>&1 | tee "$OUT/tests.txt"
$PY benchmarks/gpu_scan.py --out "$OUT/gpu_scan.json" 2>&1 | tee "$OUT/gpu_scan.txt"
$PY benchmarks/etth1.py --protocol lookback96 --full --horizons 96 --models mamba hypermamba dlinear \
    --out "$OUT/etth1_lookback96_full_h96.json" 2>&1 | tail -20 | tee "$OUT/etth1.txt"
$PY -m pytest -q tests/test_language.py tests/test_timellm.py 2>&1 | tee "$OUT/tests_language.txt"
timeout 240 $PY benchmarks/timellm_cost.py --device cuda --layers 12 --batch 32 --steps 5 2>&1 \
    | tail -16 | tee "$OUT/timellm_cost.txt" || true
timeout 420 $PY benchmarks/timellm.py --full --horizons 96 --out "$OUT/timellm_full_h96.json" 2>&1 \
    | grep -v -i warn | tail -30 | tee "$OUT/timellm_full.txt" || true
# pretraining throughput (patches per second) on the GPU, bf16, the bundled network's size and objective
timeout 300 .venv/bin/almanac pretrain --out "$OUT/pretrain_causal" --objective causal --windows 20000 --epochs 2 \
    --batch-size 256 --precision bf16 2>&1 | tail -2 | tee "$OUT/pretrain.txt" || true

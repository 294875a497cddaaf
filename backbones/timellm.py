"""Time-LLM (Jin et al., ICLR 2024): a frozen language model forecasts time series it is taught to read.

Each channel's window is normalised (RevIN) and cut into patches; a cross-attention reprograms the
patch embeddings onto "text prototypes", a learned linear map of the language model's word
embeddings, so that they live in its input space. A prompt prefix (Prompt-as-Prefix) states the
dataset, the task and the window's statistics (min, max, median, trend, top lags); the language
model reads prompt + patches, and a flatten head maps its outputs at the patch positions to the
horizon. Over a T5 loaded whole (`llm_decoder`), the encoder reads the prompt and the decoder reads the
patches, attending to it; the head reads the decoder.

The prompt is built without any per-sample Python: its fixed text is tokenised once, and each
statistic is written as a fixed-width number whose characters' token ids come from a lookup table,
so the ids for a whole batch are one tensor and are embedded in one call.

Ablations (Tan et al., NeurIPS 2024) by `body`: "language_model" (the paper), "none" (the language
model removed: reprogrammed patches go straight to the head) and "attention" (replaced by one
trained self-attention layer).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .batch import Batch
from .network import DataShape, Network
from .output import from_channel_rows, output_width
from .revin import RevIN

BODIES = ("language_model", "none", "attention")
NUMBER_CHARS = "0123456789+-."


@dataclass
class TimeLLMConfig:
    lookback: int                        # L
    horizon: int                         # H
    channels: int = 1                    # C
    quantiles: tuple[float, ...] = ()
    language_model: str | None = None    # hub name or directory; None: the bundled MiniLM
    llm_layers: int = 6                  # first k blocks of the language model
    tuning: str = "frozen"               # frozen | linear_probe | lora | layernorm | full
    llm_quantize: str | None = None      # None | 8bit | 4bit: the language model's weights through bitsandbytes
    llm_decoder: bool = False            # T5: the encoder reads the prompt, the decoder the patches
    lora_rank: int = 8
    body: str = "language_model"         # language_model | none | attention (ablations)
    patch_len: int = 16
    stride: int = 8
    d_model: int = 32                    # patch embedding width
    n_heads: int = 8                     # reprogramming attention heads
    d_ff: int = 128                      # language-model output features the head reads
    n_prototypes: int = 1000             # text prototypes
    dropout: float = 0.1
    description: str = "A time series."  # Prompt-as-Prefix: what the data is, in the user's words
    series_descriptions: tuple[str, ...] = ()  # per training series (Batch.series 1..n), its own ('' none)
    prompt: bool = True
    top_lags: int = 5
    revin: bool = True

    def __post_init__(self):
        if self.body not in BODIES:
            raise ValueError(f"body must be one of {BODIES}, got {self.body!r}")
        if self.patch_len > self.lookback + self.stride:
            raise ValueError(f"patch_len ({self.patch_len}) must be at most lookback + stride ({self.lookback + self.stride})")

    @property
    def n_patches(self) -> int:
        return (self.lookback + self.stride - self.patch_len) // self.stride + 1


class Prompt(nn.Module):
    """Prompt-as-Prefix token ids for a batch of windows, as one tensor [S, P]."""

    def __init__(self, tokenizer, description: str, lookback: int, horizon: int, top_lags: int,
                 series_descriptions: tuple[str, ...] = ()):
        super().__init__()
        texts = [f"Dataset description: {description} Task description: forecast the next {horizon} steps given "
                 f"the previous {lookback} steps. Input statistics: min value", "max value", "median value",
                 "trend", f"top {top_lags} lags are", "similar past periods then changed by"]
        encode = lambda text: tokenizer.encode(text, add_special_tokens=False)
        for i, text in enumerate(texts):
            self.register_buffer(f"text_{i}", torch.tensor(encode(text)), persistent=False)
        # row s: "Series description: ..." of training series s (row 0, an unseen series: none), padded at its
        # start with the tokenizer's padding token so that rows stack
        described = [encode(f"Series description: {text}") if text else [] for text in ("", *series_descriptions)]
        width, pad = max(map(len, described)), tokenizer.pad_token_id or 0
        self.register_buffer("series_text", torch.tensor([[pad] * (width - len(ids)) + ids for ids in described],
                                                         dtype=torch.long).reshape(len(described), width),
                             persistent=False)
        # one token per character of a number: its last token when encoded alone
        self.register_buffer("chars", torch.tensor([encode(c)[-1] for c in NUMBER_CHARS]), persistent=False)
        self.top_lags, self.lag_digits = top_lags, len(str(lookback))

    def forward(self, x: Tensor, analogue_change: Tensor | None = None, series: Tensor | None = None) -> Tensor:
        """x [S, L] normalised windows -> prompt token ids [S, P]; with `analogue_change` [S] (how far the
        retrieved analogues' futures ended from the window's last value, in its deviations), a sentence on it;
        with `series` [S] (Batch.series per window), each training series' own description first."""
        S = x.shape[0]
        trend = x[:, -1] - x[:, 0]                                                # the summed steps, as the paper's
        numbers = [x.min(1).values, x.max(1).values, x.median(1).values, trend]
        pieces = []
        if self.series_text.shape[1] and series is not None:
            pieces.append(self.series_text[series.clamp(0, len(self.series_text) - 1)])   # [S, P_d]
        for i, value in enumerate(numbers):
            pieces += [getattr(self, f"text_{i}").expand(S, -1), self._decimal(value)]
        pieces.append(getattr(self, f"text_{len(numbers)}").expand(S, -1))
        for lag in _top_lags(x, self.top_lags).unbind(1):
            pieces.append(self._integer(lag))
        if analogue_change is not None:
            pieces += [getattr(self, f"text_{len(numbers) + 1}").expand(S, -1), self._decimal(analogue_change)]
        return torch.cat(pieces, dim=1)

    def _decimal(self, value: Tensor) -> Tensor:
        """value [S] -> ids of "+12.34" (sign, two digits, point, two decimals), clamped to +-99.99."""
        cents = (value.clamp(-99.99, 99.99) * 100).round().long()
        digits = [cents.abs() // 10 ** k % 10 for k in (3, 2, 1, 0)]
        sign = torch.where(cents < 0, 11, 10)                                     # "-" or "+"
        point = torch.full_like(sign, 12)
        return self.chars[torch.stack([sign, digits[0], digits[1], point, digits[2], digits[3]], dim=1)]

    def _integer(self, value: Tensor) -> Tensor:
        """value [S] -> ids of its digits, zero-padded to the lookback's width."""
        return self.chars[torch.stack([value // 10 ** k % 10 for k in reversed(range(self.lag_digits))], dim=1)]


def _analogue_change(batch: Batch) -> Tensor | None:
    """With retrieved analogues (Batch.retrieved [B, k, H, C]): how far their futures' mean ended from each
    window's last value, in the window's deviations [B * C]; None without any (then the prompt says nothing)."""
    if batch.retrieved is None or batch.retrieved.shape[1] == 0:
        return None
    found = ~torch.isnan(batch.retrieved_similarity)                                 # [B, k]
    ends = batch.retrieved[:, :, -1, :].nan_to_num(0.0)                              # [B, k, C]
    count = found.sum(1, keepdim=True)                                               # [B, 1]
    mean_end = (ends * found[..., None]).sum(1) / count.clamp(min=1)                 # [B, C]
    deviation = batch.x.std(dim=1).clamp(min=1e-8)                                   # [B, C]
    change = torch.where(count > 0, (mean_end - batch.x[:, -1, :]) / deviation, torch.zeros_like(mean_end))
    return change.reshape(-1)                                                        # [B * C], as the windows


def _top_lags(x: Tensor, k: int) -> Tensor:
    """[S, L] -> [S, k] the lags (1 .. L-1) with the largest autocorrelation, by FFT."""
    L = x.shape[1]
    spectrum = torch.fft.rfft(x - x.mean(1, keepdim=True), n=2 * L)
    autocorrelation = torch.fft.irfft(spectrum * spectrum.conj(), n=2 * L)[:, 1:L]   # lags 1 .. L-1
    return autocorrelation.topk(min(k, L - 1), dim=1).indices + 1


class Reprogramming(nn.Module):
    """Cross-attention from patch embeddings [S, N, d_model] onto text prototypes [P, H] -> [S, N, H]."""

    def __init__(self, d_model: int, n_heads: int, d_llm: int, dropout: float):
        super().__init__()
        d_keys = d_model // n_heads or 1
        self.query = nn.Linear(d_model, d_keys * n_heads)
        self.key = nn.Linear(d_llm, d_keys * n_heads)
        self.value = nn.Linear(d_llm, d_keys * n_heads)
        self.out = nn.Linear(d_keys * n_heads, d_llm)
        self.n_heads, self.dropout = n_heads, dropout

    def forward(self, patches: Tensor, prototypes: Tensor) -> Tensor:
        S, N, _ = patches.shape
        split = lambda t: t.view(*t.shape[:-1], self.n_heads, -1).transpose(-3, -2)  # [.., heads, T, d_keys]
        q = split(self.query(patches))                                              # [S, heads, N, d_keys]
        k, v = split(self.key(prototypes)), split(self.value(prototypes))          # [heads, P, d_keys]
        attended = F.scaled_dot_product_attention(q, k.expand(S, -1, -1, -1), v.expand(S, -1, -1, -1),
                                                  dropout_p=self.dropout if self.training else 0.0)
        return self.out(attended.transpose(1, 2).reshape(S, N, -1))                 # [S, N, H]


class TimeLLM(nn.Module):
    def __init__(self, config: TimeLLMConfig):
        from .language import apply_tuning, load_language_model  # transformers loads only when a TimeLLM is built

        super().__init__()
        self.config = config
        # the language model's word embeddings and tokenizer are needed by every body (prototypes, prompt)
        language_model = load_language_model(config.language_model, layers=config.llm_layers,
                                             quantize=config.llm_quantize, encoder_decoder=config.llm_decoder)
        d_llm = language_model.hidden_size
        if config.body == "language_model":
            self.language_model = apply_tuning(language_model, config.tuning, lora_rank=config.lora_rank)
            self.word_embedding = None
        else:          # the ablations keep the word embeddings alone, for the prototypes
            self.language_model = None
            self.word_embedding = WordEmbedding(language_model.body.get_input_embeddings())
        self.prompt = (Prompt(language_model.tokenizer, config.description, config.lookback, config.horizon,
                              config.top_lags, tuple(config.series_descriptions))
                       if config.prompt and config.body == "language_model" else None)
        self.patch_embedding = nn.Linear(config.patch_len, config.d_model)
        self.to_prototypes = nn.Linear(self.word_embeddings.shape[0], config.n_prototypes)
        self.reprogramming = Reprogramming(config.d_model, config.n_heads, d_llm, config.dropout)
        self.attention = (nn.TransformerEncoderLayer(d_llm, nhead=_heads_for(d_llm), dim_feedforward=2 * d_llm,
                                                     dropout=config.dropout, batch_first=True)
                          if config.body == "attention" else None)
        self.d_ff = min(config.d_ff, d_llm)
        self.head = nn.Sequential(nn.Flatten(1), nn.Dropout(config.dropout),
                                  nn.Linear(config.n_patches * self.d_ff, config.horizon * output_width(config.quantiles)))
        self.revin = RevIN(config.channels) if config.revin else None
        if config.tuning == "linear_probe":       # GPT-1 style: only the head trains
            for module in (self.patch_embedding, self.to_prototypes, self.reprogramming):
                module.requires_grad_(False)

    @property
    def word_embeddings(self) -> Tensor:
        """[V, H] the language model's word embeddings, read where they are: they move, and may train, with it."""
        if self.language_model is not None:
            return self.language_model.word_embeddings
        return self.word_embedding.embedding.weight

    def forward(self, batch: Batch) -> Tensor:
        """batch.x [B, L, C] -> [B, H, C], or [B, H, C, Q] with quantiles."""
        cfg = self.config
        x = batch.x
        B, L, C = x.shape
        if self.revin is not None:
            x, stats = self.revin.normalize(x)
        series = x.transpose(1, 2).reshape(B * C, L)                                  # [S, L] channel independent
        change = _analogue_change(batch)                                             # [S], or None
        numbers = None if batch.series is None else batch.series.repeat_interleave(C)  # [S] each row's series
        patches = F.pad(series, (0, cfg.stride), mode="replicate").unfold(1, cfg.patch_len, cfg.stride)  # [S, N, P]
        prototypes = self.to_prototypes(self.word_embeddings.detach().T).T           # [n_prototypes, H]
        h = self.reprogramming(self.patch_embedding(patches), prototypes)            # [S, N, H]
        if self.language_model is not None:
            if self.language_model.encoder_decoder:         # the head reads the decoder, which attends to the prompt
                context = h if self.prompt is None else self.language_model.embed_tokens(
                    self.prompt(series, change, numbers))
                h = self.language_model(context.to(h.dtype), decoder_inputs_embeds=h)   # [S, N, H]
            elif self.prompt is not None:
                prefix = self.language_model.embed_tokens(self.prompt(series, change, numbers))  # [S, P, H]
                h = self.language_model.continue_after(prefix.to(h.dtype), h)         # [S, N, H]
            else:
                h = self.language_model(h)
        elif self.attention is not None:
            h = self.attention(h)
        y = self.head(h[..., :self.d_ff])                                            # [S, H * Q]
        y = from_channel_rows(y.view(B, C, -1), cfg.horizon, cfg.quantiles)          # [B, H, C(, Q)]
        if self.revin is not None:
            y = self.revin.denormalize(y, stats)
        return y


class WordEmbedding(nn.Module):
    """A language model's word embeddings without the model: frozen, and built again from its source."""

    pretrained = True

    def __init__(self, embedding: nn.Embedding):
        super().__init__()
        self.embedding = embedding


def _heads_for(width: int) -> int:
    """The most heads (at most 8) that divide the width."""
    return next(h for h in (8, 6, 4, 3, 2, 1) if width % h == 0)


def _language_model_defaults(body: str):
    def defaults(data: DataShape) -> dict:
        return {"revin": True, "description": data.description, "series_descriptions": list(data.series_descriptions),
                "body": body}
    return defaults


# Epochs are 20 steps, not the product's 100: every step runs the language model over the prompt and
# the patches of 32 windows (about 1.5 s on 2 CPU cores), so a default fit takes minutes, not half an hour.
_TRAINING = {"steps_per_epoch": 20}
NETWORKS = [
    Network(name="timellm", summary="TimeLLM: patches reprogrammed into a frozen language model, with a prompt "
                                    "describing the data (Jin et al. 2024)",
            config=TimeLLMConfig, module=TimeLLM, defaults=_language_model_defaults("language_model"),
            inputs=frozenset({"retrieved"}), language_model=True, training=_TRAINING),
    Network(name="timellm_no_lm", summary="TimeLLM with the language model removed: reprogrammed patches straight "
                                          "to the head (ablation)",
            config=TimeLLMConfig, module=TimeLLM, defaults=_language_model_defaults("none"), training=_TRAINING),
    Network(name="timellm_attention", summary="TimeLLM with the language model replaced by one trained attention "
                                              "layer (ablation)",
            config=TimeLLMConfig, module=TimeLLM, defaults=_language_model_defaults("attention"), training=_TRAINING),
]

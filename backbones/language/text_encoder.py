"""Text covariates as vectors: a BERT or RoBERTa encoder's pooled, unit-length sentence embeddings, cached on disk.

Each distinct text is encoded once. The cache (SQLite, no pickle) is keyed by the encoder's identity (its
source and, for a directory, its config and weight files' sizes and times), the pooling, the token limit and
the text's SHA-256, so a second fit re-encodes nothing and changing any of those encodes afresh. Empty text
is no text: a zero vector, never encoded.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import AutoConfig

from .loader import LanguageModel, default_language_model, load_language_model, source_files

POOLINGS = ("mean", "cls")
CACHE_ENV = "ALMANAC_CACHE_DIR"     # where the cache lives (default ~/.cache/almanac)


@dataclass(frozen=True)
class TextEncoderConfig:
    model: str | None = None         # hub name or directory of a BERT or RoBERTa model; None: the bundled MiniLM
    pooling: str = "mean"            # "mean" over the text's tokens, or the first token's state ("cls")
    max_tokens: int = 128            # longer texts are cut to their first max_tokens tokens (and counted)
    batch_size: int = 64

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if self.max_tokens < 2 or self.batch_size < 1:
            raise ValueError(f"max_tokens must be at least 2 and batch_size positive, got {self.max_tokens} and "
                             f"{self.batch_size}")


@dataclass
class EncodingStats:
    """What one `encode` call did: distinct non-empty texts, how many came from the cache, how many were
    encoded, how many of those were cut at max_tokens, and the seconds it took."""

    texts: int = 0
    cached: int = 0
    encoded: int = 0
    truncated: int = 0
    seconds: float = 0.0

    @property
    def hit_rate(self) -> float:
        return self.cached / self.texts if self.texts else 1.0


def default_cache_path() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "almanac") / "text_embeddings.sqlite"


class TextEncoder:
    """texts -> [N, D] float32 embeddings. cache_path: the SQLite file (None: the default; False: no cache)."""

    def __init__(self, config: TextEncoderConfig = TextEncoderConfig(), cache_path: Path | str | None | bool = None):
        self.config = config
        self.source = config.model or default_language_model()
        self._language_model: LanguageModel | None = None
        self._dim: int | None = None
        self.cache = None if cache_path is False else EmbeddingCache(
            Path(cache_path) if cache_path else default_cache_path())
        self.key = _encoder_key(self.source, config)
        self.shared: dict[str, np.ndarray] = {}     # vectors by text hash that another process encoded (see share)
        self.last = EncodingStats()

    @property
    def language_model(self) -> LanguageModel:
        if self._language_model is None:
            language_model = load_language_model(self.source)
            if language_model.family != "bert":
                raise ValueError(f"text covariates are encoded by BERT or RoBERTa models; {self.source!r} is a "
                                 f"{language_model.body.config.model_type!r} model")
            self._language_model = language_model
        return self._language_model

    @property
    def dim(self) -> int:
        """The vectors' width, read from the model's config (the weights are loaded only to encode)."""
        if self._dim is None:
            self._dim = (self._language_model.body.config.hidden_size if self._language_model is not None
                         else AutoConfig.from_pretrained(self.source, local_files_only=Path(self.source).is_dir())
                         .hidden_size)
        return self._dim

    def encode(self, texts: Sequence[str | None]) -> np.ndarray:
        """[N, D] unit vectors, zeros for empty or missing texts; `last` says what was cached and encoded."""
        started = time.perf_counter()
        strings = cleaned(texts)
        distinct = sorted({text for text in strings if text})
        hashes = [text_hash(text) for text in distinct]
        vectors = {digest: self.shared[digest] for digest in hashes if digest in self.shared}
        if self.cache is not None and len(vectors) < len(hashes):
            vectors |= self.cache.get(self.key, [digest for digest in hashes if digest not in vectors])
        missing = [(text, digest) for text, digest in zip(distinct, hashes) if digest not in vectors]
        truncated = 0
        if missing:
            encoded, truncated = self._encode([text for text, _ in missing])
            fresh = {digest: vector for (_, digest), vector in zip(missing, encoded)}
            if self.cache is not None:
                self.cache.put(self.key, fresh)
            vectors.update(fresh)
        by_text = dict(zip(distinct, (vectors[digest] for digest in hashes)))
        out = np.zeros((len(strings), self.dim), np.float32)
        for i, text in enumerate(strings):
            if text:
                out[i] = by_text[text]
        self.last = EncodingStats(len(distinct), len(distinct) - len(missing), len(missing), truncated,
                                  time.perf_counter() - started)
        return out

    def vectors(self, texts: Sequence[str | None]) -> dict[str, np.ndarray]:
        """The vectors of the distinct non-empty texts, by `text_hash`: what `share` hands to another process."""
        distinct = sorted(set(cleaned(texts)) - {""})
        return dict(zip(map(text_hash, distinct), self.encode(distinct)))

    def share(self, vectors: dict[str, np.ndarray]) -> None:
        """Take these vectors (from `vectors` in another process) before the cache: a cluster's workers get every
        text's vector from the client that encoded it once, and never load the model for them."""
        self.shared = vectors
        if vectors:
            self._dim = len(next(iter(vectors.values())))

    @torch.no_grad()
    def _encode(self, texts: list[str]) -> tuple[np.ndarray, int]:
        """Encode texts in batches of similar length: (unit vectors [N, D], how many were cut at max_tokens)."""
        tokenizer, body = self.language_model.tokenizer, self.language_model.body
        lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=True)["input_ids"]]
        order = np.argsort(lengths)                          # similar lengths together: little padding
        out = np.zeros((len(texts), body.config.hidden_size), np.float32)
        for start in range(0, len(texts), self.config.batch_size):
            rows = order[start:start + self.config.batch_size]
            tokens = tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                               max_length=self.config.max_tokens, return_tensors="pt")
            states = body(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]).last_hidden_state
            if self.config.pooling == "cls":
                pooled = states[:, 0]                                                    # [B, D]
            else:
                mask = tokens["attention_mask"][..., None].to(states.dtype)             # [B, T, 1]
                pooled = (states * mask).sum(1) / mask.sum(1)                            # [B, D]
            out[rows] = torch.nn.functional.normalize(pooled.float(), dim=1).numpy()
        return out, sum(length > self.config.max_tokens for length in lengths)


class EmbeddingCache:
    """Vectors by (encoder key, text hash) in one SQLite file, shared by processes (a write is one transaction)."""

    def __init__(self, path: Path):
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=60)
        connection.execute("CREATE TABLE IF NOT EXISTS embeddings (encoder TEXT, text_hash TEXT, vector BLOB, "
                           "PRIMARY KEY (encoder, text_hash))")
        return connection

    def get(self, encoder: str, hashes: list[str]) -> dict[str, np.ndarray]:
        found = {}
        with self._connect() as connection:
            for start in range(0, len(hashes), 500):       # SQLite's limit on bound parameters
                part = hashes[start:start + 500]
                rows = connection.execute(
                    f"SELECT text_hash, vector FROM embeddings WHERE encoder = ? AND text_hash IN "
                    f"({','.join('?' * len(part))})", [encoder, *part])
                found.update({digest: np.frombuffer(blob, np.float32).copy() for digest, blob in rows})
        return found

    def put(self, encoder: str, vectors: dict[str, np.ndarray]) -> None:
        with self._connect() as connection:
            connection.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)",
                                   [(encoder, digest, vector.astype(np.float32).tobytes())
                                    for digest, vector in vectors.items()])

    def count(self, encoder: str | None = None) -> int:
        with self._connect() as connection:
            query, arguments = ("SELECT COUNT(*) FROM embeddings", ()) if encoder is None else (
                "SELECT COUNT(*) FROM embeddings WHERE encoder = ?", (encoder,))
            return connection.execute(query, arguments).fetchone()[0]


def cleaned(texts: Sequence[object]) -> list[str]:
    """Each cell as the text it is encoded as: stripped; "" for a missing one (None, NaN)."""
    return ["" if text is None or (isinstance(text, float) and np.isnan(text)) else str(text).strip()
            for text in texts]


def text_hash(text: str) -> str:
    """A text's key in the cache and in shared vectors."""
    return hashlib.sha256(text.encode()).hexdigest()


def _encoder_key(source: str, config: TextEncoderConfig) -> str:
    """The encoder's identity: its source, and for a directory the sizes and times of its files (a model saved
    again over the same directory is a new encoder); the pooling and token limit."""
    identity = {"source": source, "files": source_files(source), "pooling": config.pooling,
                "max_tokens": config.max_tokens}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()

"""Text covariates as numbers for the models: each distinct text encoded once (the encoder caches on disk), and
reduced to a few principal components where a classical model takes them as regressors.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from backbones.language.text_encoder import TextEncoder, TextEncoderConfig
from forecasting.models.base import HistoryText

SHOWN_TEXTS = 3      # texts named at each end of a component


@cache
def text_encoder(config: TextEncoderConfig) -> TextEncoder:
    """One encoder per config in a process: its weights load once, and `last` tells what the latest call did."""
    return TextEncoder(config)


def encoded(text: HistoryText, with_ahead: bool) -> tuple[list[np.ndarray], np.ndarray]:
    """Each series' text as codes [T_s, M] (with `with_ahead`, [T_s + h, M]: the horizon's text after) into a
    table of embeddings [V, E] whose row 0 is zeros, the code of a step without text."""
    blocks = [np.concatenate([past, ahead]) if with_ahead else past for past, ahead in zip(text.past, text.ahead)]
    cells = np.concatenate([block.reshape(-1) for block in blocks]) if blocks else np.array([], object)
    distinct = [""] + sorted(set(cells.tolist()) - {""})
    code = {cell: i for i, cell in enumerate(distinct)}
    codes = [np.vectorize(code.__getitem__, otypes=[np.int64])(block) if block.size else
             np.zeros(block.shape, np.int64) for block in blocks]
    return codes, text_encoder(text.encoder).encode(distinct)


@dataclass
class TextComponents:
    """Principal components of the embeddings of the texts known in advance, per such column: a step's regressors
    are, per column, whether it carries text and its text's scores on the column's components (0 without text)."""

    columns: list[str]          # the columns known in advance
    mean: np.ndarray            # [M, E] per column, the mean embedding of its distinct texts
    basis: np.ndarray           # [M, K, E] per column, its K components
    texts: list[list[str]]      # per column, its distinct texts when the components were found
    encoder: TextEncoderConfig

    @classmethod
    def fit(cls, text: HistoryText, k: int) -> TextComponents | None:
        """Components of the distinct texts in `text`'s known-in-advance columns (None: no such text)."""
        known = [m for m, is_known in enumerate(text.known) if is_known]
        distinct = [sorted({cell for past, ahead in zip(text.past, text.ahead)
                            for cell in np.concatenate([past[:, m], ahead[:, m]]).tolist()} - {""}) for m in known]
        return cls.from_texts([text.columns[m] for m in known], distinct, k, text.encoder)

    @classmethod
    def from_texts(cls, columns: list[str], texts: list[list[str]], k: int,
                   encoder_config: TextEncoderConfig) -> TextComponents | None:
        """Components of each known-in-advance column's distinct non-empty `texts`, sorted (None: no such text)."""
        if not columns or k < 1 or not any(texts):
            return None
        encoder = text_encoder(encoder_config)
        means, bases = [], []
        for distinct in texts:
            vectors = encoder.encode(distinct) if distinct else np.zeros((0, encoder.dim), np.float32)
            mean = vectors.mean(0) if len(vectors) else np.zeros(encoder.dim, np.float32)
            basis = np.zeros((k, encoder.dim), np.float32)
            if len(vectors) > 1:
                directions = np.linalg.svd(vectors - mean, full_matrices=False)[2][:k]       # [<=K, E]
                basis[:len(directions)] = directions
            means.append(mean)
            bases.append(basis)
        return cls(list(columns), np.stack(means), np.stack(bases), [list(t) for t in texts], encoder_config)

    @property
    def names(self) -> list[str]:
        """The regressors' names, in the order `regressors` gives them."""
        k = self.basis.shape[1]
        return [name for column in self.columns
                for name in [f"{column}: has text", *(f"{column}: component {i + 1}" for i in range(k))]]

    def regressors(self, columns: list[str], cells: np.ndarray) -> np.ndarray:
        """cells [T, M] (of `columns`, all the text columns) -> regressors [T, M_known * (1 + K)]."""
        out = []
        for column, mean, basis in zip(self.columns, self.mean, self.basis):
            column_cells = cells[:, columns.index(column)]
            has_text = column_cells != ""
            scores = self._scores(column_cells.tolist(), mean, basis) * has_text[:, None]
            out.append(np.column_stack([has_text, scores]))
        return np.concatenate(out, axis=1).astype(float)

    def _scores(self, texts: list[str], mean: np.ndarray, basis: np.ndarray) -> np.ndarray:
        """texts' scores on the components [N, K]."""
        return (text_encoder(self.encoder).encode(texts) - mean) @ basis.T

    def describe(self) -> pd.DataFrame:
        """Per component: the texts that score highest and lowest on it (what the component means)."""
        rows = []
        for column, mean, basis, texts in zip(self.columns, self.mean, self.basis, self.texts):
            rows.append({"regressor": f"{column}: has text", "high": "any text", "low": "no text"})
            scores = self._scores(texts, mean, basis)
            for i in range(basis.shape[0]):
                order = np.argsort(scores[:, i])
                rows.append({"regressor": f"{column}: component {i + 1}",
                             "high": " | ".join(texts[j] for j in order[::-1][:SHOWN_TEXTS]),
                             "low": " | ".join(texts[j] for j in order[:SHOWN_TEXTS])})
        return pd.DataFrame(rows, columns=["regressor", "high", "low"])

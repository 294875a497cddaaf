"""How retrieved futures combine: a softmax over similarity, and weighted quantiles of their spread."""
from __future__ import annotations

import numpy as np


def softmax_weights(similarity: np.ndarray, temperature: float) -> np.ndarray:
    """similarity [Q, k] (NaN: no analogue) -> weights [Q, k] summing to 1 over the analogues found
    (0 where none was found): exp(similarity / temperature), normalised (RAFT's weighting)."""
    found = ~np.isnan(similarity)
    scaled = np.where(found, similarity, -np.inf) / temperature
    top = np.max(scaled, axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    weights = np.where(found, np.exp(scaled - top), 0.0)
    total = weights.sum(axis=1, keepdims=True)
    return np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, quantiles: list[float]) -> np.ndarray:
    """values [Q, k, H] with weights [Q, k] -> [len(quantiles), Q, H]: per query and step, the smallest
    value whose cumulative weight reaches each quantile (weights summing to 1)."""
    order = np.argsort(values, axis=1)
    ordered = np.take_along_axis(values, order, axis=1)                          # [Q, k, H]
    cumulative = np.cumsum(np.take_along_axis(np.broadcast_to(weights[:, :, None], values.shape), order, axis=1),
                           axis=1)                                               # [Q, k, H]
    picks = [np.minimum((cumulative < q - 1e-12).sum(axis=1, keepdims=True), values.shape[1] - 1)
             for q in quantiles]                                                 # first index reaching q
    return np.stack([np.take_along_axis(ordered, pick, axis=1)[:, 0, :] for pick in picks])

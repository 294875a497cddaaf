"""The one input every backbone's `forward` takes.

Optional fields that a backbone does not use are ignored, so later inputs (retrieved neighbours,
text embeddings, series conditioning) plug into any backbone without changing its signature.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch


@dataclass
class Batch:
    x: torch.Tensor                      # [B, L, C] history, already scaled
    x_time: torch.Tensor | None = None   # [B, L, F] calendar features of the history steps
    y_time: torch.Tensor | None = None   # [B, label_len + H, F] calendar features of the decoder steps
    series: torch.Tensor | None = None   # [B] long: 1 + index of the training series, 0 for a series unseen in training
    series_embedding: torch.Tensor | None = None  # [B, E] an external description of each series (e.g. text)
    retrieved: torch.Tensor | None = None             # [B, k, H, C] futures of the k analogues, in x's units
    retrieved_similarity: torch.Tensor | None = None  # [B, k] their similarity to x's window (NaN: none found)
    retrieved_history: torch.Tensor | None = None     # [B, k, L, C] the analogues' own lookback windows, likewise
    text: torch.Tensor | None = None     # [B, L + H, M, E] each step's text embeddings per text column (0: none)

    def to(self, device: torch.device | str) -> Batch:
        return Batch(**{f.name: None if (value := getattr(self, f.name)) is None else value.to(device)
                        for f in fields(self)})

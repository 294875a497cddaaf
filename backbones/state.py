"""What of a network is its own: its state, less what building it loads again from a source.

A module that sets `pretrained = True` (a language model, its word embeddings) is rebuilt from its
source (a hub name or directory) whenever the network is built: its frozen weights, buffers and
quantization states never go into snapshots, checkpoints or saved models; its trainable parameters
(under full or layer-norm tuning, say) do.
"""
from __future__ import annotations

import torch
from torch import nn


def is_pretrained(module: nn.Module) -> bool:
    return bool(getattr(module, "pretrained", False))


def trained_state(network: nn.Module) -> dict[str, torch.Tensor]:
    """The network's state minus the entries that building it loads again."""
    rebuilt = rebuilt_keys(network)
    return {key: value for key, value in network.state_dict().items() if key not in rebuilt}


def load_trained_state(network: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load a `trained_state` into a freshly built network; anything else missing or extra is an error."""
    result = network.load_state_dict(state, strict=False)
    missing = set(result.missing_keys) - rebuilt_keys(network)
    if missing or result.unexpected_keys:
        raise ValueError(f"saved network does not fit the rebuilt one: missing {sorted(missing)[:5]}, "
                         f"unexpected {sorted(result.unexpected_keys)[:5]}")


def rebuilt_keys(network: nn.Module) -> set[str]:
    """State entries of pretrained modules other than their trainable parameters."""
    keys = set(network.state_dict())
    trainable = {name for name, parameter in network.named_parameters() if parameter.requires_grad}
    prefixes = tuple(f"{prefix}." if prefix else "" for prefix, module in network.named_modules()
                     if is_pretrained(module))
    return {key for key in keys if key.startswith(prefixes) and key not in trainable}

"""Where building a network may read pretrained weights from.

Fitting may name a hub model (downloaded once, where there is internet). Rebuilding a saved network
reads local directories only: inside `local_sources_only()`, a source that is not an existing
directory is refused before anything is fetched, so loading a model file never reaches the network.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_LOCAL_ONLY: ContextVar[bool] = ContextVar("local_sources_only", default=False)


@contextmanager
def local_sources_only() -> Iterator[None]:
    """Networks built inside read pretrained weights from local directories only."""
    token = _LOCAL_ONLY.set(True)
    try:
        yield
    finally:
        _LOCAL_ONLY.reset(token)


def local_only() -> bool:
    return _LOCAL_ONLY.get()

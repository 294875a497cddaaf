"""A browser session's end: the work it started stops, and what it kept is released.

A session ends when its browser disconnects (the tab closed, the network gone). Streamlit then asks the
script run to stop, which it can only do at the script's next Streamlit call; the progress callbacks
call `stop_if_ended` after every training step and at least every second while worker processes run,
and the forecasting code ends those workers as the stop unwinds it.

Streamlit keeps a disconnected session (its state, results and uploaded files) for
server.disconnectedSessionTTL seconds, so that a browser coming back finds it, and then merely forgets
it: its uploaded files are never freed. `keep_track` closes it through Streamlit's own shutdown, which
frees all of it, just before that window ends, unless the browser came back.

Freed memory goes back to the system only if the C allocator lets it: glibc gives threads their own
malloc arenas (up to 8 per core) and keeps what they free, and every session runs on new threads, so a
server would grow by each session's peak. With two arenas, and a trim when a session is closed, it
returns to where it was. `make run` and the Docker image set MALLOC_ARENA_MAX=2; the same limit is set
here for a server started otherwise (it applies to the arenas made from then on).

glibc also raises its mmap threshold each time a mapped block is freed (up to 32 MB), so after the first
upload the next ones' buffers and arrays come from the heap, between blocks that live on, and the trim cannot
return them: a closed session could leave 25 to 50 MB behind. A fixed threshold of MMAP_THRESHOLD keeps every
block that large in its own mapping, which goes back to the system the moment it is freed.
"""
from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
from dataclasses import dataclass

import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.runtime.state import SafeSessionState

CLOSE_BEFORE_S = 5.0  # the close runs this long before Streamlit forgets the session (it must still be there)
MALLOC_ARENAS = 2
MMAP_THRESHOLD = 1 << 20
M_ARENA_MAX = -8      # glibc's mallopt parameter numbers
M_MMAP_THRESHOLD = -3

_LOG = logging.getLogger(__name__)
_LIBC = ctypes.CDLL(None)  # the symbols of this process, the C library's among them
_GLIBC = hasattr(_LIBC, "mallopt") and hasattr(_LIBC, "malloc_trim")  # not on macOS or musl: nothing to do there
if _GLIBC:
    _LIBC.mallopt(M_ARENA_MAX, MALLOC_ARENAS)
    _LIBC.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)  # set, it no longer moves


def stop_if_ended() -> None:
    """Stop this script run (st.stop) when its browser session has ended."""
    context = get_script_run_ctx()
    if context is not None and Runtime.exists() and not Runtime.instance().is_active_session(context.session_id):
        st.stop()


def keep_track() -> None:
    """Have this session closed once its browser has gone for good (call on every run; the first one counts)."""
    context = get_script_run_ctx()
    if context is not None and Runtime.exists():
        _session_watch(context.session_id)


@dataclass(frozen=True)
class _Watch:
    """What closing a session needs: its id, and its state, to empty (Streamlit's runtime loop may keep
    a reference to the last session it served, and with it the state, until another browser connects)."""

    session_id: str
    state: SafeSessionState


def _close_when_gone(watch: _Watch) -> None:
    """on_release of the session's watch: Streamlit calls it on the server's event loop when the session
    disconnects (and again when it shuts down, when there is nothing left to do)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # released off the event loop: the runtime itself is stopping
        return
    reconnect_window = float(st.get_option("server.disconnectedSessionTTL"))
    loop.call_later(max(reconnect_window - CLOSE_BEFORE_S, 0.0), _close_if_still_gone, watch)


def _close_if_still_gone(watch: _Watch) -> None:
    if not Runtime.exists() or Runtime.instance().is_active_session(watch.session_id):
        return
    _LOG.info("closing session %s: its browser did not come back", watch.session_id)
    Runtime.instance().close_session(watch.session_id)
    for key in list(watch.state.filtered_state):  # data, results and the uploaded file's widget value
        del watch.state[key]
    _return_freed_memory()


@st.cache_resource(scope="session", on_release=_close_when_gone, show_spinner=False)
def _session_watch(session_id: str) -> _Watch:
    """A session-scoped resource, only for its release: Streamlit releases those when the session disconnects."""
    return _Watch(session_id, get_script_run_ctx().session_state)



def _return_freed_memory() -> None:
    """Hand the memory a closed session freed back to the system (cycles collected first)."""
    gc.collect()
    if _GLIBC:
        _LIBC.malloc_trim(0)

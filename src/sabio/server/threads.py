"""Which threads run what: short requests on a few threads, waiting work on others.

FastAPI runs sync routes on anyio's worker threads (40 by default). Measured with
``bench/load.py``: twenty concurrent searches on forty threads spent much of their time
handing Python's GIL around, and their p95 was lower on a few threads
(docs/benchmarks.md, "Server under load"). So short requests get
:data:`REQUEST_THREADS`.
Work that mostly waits (an answer waiting for the model's next words, uploads being
indexed by a worker process) runs with :func:`run_waiting` on threads of its own, so it
never holds one of those: five slow answers must not leave searches without a thread.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from anyio.lowlevel import RunVar

REQUEST_THREADS = max(4, 2 * (os.cpu_count() or 2))
"""Threads for short requests. Measured on 2 cores, search p95 with 20 search and 5 ask
clients: 187 ms on 2 threads, 192-199 ms on 4, 266 ms on 8, 282 ms on 40 (anyio's
default). Not fewer than 4: a request that waits for the writer (creating a chat during
a long upload) holds its thread meanwhile."""
WAITING_THREADS = 200
"""At most this many answers, pulls and uploads at once; more wait for a turn."""

_WAITING: RunVar[CapacityLimiter] = RunVar("sabio_waiting_threads")
T = TypeVar("T")


def configure() -> None:
    """Size the worker threads of the running event loop (call at the app's start)."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = REQUEST_THREADS


async def run_waiting(func: Callable[..., T], *args: object) -> T:
    """``func(*args)`` on a thread for work that mostly waits."""
    try:
        limiter = _WAITING.get()
    except LookupError:
        limiter = CapacityLimiter(WAITING_THREADS)
        _WAITING.set(limiter)
    return await anyio.to_thread.run_sync(func, *args, limiter=limiter)

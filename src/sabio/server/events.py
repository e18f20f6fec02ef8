"""Server-sent events from a blocking generator: streamed answers, model downloads.

The generator yields ``(event, data)`` pairs and runs step by step on the threads for
waiting work (:mod:`sabio.server.threads`; a model or Ollama is read with blocking
calls). Its first step runs before the response starts, so whatever fails before the
first event (unknown knowledge base, model or Ollama not there) is the plain JSON error
of :mod:`sabio.server.errors`; a Sabio error later is one last ``event: error`` with the
same ``{"error": {"code", "message"}}``.
The generator is closed as soon as the stream ends or its client goes away: a model may
hold a lock while it streams, and a download should not go on for nobody.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any

import anyio
from fastapi.responses import StreamingResponse

from sabio.errors import SabioError
from sabio.server.errors import error_body, sabio_error_body
from sabio.server.threads import run_waiting

Event = tuple[str, Any]
"""An event's name and its data (sent as JSON)."""

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def event_stream(events: Iterator[Event]) -> StreamingResponse:
    """``events`` as a ``text/event-stream`` response (see the module docstring)."""
    try:
        first = await run_waiting(next, events, None)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await run_waiting(close_iterator, events)
        raise
    return _EventResponse(events, first)


class _EventResponse(StreamingResponse):
    """The stream of ``events``; whatever happens to the response (sent in full, its
    client gone before or while it streams), ``events`` is closed when it ends, on the
    server's loop, not later by the garbage collector (when the data may be closed)."""

    def __init__(self, events: Iterator[Event], first: Event | None) -> None:
        super().__init__(_send(events, first), media_type="text/event-stream", headers=HEADERS)
        self.events = events

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.body_iterator.aclose()  # type: ignore[attr-defined]
                await run_waiting(close_iterator, self.events)


async def _send(events: Iterator[Event], first: Event | None) -> AsyncIterator[str]:
    try:
        event = first
        while event is not None:
            yield format_event(*event)
            event = await run_waiting(next, events, None)
    except SabioError as exc:
        yield format_event("error", sabio_error_body(exc))
    except Exception:
        bug = error_body("internal", "internal error: this is a bug in Sabio")
        yield format_event("error", bug)
        raise
    finally:
        with anyio.CancelScope(shield=True):  # the client may have gone: still close
            await run_waiting(close_iterator, events)


def close_iterator(iterator: Iterator[Any]) -> None:
    """End a generator now (its ``finally`` blocks and ``with`` exits run); other
    iterators have nothing to close."""
    if isinstance(iterator, Generator):
        iterator.close()


def format_event(name: str, data: object) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"

"""A knowledge base's counts as they change, as server-sent events, for the web app's
headers and Sources tab instead of polling: ``GET /api/v1/kbs/{name}/events``.

The stream sends ``counts`` ({documents, passages, alerts}: the review's unseen alerts)
when it starts and whenever the knowledge base's documents, its sources' items or their
syncs, or its alerts changed since, then
``changed`` ({}) for the page to read what it shows again. Every :data:`LOOK_SECONDS` it
asks SQLite whether anything was committed at all (``data_version``: nothing to read,
whoever wrote, a separate ``sabio worker`` too), and only then whether it concerned this
knowledge base. It ends
after :data:`STREAM_SECONDS` (the browser's ``EventSource`` opens it again by itself,
after ``retry``), so that no stream outlives a stopping server for long.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from sabio.server.api import ERRORS, ServicesDep
from sabio.server.events import HEADERS, format_event
from sabio.server.links import API_PREFIX
from sabio.server.services import Services

LOOK_SECONDS = 1.0
STREAM_SECONDS = 120.0
RETRY_MS = 1000

router = APIRouter(prefix=API_PREFIX, tags=["knowledge bases"], responses=ERRORS)


@router.get(
    "/kbs/{name}/events",
    summary="Counts as they change (server-sent events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def kb_events(name: str, request: Request, services: ServicesDep) -> StreamingResponse:
    """``counts`` {documents, passages} at once and after every change of the documents
    or the sources' syncs, each followed by ``changed``; the stream ends after two
    minutes (an ``EventSource`` reconnects)."""
    kb = await run_in_threadpool(services.reader.get_kb, name)
    events = _events(request, services, kb.id)
    return StreamingResponse(events, media_type="text/event-stream", headers=HEADERS)


async def _events(request: Request, services: Services, kb_id: int) -> AsyncIterator[str]:
    reader = services.reader
    yield f"retry: {RETRY_MS}\n\n"
    seen: tuple[object, ...] | None = None
    written = -1
    ends = time.monotonic() + STREAM_SECONDS
    with reader.watching() as data_version:
        while time.monotonic() < ends and not await request.is_disconnected():
            version = await run_in_threadpool(data_version)
            if version != written:  # something was committed: did it concern this one?
                written = version
                now = await run_in_threadpool(reader.kb_activity, kb_id)
                if now != seen:
                    documents, passages = await run_in_threadpool(reader.kb_counts, kb_id)
                    alerts = await run_in_threadpool(reader.unseen_alerts, kb_id)
                    counts = {"documents": documents, "passages": passages, "alerts": alerts}
                    yield format_event("counts", counts)
                    if seen is not None:
                        yield format_event("changed", {})
                    seen = now
            await asyncio.sleep(LOOK_SECONDS)

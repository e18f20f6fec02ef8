"""Sabio's HTTP server: the REST API (``/api/v1``) over one :class:`~sabio.service.Sabio`
data directory, run by ``sabio serve`` with uvicorn.

    api        the routes; thin: parse, call the service, shape the answer
    schemas    what the routes take and return (documented at /docs)
    uploads    multipart bodies streamed to disk, bounded, named and checked safely
    errors     the one JSON error shape: {"error": {"code", "message"}}
    services   the reader and the writer (below)

**Concurrency.** FastAPI runs the sync routes in a thread pool, and answers stream from
it too, so the service is called from many threads at once. The design:

- *Reads share one service.* ``Services.reader`` (search, ask, the lists) is used by all
  request threads concurrently. Its SQLite connection never opens a transaction, and
  SQLite serialises calls on a shared connection (``sqlite3.threadsafety`` 3, checked at
  start); the search index has its own lock for catching up, and the scoring itself is
  numpy that releases the GIL. One service means one copy of the index and of each loaded
  model in memory, whatever the number of threads: a service per thread would hold the
  index (up to gigabytes of vectors and postings) once per thread.
- *Writes take turns on a second connection.* ``Services.writer`` (create, delete,
  re-index, uploads) is a second service with its own connection that shares the
  reader's index and models; ``Services.writing()`` gives it to one thread at a time,
  as SQLite allows one writer anyway. Its transactions never block the reader: in WAL
  mode a read sees the last committed state, so searches keep running, on the old
  passages, while a long upload is indexed, and each document appears whole when its
  transaction commits.
- The models guard themselves where they must (llama.cpp behind a lock, ONNX Runtime
  sessions are thread-safe); the stream of an answer is closed as soon as its client
  goes, so a model's lock is never held by a dead request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from sabio import __version__
from sabio.config import Settings
from sabio.server.api import router
from sabio.server.errors import install_error_handlers
from sabio.server.services import Services
from sabio.server.uploads import clear_incoming

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 11435


def create_app(settings: Settings) -> FastAPI:
    """The app; the data directory is opened when it starts and closed when it stops."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        clear_incoming(settings.home)
        services = Services(settings)
        app.state.services = services
        try:
            yield
        finally:
            services.close()

    app = FastAPI(
        title="Sabio",
        version=__version__,
        summary="A private AI knowledge base that runs on your own machine.",
        description="Knowledge bases, documents, search and grounded answers. Errors "
        'always come as `{"error": {"code": ..., "message": ...}}`.',
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(router)
    return app

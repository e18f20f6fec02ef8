"""Sabio's HTTP server: the REST API (``/api/v1``) over one :class:`~sabio.service.Sabio`
data directory, run by ``sabio serve`` with uvicorn.

    api           the routes; thin: parse, call the service, shape the answer
    chats_api     chats: their answers streamed, stopped, regenerated, edited, exported
    members_api   who may use a knowledge base
    extension_api what Sabio's browser extension calls: the page in the tab, saving, pairing
    review_api    the security review of a knowledge base (sabio.review), masked
    tasks_api     whole-document tasks as jobs: start, progress, cancel, results as files
    report_api    a report over a knowledge base's tables (sabio.tables.report)
    live          a knowledge base's counts as they change (server-sent events)
    roles         who may do what, route by route (admins, members' read or write)
    ollama_api    the Ollama API on the same port: knowledge bases as models
    ollama_answers  knowledge-base answers as Ollama's NDJSON lines
    embeddings_api  embeddings from Sabio's own embedders, in Ollama's and OpenAI's shapes
    ollama_proxy  other models' requests passed through to Ollama, byte for byte
    heap          a long-running server's routes prepared and its heap settled
    openai_api    the OpenAI API (/v1) on the same port, over the same models
    origins       which browser pages may call the Ollama API; its CORS headers
    auth          accounts: first-run setup, login, passwords, API tokens, users
    access        who may call what: login, CSRF, admins; same-host checks without login
    throttle      failed sign-ins counted per account and address: 429 past a few
    settings_api  the web app's other routes: settings, model pull, files, passages
    sources_api   sources (folders, mail, web, webhooks), their items and jobs
    data_api      everything at once: export to download, import, purge
    schemas       what the routes take and return (documented at /docs)
    docs          /docs and /redoc, their scripts served from the package (no CDN)
    uploads       multipart bodies streamed to disk, bounded, named and checked safely
    errors        the one JSON error shape: {"error": {"code", "message"}}
    events        server-sent events from a blocking generator (answers, pulls)
    links         documents named by file name and URL, never by a server path
    services      the reader, the writer (below) and the worker (sources and jobs)
    threads       few threads for short requests, others for work that waits

**Concurrency.** FastAPI runs the sync routes in a thread pool, and answers stream from
it too, so the service is called from many threads at once. The design:

- *Reads share one service.* ``Services.reader`` (search, ask, the lists) is used by all
  request threads concurrently. It never opens a transaction, and each thread reads
  through a SQLite connection of its own (WAL lets them read at once; calls on one shared
  connection took turns, which was most of a search's time under load); the search index
  has its own lock for catching up, and the scoring itself is numpy that releases the GIL.
  One service means one copy of the index and of each loaded model in memory, whatever
  the number of threads: a service per thread would hold the index (up to gigabytes of
  vectors and postings) once per thread.
- *Writes take turns on a second connection.* ``Services.writer`` (create, delete,
  re-index, uploads) is a second service with its own connection that shares the
  reader's index and models; ``Services.writing()`` gives it to one thread at a time,
  as SQLite allows one writer anyway. Its transactions never block the reader: in WAL
  mode a read sees the last committed state, so searches keep running, on the old
  passages, while a long upload is indexed, and each document appears whole when its
  transaction commits.
- The models guard themselves where they must (llama.cpp runs on a thread of its own,
  ONNX Runtime sessions are thread-safe); the stream of an answer is closed as soon as
  its client goes, so the model never keeps working for a dead request.
- *The CPU goes to the many short requests first.* The embedded chat model runs at a
  lower priority (see :mod:`sabio.models.llama`), so searches stay fast while it answers;
  and numpy's BLAS uses one thread per request while the server runs: the requests are
  the parallelism, and a multi-threaded product per search only made twenty concurrent
  searches fight over two cores (measured: ``bench/load.py``, docs/benchmarks.md).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.telemetry import TelemetryConfig
from threadpoolctl import threadpool_limits

from sabio import __version__
from sabio.archive import clear_leftovers
from sabio.config import Settings
from sabio.server import threads, uploads
from sabio.server.access import AccessGuard
from sabio.server.api import router
from sabio.server.auth import new_setup_code
from sabio.server.auth import router as auth_router
from sabio.server.chats_api import router as chats_router
from sabio.server.data_api import clear_exports
from sabio.server.data_api import router as data_router
from sabio.server.docs import install_docs
from sabio.server.embeddings_api import install_embeddings_api
from sabio.server.errors import install_error_handlers
from sabio.server.extension_api import install_extension_api
from sabio.server.feedback_api import router as feedback_router
from sabio.server.heap import HeapSettler, prepare_routes, settle
from sabio.server.live import router as live_router
from sabio.server.members_api import router as members_router
from sabio.server.ollama_api import install_ollama_api
from sabio.server.ollama_proxy import upstream_client
from sabio.server.openai_api import install_openai_api
from sabio.server.report_api import router as report_router
from sabio.server.review_api import router as review_router
from sabio.server.roles import enforce
from sabio.server.services import Services
from sabio.server.settings_api import router as settings_router
from sabio.server.sources_api import router as sources_router
from sabio.server.tasks_api import router as tasks_router
from sabio.server.throttle import SignInThrottle
from sabio.server.web import install_web

NO_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
    "auto_configure": False,
}
"""FastAPI's OpenTelemetry instrumentation, all off: requests, errors and timings would
otherwise go to whatever exporter the environment names (sabio.offline)."""
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 11435


def create_app(
    settings: Settings,
    *,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    run_worker: bool = True,
    long_running: bool = False,
) -> FastAPI:
    """The app; the data directory is opened when it starts and closed when it stops.
    ``overrides`` and ``environ`` are what ``settings`` were loaded with (default: no
    command-line overrides, this process's environment); a change of settings through
    the API loads them again with these. ``run_worker``: also sync sources and run
    background jobs (:mod:`sabio.worker`) while it runs. ``long_running``: the process
    serves this app until it ends (``sabio serve``): its routes are prepared and its heap
    settled when it starts (:mod:`.heap`)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        uploads.clear_incoming(settings.home)
        clear_leftovers(settings.home)  # an export or import the last run did not finish
        clear_exports(settings.home)
        services = Services(settings, overrides=overrides, environ=environ)
        app.state.services = services
        for kb_name, paths in services.writer.unindexed_uploads().items():
            services.writer.jobs.enqueue_ingest(kb_name, paths)  # left by a killed server
        if run_worker:
            services.start_worker()  # sources and background jobs
        app.state.upstream_client = upstream_client()  # Ollama's, for the APIs like its own
        blas = threadpool_limits(1, user_api="blas")
        threads.configure()
        if long_running:
            prepare_routes(app)
            settle()
            threading.Thread(  # the first question or saved page then finds it loaded
                target=services.reader.warm_up, name="sabio-warm-up", daemon=True
            ).start()
        try:
            yield
        finally:
            blas.restore_original_limits()
            await app.state.upstream_client.aclose()
            app.state.services.close()  # the one in use: an import or a purge made another

    app = FastAPI(
        title="Sabio",
        version=__version__,
        summary="A private AI knowledge base that runs on your own machine.",
        description="Knowledge bases, documents, search and grounded answers. Errors "
        'always come as `{"error": {"code": ..., "message": ...}}`.',
        lifespan=lifespan,
        dependencies=[Depends(enforce)],  # who may call each route (server/roles.py)
        docs_url=None,  # served from the package instead of a CDN (.docs)
        redoc_url=None,
        telemetry=NO_TELEMETRY,
    )
    app.state.setup_code = new_setup_code()  # for the first admin; `sabio serve` prints it
    app.state.data_lock = threading.Lock()  # one import or purge at a time (.data_api)
    app.state.sign_ins = SignInThrottle()  # failed logins and setup codes, counted
    install_error_handlers(app)
    app.add_middleware(AccessGuard)
    app.include_router(router)
    app.include_router(chats_router)
    app.include_router(feedback_router)
    app.include_router(members_router)
    app.include_router(review_router)
    app.include_router(tasks_router)
    app.include_router(report_router)
    app.include_router(live_router)
    app.include_router(auth_router)
    app.include_router(settings_router)
    app.include_router(sources_router)
    app.include_router(data_router)
    install_extension_api(app)  # what Sabio's browser extension calls (extension/)
    install_ollama_api(app)  # the Ollama API: /api/chat, /api/tags… and HEAD /
    install_embeddings_api(app)  # /api/embed, /api/embeddings, /v1/embeddings
    install_openai_api(app)  # the OpenAI API: /v1/chat/completions, /v1/models…
    install_web(app)
    install_docs(app)
    if long_running:
        app.add_middleware(HeapSettler)
    return app

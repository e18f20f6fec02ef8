"""What keeps a long-running server's quick requests quick: its routes prepared before
the first request, and what lives as long as the process kept out of the garbage
collector's full passes (``sabio serve``; ``bench/client_tasks.py`` measures it).

- FastAPI prepares an included router's routes on the first request that reaches it:
  about 40 ms a router here, 180 ms for all of Sabio's. :func:`prepare_routes` does it
  when the server starts, so no client's first request pays for it.
- A full pass of Python's garbage collector walks every object alive: about 100,000 in
  a server that has answered a question (the functions and classes of its modules and
  of the models' libraries, the services), 45 ms on an idle machine and 75 to 140 ms
  under load, added to whichever request happened to start it (a chat title that takes
  5 ms took 120). :func:`settle` collects once and moves what is alive then into the
  permanent generation (:func:`gc.freeze`), which later passes skip; :class:`HeapSettler`
  settles again after a request that imported modules (a model's library, loaded at the
  first question), so their objects join the others. What a request makes and drops is
  collected as before.
"""

from __future__ import annotations

import contextlib
import gc
import sys

from fastapi import FastAPI
from starlette.routing import NoMatchFound
from starlette.types import ASGIApp, Receive, Scope, Send


def prepare_routes(app: FastAPI) -> None:
    """Every route of ``app`` made ready to match (module docstring): looking up a name no
    route has walks them all."""
    with contextlib.suppress(NoMatchFound):
        app.url_path_for("\0 no route has this name")


def settle() -> None:
    """Collect the garbage, then leave what is alive out of later passes."""
    gc.collect()
    gc.freeze()


class HeapSettler:
    """ASGI middleware: :func:`settle` again after a request during which modules were
    imported (module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.modules = len(sys.modules)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if len(sys.modules) != self.modules:
                self.modules = len(sys.modules)
                settle()

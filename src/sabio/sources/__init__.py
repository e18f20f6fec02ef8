"""Sources: where a knowledge base's documents come from, kept current without a click.

A source is attached to one knowledge base and has a kind, each with its connector:

    folder    a folder on this computer, watched for changes (:mod:`.folder`)
    imap      a mailbox on an IMAP server (:mod:`.imap`)
    url       one web page; feed: an RSS or Atom feed's pages; sitemap: a site's pages
              (:mod:`.web`)
    webhook   documents, texts and URLs posted to Sabio with a token (:mod:`.webhook`)

Each kind is declared once (:mod:`.kinds`: its connector, its options, its flags), and
the CLI, the API, the worker and the web app are derived from those declarations. A
connector checks a new source and syncs it through a narrow context
(:class:`~sabio.sources.kinds.SyncContext`): it tells the sync what to index, update or
remove, and never sees the service. Every item it
looked at is recorded in ``source_item`` with what became of it (indexed, unchanged,
skipped, needs OCR, failed; and why), which is what ``sabio source list`` shows. Syncs
run as background jobs (:mod:`sabio.jobs`), by ``sabio serve`` or ``sabio worker``.

:class:`SourceStore` and the records :class:`Source`, :class:`SourceItem` and
:class:`ItemUpdate` are the store's (:mod:`sabio.store.sources`, the ``source`` and
``source_item`` tables); these are their public names, with what a connector returns when
it checks a new source (:class:`SourceSetup`) and the thread that watches one
(:class:`SourceWatch`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from sabio.errors import SabioError
from sabio.store.sources import ItemUpdate, Source, SourceItem, SourceStore

__all__ = ["ItemUpdate", "Source", "SourceItem", "SourceSetup", "SourceStore", "SourceWatch"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SourceSetup:
    """A new source as its connector checked it: ``location`` in its canonical form, the
    options to keep, the encrypted password, the default schedule, a webhook's token."""

    location: str
    options: dict[str, Any]
    secret: bytes | None = None
    interval_s: float | None = None
    token: str | None = None


class SourceWatch:
    """Watches one source from a thread of its own (filesystem events, IMAP IDLE) until
    :meth:`stop`; subclasses write :meth:`watch`, which returns when ``stopping`` is set
    or the watch broke, and is then called again after ``retry_s`` seconds."""

    retry_s = 10.0

    def __init__(self, name: str) -> None:
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._thread.join(timeout=5)

    def watch(self) -> None:
        """Watch until ``stopping`` is set (or the watch breaks: raise SabioError, OSError)."""

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.watch()
            except (SabioError, OSError) as exc:
                log.warning("%s: %s; trying again in %.0f s", self._thread.name, exc, self.retry_s)
            self.stopping.wait(self.retry_s)

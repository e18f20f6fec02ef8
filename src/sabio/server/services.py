"""The services a running server calls: many readers at once, one writer at a time.

See the :mod:`sabio.server` docstring for why it is built this way.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sabio.config import Settings
from sabio.errors import ConfigError
from sabio.service import Sabio

SERIALIZED = 3
"""``sqlite3.threadsafety`` when SQLite serialises calls on a shared connection."""


class Services:
    """``reader`` serves every request that only reads (search, ask, lists) from any
    thread, concurrently; :meth:`writing` hands out ``writer``, which has a connection of
    its own and shares the reader's search index and models, to one thread at a time."""

    def __init__(self, settings: Settings) -> None:
        if sqlite3.threadsafety != SERIALIZED:
            raise ConfigError(
                "this Python's SQLite library is not built thread-safe (sqlite3.threadsafety "
                f"is {sqlite3.threadsafety}, the server needs 3); use a Python from "
                "python.org, your distribution or Homebrew"
            )
        self.settings = settings
        self.reader = Sabio(settings)
        self.writer = Sabio(settings, shared_with=self.reader)
        self._write_lock = threading.Lock()

    @contextmanager
    def writing(self) -> Iterator[Sabio]:
        """The writer, held by this thread until the block ends (others wait)."""
        with self._write_lock:
            yield self.writer

    def close(self) -> None:
        with self._write_lock:
            self.writer.close()
            self.reader.close()

"""The services a running server calls: many readers at once, one writer at a time.

See the :mod:`sabio.server` docstring for why it is built this way.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from fastapi import Request

from sabio.answer import Answer
from sabio.chats import ChatAnswerStream, Placement
from sabio.config import (
    Settings,
    config_file,
    load_settings,
    overriding_sources,
    update_config_file,
    write_config_file,
)
from sabio.errors import ConfigError, SabioError
from sabio.readers import Keeper
from sabio.server.given import GivenAnswers
from sabio.service import Sabio
from sabio.worker import Worker

STARTUP_SETTINGS = ("auth",)
"""Settings a running server keeps until it restarts, whatever config.toml says by then:
who may use it was checked against the address it listens on when it started."""
SERIALIZED = 3
"""``sqlite3.threadsafety`` when SQLite serialises calls on a shared connection."""


log = logging.getLogger(__name__)


class Services:
    """``reader`` serves every request that only reads (search, ask, lists) from any
    thread, concurrently; :meth:`writing` hands out ``writer``, which has a connection of
    its own and shares the reader's search index and models, to one thread at a time.

    ``overrides`` and ``environ`` are what the settings were loaded with (the command
    line's and the process's): :meth:`change_settings` loads them again with them."""

    def __init__(
        self,
        settings: Settings,
        *,
        overrides: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if sqlite3.threadsafety != SERIALIZED:
            raise ConfigError(
                "this Python's SQLite library is not built thread-safe (sqlite3.threadsafety "
                f"is {sqlite3.threadsafety}, the server needs 3); use a Python from "
                "python.org, your distribution or Homebrew"
            )
        self.settings = settings
        self.overrides = {**(overrides or {}), "home": settings.home}
        self.environ = os.environ if environ is None else environ
        self.keeper = Keeper()  # one reader process waits between reads (a save: ~0.3 s, not 4)
        self.reader = Sabio(settings, concurrent_reads=True, keeper=self.keeper)
        self.writer = Sabio(settings, shared_with=self.reader)
        self.indexer = Sabio(settings, shared_with=self.reader)
        self._write_lock = threading.Lock()
        self._index_lock = threading.Lock()
        self._settings_lock = threading.Lock()
        self.worker: Worker | None = None
        self._answers: dict[int, set[ChatAnswerStream]] = {}
        self.given = GivenAnswers()
        """The Ollama and OpenAI APIs' last answers, for feedback by their id."""
        self._answers_lock = threading.Lock()
        self.closed = False

    def start_worker(self) -> None:
        """Run the jobs, watch the folders and keep the schedules (:mod:`sabio.worker`)
        in a thread, through a service of its own that shares the reader's index and
        models: a long sync never holds the writer that uploads and settings need."""
        self.worker = Worker(Sabio(self.settings, shared_with=self.reader))
        self.worker.start()

    def wake_worker(self) -> None:
        """A job was queued: the worker starts it now rather than at its next look."""
        if self.worker is not None:
            self.worker.wake()

    @contextmanager
    def answering(self, chat_id: int, stream: ChatAnswerStream) -> Iterator[None]:
        """While the block runs, :meth:`stop_answers` of ``chat_id`` stops ``stream``."""
        with self._answers_lock:
            self._answers.setdefault(chat_id, set()).add(stream)
        try:
            yield
        finally:
            with self._answers_lock:
                running = self._answers.get(chat_id, set())
                running.discard(stream)
                if not running:
                    self._answers.pop(chat_id, None)

    def stop_answers(self, chat_id: int) -> int:
        """Stop the answers being made in chat ``chat_id`` (:meth:`ChatAnswerStream.stop`:
        the model stops at its next piece, the answer is saved as stopped); how many."""
        with self._answers_lock:
            running = list(self._answers.get(chat_id, ()))
        for stream in running:
            stream.stop()
        return len(running)

    @contextmanager
    def writing(self) -> Iterator[Sabio]:
        """The writer, held by this thread until the block ends (others wait)."""
        with self._write_lock:
            yield self.writer

    def save_exchange(self, chat_id: int, answer: Answer, placement: Placement | None) -> None:
        """Save a question and its answer to chat ``chat_id`` through the writer. After
        :meth:`close` there is no database to save to (an answer whose stream was left
        open by its client, ended only later by the garbage collector): said in the log,
        not raised where nobody can catch it."""
        with self._write_lock:
            if self.closed:
                log.warning("chat %d: an answer ended after the server stopped: not saved", chat_id)
                return
            self.writer.save_exchange(chat_id, answer, placement)

    @contextmanager
    def indexing(self) -> Iterator[Sabio]:
        """The indexer: a service with a connection of its own, for uploads and webhooks,
        held by one thread at a time. Reading files (in reader processes) and embedding
        them take minutes for a big file, and hold no lock the writer needs: a login, a
        setting or a chat waits only for SQLite's own turn at each document's write."""
        with self._index_lock:
            yield self.indexer

    @contextmanager
    def writing_if_free(self) -> Iterator[Sabio | None]:
        """The writer if no other thread holds it now, else None: for bookkeeping that
        can wait for a later request (when an API token was last used) rather than wait
        behind a long upload."""
        if not self._write_lock.acquire(blocking=False):
            yield None
            return
        try:
            yield self.writer
        finally:
            self._write_lock.release()

    def reconfigure(self, settings: Settings) -> None:
        """Use ``settings`` from now on, in the reader and the writer (see
        :meth:`Sabio.reconfigure`); waits for a write in progress to finish."""
        with self._index_lock, self._write_lock:
            self.writer.reconfigure(settings)
            self.indexer.reconfigure(settings)
            self.reader.reconfigure(settings)
            if self.worker is not None:
                self.worker.sabio.reconfigure(settings)
            self.settings = settings

    def overridden(self) -> dict[str, str]:
        """Settings that config.toml cannot change here, and what sets them instead."""
        return overriding_sources(self.overrides, self.environ)

    def change_settings(self, values: Mapping[str, Any]) -> Settings:
        """Write ``values`` into config.toml (keeping the rest of the file) and apply the
        settings that result at once (except :data:`STARTUP_SETTINGS`). If they do not
        load, the file is put back as it was."""
        with self._settings_lock:
            path = config_file(self.settings.home, self.environ).resolve()
            before = path.read_text(encoding="utf-8") if path.exists() else None
            update_config_file(path, values)
            try:
                settings = load_settings(self.overrides, self.environ)
            except SabioError:
                if before is None:
                    path.unlink(missing_ok=True)
                else:
                    write_config_file(path, before)
                raise
            kept = {name: getattr(self.settings, name) for name in STARTUP_SETTINGS}
            settings = dataclasses.replace(settings, **kept)
            self.reconfigure(settings)
            return settings

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker.sabio.close()
        with self._index_lock, self._write_lock:
            self.closed = True
            self.writer.close()
            self.indexer.close()
            self.reader.close()
        self.keeper.close()


def services_of(request: Request) -> Services:
    """The running app's services (made when it starts, see :func:`sabio.server.create_app`)."""
    services = request.app.state.services
    assert isinstance(services, Services)
    return services

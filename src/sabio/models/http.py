"""One HTTP layer for the model backends that talk to a server (Ollama, OpenAI-compatible).

:class:`ModelHTTP` sends a request and reads its reply: a JSON object
(:meth:`~ModelHTTP.request`), a stream of JSON lines (:meth:`~ModelHTTP.json_lines`,
Ollama's) or of server-sent events (:meth:`~ModelHTTP.events`, OpenAI's), over
:func:`sabio.connections.model_client` (no proxy from the environment, name lookups
with a deadline). It is the one place where httpx's exceptions, a server's refusals,
a reply that is not JSON, an error in the middle of a stream and a stream cut short
are caught, the way httpx maps httpcore's exceptions in one table.

What happened is the layer's to decide, how it is told is the backend's: each failure
is a :class:`Failure` of one kind, and the backend's client (a subclass) gives the Sabio
error raised in its one method :meth:`ModelHTTP.words`, so a message names the
backend's own settings (``OLLAMA_HOST``, ``[openai.NAME]``) and says how to fix it::

    unreachable   nothing answered at the address (``why``: the host name did not resolve)
    timeout       no answer in time
    bad_scheme    the address does not start with http:// or https://
    invalid_url   the address does not parse
    lost          the connection broke (any other transport error; ``message`` says how)
    refused       an answer other than 2xx (``response`` read, ``status``, ``message``)
    not_json      an answer that is not JSON
    midway        an error object in the middle of a stream (``message``)
    broke_off     a stream that ended before it was complete

A client made with ``cancel`` (:attr:`sabio.models.ChatOptions.cancel`) shuts its
connections within :data:`CANCEL_POLL_S` of the event being set, also while the server
has not sent a byte yet (still reading a long prompt), so the server sees its client
leave and stops (:class:`sabio.connections.SeverableBackend`); whatever failure follows
is then :meth:`ModelHTTP.cancelled`, never worded as a broken server.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, Self

import httpx

from sabio.connections import (
    BoundedLookupBackend,
    SeverableBackend,
    model_client,
    unresolved_host,
)
from sabio.errors import ModelError, SabioError

FailureKind = Literal[
    "unreachable",
    "timeout",
    "bad_scheme",
    "invalid_url",
    "lost",
    "refused",
    "not_json",
    "midway",
    "broke_off",
]

Body = dict[str, Any]
"""A JSON object, sent or received."""

CANCEL_POLL_S = 0.1
"""How often a client made with ``cancel`` looks whether it is set."""


@dataclass(frozen=True, slots=True)
class Failure:
    """What went wrong with a request to ``path`` (``url`` is the base and the path)."""

    kind: FailureKind
    url: str
    path: str
    model: str = ""
    message: str = ""
    why: str | None = None
    status: int = 0
    response: httpx.Response | None = None


def error_message(error: object) -> str:
    """The text of an error object: ``{"message": ...}``'s message, or the error itself."""
    if isinstance(error, dict):
        error = error.get("message") or error
    return str(error)


def error_text(response: httpx.Response) -> str:
    """A refusal's message: ``{"error": {"message": ...}}``, ``{"error": "..."}``, or the
    raw body (or the reason phrase when the body is empty)."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    return error_message(error) if error else (response.text.strip() or response.reason_phrase)


class ModelHTTP:
    """Requests to the server at ``base`` (paths are added to it). A backend's client
    subclasses it and words every failure in :meth:`words`. Use it as a context manager
    (or call :meth:`close`) so its connections are released. ``cancel``: see the module
    docstring."""

    def __init__(
        self,
        base: str,
        *,
        timeout: float | httpx.Timeout,
        headers: dict[str, str] | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.base = base
        self._cancel = cancel
        self._closed = threading.Event()
        backend = SeverableBackend(BoundedLookupBackend(), cancel) if cancel is not None else None
        try:
            self._http = model_client(
                base_url=base, timeout=timeout, headers=headers, backend=backend
            )
        except httpx.InvalidURL as exc:
            raise self.words(Failure("invalid_url", base, "", message=str(exc))) from exc
        if backend is not None:
            threading.Thread(
                target=self._watch, args=(backend,), name="model-cancel", daemon=True
            ).start()

    def _watch(self, backend: SeverableBackend) -> None:
        while not self._closed.wait(CANCEL_POLL_S):
            if backend.cancel.is_set():
                backend.sever()
                return

    def cancelled(self, path: str) -> SabioError:
        """The error of a request cut short by ``cancel`` (whoever cancelled knows why)."""
        return ModelError(f"the request to {self.base + path} was cancelled")

    def words(self, failure: Failure) -> SabioError:
        """The Sabio error for ``failure``, in the backend's terms (the settings that fix it)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._closed.set()
        self._http.close()

    @property
    def timeout(self) -> httpx.Timeout:
        return self._http.timeout

    def request(self, method: str, path: str, body: Body | None = None, *, model: str = "") -> Body:
        """Send one request and read its JSON reply (an object; anything else is ``{}``)."""
        with self.open(method, path, body, model=model) as response:
            response.read()
        try:
            reply = response.json()
        except ValueError as exc:
            raise self._fail("not_json", path, model) from exc
        return reply if isinstance(reply, dict) else {}

    def json_lines(
        self,
        method: str,
        path: str,
        body: Body,
        *,
        model: str = "",
        finished: Callable[[Body], bool],
        timeout: httpx.Timeout | None = None,
    ) -> Iterator[Body]:
        """An NDJSON stream, one object per line, up to the one ``finished`` recognises."""
        with self.open(method, path, body, model=model, timeout=timeout) as response:
            lines = (line for line in response.iter_lines() if line.strip())
            for chunk in self._objects(lines, path, model):
                yield chunk
                if finished(chunk):
                    return
        raise self._fail("broke_off", path, model)

    def events(
        self, path: str, body: Body, *, model: str = "", finished: Callable[[Body], bool]
    ) -> Iterator[Body]:
        """POST ``body`` and read the server-sent events up to ``data: [DONE]``; a stream
        that ends without it is complete only when ``finished`` recognised an event."""
        complete = False

        def until_done(lines: Iterable[str]) -> Iterator[str]:
            nonlocal complete
            for line in lines:
                if not line.startswith("data:"):
                    continue  # blank separators, ": keep-alive" comments, "event:" names
                data = line[len("data:") :].strip()
                if data == "[DONE]":
                    complete = True
                    return
                yield data

        with self.open("POST", path, body, model=model) as response:
            for event in self._objects(until_done(response.iter_lines()), path, model):
                complete = complete or finished(event)
                yield event
        if not complete:
            raise self._fail("broke_off", path, model)

    @contextmanager
    def open(
        self,
        method: str,
        path: str,
        body: Body | None = None,
        *,
        model: str = "",
        timeout: httpx.Timeout | None = None,
    ) -> Iterator[httpx.Response]:
        """Open one request and hand over its successful response, unread; the single
        place where httpx errors and refusals become Sabio errors (also those raised while
        the caller reads the body)."""
        try:
            with self._http.stream(
                method, path, json=body, timeout=timeout or self._http.timeout
            ) as response:
                if not response.is_success:
                    response.read()
                    raise self._fail(
                        "refused",
                        path,
                        model,
                        message=error_text(response),
                        status=response.status_code,
                        response=response,
                    )
                yield response
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise self._fail("unreachable", path, model, why=unresolved_host(exc)) from exc
        except httpx.TimeoutException as exc:
            raise self._fail("timeout", path, model) from exc
        except httpx.UnsupportedProtocol as exc:
            raise self._fail("bad_scheme", path, model) from exc
        except httpx.TransportError as exc:
            raise self._fail("lost", path, model, message=str(exc)) from exc

    def _objects(self, texts: Iterable[str], path: str, model: str) -> Iterator[Body]:
        """The JSON objects among a stream's texts (other values skipped), up to a text cut
        short (the connection dropped); an error object raises its Sabio error."""
        for text in texts:
            try:
                value = json.loads(text)
            except ValueError:
                return
            if not isinstance(value, dict):
                continue
            if value.get("error"):
                raise self._fail("midway", path, model, message=error_message(value["error"]))
            yield value

    def _fail(self, kind: FailureKind, path: str, model: str, **facts: Any) -> SabioError:
        if self._cancel is not None and self._cancel.is_set():
            return self.cancelled(path)
        return self.words(Failure(kind, self.base + path, path, model, **facts))

"""Cancelling a request to an HTTP model backend (Ollama, OpenAI-compatible) closes its
connection at once, also while the server has not sent a byte (it is still reading a
long prompt), so the server sees its client leave and stops, as the embedded model stops
at its next step (test_embedded_chat.py). The servers are the stand-ins of
fake_servers.py, registered the normal way (``ollama_host``, ``[openai.NAME]``); each one
waits before its first token and notes when its client went away."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_servers import FakeOllama, Raw, Request, chat_chunk, chat_model, openai_chunk, sse

from sabio.config import OpenAIServer, Settings
from sabio.errors import ModelError
from sabio.models import ChatModel, ChatOptions, Message, get_chat_model
from sabio.tasks.budget import StoppableModel, TaskCancelled

LLAMA = chat_model("llama3.2:latest")
MESSAGES: list[Message] = [{"role": "user", "content": "Translate this long part: ..."}]
PATIENCE_S = 30.0
"""How long a stand-in server waits for its client to leave before it answers anyway:
far beyond the 2 s target, far below the 60 s read timeout a request would otherwise
wait for (the client would then stay connected and the test fails)."""


class Backend:
    """One HTTP backend on a stand-in server that waits for its client before a token."""

    def __init__(self, kind: str, server: FakeOllama, tmp_path: Path) -> None:
        self.left: list[float | None] = []  # when each request's client went away
        self.arrived = threading.Event()
        self._noted = threading.Event()  # the handler has noted its client's leaving
        if kind == "ollama":
            self.path = "/api/chat"
            self.settings = Settings(home=tmp_path, ollama_host=server.url)
            self.name = "ollama:llama3.2"
        else:
            self.path = "/v1/chat/completions"
            base = OpenAIServer(base_url=f"{server.url}/v1", context_window=4096)
            self.settings = Settings(home=tmp_path, openai_servers={"lmstudio": base})
            self.name = "lmstudio:llama3.2"
        server.route("POST", self.path, self._reads_a_long_prompt(kind))

    def _reads_a_long_prompt(self, kind: str) -> Callable[[Request], tuple[int, Any]]:
        def handler(request: Request) -> tuple[int, Any]:
            self.arrived.set()
            self.left.append(request.client_left(within=PATIENCE_S))
            self._noted.set()
            if kind == "ollama":  # what it would have said after the prompt
                lines = [chat_chunk("llama3.2", "Hola"), chat_chunk("llama3.2", "", done=True)]
                return 200, iter(lines)
            return 200, Raw([openai_chunk("llama3.2", "Hola", "stop"), sse("[DONE]")])

        return handler

    def model(self) -> ChatModel:
        return get_chat_model(self.settings, self.name)

    def left_at(self) -> float | None:
        """When the one request's client went away (None: it stayed). The handler notes
        it on the server's thread, after its next look at the socket, which may come
        after the client's reader has already ended (a loaded machine delays it)."""
        assert self._noted.wait(PATIENCE_S * 2), "the server never finished the request"
        [left] = self.left
        return left


@pytest.fixture(params=["ollama", "openai"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with FakeOllama([LLAMA]) as server:
        yield Backend(str(request.param), server, tmp_path)


def read_on_a_thread(pieces: Iterator[str]) -> tuple[threading.Thread, list[BaseException]]:
    """Read ``pieces`` on a thread of its own (the caller's stays free to cancel); the
    error that ended them, if one did, goes in the list."""
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in pieces:
                pass
        except BaseException as exc:
            errors.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader, errors


def test_cancel_closes_the_connection_before_the_first_token(backend: Backend) -> None:
    cancel = threading.Event()
    pieces = backend.model().stream(MESSAGES, ChatOptions(cancel=cancel))
    reader, errors = read_on_a_thread(pieces)
    assert backend.arrived.wait(PATIENCE_S)  # the server has it and reads the "prompt"
    cancelled_at = time.monotonic()
    cancel.set()
    reader.join(PATIENCE_S)

    left = backend.left_at()
    assert left is not None, "the client stayed connected after cancel"
    assert left >= cancelled_at  # it left because of the cancel, not before
    assert left - cancelled_at < PATIENCE_S / 3  # a generous bound; the target is 2 s
    [error] = errors
    assert isinstance(error, ModelError) and "was cancelled" in str(error)  # not "broke off"


def test_a_cancelled_task_frees_its_worker_and_the_server(backend: Backend) -> None:
    stop = threading.Event()
    pieces = StoppableModel(backend.model(), stop).stream(MESSAGES, ChatOptions())
    reader, errors = read_on_a_thread(pieces)
    assert backend.arrived.wait(PATIENCE_S)
    cancelled_at = time.monotonic()
    stop.set()
    reader.join(PATIENCE_S)
    assert [type(e) for e in errors] == [TaskCancelled]  # the task is free at once
    left = backend.left_at()
    assert left is not None and left >= cancelled_at


def test_a_request_cancelled_before_it_is_sent_never_reaches_the_server(
    backend: Backend,
) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(ModelError, match="was cancelled"):
        list(backend.model().stream(MESSAGES, ChatOptions(cancel=cancel)))
    assert not backend.arrived.is_set()


def test_an_uncancelled_request_is_answered_as_before(tmp_path: Path) -> None:
    with FakeOllama([LLAMA]) as server:
        settings = Settings(home=tmp_path, ollama_host=server.url)
        model = get_chat_model(settings, "ollama:llama3.2")
        text = "".join(model.stream(MESSAGES, ChatOptions(cancel=threading.Event())))
    assert text == LLAMA.reply

"""Shared fixtures. The only fakes are at the edge, registered through the normal
registries: a deterministic embedding model (``fake:words``) and scripted chat models
(``fake:cite``…), for fast tests that do not need the real ones. End-to-end tests use
the real embedded models."""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvicorn

from sabio.config import Settings, load_settings
from sabio.errors import ModelError
from sabio.models import (
    ChatOptions,
    Message,
    Vectors,
    normalize_rows,
    register_chat_backend,
    register_embedding_backend,
)
from sabio.service import Sabio

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


class WordHashEmbedder:
    """Bag of words hashed into 64 dimensions: similar words, similar vectors."""

    dimension = 64

    def __init__(self, model: str) -> None:
        self.name = f"fake:{model}"
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, hashlib.md5(word.encode()).digest()[0] % self.dimension] += 1.0
        return normalize_rows(out)


@register_embedding_backend("fake")
def _fake_factory(settings: Settings, model: str) -> WordHashEmbedder:
    return WordHashEmbedder(model)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        {"home": tmp_path / "home", "embedding_model": "fake:words", "workers": 2}, environ={}
    )


@pytest.fixture
def sabio(settings: Settings) -> Iterator[Sabio]:
    service = Sabio(settings)
    yield service
    service.close()


def need_data(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not here (../shared/data is absent)")
    return path


class FakeChat:
    """A chat model at the edge, registered as ``fake:<behaviour>``; it records every
    request. Token counts are words (plus one per line), the context window comes from
    ``context_window`` (default 2048). Behaviours:

    - ``cite``: quotes the first words of passage 1 and cites [1], then an invalid [9];
    - ``broken``: sends one piece, then the stream breaks;
    - ``echo``: answers with the last user message (for rewrites and prompt checks);
    - ``upper``: the last user message in capitals (a "translation" that can be told apart);
    - ``untagged``: as ``upper``, without the tags that stand for a block's inline elements;
    - ``long``: 200 words, one piece every 20 ms (for stopping an answer midway);
    - ``invent``: quotes passage 1 as ``cite`` does, then states a made-up figure;
    - ``made-up``: only the made-up figure, citing nothing;
    - ``loop``: says the same sentence over and over (``pulled`` counts the pieces taken);
    - ``cut``: a few words, then ends as a backend does at ``max_tokens`` ("length").
    - ``overclaim``: the first line of the last message, citing [F1], then a finding that
      is not there (a review's summary that invents one).
    """

    def __init__(self, behaviour: str, context_window: int) -> None:
        self.name = f"fake:{behaviour}"
        self.behaviour = behaviour
        self.context_window = context_window
        self.requests: list[list[dict[str, str]]] = []
        self.pulled = 0

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + text.count("\n") + 1

    def stream(
        self, messages: Sequence[Message], options: ChatOptions
    ) -> Generator[str, None, str | None]:
        self.requests.append([dict(m) for m in messages])
        last = messages[-1]["content"]
        if self.behaviour == "echo":
            yield last
            return None
        if self.behaviour == "upper":
            yield last.upper()
            return None
        if self.behaviour == "untagged":
            yield re.sub(r"</?[a-z]+\d+/?>", "", last).upper()
            return None
        if self.behaviour == "long":
            for i in range(200):
                time.sleep(0.02)
                yield f"palabra{i} "
            return "stop"
        if self.behaviour == "loop":
            for _ in range(200):
                self.pulled += 1
                yield "The answer is in the documents. "
            return "stop"
        if self.behaviour == "cut":
            yield "Mount Etna erupted in"
            return "length"
        if self.behaviour == "overclaim":
            yield f"{last.splitlines()[0]} [F1]. Also a private key in claves.txt [F99]."
            return "stop"
        if self.behaviour == "made-up":
            yield "The eruption cost 987,654 dollars and lasted 31 days."
            return "stop"
        match = re.search(r"^\[1\] \(.*?\)\n(.*)$", messages[0]["content"], re.MULTILINE)
        words = (match.group(1) if match else "nothing").split()[:8]
        yield " ".join(words[:4])
        if self.behaviour == "broken":
            raise ModelError("the connection to the model was lost")
        yield from (" ", " ".join(words[4:]), " [", "1", "]. See", " also [9].")
        if self.behaviour == "invent":
            yield " The eruption cost 987,654 dollars."
        return "stop"


@register_chat_backend("fake")
def _fake_chat_factory(settings: Settings, model: str) -> FakeChat:
    return FakeChat(model, settings.context_window or 2048)


@contextlib.contextmanager
def running_server(app: Any, port: int = 0) -> Iterator[str]:
    """``app`` served by a real uvicorn on a free loopback port (or ``port``), in a
    thread: its URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, ws="none", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(600):  # a bounded wait for the socket, not a timing assertion
        if server.started:
            break
        thread.join(0.05)
    assert server.started and server.servers, "the server did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()

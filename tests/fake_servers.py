"""Real HTTP servers on 127.0.0.1 that stand in for Ollama and OpenAI-compatible servers.

They sit at the edge of the system: Sabio's own code runs unchanged and talks HTTP to them.
Replies follow the shapes in shared/reference/ollama-api.md. Vectors are deterministic (a
hash of the text) and deliberately not unit length, so tests can see normalisation.

    with FakeOllama(models=[embedding_model("nomic-embed-text:latest", 8)]) as ollama:
        settings = Settings(ollama_host=ollama.url)
        ...
        assert ollama.count("POST", "/api/embed") == 2

A route is ``server.route(method, path, handler)``; the handler gets the :class:`Request`
and returns ``(status, body)``: a dict/list is sent as JSON, a str as text, an iterator of
dicts as NDJSON lines (a stream, as ``/api/chat`` sends; a ``bytes`` item is written as it
is, so a stream can stop in the middle of a line, as a dropped connection does), and
:class:`Raw` chunks as they are (server-sent events, as ``/v1/chat/completions`` sends).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


@dataclass
class Raw:
    """A streamed body written chunk by chunk, with its content type."""

    chunks: Iterable[bytes]
    content_type: str = "text/event-stream"


Body = dict[str, Any] | list[Any] | str | Raw | Iterator[dict[str, Any] | bytes]
Handler = Callable[["Request"], tuple[int, Body]]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    json: Any
    connection: socket.socket | None = field(default=None, repr=False, compare=False)

    def client_left(self, within: float) -> float | None:
        """Wait up to ``within`` seconds for the client to close its side of the
        connection (as Ollama notices a client that went away while it reads the prompt):
        ``time.monotonic()`` when it did, None if it stayed. The request was read whole,
        so anything readable now is the connection's end."""
        assert self.connection is not None
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.05))
            if readable:
                try:
                    data = self.connection.recv(1, socket.MSG_PEEK)
                except OSError:  # reset: gone too
                    data = b""
                if not data:
                    return time.monotonic()
        return None


def fake_vector(text: str, dimension: int) -> list[float]:
    """A deterministic, non-normalised vector for ``text``."""
    digest = hashlib.sha256(text.encode()).digest() * (dimension // 32 + 1)
    return [(byte - 100) / 10 for byte in digest[:dimension]]


_HELD: list[socket.socket] = []
"""The sockets that keep :func:`closed_port`'s ports taken, for the whole test run."""


def closed_port() -> int:
    """A port nothing listens on, and nothing will: it stays bound (not listening) by this
    process, so a connection is refused and no server started later is given it. A port
    merely free at the time was once given to test_roles' own server right after, which
    then answered, with accounts on, as the "unreachable" Ollama host: 401s."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    _HELD.append(sock)
    port: int = sock.getsockname()[1]
    return port


def free_port() -> int:
    """A port free now, for a server a test starts itself."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class FakeServer:
    """A threaded HTTP server with a route table; every request is recorded in ``requests``."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def route(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method, path)] = handler

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if (r.method, r.path) == (method, path))

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def _dispatch(self, request: Request) -> tuple[int, Body]:
        with self._lock:
            self.requests.append(request)
        handler = self.routes.get((request.method, request.path))
        if handler is None:
            return 404, "404 page not found"
        return handler(request)


def _handler_class(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def do_DELETE(self) -> None:
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            request = Request(
                method=self.command,
                path=self.path.split("?", 1)[0],
                headers={k.lower(): v for k, v in self.headers.items()},
                json=json.loads(raw) if raw else None,
                connection=self.connection,
            )
            status, body = server._dispatch(request)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._reply(status, body)  # unless the client went away, as a real server

        def _reply(self, status: int, body: Body) -> None:
            if isinstance(body, str):
                self._send(status, "text/plain; charset=utf-8", body.encode())
            elif isinstance(body, dict | list):
                self._send(status, "application/json; charset=utf-8", json.dumps(body).encode())
            elif isinstance(body, Raw):
                self._stream(status, body.content_type, body.chunks)
            else:
                lines = (
                    line if isinstance(line, bytes) else json.dumps(line).encode() + b"\n"
                    for line in body
                )
                self._stream(status, "application/x-ndjson", lines)

        def _stream(self, status: int, content_type: str, chunks: Iterable[bytes]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.end_headers()  # no length: the body ends when the connection closes
            for chunk in chunks:
                self.wfile.write(chunk)
                self.wfile.flush()

        def _send(self, status: int, content_type: str, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@dataclass
class FakeModel:
    """One installed model as /api/tags and /api/show describe it."""

    name: str
    family: str = "llama"
    capabilities: list[str] = field(default_factory=lambda: ["completion"])
    dimension: int = 0  # embedding length; 0 for chat models
    context_length: int = 0  # "<family>.context_length" in /api/show; 0: not reported
    reply: str = "El faro de Alejandría guiaba a los barcos."  # what a chat model answers

    def tag(self, with_capabilities: bool) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": self.name,
            "model": self.name,
            "modified_at": "2025-05-04T17:37:44.70-07:00",
            "size": 2019393189,
            "digest": hashlib.sha256(self.name.encode()).hexdigest(),
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": self.family,
                "families": [self.family],
                "parameter_size": "3.2B",
                "quantization_level": "Q4_K_M",
            },
        }
        if with_capabilities:
            entry["capabilities"] = self.capabilities
        return entry


def embedding_model(name: str, dimension: int = 8, family: str = "bert") -> FakeModel:
    return FakeModel(name, family=family, capabilities=["embedding"], dimension=dimension)


def chat_model(
    name: str, family: str = "llama", *, thinking: bool = False, context_length: int = 131072
) -> FakeModel:
    capabilities = ["completion", "tools", *(["thinking"] if thinking else [])]
    return FakeModel(name, family=family, capabilities=capabilities, context_length=context_length)


def answer_pieces(text: str) -> list[str]:
    """``text`` as a model streams it: a word at a time, spaces kept."""
    return re.findall(r"\s*\S+", text)


def chat_chunk(
    model: str, content: str, *, thinking: str = "", done: bool = False
) -> dict[str, Any]:
    """One line of an ``/api/chat`` stream."""
    message = {
        "role": "assistant",
        "content": content,
        **({"thinking": thinking} if thinking else {}),
    }
    chunk: dict[str, Any] = {
        "model": model,
        "created_at": "2025-07-07T20:22:19.18Z",
        "message": message,
        "done": done,
    }
    if done:
        chunk |= {"done_reason": "stop", "total_duration": 4883583458, "eval_count": 12}
    return chunk


def openai_chunk(model: str, content: str | None, finish_reason: str | None = None) -> bytes:
    """One server-sent event of a ``/v1/chat/completions`` stream."""
    delta = {} if content is None else {"role": "assistant", "content": content}
    event = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1751919739,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    return sse(event)


def sse(data: dict[str, Any] | str) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data)
    return f"data: {text}\n\n".encode()


class FakeOllama(FakeServer):
    """Ollama's native API (and /v1/embeddings) over a list of :class:`FakeModel`.

    ``capabilities`` off mimics an Ollama too old to report them in /api/show.
    ``api_key`` set makes the /v1 routes demand ``Authorization: Bearer <api_key>``.
    ``library`` holds the models /api/pull can download (and then installs).
    """

    def __init__(
        self,
        models: list[FakeModel] | None = None,
        *,
        version: str = "0.12.3",
        capabilities: bool = True,
        api_key: str = "",
        library: list[FakeModel] | None = None,
    ) -> None:
        super().__init__()
        self.models = models or []
        self.library = library or []
        self.version = version
        self.capabilities = capabilities
        self.api_key = api_key
        self.route("GET", "/", lambda r: (200, "Ollama is running"))
        self.route("GET", "/api/version", lambda r: (200, {"version": self.version}))
        self.route("GET", "/api/tags", self._tags)
        self.route("POST", "/api/show", self._show)
        self.route("POST", "/api/embed", self._embed)
        self.route("POST", "/api/chat", self._chat)
        self.route("POST", "/api/pull", self._pull)
        self.route("POST", "/api/create", self._create)
        self.created: list[dict[str, Any]] = []
        self.route("POST", "/v1/embeddings", self._openai_embeddings)
        self.route("POST", "/v1/chat/completions", self._openai_chat)
        self.route("GET", "/v1/models", self._openai_models)

    def find(self, name: str) -> FakeModel | None:
        full = name if ":" in name else f"{name}:latest"
        return next((m for m in self.models if m.name == full), None)

    def _tags(self, request: Request) -> tuple[int, Body]:
        return 200, {"models": [m.tag(with_capabilities=False) for m in self.models]}

    def _show(self, request: Request) -> tuple[int, Body]:
        name = request.json.get("model") or request.json.get("name", "")
        model = self.find(name)
        if model is None:
            return 404, {"error": f"model '{name}' not found"}
        reply: dict[str, Any] = {
            "modelfile": f"FROM {model.name}",
            "parameters": "num_ctx                        8192",
            "template": "{{ .Prompt }}",
            "details": model.tag(with_capabilities=False)["details"],
            "model_info": {
                "general.architecture": model.family,
                **(
                    {f"{model.family}.context_length": model.context_length}
                    if model.context_length
                    else {}
                ),
            },
            "modified_at": "2025-05-04T17:37:44.70-07:00",
        }
        if self.capabilities:
            reply["capabilities"] = model.capabilities
        return 200, reply

    def _embed(self, request: Request) -> tuple[int, Body]:
        body = request.json or {}
        if not body.get("model"):
            return 400, {"error": "model is required"}
        model = self.find(body["model"])
        if model is None:
            return 404, {"error": f"model '{body['model']}' not found"}
        if not model.dimension:
            return 400, {"error": f'"{body["model"]}" does not support embeddings'}
        texts = body.get("input")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list):
            return 400, {"error": "invalid input type"}
        return 200, {
            "model": body["model"],
            "embeddings": [fake_vector(text, model.dimension) for text in texts],
            "total_duration": 14143917,
            "load_duration": 1019500,
            "prompt_eval_count": 8 * len(texts),
        }

    def _chat(self, request: Request) -> tuple[int, Body]:
        body = request.json or {}
        name = str(body.get("model", ""))
        model = self.find(name)
        if model is None:
            return 404, {"error": f'model "{name}" not found, try pulling it first'}
        if model.dimension:
            return 400, {"error": f'"{name}" does not support chat'}
        think = body.get("think")
        can_think = "thinking" in model.capabilities
        if think is not None and not can_think:
            return 400, {"error": f'"{name}" does not support thinking'}
        if body.get("stream") is False:
            return 200, chat_chunk(name, model.reply, done=True)
        return 200, self._chat_stream(name, model, thinking=can_think and think is not False)

    def _chat_stream(self, name: str, model: FakeModel, thinking: bool) -> Iterator[dict[str, Any]]:
        if thinking:  # Ollama thinks by default when a model can
            yield chat_chunk(name, "", thinking="Veamos qué dicen los documentos.")
        for piece in answer_pieces(model.reply):
            yield chat_chunk(name, piece)
        yield chat_chunk(name, "", done=True)

    def _create(self, request: Request) -> tuple[int, Body]:
        body = request.json or {}
        if self.find(str(body.get("from", ""))) is None:
            return 404, {"error": f"model '{body.get('from')}' not found"}
        self.created.append(body)
        return 200, {"status": "success"}

    def _pull(self, request: Request) -> tuple[int, Body]:
        name = str((request.json or {}).get("model", ""))
        full = name if ":" in name else f"{name}:latest"
        model = next((m for m in self.library if m.name == full), None)
        return 200, self._pull_stream(model)

    def _pull_stream(self, model: FakeModel | None) -> Iterator[dict[str, Any]]:
        yield {"status": "pulling manifest"}
        if model is None:
            yield {"error": "pull model manifest: file does not exist"}
            return
        for layer, total in ((model.name, 2_000_000), (f"{model.name} template", 1_024)):
            digest = hashlib.sha256(layer.encode()).hexdigest()
            for completed in (0, total // 2, total):
                yield {
                    "status": f"pulling {digest[:12]}",
                    "digest": f"sha256:{digest}",
                    "total": total,
                    "completed": completed,
                }
        yield {"status": "verifying sha256 digest"}
        yield {"status": "writing manifest"}
        if self.find(model.name) is None:
            self.models.append(model)
        yield {"status": "success"}

    def _openai_chat(self, request: Request) -> tuple[int, Body]:
        if self.api_key and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, _openai_error("Invalid API key", "invalid_request_error")
        body = request.json or {}
        name = str(body.get("model", ""))
        model = self.find(name)
        if model is None or model.dimension:
            return 404, _openai_error(f"model '{name}' not found", "not_found_error")
        if not body.get("stream"):
            choice = {"index": 0, "message": {"role": "assistant", "content": model.reply}}
            return 200, {
                "object": "chat.completion",
                "choices": [choice | {"finish_reason": "stop"}],
            }
        events = [openai_chunk(name, piece) for piece in answer_pieces(model.reply)]
        return 200, Raw([*events, openai_chunk(name, None, "stop"), sse("[DONE]")])

    def _openai_models(self, request: Request) -> tuple[int, Body]:
        if self.api_key and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, _openai_error("Invalid API key", "invalid_request_error")
        data = [
            {"id": m.name, "object": "model", "created": 0, "owned_by": "library"}
            for m in self.models
        ]
        return 200, {"object": "list", "data": data}

    def _openai_embeddings(self, request: Request) -> tuple[int, Body]:
        if self.api_key and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, _openai_error("Invalid API key", "invalid_request_error")
        body = request.json or {}
        model = self.find(str(body.get("model", "")))
        if model is None or not model.dimension:
            return 404, _openai_error(f"model '{body.get('model')}' not found", "not_found_error")
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list):
            return 400, _openai_error("input must be a string or a list", "invalid_request_error")
        data = [
            {"object": "embedding", "embedding": fake_vector(text, model.dimension), "index": i}
            for i, text in enumerate(texts)
        ]
        return 200, {
            "object": "list",
            "data": data[::-1],  # out of order on purpose: clients must sort by index
            "model": body["model"],
            "usage": {"prompt_tokens": 8, "total_tokens": 8},
        }


def _openai_error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}

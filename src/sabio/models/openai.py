"""OpenAI-compatible servers (LM Studio, vLLM, llama.cpp server, LocalAI…): embeddings and chat.

A server is a table in config.toml, and its name is the model prefix::

    [openai.lmstudio]
    base_url = "http://127.0.0.1:1234/v1"   # the URL the server documents, usually ending in /v1
    api_key_env = "LMSTUDIO_KEY"            # optional; or api_key = "..."
    context_window = 8192                   # tokens its chat models get

    embedding_model = "lmstudio:text-embedding-bge-m3"
    chat_model = "lmstudio:qwen2.5-7b-instruct"

Requests go to ``{base_url}/embeddings``, ``{base_url}/chat/completions`` (streamed as
server-sent events) and ``{base_url}/models``. A ``base_url`` with no path at all
(``http://127.0.0.1:1234``) gets ``/v1`` added, since every such server serves there;
any other path is used as written (``https://example.com/openai/v1``).
:class:`OpenAIConnection` sends them over the backends' one HTTP layer
(:mod:`sabio.models.http`) and words every failure, httpx errors and the servers' error
replies, as a Sabio error in one place (:meth:`OpenAIConnection.words`).
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any

import httpx

from sabio.errors import ConfigError, ModelError, NotFoundError, SabioError
from sabio.models import (
    BatchedEmbedder,
    ChatOptions,
    Message,
    ModelEntry,
    estimate_tokens,
    register_chat_backend,
    register_embedding_backend,
    register_model_listing,
)
from sabio.models.http import Failure, ModelHTTP

if TYPE_CHECKING:
    from sabio.config import Settings

SERVER_PROBE_TIMEOUT = httpx.Timeout(5.0, connect=2.0)
"""Listing an OpenAI-compatible server's models: it may be across a network."""


def api_base(base_url: str) -> str:
    """``base_url`` without a trailing slash, with ``/v1`` added to a bare ``http://host:port``."""
    base = base_url.rstrip("/")
    try:
        path = httpx.URL(base).path
    except httpx.InvalidURL as exc:
        raise ConfigError(f"base_url {base_url!r} is not a valid URL: {exc}") from exc
    return base + "/v1" if path in ("", "/") else base


def embeddings_url(base_url: str) -> str:
    """``{base_url}/embeddings``, adding ``/v1`` to a bare ``http://host:port``."""
    return api_base(base_url) + "/embeddings"


class OpenAIConnection(ModelHTTP):
    """Requests to the server configured as ``[openai.<server>]`` over
    :class:`~sabio.models.http.ModelHTTP`, every failure worded for that server
    (:meth:`words`).

    Use it as a context manager (or call :meth:`close`) so its connections are released.
    """

    def __init__(
        self,
        settings: Settings,
        server: str,
        timeout: float | httpx.Timeout | None = None,
        *,
        cancel: threading.Event | None = None,
    ) -> None:
        config = settings.openai_servers[server]
        self.server = server
        self.where = f"[openai.{server}] in config.toml"
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        timeout = settings.timeout if timeout is None else timeout
        super().__init__(api_base(config.base_url), timeout=timeout, headers=headers, cancel=cancel)

    def list_models(self) -> list[str]:
        """The ids ``GET {base_url}/models`` lists."""
        data = self.request("GET", "/models").get("data")
        items = data if isinstance(data, list) else []
        return [str(item["id"]) for item in items if isinstance(item, dict) and item.get("id")]

    def words(self, failure: Failure) -> SabioError:
        """The Sabio error for ``failure``, naming this server's table in config.toml."""
        url, where = failure.url, self.where
        match failure.kind:
            case "unreachable":
                return ModelError(
                    f"the OpenAI-compatible server {self.server!r} is not reachable at {url}"
                    + (
                        f": {failure.why} — fix base_url under {where} or this computer's network"
                        if failure.why
                        else f" — start it, or fix base_url under {where}"
                    )
                )
            case "timeout":
                return ModelError(
                    f"{url} did not answer in time — the model may still be loading; "
                    "try again or raise `timeout` (SABIO_TIMEOUT)"
                )
            case "bad_scheme":
                return ConfigError(f"base_url under {where} must start with http:// or https://")
            case "invalid_url":
                return ConfigError(f"base_url under {where} is not a valid URL: {failure.message}")
            case "lost":
                return ModelError(f"lost the connection to {url}: {failure.message}")
            case "not_json":
                return ModelError(
                    f"{url} did not answer with JSON: is base_url under {where} right?"
                )
            case "broke_off":
                return ModelError(
                    f"the answer from {url} broke off before it was complete "
                    "(the connection was lost or the server stopped); try again"
                )
            case "midway":
                return ModelError(f"{url} stopped in the middle of the answer: {failure.message}")
            case "refused":
                return self._refusal(failure)

    def _refusal(self, failure: Failure) -> SabioError:
        url, status, message, model = failure.url, failure.status, failure.message, failure.model
        if status in (401, 403):
            return ModelError(
                f"{url} refused the request ({status}: {message}) — "
                f"set api_key or api_key_env under {self.where}"
            )
        if status == 404 and model and "model" in message.lower():
            return NotFoundError(
                f"model {model!r} is not available on {self.server!r} ({message}) — "
                "load or download it in that server, or check the name"
            )
        if status in (404, 405):
            return ModelError(
                f"{url} does not exist ({status}) — base_url under {self.where} "
                "is usually the server's address ending in /v1"
            )
        return ModelError(f"{url} failed ({status}): {message}")


def _finished(event: dict[str, Any]) -> bool:
    """Whether a streamed completion event ends its choice (``finish_reason`` set)."""
    return any(isinstance(c, dict) and c.get("finish_reason") for c in event.get("choices") or [])


class OpenAIEmbedder(BatchedEmbedder):
    """The model ``model`` on the configured server ``server``, named ``"<server>:<model>"``.

    ``dimension`` is learnt from the first batch embedded; reading it before any
    :meth:`embed` call embeds one short probe text (one request); setting it (say, from
    what a knowledge base recorded) skips the probe. Each :meth:`embed`
    call opens its own connection and sends ``embed_batch_size`` texts per request.
    """

    def __init__(self, settings: Settings, server: str, model: str) -> None:
        super().__init__(settings.embed_batch_size)
        self.settings = settings
        self.server = server
        self.model = model
        self.name = f"{server}:{model}"
        self.url = embeddings_url(settings.openai_servers[server].base_url)

    def _embed_batches(self, batches: list[Sequence[str]]) -> list[list[float]]:
        with OpenAIConnection(self.settings, self.server) as connection:
            return [row for batch in batches for row in self._embed_batch(connection, batch)]

    def _embed_batch(self, connection: OpenAIConnection, texts: Sequence[str]) -> list[list[float]]:
        body = {"model": self.model, "input": list(texts)}
        reply = connection.request("POST", "/embeddings", body, model=self.model)
        data = reply.get("data")
        if not isinstance(data, list) or len(data) != len(texts):
            got = len(data) if isinstance(data, list) else "no"
            raise ModelError(
                f"{self.url} returned {got} embeddings for {len(texts)} texts from "
                f"{self.model!r}; is it an embedding model?"
            )
        ordered = sorted(data, key=lambda item: int(item.get("index", 0)))
        return [item["embedding"] for item in ordered]


class OpenAIChat:
    """The chat model ``model`` on the configured server ``server``, ``"<server>:<model>"``.

    ``context_window`` is the server's ``context_window`` from config.toml (the server
    decides the real one; Sabio cannot change it), or the ``context_window`` setting when
    that is set and smaller. Each :meth:`stream` opens its own connection.
    """

    def __init__(self, settings: Settings, server: str, model: str) -> None:
        self.settings = settings
        self.server = server
        self.model = model
        self.name = f"{server}:{model}"
        window = settings.openai_servers[server].context_window
        if settings.context_window > 0:
            window = min(window, settings.context_window)
        self.context_window = window

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def stream(
        self, messages: Sequence[Message], options: ChatOptions
    ) -> Generator[str, None, str | None]:
        """The answer's pieces (``choices[0].delta.content``); reasoning is left out.
        Returns the ``finish_reason`` ("length" when ``max_tokens`` ran out)."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "stream": True,
            "max_tokens": options.max_tokens,
            "temperature": options.temperature,
        }
        if options.stop:
            body["stop"] = list(options.stop)
        if options.json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": dict(options.json_schema)},
            }
        reason = None
        with OpenAIConnection(self.settings, self.server, cancel=options.cancel) as connection:
            events = connection.events(
                "/chat/completions", body, model=self.model, finished=_finished
            )
            for event in events:
                choices = event.get("choices") or [{}]
                choice = choices[0] if isinstance(choices[0], dict) else {}
                delta = choice.get("delta")
                piece = delta.get("content") if isinstance(delta, dict) else None
                if piece:
                    yield str(piece)
                reason = choice.get("finish_reason") or reason
        return str(reason) if reason else None


def _server_and_model(settings: Settings, model: str) -> tuple[str, str]:
    """``model`` is ``"<server>:<model>"``; a bare model uses the server named ``openai``."""
    server, sep, model_id = model.partition(":")
    if not sep or server not in settings.openai_servers:
        server, model_id = "openai", model
    if server not in settings.openai_servers or not model_id:
        raise ConfigError(
            f"no OpenAI-compatible server for {model!r}: add [openai.NAME] with base_url = "
            "'http://host:port/v1' to config.toml and name the model 'NAME:model'"
        )
    return server, model_id


@register_embedding_backend("openai")
def openai_embedding_model(settings: Settings, model: str) -> OpenAIEmbedder:
    return OpenAIEmbedder(settings, *_server_and_model(settings, model))


@register_chat_backend("openai")
def openai_chat_model(settings: Settings, model: str) -> OpenAIChat:
    return OpenAIChat(settings, *_server_and_model(settings, model))


@register_model_listing
def list_models(settings: Settings) -> list[ModelEntry]:
    """Each ``[openai.NAME]`` server's models (their kind is not said: ``"model"``); one
    ``"NAME:*"`` entry saying why for a server that does not answer or lists none."""
    servers = settings.openai_servers
    return [entry for server in servers for entry in _server_models(settings, server)]


def _server_models(settings: Settings, server: str) -> list[ModelEntry]:
    try:
        with OpenAIConnection(settings, server, timeout=SERVER_PROBE_TIMEOUT) as connection:
            ids = connection.list_models()
    except SabioError as exc:
        return [ModelEntry(f"{server}:*", "model", server, False, str(exc))]
    if not ids:
        note = f"[openai.{server}] lists no models: load one in that server"
        return [ModelEntry(f"{server}:*", "model", server, False, note)]
    return [ModelEntry(f"{server}:{model}", "model", server, True) for model in ids]

"""Embeddings from an OpenAI-compatible server (LM Studio, vLLM, llama.cpp server, LocalAI…).

A server is a table in config.toml, and its name is the model prefix::

    [openai.lmstudio]
    base_url = "http://127.0.0.1:1234/v1"   # the URL the server documents, usually ending in /v1
    api_key_env = "LMSTUDIO_KEY"            # optional; or api_key = "..."

    embedding_model = "lmstudio:text-embedding-bge-m3"

Requests go to ``{base_url}/embeddings``. A ``base_url`` with no path at all
(``http://127.0.0.1:1234``) gets ``/v1`` added, since every such server serves there;
any other path is used as written (``https://example.com/openai/v1``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx

from sabio.errors import ConfigError, ModelError, NotFoundError
from sabio.models import BatchedEmbedder, register_embedding_backend

if TYPE_CHECKING:
    from sabio.config import OpenAIServer, Settings


def embeddings_url(base_url: str) -> str:
    """``{base_url}/embeddings``, adding ``/v1`` to a bare ``http://host:port``."""
    base = base_url.rstrip("/")
    try:
        path = httpx.URL(base).path
    except httpx.InvalidURL as exc:
        raise ConfigError(f"base_url {base_url!r} is not a valid URL: {exc}") from exc
    if path in ("", "/"):
        base += "/v1"
    return base + "/embeddings"


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
        config: OpenAIServer = settings.openai_servers[server]
        self.url = embeddings_url(config.base_url)
        self._headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}

    def _embed_batches(self, batches: list[Sequence[str]]) -> list[list[float]]:
        with httpx.Client(timeout=self.settings.timeout, headers=self._headers) as http:
            return [row for batch in batches for row in self._embed_batch(http, batch)]

    def _embed_batch(self, http: httpx.Client, texts: Sequence[str]) -> list[list[float]]:
        reply = self._post(http, {"model": self.model, "input": list(texts)})
        data = reply.get("data")
        if not isinstance(data, list) or len(data) != len(texts):
            got = len(data) if isinstance(data, list) else "no"
            raise ModelError(
                f"{self.url} returned {got} embeddings for {len(texts)} texts from "
                f"{self.model!r}; is it an embedding model?"
            )
        ordered = sorted(data, key=lambda item: int(item.get("index", 0)))
        return [item["embedding"] for item in ordered]

    def _post(self, http: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
        """Send one request; the single place where failures become Sabio errors."""
        where = f"[openai.{self.server}] in config.toml"
        try:
            response = http.post(self.url, json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ModelError(
                f"the OpenAI-compatible server {self.server!r} is not reachable at {self.url} — "
                f"start it, or fix base_url under {where}"
            ) from exc
        except httpx.TimeoutException as exc:
            raise ModelError(
                f"{self.url} did not answer in time — the model may still be loading; "
                "try again or raise `timeout` (SABIO_TIMEOUT)"
            ) from exc
        except httpx.UnsupportedProtocol as exc:
            raise ConfigError(
                f"base_url under {where} must start with http:// or https://"
            ) from exc
        except httpx.TransportError as exc:
            raise ModelError(f"lost the connection to {self.url}: {exc}") from exc
        if response.is_success:
            try:
                reply = response.json()
            except ValueError as exc:
                raise ModelError(
                    f"{self.url} did not answer with JSON: is base_url under {where} right?"
                ) from exc
            return reply if isinstance(reply, dict) else {}
        message = _error_text(response)
        status = response.status_code
        if status in (401, 403):
            raise ModelError(
                f"{self.url} refused the request ({status}: {message}) — "
                f"set api_key or api_key_env under {where}"
            )
        if status == 404 and "model" in message.lower():
            raise NotFoundError(
                f"model {self.model!r} is not available on {self.server!r} ({message}) — "
                "load or download it in that server, or check the name"
            )
        if status in (404, 405):
            raise ModelError(
                f"{self.url} does not exist ({status}) — base_url under {where} "
                "is usually the server's address ending in /v1"
            )
        raise ModelError(f"{self.url} failed ({status}): {message}")


def _error_text(response: httpx.Response) -> str:
    """The message of ``{"error": {"message": ...}}``, ``{"error": "..."}`` or the raw body."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict):
        error = error.get("message")
    return str(error) if error else (response.text.strip() or response.reason_phrase)


@register_embedding_backend("openai")
def openai_embedding_model(settings: Settings, model: str) -> OpenAIEmbedder:
    """``model`` is ``"<server>:<model>"``; a bare model uses the server named ``openai``."""
    server, sep, model_id = model.partition(":")
    if not sep or server not in settings.openai_servers:
        server, model_id = "openai", model
    if server not in settings.openai_servers or not model_id:
        raise ConfigError(
            f"no OpenAI-compatible server for {model!r}: add [openai.NAME] with base_url = "
            "'http://host:port/v1' to config.toml and name the model 'NAME:model'"
        )
    return OpenAIEmbedder(settings, server, model_id)

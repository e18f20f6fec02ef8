"""Ollama: a small HTTP client, the ``ollama:`` embedding backend, and discovery.

:class:`OllamaClient` speaks Ollama's native API (``/api/...``) over one ``httpx.Client``
and is the only place where httpx errors and Ollama's ``{"error": ...}`` replies become
Sabio errors: an unreachable server is a :class:`ModelError` that says how to start it, a
missing model a :class:`NotFoundError` that names the pull command.

:func:`find_ollama_embedding_model` answers "is there an Ollama with an embedding model?"
within about a second and never raises, so ``embedding_model = "auto"`` costs a CLI
without Ollama almost nothing. :func:`ollama_status` is what ``sabio doctor`` shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx

from sabio.errors import ConfigError, ModelError, NotFoundError, SabioError
from sabio.models import BatchedEmbedder, register_embedding_backend

if TYPE_CHECKING:
    from sabio.config import Settings

PROBE_TIMEOUT = httpx.Timeout(2.0, connect=1.0)
"""Discovery and status checks: a local Ollama answers metadata requests in milliseconds."""

PREFERRED_EMBEDDING_MODELS = (
    "bge-m3",
    "paraphrase-multilingual",
    "snowflake-arctic-embed2",
    "qwen3-embedding",
    "embeddinggemma",
    "nomic-embed-text-v2-moe",
    "nomic-embed-text",
    "mxbai-embed-large",
    "snowflake-arctic-embed",
    "granite-embedding",
    "all-minilm",
)
"""The order "auto" picks in: multilingual models first (documents are often not English),
then the well-known English ones; any other embedding model comes after these."""

EMBEDDING_FAMILIES = frozenset({"bert", "nomic-bert", "nomic-bert-moe", "xlm-roberta", "jina-bert"})
"""Model families that only embed, for Ollama versions without ``capabilities``."""


def pull_command(model: str) -> str:
    """The command that installs ``model``; the one place to change when Sabio pulls itself."""
    return f"ollama pull {model}"


def canonical_model(model: str) -> str:
    """``nomic-embed-text:latest`` and ``nomic-embed-text`` are one model: drop ``:latest``."""
    return model.removesuffix(":latest")


class OllamaClient:
    """Ollama's native API, with every failure translated into a Sabio error.

    Use it as a context manager (or call :meth:`close`) so its connections are released.
    """

    def __init__(self, host: str, timeout: float | httpx.Timeout = 60.0) -> None:
        self.host = host.rstrip("/")
        try:
            self._http = httpx.Client(base_url=self.host, timeout=timeout)
        except httpx.InvalidURL as exc:
            raise ConfigError(f"ollama_host {host!r} is not a valid URL: {exc}") from exc

    @classmethod
    def from_settings(
        cls, settings: Settings, timeout: float | httpx.Timeout | None = None
    ) -> OllamaClient:
        return cls(settings.ollama_host, settings.timeout if timeout is None else timeout)

    def __enter__(self) -> OllamaClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def version(self) -> str:
        return str(self._request("GET", "/api/version").get("version", "unknown"))

    def list_models(self) -> list[dict[str, Any]]:
        """The installed models, as ``/api/tags`` describes them (names carry a tag)."""
        models = self._request("GET", "/api/tags").get("models") or []
        return [m for m in models if isinstance(m, dict)]

    def show(self, name: str) -> dict[str, Any]:
        """Details of one model: ``details``, ``model_info``, ``capabilities`` (newer Ollama)."""
        return self._request("POST", "/api/show", {"model": name}, model=name)

    def embed(self, model: str, texts: Sequence[str]) -> list[list[float]]:
        """One embedding per text; over-long texts are truncated to the model's context."""
        body = {"model": model, "input": list(texts), "truncate": True}
        reply = self._request("POST", "/api/embed", body, model=model)
        embeddings = reply.get("embeddings")
        if not isinstance(embeddings, list) or len(embeddings) != len(texts):
            got = len(embeddings) if isinstance(embeddings, list) else "no"
            raise ModelError(
                f"Ollama at {self.host} returned {got} embeddings for {len(texts)} texts "
                f"from {model!r}; is it an embedding model? (`ollama show {model}`)"
            )
        return embeddings

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, model: str = ""
    ) -> dict[str, Any]:
        """Send one request; the single place where failures become Sabio errors."""
        try:
            response = self._http.request(method, path, json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ModelError(
                f"Ollama is not reachable at {self.host} — start it with `ollama serve` "
                "or set OLLAMA_HOST"
            ) from exc
        except httpx.TimeoutException as exc:
            raise ModelError(
                f"Ollama at {self.host} did not answer {path} in time — the model may still be "
                "loading; try again or raise `timeout` (SABIO_TIMEOUT)"
            ) from exc
        except httpx.UnsupportedProtocol as exc:
            raise ConfigError(
                f"ollama_host {self.host!r} must start with http:// or https://"
            ) from exc
        except httpx.TransportError as exc:
            raise ModelError(f"lost the connection to Ollama at {self.host}: {exc}") from exc
        if response.is_success:
            try:
                reply = response.json()
            except ValueError as exc:
                raise ModelError(
                    f"{self.host}{path} did not answer with JSON: "
                    "is OLLAMA_HOST pointing at Ollama?"
                ) from exc
            return reply if isinstance(reply, dict) else {}
        is_json = response.headers.get("content-type", "").startswith("application/json")
        if response.status_code == 404 and not is_json:
            raise ModelError(
                f"{self.host} has no {path}: is OLLAMA_HOST pointing at Ollama, "
                "and is Ollama up to date?"
            )
        message = _error_text(response)
        if response.status_code == 404 and model and "not found" in message:
            raise NotFoundError(
                f"model {model!r} is not installed in Ollama at {self.host} — "
                f"run `{pull_command(model)}`"
            )
        raise ModelError(
            f"Ollama at {self.host} failed on {path} ({response.status_code}): {message}"
        )


def _error_text(response: httpx.Response) -> str:
    """Ollama's ``{"error": "..."}`` message, else the raw body."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    return str(error) if error else (response.text.strip() or response.reason_phrase)


class OllamaEmbedder(BatchedEmbedder):
    """An Ollama embedding model, ``ollama:<model>``; each :meth:`embed` call opens its
    own connection and sends ``embed_batch_size`` texts per request."""

    def __init__(self, settings: Settings, model: str) -> None:
        super().__init__(settings.embed_batch_size)
        self.settings = settings
        self.model = model
        self.name = f"ollama:{canonical_model(model)}"

    def _embed_batches(self, batches: list[Sequence[str]]) -> list[list[float]]:
        with OllamaClient.from_settings(self.settings) as client:
            return [row for batch in batches for row in client.embed(self.model, batch)]


@register_embedding_backend("ollama")
def ollama_embedding_model(settings: Settings, model: str) -> OllamaEmbedder:
    return OllamaEmbedder(settings, model)


def is_embedding_model(entry: dict[str, Any], show: dict[str, Any] | None = None) -> bool:
    """Whether an ``/api/tags`` entry (and its ``/api/show`` reply, if any) only embeds.

    Ollama's own ``capabilities`` decide when present; older versions do not report them,
    so then the family (``bert``, ``nomic-bert``…) or an ``embed`` in the name decides.
    """
    for source in (entry, show or {}):
        capabilities = source.get("capabilities")
        if isinstance(capabilities, list) and capabilities:
            return "embedding" in capabilities
    details = {**(entry.get("details") or {}), **((show or {}).get("details") or {})}
    families = {details.get("family"), *(details.get("families") or [])}
    name = str(entry.get("name") or entry.get("model") or "")
    return bool(families & EMBEDDING_FAMILIES) or "embed" in name.lower()


def _preference(name: str) -> int:
    base = name.rsplit("/", 1)[-1].split(":", 1)[0]
    try:
        return PREFERRED_EMBEDDING_MODELS.index(base)
    except ValueError:
        return len(PREFERRED_EMBEDDING_MODELS)


def list_embedding_models(client: OllamaClient) -> list[str]:
    """Installed embedding models, best first (see :data:`PREFERRED_EMBEDDING_MODELS`)."""
    found = []
    for entry in client.list_models():
        name = str(entry.get("name") or entry.get("model") or "")
        if not name:
            continue
        show = None if entry.get("capabilities") else client.show(name)
        if is_embedding_model(entry, show):
            found.append(canonical_model(name))
    return sorted(found, key=_preference)  # stable: Ollama's order breaks ties


def find_ollama_embedding_model(settings: Settings) -> str | None:
    """``"ollama:<name>"`` for the best installed embedding model, or None.

    None when Ollama does not answer within about a second, or has no embedding model.
    """
    try:
        with OllamaClient.from_settings(settings, timeout=PROBE_TIMEOUT) as client:
            models = list_embedding_models(client)
    except SabioError:
        return None
    return f"ollama:{models[0]}" if models else None


def ollama_status(settings: Settings) -> dict[str, Any]:
    """What ``sabio doctor`` reports: host, reachable, version, models, embedding_models, error."""
    status: dict[str, Any] = {
        "host": settings.ollama_host,
        "reachable": False,
        "version": None,
        "models": [],
        "embedding_models": [],
        "error": None,
    }
    try:
        with OllamaClient.from_settings(settings, timeout=PROBE_TIMEOUT) as client:
            status["version"] = client.version()
            status["reachable"] = True
            status["models"] = [
                canonical_model(str(m.get("name", ""))) for m in client.list_models()
            ]
            status["embedding_models"] = list_embedding_models(client)
    except SabioError as exc:
        status["error"] = str(exc)
    return status

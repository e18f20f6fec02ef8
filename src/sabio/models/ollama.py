"""Ollama: a small HTTP client, the ``ollama:`` embedding and chat backends, and discovery.

:class:`OllamaClient` speaks Ollama's native API (``/api/...``) over the backends' one
HTTP layer (:mod:`sabio.models.http`) and words its failures, httpx errors and Ollama's
``{"error": ...}`` replies (before a stream or in the middle of one), as Sabio errors in
one place (:meth:`OllamaClient.words`): an unreachable server is a
:class:`ModelError` that says how to start it, a missing model a :class:`NotFoundError`
that names the pull command, a model too big for free memory a :class:`ModelError` that
suggests a smaller one.

:class:`OllamaChat` always sends ``num_ctx``: without it Ollama silently cuts a long
prompt to its own default context, and the documents the prompt carries are lost.

:func:`find_ollama_embedding_model` and :func:`find_ollama_chat_model` answer "is there
an Ollama with such a model?" within about a second and never raise, so ``"auto"`` costs
a CLI without Ollama almost nothing. :func:`ollama_status` is what ``sabio doctor`` shows.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from sabio.connections import unresolved_host
from sabio.errors import ConfigError, ModelError, NotFoundError, SabioError
from sabio.models import (
    ENGLISH_ONLY,
    BatchedEmbedder,
    ChatOptions,
    Message,
    ModelEntry,
    estimate_tokens,
    register_chat_backend,
    register_embedding_backend,
    register_model_listing,
    register_unlisted_model,
)
from sabio.models.http import Failure, ModelHTTP
from sabio.models.ollama_hosts import Host, HostPool, is_host_failure

if TYPE_CHECKING:
    from sabio.config import Settings

T = TypeVar("T")

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

PREFERRED_CHAT_MODELS = (
    "qwen3",
    "qwen2.5",
    "llama3.2",
    "llama3.1",
    "gemma3",
    "mistral-small3.2",
    "mistral-nemo",
    "mistral",
    "phi4",
    "phi4-mini",
    "granite3.3",
    "llama3",
    "gemma2",
    "phi3",
)
"""The order "auto" picks a chat model in: instruction-tuned families that answer well in
Spanish and English first; any other local chat model comes after these."""

PULL_READ_TIMEOUT = 600.0
"""Seconds a pull may go without a progress line: Ollama says nothing while it checks the
digest of a downloaded model, and a big model takes a while."""

MAX_AUTO_CONTEXT = 8192
"""The most context "the model's own context length" gives: a 128k window would make
Ollama reserve gigabytes of memory that a knowledge-base prompt never uses."""

MEMORY_ERRORS = ("more system memory", "out of memory", "insufficient memory", "cudamalloc")
"""Fragments of Ollama's messages for a model that does not fit in free memory."""

EMBEDDING_FAMILIES = frozenset({"bert", "nomic-bert", "nomic-bert-moe", "xlm-roberta", "jina-bert"})
"""Model families that only embed, for Ollama versions without ``capabilities``."""


def pull_command(model: str) -> str:
    """The command that installs ``model`` (an Ollama name such as ``qwen3:4b``)."""
    return f"sabio pull {model}"


def canonical_model(model: str) -> str:
    """``nomic-embed-text:latest`` and ``nomic-embed-text`` are one model: drop ``:latest``."""
    return model.removesuffix(":latest")


class OllamaClient(ModelHTTP):
    """Ollama's native API over :class:`~sabio.models.http.ModelHTTP`, every failure
    worded for Ollama (:meth:`words`).

    Use it as a context manager (or call :meth:`close`) so its connections are released.
    """

    def __init__(
        self,
        host: str,
        timeout: float | httpx.Timeout = 60.0,
        *,
        cancel: threading.Event | None = None,
    ) -> None:
        self.host = host.rstrip("/")
        super().__init__(self.host, timeout=timeout, cancel=cancel)

    @classmethod
    def from_settings(
        cls, settings: Settings, timeout: float | httpx.Timeout | None = None
    ) -> OllamaClient:
        return cls(settings.ollama_host, settings.timeout if timeout is None else timeout)

    def version(self) -> str:
        return str(self.request("GET", "/api/version").get("version", "unknown"))

    def list_models(self) -> list[dict[str, Any]]:
        """The installed models, as ``/api/tags`` describes them (names carry a tag)."""
        models = self.request("GET", "/api/tags").get("models") or []
        return [m for m in models if isinstance(m, dict)]

    def show(self, name: str) -> dict[str, Any]:
        """Details of one model: ``details``, ``model_info``, ``capabilities`` (newer Ollama)."""
        return self.request("POST", "/api/show", {"model": name}, model=name)

    def embed(self, model: str, texts: Sequence[str]) -> list[list[float]]:
        """One embedding per text; over-long texts are truncated to the model's context."""
        body = {"model": model, "input": list(texts), "truncate": True}
        reply = self.request("POST", "/api/embed", body, model=model)
        embeddings = reply.get("embeddings")
        if not isinstance(embeddings, list) or len(embeddings) != len(texts):
            got = len(embeddings) if isinstance(embeddings, list) else "no"
            raise ModelError(
                f"Ollama at {self.host} returned {got} embeddings for {len(texts)} texts "
                f"from {model!r}; is it an embedding model? (`ollama show {model}`)"
            )
        return embeddings

    def chat(self, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """``/api/chat`` with ``body`` (``stream`` true), one reply object per line."""
        model = str(body.get("model", ""))
        return self.json_lines(
            "POST", "/api/chat", body, model=model, finished=lambda c: bool(c.get("done"))
        )

    def create(self, model: str, base: str, system: str) -> None:
        """``/api/create``: the model ``model``, ``base`` with ``system`` as its system prompt."""
        body = {"model": model, "from": base, "system": system, "stream": False}
        self.request("POST", "/api/create", body, model=base)

    def pull(self, model: str) -> Iterator[dict[str, Any]]:
        """Download ``model``: progress as dicts with ``status``, ``digest``, ``total`` and
        ``completed`` (the last three only while a layer downloads, else empty and 0)."""
        body = {"model": model, "stream": True}
        timeout = self.timeout
        patient = httpx.Timeout(timeout.connect, read=max(timeout.read or 0.0, PULL_READ_TIMEOUT))
        for line in self.json_lines(
            "POST",
            "/api/pull",
            body,
            model=model,
            finished=lambda c: c.get("status") == "success",
            timeout=patient,
        ):
            yield {
                "status": str(line.get("status", "")),
                "digest": str(line.get("digest") or ""),
                "total": int(line.get("total") or 0),
                "completed": int(line.get("completed") or 0),
            }

    def words(self, failure: Failure) -> SabioError:
        """The Sabio error for ``failure``, in Ollama's terms (the settings that fix it)."""
        host, path = self.host, failure.path
        match failure.kind:
            case "unreachable" if failure.why:
                return ModelError(
                    f"Ollama is not reachable at {host}: {failure.why} — check the address in "
                    "OLLAMA_HOST (or the ollama_host setting) and this computer's network"
                )
            case "unreachable":
                return ModelError(
                    f"Ollama is not reachable at {host} — start it with `ollama serve` "
                    "or set OLLAMA_HOST",
                    key="ollama_unreachable",
                    host=host,
                )
            case "timeout":
                return ModelError(
                    f"Ollama at {host} did not answer {path} in time — the model may still "
                    "be loading; try again or raise `timeout` (SABIO_TIMEOUT)",
                    key="ollama_timeout",
                    host=host,
                )
            case "bad_scheme":
                return ConfigError(f"ollama_host {host!r} must start with http:// or https://")
            case "invalid_url":
                return ConfigError(f"ollama_host {host!r} is not a valid URL: {failure.message}")
            case "lost":
                return ModelError(
                    f"lost the connection to Ollama at {host}: {failure.message}",
                    key="ollama_lost",
                    host=host,
                )
            case "not_json":
                return ModelError(
                    f"{failure.url} did not answer with JSON: is OLLAMA_HOST pointing at Ollama?"
                )
            case "broke_off":
                return ModelError(
                    f"the reply from Ollama at {host} to {path} broke off before it was "
                    "complete (the connection was lost or Ollama stopped); try again",
                    key="ollama_broke_off",
                    host=host,
                    path=path,
                )
            case "midway":
                return self._failure(path, failure.message, failure.model, in_stream=True)
            case "refused":
                return self._refusal(failure)

    def _refusal(self, failure: Failure) -> SabioError:
        response, path, model, message = (
            failure.response,
            failure.path,
            failure.model,
            failure.message,
        )
        is_json = response is not None and response.headers.get("content-type", "").startswith(
            "application/json"
        )
        if failure.status == 404 and not is_json:
            return ModelError(
                f"{self.host} has no {path}: is OLLAMA_HOST pointing at Ollama, "
                "and is Ollama up to date?"
            )
        if failure.status == 404 and model and "not found" in message:
            return self._failure(path, message, model, not_found=True)
        return self._failure(path, message, model, status=failure.status)

    def _failure(
        self,
        path: str,
        message: str,
        model: str,
        *,
        status: int = 0,
        not_found: bool = False,
        in_stream: bool = False,
    ) -> SabioError:
        """The Sabio error for Ollama's ``message`` about ``path``."""
        lowered = message.lower()
        if path == "/api/pull" and ("does not exist" in lowered or not_found):
            return NotFoundError(
                f"Ollama knows no model {model!r} ({message}) — "
                "check the name at https://ollama.com/library"
            )
        if path == "/api/pull":
            return ModelError(f"Ollama at {self.host} could not pull {model!r}: {message}")
        if not_found:
            return NotFoundError(
                f"model {model!r} is not installed in Ollama at {self.host} — "
                f"run `{pull_command(model)}`"
            )
        if any(fragment in lowered for fragment in MEMORY_ERRORS):
            return ModelError(
                f"model {model!r} does not fit in free memory ({message}) — use a smaller "
                "model (`sabio models` lists them) or a lower `context_window` "
                "(SABIO_CONTEXT_WINDOW, e.g. 4096)"
            )
        if in_stream:
            return ModelError(f"Ollama at {self.host} stopped in the middle of {path}: {message}")
        return ModelError(f"Ollama at {self.host} failed on {path} ({status}): {message}")


def host_pool(settings: Settings) -> HostPool:
    """This process's one pool of ``settings``' Ollama hosts (:mod:`.ollama_hosts`)."""
    return _pool(settings.all_ollama_hosts, settings.ollama_parallel)


@functools.cache
def _pool(urls: tuple[str, ...], parallel: int) -> HostPool:
    return HostPool(urls, parallel, _models_on)


def _models_on(url: str) -> frozenset[str]:
    with OllamaClient(url, PROBE_TIMEOUT) as client:
        names = [str(m.get("name") or m.get("model") or "") for m in client.list_models()]
    return frozenset(canonical_model(name) for name in names if name)


def on_best_host(
    settings: Settings, model: str, call: Callable[[OllamaClient], T], *, spread: bool = True
) -> T:
    """``call`` with a client of the best host for ``model``, on the next host when one
    cannot be reached or drops the request; the last host's error when all fail.
    ``spread=False``: a question about the model (``/api/show``), which takes no turn
    (:meth:`HostPool.candidates`)."""
    pool = host_pool(settings)
    *others, last = pool.candidates(canonical_model(model), spread=spread)
    for host in others:
        try:
            with pool.slot(host), OllamaClient(host.url, settings.timeout) as client:
                return call(client)
        except SabioError as exc:
            if not is_host_failure(exc):
                raise
            pool.mark_down(host, exc)
    try:
        with pool.slot(last), OllamaClient(last.url, settings.timeout) as client:
            return call(client)
    except SabioError as exc:
        if is_host_failure(exc):
            pool.mark_down(last, exc)  # for its state (the web app's Settings)
        raise


class OllamaEmbedder(BatchedEmbedder):
    """An Ollama embedding model, ``ollama:<model>``; each :meth:`embed` call opens its
    own connection and sends ``embed_batch_size`` texts per request."""

    def __init__(self, settings: Settings, model: str) -> None:
        super().__init__(settings.embed_batch_size)
        self.settings = settings
        self.model = model
        self.name = f"ollama:{canonical_model(model)}"
        # the same all-MiniLM-L6-v2 as the embedded one; others are not assumed limited
        self.languages = ENGLISH_ONLY if model.split(":")[0] == "all-minilm" else None

    def _embed_batches(self, batches: list[Sequence[str]]) -> list[list[float]]:
        def embed(client: OllamaClient) -> list[list[float]]:
            return [row for batch in batches for row in client.embed(self.model, batch)]

        return on_best_host(self.settings, self.model, embed)


@register_embedding_backend("ollama")
def ollama_embedding_model(settings: Settings, model: str) -> OllamaEmbedder:
    return OllamaEmbedder(settings, model)


class OllamaChat:
    """An Ollama chat model, ``ollama:<model>``; each :meth:`stream` opens its own connection.

    ``context_window`` is the ``context_window`` setting when it is set, else the model's
    own context length (from ``/api/show``) up to :data:`MAX_AUTO_CONTEXT`, else
    :data:`MAX_AUTO_CONTEXT`; it goes to Ollama as ``num_ctx`` on every request. The
    ``/api/show`` reply is fetched once, when first needed, and kept.
    """

    def __init__(self, settings: Settings, model: str) -> None:
        self.settings = settings
        self.model = model
        self.name = f"ollama:{canonical_model(model)}"
        self._context_window = settings.context_window if settings.context_window > 0 else 0
        self._show: dict[str, Any] | None = None

    @property
    def context_window(self) -> int:
        if not self._context_window:
            self._context_window = model_context_length(self._details()) or MAX_AUTO_CONTEXT
        return self._context_window

    @context_window.setter
    def context_window(self, value: int) -> None:
        self._context_window = value

    @property
    def supports_thinking(self) -> bool:
        return "thinking" in (self._details().get("capabilities") or [])

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def stream(
        self, messages: Sequence[Message], options: ChatOptions
    ) -> Generator[str, None, str | None]:
        """The answer's pieces; ``message.thinking`` (reasoning) is not part of the answer.
        Returns Ollama's ``done_reason`` ("length" when ``num_predict`` ran out)."""
        model_options: dict[str, Any] = {
            "num_ctx": self.context_window,
            "num_predict": options.max_tokens,
            "temperature": options.temperature,
        }
        if options.stop:
            model_options["stop"] = list(options.stop)
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "stream": True,
            "options": model_options,
        }
        if options.json_schema is not None:
            body["format"] = dict(options.json_schema)
        if self.supports_thinking:  # "think" to a model without the capability is a 400
            body["think"] = False
        pool = host_pool(self.settings)
        *others, last = pool.candidates(canonical_model(self.model))
        reason: list[str] = []
        for host in others:
            started = False
            try:
                for piece in self._stream_from(pool, host, body, reason, options.cancel):
                    started = True
                    yield piece
                return reason[-1] if reason else None
            except SabioError as exc:
                if started or not is_host_failure(exc):
                    raise
                pool.mark_down(host, exc)  # nothing was said yet: the next host answers instead
        try:
            yield from self._stream_from(pool, last, body, reason, options.cancel)
        except SabioError as exc:
            if is_host_failure(exc):
                pool.mark_down(last, exc)  # for its state (the web app's Settings)
            raise
        return reason[-1] if reason else None

    def _stream_from(
        self,
        pool: HostPool,
        host: Host,
        body: dict[str, Any],
        reason: list[str],
        cancel: threading.Event | None,
    ) -> Iterator[str]:
        """The answer's pieces from ``host``; its ``done_reason`` is appended to ``reason``.
        ``cancel`` set: the connection is shut, and Ollama, seeing its client leave, stops
        (also while it reads the prompt)."""
        timeout = self.settings.timeout
        with pool.slot(host), OllamaClient(host.url, timeout, cancel=cancel) as client:
            for chunk in client.chat(body):
                piece = (chunk.get("message") or {}).get("content")
                if piece:
                    yield str(piece)
                if chunk.get("done_reason"):
                    reason.append(str(chunk["done_reason"]))

    def _details(self) -> dict[str, Any]:
        if self._show is None:
            self._show = on_best_host(
                self.settings, self.model, lambda client: client.show(self.model), spread=False
            )
        return self._show


@register_chat_backend("ollama")
def ollama_chat_model(settings: Settings, model: str) -> OllamaChat:
    return OllamaChat(settings, model)


def model_context_length(show: dict[str, Any]) -> int:
    """The model's own context length from an ``/api/show`` reply, capped at
    :data:`MAX_AUTO_CONTEXT`; 0 when the reply does not say."""
    info = show.get("model_info") or {}
    length = info.get(f"{info.get('general.architecture')}.context_length")
    if not isinstance(length, int) or length <= 0:
        return 0
    return min(length, MAX_AUTO_CONTEXT)


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


def _preference(name: str, preferred: Sequence[str]) -> int:
    base = name.rsplit("/", 1)[-1].split(":", 1)[0]
    try:
        return preferred.index(base)
    except ValueError:
        return len(preferred)


def describe_models(client: OllamaClient) -> list[tuple[dict[str, Any], bool]]:
    """Each installed model's ``/api/tags`` entry and whether it only embeds (an
    ``/api/show`` per model, only for Ollama versions whose list omits capabilities)."""
    described = []
    for entry in client.list_models():
        name = str(entry.get("name") or entry.get("model") or "")
        if not name:
            continue
        entry = {**entry, "name": name}
        show = None if entry.get("capabilities") else client.show(name)
        described.append((entry, is_embedding_model(entry, show)))
    return described


def _best(names: list[str], preferred: Sequence[str]) -> list[str]:
    return sorted(names, key=lambda name: _preference(name, preferred))  # stable: ties keep order


def list_embedding_models(client: OllamaClient) -> list[str]:
    """Installed embedding models, best first (see :data:`PREFERRED_EMBEDDING_MODELS`)."""
    names = [canonical_model(e["name"]) for e, embeds in describe_models(client) if embeds]
    return _best(names, PREFERRED_EMBEDDING_MODELS)


def list_chat_models(client: OllamaClient) -> list[str]:
    """Installed chat models that run on this machine, best first (see
    :data:`PREFERRED_CHAT_MODELS`); cloud models (``remote_host``) are left out."""
    names = [
        canonical_model(e["name"])
        for e, embeds in describe_models(client)
        if not embeds and not e.get("remote_host")
    ]
    return _best(names, PREFERRED_CHAT_MODELS)


def _first_found(settings: Settings, listing: Callable[[OllamaClient], list[str]]) -> str | None:
    """``"ollama:<name>"`` for the best model ``listing`` gives on the first host (of
    ``ollama_host`` and ``ollama_hosts``, in order) that answers with one, or None."""
    for host in settings.all_ollama_hosts:
        try:
            with OllamaClient(host, PROBE_TIMEOUT) as client:
                models = listing(client)
        except SabioError:
            continue
        if models:
            return f"ollama:{models[0]}"
    return None


def find_ollama_embedding_model(settings: Settings) -> str | None:
    """``"ollama:<name>"`` for the best installed embedding model, or None.

    None when no Ollama host answers within about a second, or none has an embedding model.
    """
    return _first_found(settings, list_embedding_models)


def find_ollama_chat_model(settings: Settings) -> str | None:
    """``"ollama:<name>"`` for the best installed chat model, or None.

    None when no Ollama host answers within about a second, or none has a local chat model.
    """
    return _first_found(settings, list_chat_models)


def _described_on_every_host(
    settings: Settings,
) -> tuple[list[tuple[dict[str, Any], bool]], SabioError | None]:
    """:func:`describe_models` of every host, each model once (the first host's entry),
    and the first host's error when one did not answer."""
    described: dict[str, tuple[dict[str, Any], bool]] = {}
    failure = None
    for host in settings.all_ollama_hosts:
        try:
            with OllamaClient(host, PROBE_TIMEOUT) as client:
                for entry, embeds in describe_models(client):
                    described.setdefault(canonical_model(entry["name"]), (entry, embeds))
        except SabioError as exc:
            failure = failure or exc
    return list(described.values()), failure


@register_model_listing
def list_models(settings: Settings) -> list[ModelEntry]:
    """Ollama's models, chat or embedding, with their size and details; one
    ``"ollama:*"`` entry saying why when Ollama does not answer or has none."""
    described, failure = _described_on_every_host(settings)
    if failure is not None and not described:
        return [ModelEntry("ollama:*", "model", "ollama", False, str(failure))]
    if not described:
        note = f"Ollama at {settings.ollama_host} has no models yet: `{pull_command('qwen3:4b')}`"
        return [ModelEntry("ollama:*", "model", "ollama", False, note)]
    entries = []
    for entry, embeds in described:
        details = entry.get("details") or {}
        remote = entry.get("remote_host")
        size = entry.get("size")
        entries.append(
            ModelEntry(
                f"ollama:{canonical_model(entry['name'])}",
                "embedding" if embeds else "chat",
                "ollama",
                True,
                f"runs on {remote}, not on this machine" if remote else "",
                size=size if isinstance(size, int) else None,
                details={
                    key: str(details[key])
                    for key in ("family", "parameter_size", "quantization_level")
                    if details.get(key)
                },
            )
        )
    return entries


@register_unlisted_model("ollama")
def unlisted(settings: Settings, model: str) -> tuple[bool, str]:
    """A model Ollama does not have (a default not pulled yet): how to get it."""
    return False, f"not installed: `{pull_command(model)}`"


def ollama_status(settings: Settings) -> dict[str, Any]:
    """What ``sabio doctor`` reports: host, reachable, version, models, embedding_models,
    chat_models, error, and unresolved (why the host name did not resolve, if so)."""
    status: dict[str, Any] = {
        "host": settings.ollama_host,
        "reachable": False,
        "version": None,
        "models": [],
        "embedding_models": [],
        "chat_models": [],
        "error": None,
        "unresolved": None,
    }
    try:
        with OllamaClient.from_settings(settings, timeout=PROBE_TIMEOUT) as client:
            status["version"] = client.version()
            status["reachable"] = True
            status["models"] = [
                canonical_model(str(m.get("name", ""))) for m in client.list_models()
            ]
            status["embedding_models"] = list_embedding_models(client)
            status["chat_models"] = list_chat_models(client)
    except SabioError as exc:
        status["error"] = str(exc)
        status["unresolved"] = unresolved_host(exc)
    return status

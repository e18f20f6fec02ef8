"""What a whole-document task shares: a document's pages cut into parts that fit the
model's context with the task's prompt and answer, and a model that stops when told."""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Generator, Iterator, Sequence
from typing import Any

from sabio.errors import SabioError
from sabio.models import ChatModel, ChatOptions, Message

Page = tuple[int | None, str]
"""(1-based page, or None for a document without pages; its text)."""
MIN_PART_TOKENS = 256


def text_budget(model: ChatModel, fixed: str, answer_tokens: int, margin: int = 64) -> int:
    """Tokens of document text one call may carry next to ``fixed`` (prompt, schema…) and
    an answer of ``answer_tokens``."""
    used = model.count_tokens(fixed) + answer_tokens + margin
    return max(MIN_PART_TOKENS, model.context_window - used)


def split_parts(model: ChatModel, pages: Sequence[Page], budget: int) -> Iterator[str]:
    """The pages' text in parts of at most ``budget`` tokens, whole pages where they fit
    (a page longer than that is cut at paragraph ends, or at the budget's characters)."""
    part: list[str] = []
    used = 0
    for _, text in pages:
        for piece in pieces(model, text, budget):
            cost = model.count_tokens(piece)
            if part and used + cost > budget:
                yield "\n\n".join(part)
                part, used = [], 0
            part.append(piece)
            used += cost
    if part or not pages:
        yield "\n\n".join(part)


def pieces(model: ChatModel, text: str, budget: int) -> Iterator[str]:
    if model.count_tokens(text) <= budget:
        yield text
        return
    chars = max(1, len(text) * budget // max(1, model.count_tokens(text)))
    for start in range(0, len(text), chars):
        yield text[start : start + chars]


class TaskCancelled(SabioError):
    """A task was cancelled while it ran (its job is already marked so)."""

    def __init__(self) -> None:
        super().__init__("the task was cancelled", key="task_cancelled")


class StoppableModel:
    """``model`` that stops as soon as ``stop`` is set: before a call, or within
    :data:`STOP_POLL_S` while an answer is being written, raising :class:`TaskCancelled`.

    The backend's stream is read on a thread of its own, so a task waiting for a model
    that is still reading its prompt (the embedded one takes seconds for a long part) is
    freed at once; that thread closes the backend's stream at its next piece, which stops
    the model there, and the embedded model, told by ``ChatOptions.cancel``, stops
    computing at once, prompt or not."""

    def __init__(self, model: ChatModel, stop: threading.Event) -> None:
        self.model, self.stop = model, stop

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def context_window(self) -> int:
        return self.model.context_window

    def count_tokens(self, text: str) -> int:
        return self.model.count_tokens(text)

    def stream(
        self, messages: Sequence[Message], options: ChatOptions
    ) -> Generator[str, None, str | None]:
        if self.stop.is_set():
            raise TaskCancelled
        out: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        left = threading.Event()  # the reader is gone: stop reading the backend
        options = dataclasses.replace(options, cancel=self.stop)  # the model stops too
        threading.Thread(
            target=_pump, args=(self.model, messages, options, out, left), daemon=True
        ).start()
        try:
            while True:
                try:
                    kind, value = out.get(timeout=STOP_POLL_S)
                except queue.Empty:
                    kind, value = "wait", None
                if self.stop.is_set():
                    raise TaskCancelled
                if kind == "error":
                    raise value
                if kind == "end":
                    return value if isinstance(value, str) else None
                if kind == "piece":
                    yield value
        finally:
            left.set()


STOP_POLL_S = 0.2


def _pump(
    model: ChatModel,
    messages: Sequence[Message],
    options: ChatOptions,
    out: queue.SimpleQueue[tuple[str, Any]],
    left: threading.Event,
) -> None:
    """Read ``model``'s stream into ``out`` until it ends or its reader has ``left``."""
    pieces = model.stream(messages, options)
    try:
        while not left.is_set():
            out.put(("piece", next(pieces)))
    except StopIteration as end:
        out.put(("end", end.value))
    except BaseException as exc:  # handed to the reader, raised there
        out.put(("error", exc))
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()

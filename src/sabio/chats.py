"""Chats: conversations kept in the store, each a tree of questions and answers.

The records and the ``chat`` and ``message`` tables are the store's
(:mod:`sabio.store.chats`: :class:`ChatStore`, :class:`Chat`, :class:`ChatMessage`,
:class:`Placement`, where the tree of versions is told); this is their public name, with
what is not the store's: :class:`ChatAnswerStream` is an answer that hands itself to a
``save`` function when it ends, however it ends: whole, broken off by the model, stopped
by its reader (:meth:`ChatAnswerStream.stop`), or closed midway (what was produced is
kept, marked incomplete); :func:`chat_markdown` the export.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Generator, Iterator, Sequence

from sabio.answer import Answer, AnswerStream, Grounding, Turn
from sabio.models import ChatModel, ChatOptions
from sabio.routing import route_words
from sabio.store.chats import Chat, ChatMessage, ChatStore, Placement

__all__ = [
    "INTERRUPTED",
    "STOPPED",
    "Chat",
    "ChatAnswerStream",
    "ChatMessage",
    "ChatStore",
    "Placement",
    "chat_markdown",
]

INTERRUPTED = "the answer was interrupted before it ended"
STOPPED = "stopped before it ended"


class ChatAnswerStream(AnswerStream):
    """An :class:`AnswerStream` that calls ``save(answer)`` once it ends, and that
    :meth:`stop` ends at its next piece (from any thread), marked ``stopped``."""

    def __init__(
        self,
        question: str,
        model: ChatModel,
        grounding: Grounding | None,
        *,
        options: ChatOptions,
        save: Callable[[Answer], None],
        history: Sequence[Turn] = (),
        style: str = "generative",
    ) -> None:
        super().__init__(question, model, grounding, options=options, history=history, style=style)
        self.save = save
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def __iter__(self) -> Iterator[str]:
        produced: list[str] = []
        finished = False
        pieces = super().__iter__()
        try:
            for piece in pieces:
                produced.append(piece)
                yield piece
                if self._stop.is_set():
                    self.answer.stopped = "user"
                    break
            else:
                finished = True
        finally:  # a failure before anything was shown raises and saves nothing
            if isinstance(pieces, Generator):
                pieces.close()  # the model stops here, also when stopped
            if finished or produced:
                if not finished:  # stopped, closed by its reader, or a bug midway
                    self.answer.complete = False
                    stopped = STOPPED if self.answer.stopped == "user" else INTERRUPTED
                    self.answer.error = self.answer.error or stopped
                    self.answer.text = "".join(produced).strip()
                self.save(self.answer)


EXPORT_LABELS = {
    "en": {"you": "You", "sources": "Sources", "page": "p.", "stopped": "stopped",
           "incomplete": "incomplete", "untitled": "Untitled chat", "kb": "Knowledge base",
           "none": "none (the model alone)", "model": "Model", "default": "the default",
           "chart": "Chart", "how": "How it was answered"},
    "es": {"you": "Tú", "sources": "Fuentes", "page": "p.", "stopped": "detenida",
           "incomplete": "incompleta", "untitled": "Conversación sin título",
           "kb": "Base de conocimiento", "none": "ninguna (solo el modelo)", "model": "Modelo",
           "default": "el predeterminado", "chart": "Gráfico", "how": "Cómo se respondió"},
}  # fmt: skip
"""The words of a chat exported as Markdown, in the interface's languages."""


def chat_markdown(chat: Chat, lang: str = "en") -> str:
    """The branch shown as Markdown: each question, each answer with its citations
    ``[n]`` as written (and its chart, an inline SVG image), how it was answered (its
    route: top-k passages, the whole document, map-reduce…) and, after it, its sources
    (document, page, the quoted passage)."""
    words = EXPORT_LABELS.get(lang, EXPORT_LABELS["en"])
    lines = [
        f"# {chat.title or words['untitled']}",
        "",
        f"- {words['kb']}: {chat.kb_name or words['none']}",
        f"- {words['model']}: {chat.model or words['default']}",
    ]
    for message in chat.messages:
        if message.role == "user":
            lines += ["", f"## {words['you']}", "", message.content]
            continue
        marks = [words["stopped"]] if message.stopped else []
        marks += [words["incomplete"]] if not message.complete and not message.stopped else []
        mark = f" ({', '.join(marks)})" if marks else ""
        lines += ["", f"## Sabio{mark}", "", message.content]
        if message.chart:  # the SVG inline, as the answer showed it
            data = base64.b64encode(message.chart.encode("utf-8")).decode("ascii")
            lines += ["", f"![{words['chart']}](data:image/svg+xml;base64,{data})"]
        if how := route_words(message.route, lang):
            lines += ["", f"*{words['how']}: {how}*"]
        if message.citations:
            lines += ["", f"**{words['sources']}**", ""]
            for c in message.citations:
                where = c.get("title") or c.get("document", "")
                page = f", {words['page']} {c['page']}" if c.get("page") else ""
                lines.append(f"[{c['number']}] {where}{page} — “{c.get('snippet', '')}”")
    return "\n".join(lines) + "\n"

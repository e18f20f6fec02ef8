"""A task asked for in a question: "resume el documento X", "summarize X", "translate X
into English" go to the task (:mod:`sabio.tasks.summarize`, :mod:`sabio.tasks.translate`)
instead of top-k passages, in `sabio ask`, in chats and through the Ollama and OpenAI APIs.

    asked_task(question, documents) ─► TaskAsk(kind, document, options) | None
    summary_reply(summary, pages) / translation_reply(translation) ─► TaskReply (text cited [n])

Only a request that starts as one (an imperative, "can you…", "a summary of…") and names
one of the knowledge base's documents (its file name, with or without the extension, or
its title, in any case and accents) is taken as one; with a single document, "the
document" is enough. Anything else is a question, answered from passages as before.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from sabio.routing import Route
from sabio.search import SearchHit
from sabio.support import Claim, Embed
from sabio.tasks.summarize import Summary, check_summary
from sabio.tasks.translate import Translation

_POLITE = (
    r"^(?:(?:please|por favor|oye|hey)[,\s]+)?(?:(?:can|could|would) you |(?:puedes|podr[ií]as) )?"
)
_SUMMARIZE = re.compile(
    _POLITE + r"(?:summari[sz]e|sum up|give me a summary of|write a summary of|"
    r"(?:a |the )?summary of|tl;?dr(?: of)?|res[uú]me(?:me|nos)?|resumir|"
    r"(?:haz|hazme|dame|escribe)(?: un)? resumen (?:de|del)|(?:un )?resumen (?:de|del))\b",
    re.IGNORECASE,
)
_TRANSLATE = re.compile(
    _POLITE + r"(?:translate|give me a translation of|(?:a |the )?translation of|"
    r"tradu(?:ce|cir|z)(?:me|nos)?|trad[uú]ceme|(?:haz|hazme|dame)(?: una)? traducci[oó]n "
    r"(?:de|del)|(?:una |la )?traducci[oó]n (?:de|del))\b",
    re.IGNORECASE,
)
_TARGETS = (
    (re.compile(r"\b(?:to|into|in) english\b|\b(?:al|en) ingl[eé]s\b", re.IGNORECASE), "en"),
    (
        re.compile(
            r"\b(?:to|into|in) spanish\b|\b(?:al|en) (?:espa[nñ]ol|castellano)\b", re.IGNORECASE
        ),
        "es",
    ),
)
_SHORT = re.compile(r"\b(?:short|brief|briefly|breve|corto|en pocas palabras)\b", re.IGNORECASE)
_DETAILED = re.compile(r"\b(?:detailed|in detail|detallado|en detalle|a fondo)\b", re.IGNORECASE)
_THE_DOCUMENT = re.compile(
    r"\b(?:the|this) (?:document|file|report)\b|\b(?:el|este) (?:documento|archivo|informe)\b",
    re.IGNORECASE,
)
_PAGE_MARK = re.compile(r"\[(\d{1,4})\]")
_PAGE_LINE = re.compile(r"^<!-- page (\d+) -->\n?", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class TaskAsk:
    kind: str  # summarize | translate
    document_id: int
    options: dict[str, Any] = field(default_factory=dict)
    """summarize: length; translate: to (absent: the question's language, or the other
    one when the document is in it)."""


@dataclass(frozen=True, slots=True)
class TaskReply:
    """The task's result as an answer: ``text`` cites ``[n]`` for the page ``pages[n-1]``,
    whose passage (for the citation) is ``hits[n-1]`` once the service found them."""

    text: str
    route: Route
    pages: list[int | None]
    claims: list[Claim] = field(default_factory=list)
    hits: list[SearchHit] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TaskAccess:
    """What an answer may do with a knowledge base's whole documents: list them (id,
    source, title) and run a task asked for (``run(ask, question_language, model)``)."""

    documents: Callable[[], list[tuple[int, str, str]]]
    run: Callable[[TaskAsk, str, str], TaskReply]


def asked_task(question: str, documents: Sequence[tuple[int, str, str]]) -> TaskAsk | None:
    """The task ``question`` asks for over one of ``documents`` (id, source, title), or
    None when it is a question (see the module docstring)."""
    text = " ".join(question.split())
    kind = (
        "summarize" if _SUMMARIZE.match(text) else "translate" if _TRANSLATE.match(text) else None
    )
    if kind is None:
        return None
    document = _named(text, documents)
    if document is None and len(documents) == 1 and _THE_DOCUMENT.search(text):
        document = documents[0][0]
    if document is None:
        return None
    options: dict[str, Any] = {}
    if kind == "summarize":
        options["length"] = (
            "short" if _SHORT.search(text) else "detailed" if _DETAILED.search(text) else "page"
        )
    else:
        for pattern, code in _TARGETS:
            if pattern.search(text):
                options["to"] = code
    return TaskAsk(kind, document, options)


def _fold(text: str) -> str:
    """Lower case, no accents, separators as spaces: "Informe_Anual-2023.PDF" is
    "informe anual 2023 pdf"."""
    plain = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[\W_]+", " ", plain).split())


def _named(text: str, documents: Sequence[tuple[int, str, str]]) -> int | None:
    """The document whose name (or title) the text names, the longest name first."""
    said = f" {_fold(text)} "
    best: tuple[int, int] | None = None
    for doc_id, source, title in documents:
        name = PurePath(source).name
        for candidate in {_fold(name), _fold(PurePath(name).stem), _fold(title)}:
            longer = best is None or len(candidate) > best[0]
            if len(candidate) >= 3 and f" {candidate} " in said and longer:
                best = (len(candidate), doc_id)
    return best[1] if best else None


def summary_reply(
    summary: Summary, pages: Sequence[tuple[int | None, str]], embed: Embed | None = None
) -> TaskReply:
    """A summary as an answer: its page marks ``[12]`` become citations ``[n]``, numbered
    as the reader meets them, each sentence checked again against its page."""
    cited: list[int | None] = []

    def number(match: re.Match[str]) -> str:
        page = int(match.group(1))
        if page not in cited:
            cited.append(page)
        return f"[{cited.index(page) + 1}]"

    text = _PAGE_MARK.sub(number, summary.text)
    claims = check_summary(text, pages, embed, page_of=lambda n: _at(cited, n))
    return TaskReply(text, summary.route, cited, claims)


def _at(pages: Sequence[int | None], number: int) -> int | None:
    return pages[number - 1] if 0 < number <= len(pages) else None


def translation_reply(translation: Translation, first_page: int | None) -> TaskReply:
    """A translation as an answer: the Markdown without its page lines, citing the
    document once."""
    text = _PAGE_LINE.sub("", translation.markdown).strip()
    return TaskReply(f"{text}\n\n[1]", translation.route, [first_page])

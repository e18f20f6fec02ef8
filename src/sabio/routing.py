"""Which way an answer or a document task went, and the counted tokens that decided it.

    passages      a question: the top-k passages that fit the prompt's budget
    document      a task whose whole document fits one call with its prompt and answer
    map-reduce    a longer one: in parts that each fit (map), then, for a summary, the
                  parts' summaries combined in rounds (reduce)
    extractive    a summary of the document's own sentences, no model writing
    table         a question computed over a table (SQL)
    pinned        a pinned answer served
    conversation  no documents

A :class:`Route` is kept with an answer (``Answer.route``, a chat's ``message.route``)
and a task's result; :meth:`Route.describe` is its English line (``sabio ask -v``), the
web app words it in Spanish or English from its fields (``formatRoute`` in i18n.js), and
so does :func:`route_words` for the exports (a chat's Markdown, a task's files), in the
same words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KINDS = ("passages", "document", "map-reduce", "extractive", "table", "pinned", "conversation")


@dataclass(frozen=True, slots=True)
class Route:
    """``tokens``: the document's (or the passages') counted tokens; ``budget``: what one
    call could carry of them; ``parts``: how many calls the map took; ``rounds``: of
    combining; ``passages``: in the prompt. 0 where it does not apply."""

    kind: str
    task: str = ""
    """"" for a question; summarize, translate or extract."""
    tokens: int = 0
    budget: int = 0
    parts: int = 0
    rounds: int = 0
    passages: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"no route {self.kind!r}: one of {', '.join(KINDS)}")

    def describe(self) -> str:
        """In English: "summarize: map-reduce, 4 parts of up to 1,800 tokens (6,950
        counted), 1 round of combining"."""
        if self.kind == "passages":
            line = "top-k passages"
            if self.tokens:
                line += f", {self.passages} in {self.tokens:,} of {self.budget:,} prompt tokens"
        elif self.kind == "document":
            line = "whole document"
            if self.budget:
                line += f" ({self.tokens:,} tokens, fits {self.budget:,})"
        elif self.kind == "map-reduce":
            line = f"map-reduce, {self.parts} parts of up to {self.budget:,} tokens"
            line += f" ({self.tokens:,} counted)"
            if self.rounds:
                line += f", {self.rounds} round{'s' if self.rounds > 1 else ''} of combining"
        elif self.kind == "extractive":
            line = "extractive (the document's own sentences, no model)"
        else:
            line = {"table": "table (SQL)", "pinned": "pinned answer"}.get(self.kind, self.kind)
        return f"{self.task}: {line}" if self.task else line


def document_route(task: str, tokens: int, budget: int, parts: int, rounds: int = 0) -> Route:
    """A task's route over a document of ``tokens`` counted tokens, cut into ``parts`` of at
    most ``budget``: the whole document in one call, or map-reduce."""
    if parts <= 1:
        return Route("document", task, tokens, budget, parts=1)
    return Route("map-reduce", task, tokens, budget, parts=parts, rounds=rounds)


ROUTE_WORDS = {
    "en": {
        "passages": "the top-k passages: {passages} in {tokens} of {budget} prompt tokens",
        "passages_plain": "the top-k passages",
        "document": "whole document: {tokens} tokens, fit in {budget}",
        "document_plain": "whole document",
        "map-reduce": "map-reduce: {parts} parts of up to {budget} tokens ({tokens} counted)",
        "extractive": "extractive: the document's own sentences, no model",
        "table": "computed over a table (SQL)",
        "pinned": "a pinned answer",
        "conversation": "a conversation, no documents",
        "round": "{n} round of combining",
        "rounds": "{n} rounds of combining",
        "summarize": "Summary",
        "translate": "Translation",
        "extract": "Extraction",
    },
    "es": {
        "passages": "los pasajes más relevantes (top-k): {passages} en {tokens} de {budget} "
        "tokens del prompt",
        "passages_plain": "los pasajes más relevantes (top-k)",
        "document": "documento completo: {tokens} tokens, caben en {budget}",
        "document_plain": "documento completo",
        "map-reduce": "por partes (map-reduce): {parts} partes de hasta {budget} tokens "
        "({tokens} contados)",
        "extractive": "extractivo: frases del propio documento, sin modelo",
        "table": "calculado sobre una tabla (SQL)",
        "pinned": "una respuesta fijada",
        "conversation": "conversación, sin documentos",
        "round": "{n} ronda de combinación",
        "rounds": "{n} rondas de combinación",
        "summarize": "Resumen",
        "translate": "Traducción",
        "extract": "Extracción",
    },
}
"""The web app's words for a route (i18n.js ``route.*``), for what Sabio writes itself."""


def route_words(route: Mapping[str, Any] | None, language: str = "en") -> str:
    """A route's fields (``asdict(Route)``, as kept with an answer or a task's result) in
    Spanish or English, as the web app says them: "Resumen · documento completo: 3120
    tokens, caben en 99.800"; "" for none (an answer kept before routes were)."""
    if not route or not route.get("kind"):
        return ""
    words = ROUTE_WORDS.get(language, ROUTE_WORDS["en"])
    kind, tokens = str(route["kind"]), int(route.get("tokens") or 0)
    key = kind if tokens or kind not in ("passages", "document") else f"{kind}_plain"
    numbers = {
        name: _number(int(route.get(name) or 0), language)
        for name in ("tokens", "budget", "parts", "passages")
    }
    line = words.get(key, kind).format(**numbers)
    rounds = int(route.get("rounds") or 0)
    if rounds:
        line += ", " + words["round" if rounds == 1 else "rounds"].format(n=rounds)
    task = str(route.get("task") or "")
    return f"{words.get(task, task)} · {line}" if task else line


def _number(n: int, language: str) -> str:
    """``n`` as the language writes it (Intl.NumberFormat's): 99,800 / 99.800; Spanish
    groups from five digits on (3120)."""
    if language == "es":
        return f"{n:,}".replace(",", ".") if n >= 10_000 else str(n)
    return f"{n:,}"

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
web app words it in Spanish or English from its fields.
"""

from __future__ import annotations

from dataclasses import dataclass

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

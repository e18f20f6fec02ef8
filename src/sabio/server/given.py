"""The knowledge-base answers the Ollama and OpenAI APIs gave lately, kept for feedback.

Those APIs keep no chats, so an answer given through them could only be judged by
sending its question and answer back (``POST /api/v1/kbs/{name}/feedback``). Each
knowledge-base answer they give has an id instead, sent before the text in the
``X-Sabio-Answer`` header and again in the answer (``sabio_answer`` in Ollama's last line
and in OpenAI's completion); ``POST /api/v1/answers/{id}/feedback`` takes the judgement
(rating, reason, correction, pin) with no more than that id: the question, the answer
and its citations are the server's. The last :data:`KEPT` answers are kept, in memory:
an id from before a restart, or from another server behind the same address, is
unknown (404 ``answer_not_found``: send the question and answer instead).
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any

from sabio.answer import Answer
from sabio.errors import NotFoundError

KEPT = 2000
"""Most answers kept for feedback (the oldest forgotten first)."""
HEADER = "X-Sabio-Answer"


def new_answer_id() -> str:
    return secrets.token_urlsafe(12)


@dataclass(frozen=True, slots=True)
class GivenAnswer:
    """What a judgement of an answer given by the Ollama or OpenAI API needs of it."""

    kb: str
    question: str
    text: str
    citations: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, kb: str, answer: Answer) -> GivenAnswer:
        return cls(kb, answer.question, answer.text, [asdict(c) for c in answer.citations])


class GivenAnswers:
    """The last :data:`KEPT` answers by id; safe from any thread."""

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._answers: OrderedDict[str, GivenAnswer] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, answer_id: str, given: GivenAnswer) -> None:
        with self._lock:
            self._answers[answer_id] = given
            while len(self._answers) > self._kept:
                self._answers.popitem(last=False)

    def get(self, answer_id: str) -> GivenAnswer:
        with self._lock:
            found = self._answers.get(answer_id)
        if found is None:
            raise NotFoundError(
                f"no recent answer {answer_id!r} on this server (answers are kept in memory, "
                f"the last {self._kept}): judge it with POST /api/v1/kbs/{{name}}/feedback, "
                "sending its question and answer",
                key="answer_not_found",
            )
        return found

"""Passages a client found itself and put into its prompt, asked of a knowledge base.

Page Assist's Knowledge, and its chat with a page in both of its modes, retrieve on the
client's side (its own vector store, filled through Sabio's ``/api/embed``) and send one
user message: LangChain's "stuff" question-answering prompt, an instruction ("Use the
following pieces of context to answer the question at the end…"), the context (Page
Assist's passages as ``<doc id='0'>…</doc>`` blocks, or the page's text), then
``Question: …`` and ``Helpful answer:``. Sent to a ``kb/NAME`` model as it is, the whole
prompt was the question: searched for as one long query, and the client's passages
never reached the answer.

:func:`given_context` recognises that shape (the instruction, then the last
``Question:`` … ``Helpful answer:`` at the end); the question is what follows
``Question:``, and the context is answered from as a page is for Sabio's own extension
(:meth:`Sabio.ask_page`): its passages ranked for the question, alternated with the
knowledge base's, cited and checked, and named in the Sources list as
:data:`CONTEXT_TITLE` says, with their first words. A prompt of another shape (a user's
own template) is asked as it is.

Before a follow-up, Page Assist (as LangChain's conversational chain) first asks the
model to "rephrase the follow up question to be a standalone question" and searches its
own passages with the reply. Answered by a knowledge base, that reply was an answer with
its Sources list. :func:`standalone_question` recognises that prompt and answers it at
once, without a model, as Sabio's own follow-up rewriting does when it has no usable
rewrite (:func:`sabio.answer.rewrite_query`): a question of
:data:`~sabio.answer.STANDALONE_TERMS` or more words as it is, a shorter one after the
conversation's last question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sabio.answer import STANDALONE_TERMS
from sabio.language import detect_language
from sabio.search import query_terms

# The prompts are read with str.find, never with one regular expression over the whole
# prompt: a pattern of lazy and greedy spans around "Question:" backtracked into seconds
# for a page of 80 questions (an FAQ) and never finished for 1,000.
_INSTRUCTION = "use the following pieces of context"
_QUESTION_CUE = "question:"
_ANSWER_CUE = "helpful answer:"
_CONDENSE_HEAD = (
    "given the following conversation and a follow up question, rephrase the follow up "
    "question to be a standalone question"
)
_HISTORY_CUE = "chat history:"
_INPUT_CUE = "follow up input:"
_STANDALONE_CUE = "standalone question:"
_BREAK = re.compile(r"\n|\s{2,}")
_HUMAN = re.compile(r"^[^\S\n]*(?:human|user)[^\S\n]*:[^\S\n]*(.+)$", re.IGNORECASE | re.MULTILINE)
_DOC_OPEN = re.compile(r"<doc id=['\"]?\d+['\"]?>")
_DOC_CLOSE = "</doc>"
CONTEXT_TITLE = {
    "en": "the context sent with the question",
    "es": "el contexto enviado con la pregunta",
}
"""What the Sources list calls the client's passages (they come with no file name)."""


@dataclass(frozen=True, slots=True)
class GivenContext:
    """The question of a prompt that carries its own context, and that context's text
    (its ``<doc>`` blocks' contents, one paragraph each)."""

    question: str
    text: str

    @property
    def title(self) -> str:
        return CONTEXT_TITLE.get(detect_language(self.question), CONTEXT_TITLE["en"])


def given_context(prompt: str) -> GivenContext | None:
    """The question and the context of a prompt in the "stuff" shape (module docstring);
    None for any other prompt, or one whose context or question is empty."""
    lowered = prompt.lower()
    head = len(prompt) - len(prompt.lstrip())
    at = lowered.find(_INSTRUCTION, head, head + 200 + len(_INSTRUCTION))
    after = at + len(_INSTRUCTION)
    if at < 0 or "\n" in prompt[head:at] or _word_goes_on(prompt, after):
        return None
    end = len(prompt.rstrip())
    if not lowered.endswith(_ANSWER_CUE, 0, end):
        return None
    answer_at = end - len(_ANSWER_CUE)
    asked = _last_cue(lowered, _QUESTION_CUE, after, answer_at)
    if asked < 0:
        return None
    opened = _BREAK.search(prompt, after, asked)
    if opened is None:
        return None
    question = " ".join(prompt[asked + len(_QUESTION_CUE) : answer_at].split())
    context = prompt[opened.end() : asked]
    docs = [_paragraphs(d) for d in _docs(context)]
    text = "\n\n".join(d for d in docs if d) if docs else context.strip()
    if not question or not text:
        return None
    return GivenContext(question, text)


def _word_goes_on(text: str, at: int) -> bool:
    return at < len(text) and (text[at].isalnum() or text[at] == "_")


def _last_cue(lowered: str, cue: str, start: int, end: int) -> int:
    """Where the last ``cue`` after a space between ``start`` and ``end`` begins, -1 if
    none."""
    at = lowered.rfind(cue, start, end)
    while at > start and not lowered[at - 1].isspace():
        at = lowered.rfind(cue, start, at)
    return at if at > start else -1


def _docs(context: str) -> list[str]:
    """The contents of the context's ``<doc id='N'>…</doc>`` blocks, in order."""
    found: list[tuple[int, int]] = []
    for opening in _DOC_OPEN.finditer(context):
        close = context.find(_DOC_CLOSE, opening.end())
        if close < 0:
            break
        if not found or opening.start() >= found[-1][1]:
            found.append((opening.end(), close + len(_DOC_CLOSE)))
    return [context[begin : close - len(_DOC_CLOSE)] for begin, close in found]


def _paragraphs(text: str) -> str:
    """A passage's paragraphs (a heading stays apart from the text after it), each on one
    line."""
    return "\n\n".join(" ".join(p.split()) for p in re.split(r"\n[^\S\n]*\n", text) if p.strip())


def standalone_question(prompt: str) -> str | None:
    """The search query a "rephrase the follow up question" prompt asks for (module
    docstring); None for any other prompt."""
    lowered = prompt.lower()
    head = len(prompt) - len(prompt.lstrip())
    if not lowered.startswith(_CONDENSE_HEAD, head) or _word_goes_on(
        prompt, head + len(_CONDENSE_HEAD)
    ):
        return None
    history = lowered.find(_HISTORY_CUE, head + len(_CONDENSE_HEAD))
    given = lowered.find(_INPUT_CUE, history + len(_HISTORY_CUE)) if history >= 0 else -1
    end = len(prompt.rstrip())
    if given < 0 or not lowered.endswith(_STANDALONE_CUE, given + len(_INPUT_CUE), end):
        return None
    question = " ".join(prompt[given + len(_INPUT_CUE) : end - len(_STANDALONE_CUE)].split())
    if not question:
        return None
    if len(query_terms(question)) >= STANDALONE_TERMS:
        return question
    asked = _HUMAN.findall(prompt[history + len(_HISTORY_CUE) : given])
    return f"{' '.join(asked[-1].split())} {question}" if asked else question

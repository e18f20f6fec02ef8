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

_STUFF = re.compile(
    r"\A\s*(?:[^\n]{0,200}?)use the following pieces of context\b.*?(?:\s{2,}|\n)"
    r"(?P<context>.*)\s+question:\s*(?P<question>.+?)\s*helpful answer:\s*\Z",
    re.DOTALL | re.IGNORECASE,
)
_CONDENSE = re.compile(
    r"\A\s*given the following conversation and a follow up question, rephrase the follow "
    r"up question to be a standalone question\b.*?chat history:(?P<history>.*?)"
    r"follow up input:\s*(?P<question>.+?)\s*standalone question:\s*\Z",
    re.DOTALL | re.IGNORECASE,
)
_HUMAN = re.compile(r"^\s*(?:human|user)\s*:\s*(.+)$", re.IGNORECASE | re.MULTILINE)
_DOC = re.compile(r"<doc id=['\"]?\d+['\"]?>(.*?)</doc>", re.DOTALL)
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
    found = _STUFF.match(prompt)
    if found is None:
        return None
    question = " ".join(found["question"].split())
    context = found["context"]
    docs = [_paragraphs(d) for d in _DOC.findall(context)]
    text = "\n\n".join(d for d in docs if d) if docs else context.strip()
    if not question or not text:
        return None
    return GivenContext(question, text)


def _paragraphs(text: str) -> str:
    """A passage's paragraphs (a heading stays apart from the text after it), each on one
    line."""
    return "\n\n".join(" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip())


def standalone_question(prompt: str) -> str | None:
    """The search query a "rephrase the follow up question" prompt asks for (module
    docstring); None for any other prompt."""
    found = _CONDENSE.match(prompt)
    if found is None:
        return None
    question = " ".join(found["question"].split())
    if len(query_terms(question)) >= STANDALONE_TERMS:
        return question
    asked = _HUMAN.findall(found["history"])
    return f"{' '.join(asked[-1].split())} {question}" if asked else question

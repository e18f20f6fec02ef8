"""Grounded answers: retrieve, build a prompt that fits, stream the answer with citations.

The steps of one answer, each a function here so the CLI, the server and bench/ share them:

1. The question's language decides the prompts (``prompts/*.es.md`` or ``*.en.md``) and
   the "not in your documents" sentence. A follow-up question in a conversation is first
   rewritten into a standalone query (:func:`rewrite_query`).
2. Retrieval (a function given by the service) returns passages; those that neither share
   the question's words nor its meaning are dropped (:func:`relevant_hits`). When none is
   left, the answer is the "not in your documents" sentence and no model is called.
3. :func:`build_messages` numbers the passages and adds them, best first, while the
   counted tokens fit the model's context window minus the room kept for the answer;
   what does not fit is dropped whole and reported, never cut.
4. The answer streams through :class:`CitationFilter`: ``[n]`` markers that name a
   passage are renumbered in order of first use (the reader sees [1], [2]…), any that
   name no passage are removed and logged. When the model cited nothing (small models
   often do not), the passages its sentences were taken from are cited at the end,
   marked ``inferred`` (:func:`supporting_passages`).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sabio.errors import ConfigError, SabioError
from sabio.extractive import (
    CROSS_MIN_COSINE,
    Pick,
    extractive_claims,
    extractive_text,
    pick_sentences,
)
from sabio.guides import GUIDE_SHARE, fit_guide, glossary_query, quoting_notes
from sabio.language import detect_language
from sabio.loaders.formats import place
from sabio.models import ChatModel, ChatOptions, Message
from sabio.notes import note_id
from sabio.prompt_files import prompt_text as prompt_text  # its public name for callers
from sabio.routing import Route
from sabio.search import SearchHit, query_terms
from sabio.store.chats import Turn as Turn  # its public name for the answer's callers
from sabio.store.guides import Guide
from sabio.support import Claim, Embed, Passages, check_claims, support_note
from sabio.tables.answers import (
    Computation,
    TableAccess,
    answer_text,
    asks_for_computation,
    compute,
    named_or_first,
    tables_for,
)
from sabio.tasks.requests import TaskAccess, asked_task
from sabio.terms import tokens

log = logging.getLogger(__name__)

LANGUAGES = ("en", "es")
SIMILARITY_FLOORS = {"embedded:all-minilm-l6-v2": 0.45, "embedded:use-multilingual": 0.25}
"""Per embedding model: a passage at least this close to the question counts as on topic.

Cosine scales differ between models, so a floor is only used where it was measured
(``bench/answers.py gate``, docs/benchmarks.md): for MiniLM, 0.45 with
:data:`COVERAGE_FLOOR` 0.5 (words weighted by idf) kept 99% (es) and 95% (en) of
answerable XQuAD questions and refused 100% / 97% / 90% of Spanish / SciFact / English
questions asked of an unrelated corpus. For USE multilingual, whose cosines run lower,
0.25 (vectors alone, each question's best passage of its corpus: kept 93% / 94% / 86% /
92% of XQuAD es / en / es→en / en→es, refused 90% of XQuAD questions over SciFact and
67-68% of SciFact claims over XQuAD; docs/benchmarks.md, issue 25). A paired model's hit
gets the floor of the part that ranked it (``SearchHit.vector_model``). With other models
every vector match counts and the prompt's own rule ("reply exactly: not in your
documents") decides."""
COVERAGE_FLOOR = 0.5
"""A passage holding at least this share of the question's words, weighted by how rare
each is in the knowledge base, counts as on topic."""
MESSAGE_OVERHEAD = 8
"""Tokens a chat template adds around each message (role markers, separators)."""
STANDALONE_TERMS = 3
"""A follow-up with this many content words is searched as it is when no rewrite is usable."""
HISTORY_SHARE = 0.25
"""Most of the prompt budget that earlier turns of a conversation may take."""
SNIPPET_CHARS = 240
STYLES = ("extractive", "generative", "both")
"""How an answer is made: Sabio quotes the passages' sentences that answer (no model),
the model writes it (checked claim by claim), or the quotes first and then the model."""
REPEATS = 3
"""A phrase the model says this many times in a row is a loop: the answer is stopped."""


def no_answer_text(language: str) -> str:
    return prompt_text("no_answer", language)


# retrieval


TermWeights = Callable[[Sequence[str]], Mapping[str, float]]
"""Terms → how telling each is in the knowledge base (its idf); see ChunkIndex.term_weights."""


def coverage(query: str, hit: SearchHit, weights: Mapping[str, float] | None = None) -> float:
    """The share of the question's words (as the keyword index sees them) in the passage,
    each counted by its weight (rare words count more; all 1 without ``weights``); 0 when
    only one of several words is there (one shared word is chance: "what does
    chloroplastidan mean" and any passage with "mean")."""
    terms = query_terms(query)
    if not terms:
        return 0.0
    words = set(tokens(f"{hit.title} {hit.heading} {hit.text}"))
    found = [term for term in terms if term in words]
    if len(found) < min(2, len(terms)):
        return 0.0
    weight = weights or dict.fromkeys(terms, 1.0)
    total = sum(weight.get(term, 1.0) for term in terms)
    return sum(weight.get(term, 1.0) for term in found) / total if total > 0 else 0.0


def relevant_hits(
    query: str,
    hits: Sequence[SearchHit],
    similarity_floor: float | None,
    term_weights: TermWeights | None = None,
) -> list[SearchHit]:
    """The passages on the question's topic: close in meaning or sharing its telling words.

    ``similarity_floor`` None (a model without a measured floor): any vector match counts.
    """
    floor = -1.0 if similarity_floor is None else similarity_floor
    weights = term_weights(query_terms(query)) if term_weights and hits else None
    return [
        hit
        for hit in hits
        if (
            hit.similarity is not None
            and hit.similarity >= SIMILARITY_FLOORS.get(hit.vector_model, floor)
        )
        or coverage(query, hit, weights) >= COVERAGE_FLOOR
    ]


# prompt


@dataclass(slots=True)
class PromptPlan:
    messages: list[Message]
    passages: list[SearchHit]
    dropped: list[SearchHit]
    turns_kept: int
    tokens: int
    budget: int
    answer_tokens: int
    guide_tokens: int = 0
    """What the knowledge base's instructions and style took (:mod:`sabio.guides`)."""
    guide_left_out: list[str] = field(default_factory=list)


def _passage_block(number: int, hit: SearchHit) -> str:
    where = hit.title or hit.document
    if hit.page is not None:
        where += f", {place(hit.document, hit.page)}"
    if hit.heading and hit.heading != hit.title:
        where += f" — {hit.heading}"
    return f"[{number}] ({where})\n{hit.text.strip()}"


def build_messages(
    model: ChatModel,
    question: str,
    hits: Sequence[SearchHit],
    *,
    language: str,
    answer_tokens: int,
    history: Sequence[Turn] = (),
    guide: Guide | None = None,
) -> PromptPlan:
    """The messages for ``model``, within its context window less ``answer_tokens``.

    Passages go in best first while they fit; the rest are returned as ``dropped``.
    Earlier turns, newest first, take at most :data:`HISTORY_SHARE` of the budget, the
    knowledge base's ``guide`` at most :data:`sabio.guides.GUIDE_SHARE`.
    """
    answer_tokens = min(answer_tokens, model.context_window // 4)
    budget = model.context_window - answer_tokens
    guided, guide_tokens, left_out = (
        fit_guide(guide, language, int(budget * GUIDE_SHARE), model.count_tokens)
        if guide
        else ("", 0, [])
    )
    system = prompt_text("answer", language).replace("{no_answer}", no_answer_text(language))
    system = system.replace("{guide}", guided)
    template = prompt_text("question", language).replace("{question}", question)
    fixed = model.count_tokens(system) + model.count_tokens(template) + 2 * MESSAGE_OVERHEAD
    if fixed > budget:
        raise ConfigError(
            f"the question is too long for {model.name}: it takes {fixed} of the "
            f"{budget} tokens left after {answer_tokens} for the answer; shorten it, or raise "
            "`context_window` or lower `answer_tokens`"
        )
    kept_turns, cost = fit_history(model, history, int(budget * HISTORY_SHARE))
    used = fixed + cost
    blocks: list[str] = []
    passages: list[SearchHit] = []
    dropped: list[SearchHit] = []
    for hit in hits:
        block = _passage_block(len(passages) + 1, hit)
        cost = model.count_tokens(block + "\n\n")
        if dropped or used + cost > budget:
            dropped.append(hit)  # later passages rank lower: stop at the first misfit
            continue
        blocks.append(block)
        passages.append(hit)
        used += cost
    messages: list[Message] = [
        {"role": "system", "content": system.replace("{passages}", "\n\n".join(blocks))},
        *kept_turns,
        {"role": "user", "content": template},
    ]
    return PromptPlan(
        messages, passages, dropped, len(kept_turns) // 2, used, budget, answer_tokens,
        guide_tokens, left_out,
    )  # fmt: skip


def guide_notes(plan: PromptPlan, language: str = "en") -> list[str]:
    """What an answer says of its knowledge base's guide: parts left out to fit, and the
    passages it pushed out of the prompt (in ``language``)."""
    spanish = language == "es"
    notes = []
    if plan.guide_left_out:
        left = ", ".join(plan.guide_left_out)
        notes.append(
            f"las instrucciones de la base no caben enteras en este modelo: se dejaron fuera {left}"
            if spanish
            else f"the knowledge base's instructions were too long for this model: {left} left out"
        )
    if plan.dropped and plan.guide_tokens:
        n, took, of = len(plan.dropped), plan.guide_tokens, plan.budget
        notes.append(
            f"{n} pasajes no cupieron en el prompt; las instrucciones de la base ocuparon "
            f"{took} de sus {of} tokens"
            if spanish
            else f"{n} passages did not fit in the prompt; the knowledge base's instructions "
            f"took {took} of its {of} tokens"
        )
    return notes


def fit_history(model: ChatModel, history: Sequence[Turn], room: int) -> tuple[list[Message], int]:
    """The newest turns of ``history`` that fit in ``room`` tokens, as messages, and their cost."""
    kept: list[Message] = []
    used = 0
    for turn in reversed(history):
        pair: list[Message] = [
            {"role": "user", "content": turn.question},
            {"role": "assistant", "content": turn.answer},
        ]
        cost = sum(model.count_tokens(m["content"]) + MESSAGE_OVERHEAD for m in pair)
        if used + cost > room:
            break
        kept[:0] = pair
        used += cost
    return kept, used


def conversation_messages(
    model: ChatModel, question: str, history: Sequence[Turn], answer_tokens: int
) -> list[Message]:
    """Messages for a conversation without documents: the turns that fit, then the question."""
    budget = model.context_window - min(answer_tokens, model.context_window // 4)
    room = budget - model.count_tokens(question) - MESSAGE_OVERHEAD
    if room < 0:
        raise ConfigError(f"the question is too long for {model.name}: shorten it")
    turns, _ = fit_history(model, history, room)
    return [*turns, {"role": "user", "content": question}]


# citations

_CITATION = re.compile(
    r"\[\s*(?:(?:passages?|pasajes?|sources?|fuentes?)\s*)?"
    r"(\d{1,3}(?:\s*(?:,|;|-|and|y)\s*\d{1,3})*)\s*\]",
    re.IGNORECASE,
)
_MAYBE_CITATION = re.compile(r"\[[^\[\]\n]{0,30}")
"""An opening bracket whose marker may still be arriving (held back until it closes)."""
_CLOSING = ".,;:!?)"


class CitationFilter:
    """Rewrites citation markers in a streamed answer.

    ``[2]``, ``[2, 5]``, ``[Passage 2]`` become ``[1][2]``…, numbered in the order the
    reader first meets each passage; numbers that name no passage (0, or more than
    ``count``) are removed. Text that might be the start of a marker is held back until
    it is clearly one or clearly not, so no half-marker is ever shown.
    """

    def __init__(self, count: int) -> None:
        self.count = count
        self.order: list[int] = []  # passage numbers (1-based, as in the prompt), by first use
        self.removed: list[str] = []
        self._pending = ""
        self._dropped_space: str | None = None

    def feed(self, piece: str) -> str:
        if self._dropped_space is not None:  # a removed marker ended the previous piece
            if piece and not piece[0].isspace() and piece[0] not in _CLOSING:
                piece = self._dropped_space + piece
            self._dropped_space = None
        self._pending += piece
        out: list[str] = []
        while True:
            start = self._pending.find("[")
            if start < 0:  # hold trailing spaces: a marker to remove may follow them
                text = self._pending.rstrip(" ")
                out.append(text)
                self._pending = self._pending[len(text) :]
                break
            lead = len(self._pending[:start].rstrip(" "))
            out.append(self._pending[:lead])
            space, rest = self._pending[lead:start], self._pending[start:]
            match = _CITATION.match(rest)
            if match:
                markers, after = self._replace(match), rest[match.end() :]
                if markers:
                    out.append(space + markers)
                    self._pending = after
                elif not after:
                    self._pending, self._dropped_space = "", space
                else:  # the marker goes; its space stays unless what follows brings one
                    keep = not after[0].isspace() and after[0] not in _CLOSING
                    self._pending = (space if keep else "") + after
            elif _MAYBE_CITATION.fullmatch(rest):
                self._pending = space + rest
                break  # maybe a marker still arriving
            else:
                out.append(space + "[")
                self._pending = rest[1:]
        return "".join(out)

    def flush(self) -> str:
        rest, self._pending = self._pending, ""
        return rest

    def display_number(self, passage: int) -> int:
        return self.order.index(passage) + 1

    def use(self, passage: int) -> int:
        """Records a citation of ``passage`` and returns the number the reader sees."""
        if passage not in self.order:
            self.order.append(passage)
        return self.display_number(passage)

    def _replace(self, match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.findall(r"\d+", match.group(1))]
        if "-" in match.group(1) and len(numbers) == 2 and numbers[0] < numbers[1] <= 999:
            numbers = list(range(numbers[0], numbers[1] + 1))
        markers = []
        for number in numbers:
            if not 1 <= number <= self.count:
                self.removed.append(match.group(0))
                log.warning("removed citation %s: there were %d passages", number, self.count)
                continue
            marker = f"[{self.use(number)}]"
            if marker not in markers:
                markers.append(marker)
        return "".join(markers)


# the answer


@dataclass(frozen=True, slots=True)
class Citation:
    number: int
    document: str
    title: str
    page: int | None
    start: int
    end: int
    snippet: str
    document_id: int
    chunk_id: int
    inferred: bool = False
    """True when the model did not cite this passage: Sabio found a claim of the answer in it."""


@dataclass(slots=True)
class Answer:
    question: str
    query: str
    language: str
    model: str
    style: str = "generative"
    text: str = ""
    citations: list[Citation] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    """The answer's statements, each supported by a passage or not (:mod:`sabio.support`)."""
    complete: bool = True
    error: str | None = None
    error_key: str | None = None
    """The key of ``error``'s message when it has one (:class:`sabio.errors.SabioError`),
    so an interface can say it in its reader's language."""
    error_args: dict[str, Any] = field(default_factory=dict)
    stopped: str | None = None
    """Why the model stopped early: "length" (the answer_tokens limit), "repetition" (a
    loop), "error" (the stream broke), "user" (stopped by its reader, see
    :meth:`sabio.chats.ChatAnswerStream.stop`); None when it ended by itself."""
    no_answer: bool = False
    unsupported: bool = False
    """The model answered but no claim of its answer is in the passages (the answer says so
    and quotes the closest passages instead)."""
    passages: int = 0
    dropped: list[Citation] = field(default_factory=list)
    removed_citations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    budget: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    pinned: int | None = None
    """The pinned answer served instead of a new one (its feedback id; :mod:`sabio.notes`)."""
    computation: Computation | None = None
    """A question about a table, answered by SQL (:mod:`sabio.tables.answers`): the query
    that ran and its result, or the queries tried and why they failed."""
    route: Route | None = None
    """How it was answered (:mod:`sabio.routing`): top-k passages (with the prompt's
    counted tokens), a table (SQL), a pinned answer, a conversation (no documents), or a
    task asked for (its whole document or map-reduce)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _citation(number: int, hit: SearchHit, *, inferred: bool = False) -> Citation:
    snippet = " ".join(hit.text.split())
    if len(snippet) > SNIPPET_CHARS:
        snippet = snippet[: SNIPPET_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return Citation(
        number=number,
        document=hit.document,
        title=hit.title,
        page=hit.page,
        start=hit.start,
        end=hit.end,
        snippet=snippet,
        document_id=hit.document_id,
        chunk_id=hit.chunk_id,
        inferred=inferred,
    )


Retrieve = Callable[[str], tuple[list[SearchHit], list[str]]]
"""A search: query → (best passages, notes such as "keyword matches only")."""


@dataclass(frozen=True, slots=True)
class PinnedAnswer:
    """A good answer pinned as the reference to its question, its citations checked
    against the documents as they are now (``warnings``: those changed or deleted)."""

    id: int
    text: str
    citations: list[Citation]
    warnings: list[str]
    label: str


FindPinned = Callable[[str, str], PinnedAnswer | None]
"""(query, language) → the pinned answer to a question like this one, if any."""
FindNotes = Callable[[str, str], list[SearchHit]]
"""The corrections a question is about: (query, language) → their passages, closest
first, each titled as it is cited ("Correction by ana, 2026-12-03")."""


@dataclass(frozen=True, slots=True)
class Grounding:
    """What ties an answer to a knowledge base: how to search it (``retrieve``), the
    cosine a passage must reach to count (``similarity_floor``, measured per embedder, see
    :data:`SIMILARITY_FLOORS`; None: any vector match counts), how telling its words are
    (``term_weights``, for the topic gate and the quotes) and its embedding model
    (``embed``, for the support check). An answer without one is a conversation without
    documents: no retrieval, no citations."""

    retrieve: Retrieve
    similarity_floor: float | None = None
    term_weights: TermWeights | None = None
    embed: Embed | None = None
    tables: TableAccess | None = None
    """The knowledge base's tables, for questions answered by computation; None: none."""
    notes: FindNotes | None = None
    """The users' corrections on the question's topic (:mod:`sabio.notes`), quoted first."""
    guide: Guide | None = None
    """The knowledge base's instructions and style, for the answers the model writes."""
    pinned: FindPinned | None = None
    """The pinned answers: one served, citations re-checked, for a question like its own."""
    newer: Callable[[Sequence[SearchHit], str], list[str]] | None = None
    """For an answer made from a correction and documents (its passages): the documents
    that do not say what the correction says, and which of them is newer."""
    tasks: TaskAccess | None = None
    """Its whole documents, for a summary or translation asked for (:mod:`sabio.tasks.requests`)."""
    part_embed: Callable[[str], Embed | None] | None = None
    """A paired embedding model's part by its name (``SearchHit.vector_model``): its own
    embedding, for quotes across languages; None when there is no such part."""


class AnswerStream:
    """One answer being made. Iterate it for the text as it streams; then read
    :attr:`answer` (citations, claims, timings, whether it completed).

    Model failures after the first piece do not raise: the answer is marked incomplete
    with the error, and what had arrived is kept. Failures before anything was shown
    (model missing, server down) raise, as any other error would.
    """

    def __init__(
        self,
        question: str,
        model: ChatModel,
        grounding: Grounding | None,
        *,
        options: ChatOptions,
        history: Sequence[Turn] = (),
        style: str = "generative",
    ) -> None:
        question = question.strip()
        if not question:
            raise ConfigError("the question is empty")
        if style not in STYLES:
            raise ConfigError(f"unknown answer style {style!r}: use {', '.join(STYLES)}")
        self.model = model
        self.grounding = grounding
        self.options = options
        self.history = list(history)
        language = detect_language(question)
        self.answer = Answer(
            question=question, query=question, language=language, model=model.name, style=style
        )
        self.plan: PromptPlan | None = None
        self.noted = 0
        """How many of the passages, first among them, are the users' corrections."""
        self.consulted: list[SearchHit] = []
        """The passages the answer was made from (given to the model, or searched for
        quotes), cited or not: what a text-only client lists when none is cited."""

    def __iter__(self) -> Iterator[str]:
        answer = self.answer
        started = time.perf_counter()

        def mark(name: str) -> None:
            answer.timings[name] = round((time.perf_counter() - started) * 1000, 1)

        grounding = self.grounding
        if grounding is None:
            answer.route = Route("conversation")
            messages = conversation_messages(
                self.model, answer.question, self.history, self.options.max_tokens
            )
            mark("prompt_ms")
            pieces = yield from self._stream(messages, self.options, None, mark)
            answer.text = "".join(pieces).strip()
            mark("total_ms")
            return
        if grounding.tasks is not None and (reply := self._asked_task(grounding.tasks, mark)):
            yield reply
            mark("total_ms")
            return
        if self.history:
            answer.query = rewrite_query(self.model, answer.question, self.history, answer.language)
            mark("rewrite_ms")
        answer.route = Route("passages")
        if answer.style == "extractive" and grounding.guide:
            answer.query = glossary_query(answer.query, grounding.guide)  # no model to say it
        hits, answer.notes = grounding.retrieve(answer.query)
        gate = (grounding.similarity_floor, grounding.term_weights)
        noted = self._notes(answer.query, answer.language)
        mark("retrieval_ms")
        relevant = relevant_hits(answer.query, hits, *gate)
        if noted or any(note_id(h.document) is not None for h in relevant):
            relevant = noted + [h for h in relevant if note_id(h.document) is None]
        self.noted = len(noted)
        self.consulted = list(relevant)
        find_pinned = None if noted else grounding.pinned
        pinned = find_pinned(answer.query, answer.language) if find_pinned else None
        if pinned is not None:
            answer.route = Route("pinned")
            answer.text, answer.citations, answer.pinned = pinned.text, pinned.citations, pinned.id
            answer.notes += [pinned.label, *pinned.warnings]
            mark("first_token_ms")
            yield answer.text
            mark("total_ms")
            return
        if (
            grounding.tables is not None
            and not noted
            and self._computed(hits, grounding.tables, mark)
        ):
            answer.route = Route("table")
            yield answer.text
            mark("total_ms")
            return
        if answer.style == "extractive":
            yield from self._extractive(relevant, mark)
        elif relevant:
            yield from self._generative(relevant, mark)
        if not answer.text:
            answer.no_answer = True
            answer.text = no_answer_text(answer.language)
            mark("first_token_ms")
            yield answer.text
        if self.noted and grounding.newer is not None:
            answer.notes += grounding.newer(self.consulted, answer.language)
        mark("total_ms")

    def _computed(
        self, hits: Sequence[SearchHit], access: TableAccess, mark: Callable[[str], None]
    ) -> bool:
        """Answer by computation when the question is about a table (see
        :func:`sabio.tables.answers.tables_for`): the text, the table cited, the SQL."""
        answer = self.answer
        places = [(h.document_id, h.page) for h in hits]
        chosen = tables_for(answer.query, places, access.tables())
        if not chosen:
            return False
        done = compute(answer.query, answer.language, self.model, access, chosen)
        mark("sql_ms")
        answer.computation = done
        surely = asks_for_computation(answer.query) and named_or_first(
            answer.query, places, chosen[0]
        )
        if not done.computed and not surely:
            # a table found only further down, or a question that names a column without
            # asking for a computation ("when was it founded?" over an infobox): the
            # passages may answer
            return False
        answer.text = answer_text(done, answer.language, chosen)
        table = next(t for t in chosen if t.name == done.tables[0])  # the one the query read
        hit = next((h for h in hits if h.document_id == done.document_id), None)
        chunk = hit.chunk_id if hit else access.passage_of(done.document_id)
        if done.computed and chunk is not None:
            columns = ", ".join(c.name for c in table.columns)
            snippet = f"{table.name} ({table.where}): {table.row_count} rows; {columns}"
            answer.citations = [
                Citation(1, table.source, table.title, table.page, 0, 0, snippet[:SNIPPET_CHARS],
                         table.document_id, chunk)
            ]  # fmt: skip
        mark("first_token_ms")
        return True

    def _asked_task(self, access: TaskAccess, mark: Callable[[str], None]) -> str:
        """The answer to a request for a task on a named document ("resume el informe
        anual"): the task's result, cited by page; "" when the question asks for none."""
        answer = self.answer
        asked = asked_task(answer.question, access.documents())
        if asked is None:
            return ""
        reply = access.run(asked, answer.language, self.model.name)
        mark("task_ms")
        answer.route = reply.route
        answer.text = reply.text
        answer.claims = reply.claims
        answer.citations = [_citation(n, hit) for n, hit in enumerate(reply.hits, 1)]
        answer.passages = len(reply.hits)
        mark("first_token_ms")
        return reply.text

    def _weights(self, query: str) -> Mapping[str, float] | None:
        weights = self.grounding.term_weights if self.grounding else None
        return weights(query_terms(query)) if weights else None

    def _across(self, passages: Passages) -> tuple[Embed, float] | None:
        """For a question the search found passages for in another language: the model
        part that searched across languages, and the cosine a quote needs under it
        (:data:`sabio.extractive.CROSS_MIN_COSINE`); None otherwise, or for a model whose
        floor across languages was not measured."""
        first = passages.hits[0] if passages.hits else None
        if first is None or not first.cross_language or self.grounding is None:
            return None
        floor = CROSS_MIN_COSINE.get(first.vector_model)
        part = self.grounding.part_embed
        embed = part(first.vector_model) if part is not None and floor is not None else None
        return (embed, floor) if embed is not None and floor is not None else None

    def _passages(self, hits: Sequence[SearchHit]) -> Passages:
        return Passages(hits, self.grounding.embed if self.grounding else None)

    def _notes(self, query: str, language: str) -> list[SearchHit]:
        """The users' corrections the question is about (the service decides which)."""
        grounding = self.grounding
        if grounding is None or grounding.notes is None:
            return []
        return grounding.notes(query, language)

    def _picks(self, passages: Passages, count: int) -> list[Pick]:
        """The sentences to quote: every sentence of the corrections among the first
        ``count`` passages (they come first), then those that answer in the others."""
        noted = min(self.noted, count)
        query = self.answer.query
        found = pick_sentences(query, passages, self._weights(query), self._across(passages))
        notes = [Pick(n, i, 1.0) for n in range(noted) for i in range(len(passages.sentences[n]))]
        return notes + [p for p in found if p.passage >= noted]

    def _extractive(self, hits: Sequence[SearchHit], mark: Callable[[str], None]) -> Iterator[str]:
        """Quotes of the sentences that answer, without a model; nothing when none does."""
        answer = self.answer
        passages = self._passages(hits)
        picks = self._picks(passages, len(hits))
        if not picks:
            return
        used = CitationFilter(len(hits))
        text = _quotes(passages, picks, used)
        mark("first_token_ms")
        yield text
        answer.text = text
        answer.passages = len(hits)
        answer.route = Route("passages", passages=len(hits))
        numbers = [used.display_number(p.passage + 1) for p in picks]
        answer.claims = extractive_claims(text, passages, picks, numbers)
        answer.citations = [_citation(used.display_number(n), hits[n - 1]) for n in used.order]
        if self.grounding is not None and self.grounding.guide:
            answer.notes += quoting_notes(self.grounding.guide, text, answer.language)

    def _generative(
        self, relevant: Sequence[SearchHit], mark: Callable[[str], None]
    ) -> Iterator[str]:
        """The model's answer (after the quotes, for the "both" style), checked claim by
        claim; when no claim of it is supported, the closest passages are quoted after it."""
        answer = self.answer
        plan = build_messages(
            self.model,
            answer.question,
            relevant,
            language=answer.language,
            answer_tokens=self.options.max_tokens,
            history=self.history,
            guide=self.grounding.guide if self.grounding else None,
        )
        self.plan = plan
        answer.notes += guide_notes(plan, answer.language)
        self.consulted = list(plan.passages)
        answer.passages, answer.prompt_tokens, answer.budget = (
            len(plan.passages),
            plan.tokens,
            plan.budget,
        )
        answer.route = Route(
            "passages", tokens=plan.tokens, budget=plan.budget, passages=len(plan.passages)
        )
        answer.dropped = [_citation(0, hit) for hit in plan.dropped]
        mark("prompt_ms")
        passages = self._passages(plan.passages)
        citations = CitationFilter(len(plan.passages))
        picks = self._picks(passages, len(plan.passages))
        pieces: list[str] = []
        quoted_claims: list[Claim] = []
        # the users' corrections are quoted first in any style, the other quotes in "both"
        first = picks if answer.style == "both" else [p for p in picks if p.passage < self.noted]
        if first:
            quotes = _quotes(passages, first, citations) + "\n\n"
            mark("first_token_ms")
            pieces.append(quotes)
            yield quotes
            numbers = [citations.display_number(p.passage + 1) for p in first]
            quoted_claims = extractive_claims(quotes, passages, first, numbers)
        written = set(citations.order)
        options = dataclasses.replace(self.options, max_tokens=plan.answer_tokens)
        start = len("".join(pieces))
        pieces += yield from self._stream(plan.messages, options, citations, mark)
        model_text = "".join(pieces)[start:]
        written |= set(citations.order)
        if _says_no_answer(model_text, answer.language) and not quoted_claims:
            answer.no_answer = True
            answer.text = "".join(pieces).strip()
            return
        claims = check_claims(
            model_text,
            passages,
            lambda n: citations.order[n - 1] if 0 < n <= len(citations.order) else None,
            skip=lambda sentence: _says_no_answer(sentence, answer.language),
        )
        for claim in claims:
            claim.start, claim.end = claim.start + start, claim.end + start
        supported = [c for c in claims if c.supported]
        new = [c.passage for c in supported if c.passage and c.passage not in citations.order]
        if new:
            markers = " " + "".join(f"[{citations.use(n)}]" for n in dict.fromkeys(new))
            pieces.append(markers)
            yield markers
        for claim in supported:
            claim.citation = citations.display_number(claim.passage) if claim.passage else None
        if not supported and not quoted_claims:
            answer.unsupported = True
            fallback = "\n\n" + prompt_text("unsupported", answer.language) + " "
            if not picks:
                fallback += no_answer_text(answer.language)
            else:
                fallback += prompt_text("closest", answer.language)
                fallback += "\n\n" + _quotes(passages, picks, citations)
                numbers = [citations.display_number(p.passage + 1) for p in picks]
                quoted = extractive_claims(fallback, passages, picks, numbers)
                quoted_claims = _shifted(quoted, len("".join(pieces)))
            pieces.append(fallback)
            yield fallback
        joined = "".join(pieces)
        answer.text = joined.strip()
        lead = len(joined) - len(joined.lstrip())
        answer.claims = _shifted(sorted(quoted_claims + claims, key=lambda c: c.start), -lead)
        answer.removed_citations = citations.removed
        answer.citations = [
            _citation(citations.display_number(n), plan.passages[n - 1], inferred=n not in written)
            for n in citations.order
        ]

    def _stream(
        self,
        messages: Sequence[Message],
        options: ChatOptions,
        citations: CitationFilter | None,
        mark: Callable[[str], None],
    ) -> Generator[str, None, list[str]]:
        """The model's pieces (through ``citations``, if any) as shown; returns them all.
        A failure after the first piece marks the answer incomplete instead of raising;
        so does the end of ``max_tokens`` and a loop (:data:`REPEATS`), which stops it."""
        answer = self.answer
        pieces: list[str] = []
        stream = iter(self.model.stream(messages, options))
        loop = RepetitionGuard()
        try:
            while True:
                try:
                    piece = next(stream)
                except StopIteration as end:
                    if end.value == "length":
                        answer.stopped = "length"
                    break
                if "first_token_ms" not in answer.timings:
                    mark("first_token_ms")
                shown = citations.feed(piece) if citations else piece
                if shown:
                    pieces.append(shown)
                    yield shown
                if loop.feed(piece):
                    answer.stopped = "repetition"
                    break
        except SabioError as exc:
            if not pieces:
                raise
            answer.stopped, answer.error = "error", str(exc)
            answer.error_key, answer.error_args = exc.key, exc.args_for_key
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        if citations and (rest := citations.flush()):
            pieces.append(rest)
            yield rest
        if answer.stopped:
            answer.complete = False
            if answer.stopped != "error":
                answer.error = stop_reason(answer.stopped, answer.language, options.max_tokens)
        return pieces


def _shifted(claims: list[Claim], offset: int) -> list[Claim]:
    for claim in claims:
        claim.start, claim.end = claim.start + offset, claim.end + offset
    return claims


def _quotes(passages: Passages, picks: Sequence[Pick], citations: CitationFilter) -> str:
    return extractive_text(passages, picks, [citations.use(p.passage + 1) for p in picks])


def answer_notes(answer: Answer) -> list[str]:
    """What a client that shows text only must be told besides the sources: how many
    statements the passages do not support, and why an answer is incomplete."""
    notes = [note] if (note := support_note(answer.claims, answer.language)) else []
    if not answer.complete:
        incomplete = "Respuesta incompleta" if answer.language == "es" else "Incomplete answer"
        notes.append(f"{incomplete}: {answer.error or ''}".rstrip(": "))
    return notes


def stop_reason(stopped: str, language: str, max_tokens: int) -> str:
    """What the reader is told about an answer the model did not finish."""
    if stopped == "length":
        if language == "es":
            return (
                f"la respuesta se cortó al llegar al límite de {max_tokens} tokens "
                "(answer_tokens): está incompleta"
            )
        return f"the answer was cut at its limit of {max_tokens} tokens (answer_tokens)"
    if language == "es":
        return "el modelo se repetía en bucle y se detuvo: la respuesta está incompleta"
    return "the model was repeating itself and was stopped: the answer is incomplete"


class RepetitionGuard:
    """Spots a model stuck in a loop: the same phrase (3 to 40 words) :data:`REPEATS`
    times in a row at the end of what it wrote so far."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self._partial = ""

    def feed(self, piece: str) -> bool:
        text = self._partial + piece
        parts = text.split()
        if text and not text[-1].isspace() and parts:
            self._partial = parts.pop()
        else:
            self._partial = ""
        if not parts:
            return False
        self.words.extend(w.lower() for w in parts)
        del self.words[: max(0, len(self.words) - 3 * 40 * REPEATS)]
        words = self.words
        for period in range(3, 41):
            span = period * REPEATS
            if len(words) < span:
                break
            tail = words[-span:]
            if all(tail[i] == tail[i % period] for i in range(period, span)):
                return True
        return False


def _says_no_answer(text: str, language: str) -> bool:
    folded = " ".join(tokens(text))
    return any(" ".join(tokens(no_answer_text(lang))) in folded for lang in (language, *LANGUAGES))


# conversations


def rewrite_query(
    model: ChatModel,
    question: str,
    history: Sequence[Turn],
    language: str,
) -> str:
    """A standalone search query for a follow-up question (``"¿y en 2023?"``).

    The model rewrites it from the conversation. A rewrite must keep every word of the
    question (it may only add context) and stay short; small models' replies often do
    neither ("El punto de cedieron es 1."), and one that swapped the question for an
    earlier topic would also defeat the topic gate. Without a usable rewrite, a question
    of :data:`STANDALONE_TERMS` or more words is searched as it is (a new topic), and a
    shorter one together with the previous question, which keyword and vector search
    both handle well.
    """
    terms = query_terms(question)
    standalone = len(terms) >= STANDALONE_TERMS
    fallback = question if standalone or not history else f"{history[-1].question} {question}"
    conversation = "\n".join(
        f"- {turn.question}\n  → {' '.join(turn.answer.split())[:300]}" for turn in history[-3:]
    )
    request = (
        prompt_text("rewrite", language)
        .replace("{conversation}", conversation)
        .replace("{question}", question)
    )
    rewrite_options = ChatOptions(max_tokens=64, temperature=0.0, stop=("\n",))
    try:
        reply = "".join(model.stream([{"role": "user", "content": request}], rewrite_options))
    except SabioError as exc:
        log.warning("could not rewrite the follow-up question: %s", exc)
        return fallback
    query = reply.strip().strip("\"'«»“”").strip()
    kept = set(query_terms(query))
    if len(query) > 3 * len(question) + 200 or not kept or not set(terms) <= kept:
        return fallback
    return query

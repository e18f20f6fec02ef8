"""Summaries of whole documents, cited by page and checked like answers.

    summarize_document(model, pages, length="page") ─► Summary(text with [page] marks, claims)

A document that fits the model's context with the prompt and the summary is summarized in
one call; a longer one hierarchically: each part of whole pages (in order) is summarized,
then the part summaries are combined, in as many rounds as their length needs. Every
sentence ends with the page it comes from (``[12]``); the text is marked ``[page N]`` for
the model. Then each sentence is checked against the page it cites, and the others, by the
answers' support check (:mod:`sabio.support`): what no page supports is listed, never
passed off as the document's.

``extractive`` (the default for the embedded model, which cannot be trusted to write a
summary, as for answers): no model writes; the document's own sentences are picked, the
most central first (cosine to the mean of all sentences, or to the focus; without an
embedder, by the frequency of their words), each unlike those already picked, and shown
in the document's order with their pages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from sabio.errors import ConfigError
from sabio.facts import content_terms, is_table_row, sentences
from sabio.language import detect_language
from sabio.models import ChatModel, ChatOptions, Message
from sabio.prompt_files import prompt_text
from sabio.routing import Route, document_route
from sabio.search import SearchHit
from sabio.support import Claim, Embed, Passages, check_claims
from sabio.tasks.budget import Page, split_parts, text_budget

LENGTHS = {"short": 3, "page": 10, "detailed": 25}
"""Sentences in the summary, by the length a person asks for."""
PART_SENTENCES = 6
TOKENS_PER_SENTENCE = 48
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Summary:
    text: str
    language: str
    route: Route
    calls: int
    claims: list[Claim] = field(default_factory=list)

    @property
    def unsupported(self) -> list[Claim]:
        return [c for c in self.claims if not c.supported]


def summarize_document(
    model: ChatModel,
    pages: Sequence[Page],
    *,
    length: str = "page",
    language: str | None = None,
    focus: str = "",
    title: str = "",
    progress: Progress | None = None,
    embed: Embed | None = None,
    extractive: bool = False,
) -> Summary:
    """The summary of the document made of ``pages`` (see the module docstring)."""
    if extractive:
        return extractive_summary(pages, length=length, focus=focus, embed=embed)
    sentences = _sentences(length)
    numbered = [(page, f"[page {page or 1}]\n{text}") for page, text in pages]
    language = language or detect_language(" ".join(t for _, t in pages)[:4000])
    writer = _Writer(model, language, focus, progress)
    system = writer.system("summarize", sentences)
    budget = writer.budget(system, sentences)
    parts = list(split_parts(model, numbered, budget))
    tokens = sum(model.count_tokens(part) for part in parts)
    rounds = 0
    if len(parts) == 1:
        text = writer.write("summarize", sentences, f"{title}\n\n{parts[0]}")
    else:
        summaries = [
            writer.write("summarize", PART_SENTENCES, part, f"part {n} of {len(parts)}")
            for n, part in enumerate(parts, 1)
        ]
        rounds = 1
        while True:
            combine = writer.system("combine", sentences)
            groups = list(
                split_parts(
                    model, [(None, s) for s in summaries], writer.budget(combine, sentences)
                )
            )
            if len(groups) == 1:
                text = writer.write("combine", sentences, groups[0], "combining")
                break
            summaries = [writer.write("combine", PART_SENTENCES, g, "combining") for g in groups]
            rounds += 1
    route = document_route("summarize", tokens, budget, len(parts), rounds)
    claims = check_summary(text, pages, embed)
    return Summary(text.strip(), language, route, writer.calls, claims)


class _Writer:
    def __init__(
        self, model: ChatModel, language: str, focus: str, progress: Progress | None
    ) -> None:
        self.model, self.language, self.progress, self.calls = model, language, progress, 0
        self.focus = ""
        if focus.strip():
            label = "Céntrate solo en" if language == "es" else "Focus only on"
            self.focus = f"{label}: {focus.strip()}\n"

    def system(self, name: str, sentences: int) -> str:
        text = prompt_text(name, self.language)
        return text.replace("{sentences}", str(sentences)).replace("{focus}", self.focus)

    def budget(self, system: str, sentences: int) -> int:
        return text_budget(self.model, system, sentences * TOKENS_PER_SENTENCE)

    def write(self, name: str, sentences: int, text: str, note: str = "") -> str:
        if self.progress is not None and note:
            self.progress(note)
        messages: list[Message] = [
            {"role": "system", "content": self.system(name, sentences)},
            {"role": "user", "content": text},
        ]
        options = ChatOptions(max_tokens=sentences * TOKENS_PER_SENTENCE, temperature=0.2)
        self.calls += 1
        return "".join(self.model.stream(messages, options)).strip()


EXTRACTIVE = Route("extractive", "summarize")
MAX_SENTENCES = 4000
"""Most sentences an extractive summary weighs (the first ones: a 100-page report has
about 3,000)."""
REDUNDANT = 0.85
MIN_TERMS = 6


def extractive_summary(
    pages: Sequence[Page], *, length: str = "page", focus: str = "", embed: Embed | None = None
) -> Summary:
    """The document's most central sentences, in its order, each with its page."""
    count = _sentences(length)
    found: list[tuple[int | None, str]] = []
    for page, text in pages:
        for start, end in sentences(text):
            body = " ".join(text[start:end].split())
            if _statement(body):
                found.append((page, body))
    found = found[:MAX_SENTENCES]
    language = detect_language(" ".join(b for _, b in found[:200]))
    if not found:
        return Summary("", language, EXTRACTIVE, 0)
    chosen = _central(found, count, focus, embed)
    text = "\n".join(
        f"- {body} [{page}]" if page is not None else f"- {body}"
        for page, body in (found[i] for i in sorted(chosen))
    )
    return Summary(text, language, EXTRACTIVE, 0, check_summary(text, pages, embed))


def _sentences(length: str) -> int:
    """How many sentences a summary of ``length`` has; a ConfigError for an unknown one."""
    if length not in LENGTHS:
        raise ConfigError(
            f"no summary length {length!r}: use {', '.join(LENGTHS)}",
            key="summary_length",
            length=length,
        )
    return LENGTHS[length]


def _statement(sentence: str) -> bool:
    """A sentence that says something: ended like one, with enough words (not a line of
    a table of contents, a heading or a table row)."""
    return (
        sentence.rstrip('"\u201d)').endswith((".", "!", "?"))
        and len(content_terms(sentence)) >= MIN_TERMS
        and not is_table_row(sentence)
    )


def _central(
    found: Sequence[tuple[int | None, str]], count: int, focus: str, embed: Embed | None
) -> list[int]:
    """Indexes of ``count`` sentences: the closest to the centre (or the focus) first,
    skipping one too like a sentence already taken."""
    if embed is not None:
        vectors = np.asarray(embed([b for _, b in found]), dtype=np.float32)
        target = embed([focus])[0] if focus.strip() else vectors.mean(axis=0)
        scores = vectors @ target
    else:
        counts: dict[str, int] = {}
        for _, body in found:
            for term in set(content_terms(body)):
                counts[term] = counts.get(term, 0) + 1
        wanted = set(content_terms(focus))
        scores = np.array(
            [
                np.mean([counts[t] + 10 * (t in wanted) for t in set(content_terms(b))])
                for _, b in found
            ],
            dtype=np.float32,
        )
        vectors = None
    chosen: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if vectors is not None and any(float(vectors[i] @ vectors[j]) > REDUNDANT for j in chosen):
            continue
        chosen.append(int(i))
        if len(chosen) == count:
            break
    return chosen


def check_summary(
    text: str,
    pages: Sequence[Page],
    embed: Embed | None = None,
    page_of: Callable[[int], int | None] = lambda n: n,
) -> list[Claim]:
    """The summary's sentences, each checked against the document's pages, the page it
    cites first (``[12]`` is page 12; ``page_of``: the page a mark names otherwise)."""
    hits = [
        SearchHit(0, 0, "", "", page, 0, len(body), "", body, 0.0, None, None)
        for page, body in pages
    ]
    index = {page or 1: n + 1 for n, (page, _) in enumerate(pages)}

    def cited(mark: int) -> int | None:
        page = page_of(mark)
        return index.get(page) if page is not None else None

    return check_claims(text, Passages(hits, embed), cited=cited)

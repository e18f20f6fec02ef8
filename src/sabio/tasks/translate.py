"""Translation of whole documents that keeps their structure and their numbers.

    translate_document(model, pages, "en") ─► Translation(markdown, segments, problems)
    translate_blocks(model, blocks, "en")  ─► (one translation per block, problems)
    without_tags("Lee <a1>la guía</a1>")   ─► "Lee la guía"

The structure is Sabio's, not the model's: each page's lines are read as headings, list
items, table rows and paragraphs; only their words go to the model, as numbered segments
in batches that fit its context ("1. …", "2. …"), and the translation is put back in the
same places, so every heading, list item and table cell of the original is there in the
output. A table cell that is a figure is not sent at all (also in a row as a PDF gives
it, cells apart by single spaces: its label is sent, its figures kept). A batch whose
reply does not come back with one line per segment is asked again segment by segment. A
segment whose figures (amounts, dates, percentages) are not all in its translation is
asked again alone, and kept as it was when they are still not all there: a translation
never drops or changes a figure; such segments, and those the model did not translate,
are listed in ``problems``. The page numbers of the original are kept as
``<!-- page N -->`` lines in the Markdown.

A block of a page in the browser keeps its inline elements (links, bold, code…) as
numbered tags: ``<a1>…</a1>`` around words that are translated, ``<code2/>`` for one kept
as it is; the model is asked to keep them, a block whose translation lost or broke them
is asked again alone, and then given as plain words (listed in ``problems``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from sabio.errors import ConfigError
from sabio.facts import is_table_row, trailing_cells
from sabio.models import ChatModel, ChatOptions, Message
from sabio.routing import Route, document_route
from sabio.tasks.budget import Page, text_budget

LANGUAGES = {"en": "English", "es": "Spanish"}
"""Languages by code for the prompt; any other name a person gives is passed as written."""
BATCH_SEGMENTS = 24
_LIST = re.compile(r"^(\s*(?:[-*•▪●◦]|\d{1,3}[.)]|[a-z][.)])\s+)(.*)$")
_HEADING = re.compile(r"^(#{1,6}\s+)(.*)$")
_CELL_SPLIT = re.compile(r"(\t|\s*\|\s*|\s{2,})")
_NUMBERED = re.compile(r"^\s*(\d+)[.)]\s?(.*)$")
_RULE = re.compile(r":?-{3,}:?")
_FIGURE = re.compile(r"\d+(?:[.,]\d+)*")
_TAG = re.compile(r"</?[a-z]+\d+/?>", re.IGNORECASE)
_LOOSE_TAG = re.compile(r"</?[a-z]+\d*(?:\s*/?>)?", re.IGNORECASE)
"""A tag as a model may mangle it (``</a1``, ``<br />``): not words, in a block whose
own words have nothing like it."""
Progress = Callable[[str], None]


@dataclass(slots=True)
class _Segment:
    text: str
    translation: str = ""
    lost: list[str] = field(default_factory=list)
    """Figures its translations left out (then it is kept as it was)."""
    added: list[str] = field(default_factory=list)
    """Figures its translations had that it has not (then it is kept as it was)."""


@dataclass(slots=True)
class _Line:
    """A line of the original: its kind, the text around its words (a list marker, a
    heading's #, table separators) and the segments that hold its words."""

    kind: str  # heading, item, row, text, blank
    parts: list[str | _Segment] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Translation:
    markdown: str
    language: str
    segments: int
    calls: int
    problems: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    """Headings, list items, table cells and paragraphs of the original (all kept)."""
    route: Route = field(default_factory=functools.partial(Route, "document", "translate"))
    """The whole document in one call, or in parts (map-reduce without the reduce: Sabio
    puts the parts back), by the counted tokens of its words."""


def language_name(code: str) -> str:
    name = LANGUAGES.get(code.lower(), code.strip())
    if not name or len(name) > 40:
        raise ConfigError(f"no language {code!r}: give es, en or a language's name", key="language")
    return name


def translate_document(
    model: ChatModel, pages: Sequence[Page], to: str, *, progress: Progress | None = None
) -> Translation:
    """The document made of ``pages`` in the language ``to`` (see the module docstring)."""
    target = language_name(to)
    layout = [(page, [_line(raw) for raw in text.splitlines()]) for page, text in pages]
    segments = [
        p for _, lines in layout for line in lines for p in line.parts if isinstance(p, _Segment)
    ]
    system = _system(target)
    budget = text_budget(model, system, 0) // 2  # the reply is about as long as the text
    calls = 0
    batches = list(_batches(model, segments, budget))
    tokens = sum(model.count_tokens(s.text) for s in segments)
    route = document_route("translate", tokens, budget, len(batches))
    for number, batch in enumerate(batches, 1):
        if progress is not None:
            progress(f"part {number} of {len(batches)}")
        calls += _translate_batch(model, system, batch, budget)
    problems = _problems(segments)
    counts = {kind: 0 for kind in ("heading", "item", "cell", "text")}
    for _, lines in layout:
        for line in lines:
            if line.kind == "row":
                counts["cell"] += sum(
                    1 for p in line.parts if isinstance(p, _Segment) or _is_cell(p)
                )
            elif line.kind in counts:
                counts[line.kind] += 1
    return Translation(_markdown(layout), to, len(segments), calls, problems, counts, route)


def translate_blocks(
    model: ChatModel, blocks: Sequence[str], to: str
) -> tuple[list[str], list[str]]:
    """Each of ``blocks`` (a page's paragraphs, headings, list items… as the browser
    shows them, inline elements as tags: see the module docstring) in the language
    ``to``, one for one, and the problems (as :func:`translate_document`'s). A block with
    no words, or one the model did not translate, comes back as it was."""
    segments = [_Segment(" ".join(block.split())) for block in blocks]
    worded = [s for s in segments if _has_words(without_tags(s.text))]
    system = _system(language_name(to), tags=any(_TAG.search(s.text) for s in worded))
    budget = text_budget(model, system, 0) // 2
    for batch in _batches(model, worded, budget):
        _translate_batch(model, system, batch, budget)
    lost: list[str] = []
    for segment in worded:
        if segment.translation and not _tags_kept(segment.text, segment.translation):
            single = _numbered(_ask(model, system, [segment.text], budget), 1)
            again = single[0] if single else ""
            if not _tags_kept(segment.text, again):
                again = _kept_whole(segment.text, again or segment.translation)
                lost.append(f"{without_tags(segment.text)[:60]!r}: its formatting was lost")
            segment.translation = again
    translated = [s.translation or s.text for s in segments]
    plain = [_Segment(without_tags(s.text), without_tags(s.translation)) for s in worded]
    return translated, _problems(plain) + lost


def without_tags(text: str) -> str:
    """A block's words without the tags that stand for its inline elements (one kept
    whole, such as a line break, is a space)."""
    return " ".join(_TAG.sub(lambda tag: " " if tag[0].endswith("/>") else "", text).split())


def _kept_whole(original: str, translation: str) -> str:
    """``translation`` without its tags but those of elements kept whole (code, images,
    line breaks: their words are not in the translation), each once; a missing one at
    the end."""
    whole = [tag.lower() for tag in _TAG.findall(original) if tag.endswith("/>")]
    seen: set[str] = set()

    def keep(tag: re.Match[str]) -> str:
        name = "".join(tag[0].lower().split())
        if name in whole and name not in seen:
            seen.add(name)
            return name
        return " " if name.endswith("/>") else ""

    tags = _TAG if _LOOSE_TAG.search(without_tags(original)) else _LOOSE_TAG
    kept = tags.sub(keep, translation)
    return " ".join([*kept.split(), *(tag for tag in whole if tag not in seen)])


def _tags_kept(original: str, translation: str) -> bool:
    """Whether ``translation`` has each tag of ``original`` once, each pair nested, and
    no mangled one."""
    tags = [tag.lower() for tag in _TAG.findall(translation)]
    if sorted(tags) != sorted(tag.lower() for tag in _TAG.findall(original)):
        return False
    mangled = len(_LOOSE_TAG.findall(translation)) > len(tags)
    if mangled and not _LOOSE_TAG.search(without_tags(original)):
        return False
    opened: list[str] = []
    for tag in tags:
        if tag.endswith("/>"):
            continue
        if not tag.startswith("</"):
            opened.append(tag[1:])
        elif not opened or opened.pop() != tag[2:]:
            return False
    return not opened


def _system(target: str, *, tags: bool = False) -> str:
    kept = (
        " Some lines hold numbered tags such as <b1>…</b1> or <img2/>: keep each tag once, "
        "around the words it marks."
        if tags
        else ""
    )
    return (
        f"Translate each numbered line into {target}. Answer with the same numbers, one line "
        "each, in the same order: only the translation, keeping every figure, date, name "
        "and symbol exactly as written." + kept
    )


def _problems(segments: Sequence[_Segment]) -> list[str]:
    return [
        f"{s.text[:60]!r}: {_changes(s)} in its translation, kept as it was"
        if s.lost or s.added
        else f"{s.text[:60]!r}: not translated, kept as it was"
        for s in segments
        if not s.translation
    ]


def _changes(segment: _Segment) -> str:
    missing = f"{', '.join(segment.lost)} missing" if segment.lost else ""
    added = f"{', '.join(segment.added)} added" if segment.added else ""
    return " and ".join(filter(None, (missing, added)))


def _line(raw: str) -> _Line:
    text = raw.rstrip()
    if not text.strip():
        return _Line("blank")
    if is_table_row(text):
        if not _CELL_SPLIT.search(text.strip()):
            return _Line("row", _label_and_figures(text))
        parts: list[str | _Segment] = []
        for piece in _CELL_SPLIT.split(text):
            if _CELL_SPLIT.fullmatch(piece) or not piece or not _has_words(piece):
                parts.append(piece)
            else:
                parts.append(_Segment(piece))
        return _Line("row", parts)
    for kind, pattern in (("heading", _HEADING), ("item", _LIST)):
        if match := pattern.match(text):
            return _Line(kind, [match.group(1), _Segment(match.group(2))])
    return _Line("text", [_Segment(text.strip())])


def _label_and_figures(text: str) -> list[str | _Segment]:
    """A row as a PDF gives it, cells apart by single spaces ("Adams County, NE 31,299 0"):
    its label, translated, and its figure cells, kept as written (never sent)."""
    words = re.split(r"(\s+)", text)  # words at even places, the spaces between at odd
    cut = max(0, len(words) - 2 * trailing_cells(text))  # the space before the first figure
    label = "".join(words[:cut])
    parts: list[str | _Segment] = [_Segment(label)] if _has_words(label) else [label]
    return [*parts, *words[cut:]]


def _has_words(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def _is_cell(part: str | _Segment) -> bool:
    """A table cell kept as written (a figure): not a separator, not a rule (``---``)."""
    return (
        isinstance(part, str)
        and bool(part.strip())
        and not _CELL_SPLIT.fullmatch(part)
        and not _RULE.fullmatch(part.strip())
    )


def _batches(
    model: ChatModel, segments: Sequence[_Segment], budget: int
) -> Iterator[list[_Segment]]:
    batch: list[_Segment] = []
    used = 0
    for segment in segments:
        cost = model.count_tokens(segment.text) + 2
        if batch and (used + cost > budget or len(batch) >= BATCH_SEGMENTS):
            yield batch
            batch, used = [], 0
        batch.append(segment)
        used += cost
    if batch:
        yield batch


def _translate_batch(model: ChatModel, system: str, batch: list[_Segment], budget: int) -> int:
    """Fills in each segment's translation; returns the calls it took. A segment whose
    translation leaves out one of its figures, or has one it does not have, is asked
    again alone, and kept as it was when that one does too: a translation never changes
    a figure (SmolLM2 wrote a date of its own into a list item it did not translate)."""
    calls = 1
    lines = _numbered(_ask(model, system, [s.text for s in batch], budget), len(batch))
    if lines is None:  # the reply lost the numbering: one segment at a time
        lines = [_single(model, system, segment, budget) for segment in batch]
        calls += len(batch)
    for segment, text in zip(batch, lines, strict=True):
        if text and any(changed := _changed_figures(segment.text, text)):
            again = _single(model, system, segment, budget)
            calls += 1
            if again and not any(_changed_figures(segment.text, again)):
                text = again
            else:
                (segment.lost, segment.added), text = changed, ""
        segment.translation = text
    return calls


def _single(model: ChatModel, system: str, segment: _Segment, budget: int) -> str:
    found = _numbered(_ask(model, system, [segment.text], budget), 1)
    return found[0] if found else ""


def _ask(model: ChatModel, system: str, texts: Sequence[str], budget: int) -> str:
    numbered = "\n".join(f"{i}. {' '.join(t.split())}" for i, t in enumerate(texts, 1))
    messages: list[Message] = [
        {"role": "system", "content": system},
        {"role": "user", "content": numbered},
    ]
    options = ChatOptions(max_tokens=max(64, budget), temperature=0.0)
    return "".join(model.stream(messages, options))


def _numbered(reply: str, count: int) -> list[str] | None:
    """The reply's lines 1..count, or None when they are not all there, once, in order."""
    found: dict[int, str] = {}
    for line in reply.splitlines():
        if match := _NUMBERED.match(line):
            number = int(match.group(1))
            if 1 <= number <= count and number not in found and match.group(2).strip():
                found[number] = match.group(2).strip()
    if sorted(found) != list(range(1, count + 1)):
        return None
    return [found[i] for i in range(1, count + 1)]


def _changed_figures(original: str, translation: str) -> tuple[list[str], list[str]]:
    """Figures of ``original`` not in ``translation``, and figures of ``translation`` not
    in ``original``, each as many times as it is there. A figure is its groups of digits:
    the separator between them may change with the language (1,200.5 ⇄ 1.200,5), where
    it is may not ("Stata 11.0" is not "Stata 110"). The numbers of inline tags are not
    figures: lost tags are told apart by their own check."""
    have: dict[tuple[str, ...], list[str]] = {}
    for figure in _FIGURE.findall(_LOOSE_TAG.sub(" ", translation)):
        have.setdefault(_digit_groups(figure), []).append(figure)
    missing = []
    for figure in _FIGURE.findall(_LOOSE_TAG.sub(" ", original)):
        if same := have.get(_digit_groups(figure)):
            same.pop()
        else:
            missing.append(figure)
    return missing, [figure for left in have.values() for figure in left]


def _digit_groups(figure: str) -> tuple[str, ...]:
    return tuple(re.split(r"[.,]", figure))


def _markdown(layout: Sequence[tuple[int | None, list[_Line]]]) -> str:
    out: list[str] = []
    for page, lines in layout:
        if page is not None:
            out.append(f"<!-- page {page} -->")
        for line in lines:
            text = "".join(
                p.translation or p.text if isinstance(p, _Segment) else p for p in line.parts
            )
            if line.kind == "row" and "|" not in text:
                cells = [
                    p.translation or p.text if isinstance(p, _Segment) else p.strip()
                    for p in line.parts
                    if isinstance(p, _Segment) or _is_cell(p)
                ]
                text = "| " + " | ".join(cells) + " |"
            out.append(text)
        out.append("")
    return "\n".join(out).strip() + "\n"

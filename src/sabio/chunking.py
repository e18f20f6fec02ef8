"""Split a loaded document into overlapping chunks that respect its structure.

The document's text is its sections joined by blank lines; every chunk is an exact slice
``text[start:end]`` of it, so a citation can point back to the page and the characters.
A chunk never spans two pages or two headings (small neighbours on the same page and
under the same heading are packed together). Inside a section the units are paragraphs
(table rows for tables); a paragraph longer than a chunk is cut at sentences, then at
spaces, then anywhere (scripts without spaces). Consecutive chunks share whole units
up to ``overlap`` characters. A section's last few sentences are not left alone: a tail
of at most a quarter of the size joins the chunk before it, which may then reach 1.25
times the size (a paragraph of 1,100 characters stays whole instead of ending in a
weak 100-character passage). A chunk's ``context`` (title, heading path and, for the
later chunks of a table, its header row) is indexed and embedded with it but is not part
of the cited text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from sabio.loaders import LoadedDocument, Section

SECTION_SEPARATOR = "\n\n"
CHUNK_SIZE = 1200  # the defaults, chosen in docs/benchmarks.md (Retrieval quality)
CHUNK_OVERLAP = 150
TAIL = 4  # a section's tail of at most size / TAIL characters joins the chunk before it


@dataclass(frozen=True, slots=True)
class Chunk:
    text: str
    start: int
    end: int
    page: int | None
    heading: str
    context: str


def document_text(sections: list[Section]) -> str:
    return SECTION_SEPARATOR.join(s.text for s in sections)


def chunk_document(
    doc: LoadedDocument, size: int = CHUNK_SIZE, overlap: int = CHUNK_OVERLAP
) -> list[Chunk]:
    if size < 50:
        raise ValueError("chunk size must be at least 50 characters")
    overlap = max(0, min(overlap, size // 2))
    full = document_text(doc.sections)
    chunks: list[Chunk] = []
    for group, offset in _section_groups(doc.sections, size):
        first = group[0]
        context = " > ".join(part for part in (doc.title, first.heading) if part)
        header = _table_header(first)
        units = list(_units(group, offset, size))
        for i, (start, end) in enumerate(_pack(units, size, overlap)):
            chunk_context = f"{context}\n{header}".strip() if header and i > 0 else context
            chunks.append(
                Chunk(full[start:end], start, end, first.page, first.heading, chunk_context)
            )
    return chunks


def _section_groups(sections: list[Section], size: int) -> Iterator[tuple[list[Section], int]]:
    """Consecutive sections with the same page, heading and kind, packed while they fit."""
    offset = 0
    group: list[Section] = []
    group_offset = 0
    group_len = 0
    for section in sections:
        joinable = (
            group
            and section.page == group[0].page
            and section.heading == group[0].heading
            and section.kind == group[0].kind
            and group_len + len(SECTION_SEPARATOR) + len(section.text) <= size
        )
        if group and not joinable:
            yield group, group_offset
            group = []
        if not group:
            group_offset, group_len = offset, -len(SECTION_SEPARATOR)
        group.append(section)
        group_len += len(SECTION_SEPARATOR) + len(section.text)
        offset += len(section.text) + len(SECTION_SEPARATOR)
    if group:
        yield group, group_offset


_TEXT_START = re.compile(r"[^\n]")
_ROW = re.compile(r"[^\n]+")
_SENTENCE = re.compile(r".+?(?:[.!?;:](?=\s)|。|$)\s*", re.DOTALL)


def _units(group: list[Section], offset: int, size: int) -> Iterator[tuple[int, int]]:
    """(start, end) spans of paragraphs or rows, each at most ``size`` long."""
    for section in group:
        spans = (
            ((m.start(), m.end()) for m in _ROW.finditer(section.text))
            if section.kind == "table"
            else _paragraphs(section.text)
        )
        for start, end in spans:
            yield from _split_long(section.text, start, end, offset, size)
        offset += len(section.text) + len(SECTION_SEPARATOR)


def _paragraphs(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each paragraph: a run of text without a blank line, from its first
    character that is not a newline. Found with ``str.find``, in linear time and constant
    memory (the regular expression this replaces, ``[^\\n](?:[^\\n]|\\n(?!\\n))*``, kept
    a backtracking frame per character: 1.2 GB for one paragraph of 10 MB)."""
    position = 0
    while (found := _TEXT_START.search(text, position)) is not None:
        start = found.start()
        end = text.find("\n\n", start)
        position = end = len(text) if end < 0 else end
        yield start, end


def _split_long(
    text: str, start: int, end: int, offset: int, size: int
) -> Iterator[tuple[int, int]]:
    if end - start <= size:
        yield offset + start, offset + end
        return
    for sentence in _SENTENCE.finditer(text, start, end):
        s, e = sentence.start(), sentence.end()
        while e > s and text[e - 1].isspace():
            e -= 1
        while e - s > size:
            cut = text.rfind(" ", s + size // 2, s + size)
            cut = cut if cut > s else s + size
            yield offset + s, offset + cut
            s = cut
            while s < e and text[s].isspace():
                s += 1
        if e > s:
            yield offset + s, offset + e


def _pack(units: list[tuple[int, int]], size: int, overlap: int) -> Iterator[tuple[int, int]]:
    """Greedy packing of units into spans of at most ``size``, sharing up to ``overlap``;
    a short tail is packed with the span before it (up to ``size + size // TAIL``)."""
    i = 0
    while i < len(units):
        j = i + 1
        while j < len(units) and units[j][1] - units[i][0] <= size:
            j += 1
        end = units[-1][1]
        if (
            j < len(units)
            and end - units[j][0] <= size // TAIL
            and end - units[i][0] <= size + size // TAIL
        ):
            j = len(units)
        yield units[i][0], units[j - 1][1]
        if j >= len(units):
            return
        k = j
        while k - 1 > i and units[j - 1][1] - units[k - 1][0] <= overlap:
            k -= 1
        i = k


def _table_header(section: Section) -> str:
    if section.kind != "table":
        return ""
    return section.text.split("\n", 1)[0]


def embedding_text(context: str, text: str) -> str:
    """What the embedding model sees for a chunk: its context line, then its text."""
    return f"{context}\n{text}" if context else text

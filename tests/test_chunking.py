from __future__ import annotations

import itertools
import random
import tracemalloc

import pytest

from sabio.chunking import TAIL, chunk_document, document_text
from sabio.loaders import LoadedDocument, Section


def _doc(*sections: Section, title: str = "Title") -> LoadedDocument:
    return LoadedDocument(list(sections), title)


def test_every_chunk_is_an_exact_slice_within_size() -> None:
    rng = random.Random(7)
    words = "la canción del verano es bonita. the quick brown fox jumps! 東京は大きい。".split()
    sections = [
        Section(
            "\n\n".join(" ".join(rng.choices(words, k=rng.randint(3, 300))) for _ in range(4)),
            page=p,
        )
        for p in range(1, 8)
    ]
    doc = _doc(*sections)
    full = document_text(doc.sections)
    chunks = chunk_document(doc, size=300, overlap=60)
    covered = [False] * len(full)
    for chunk in chunks:
        assert full[chunk.start : chunk.end] == chunk.text
        assert 0 < len(chunk.text) <= 300 + 300 // TAIL
        covered[chunk.start : chunk.end] = [True] * (chunk.end - chunk.start)
    assert all(c or full[i].isspace() for i, c in enumerate(covered))


def test_a_short_tail_stays_with_its_paragraph() -> None:
    sentences = [f"Sentence number {i} of a long paragraph about lighthouses." for i in range(20)]
    paragraph = " ".join(sentences)  # 1,149 characters
    chunks = chunk_document(_doc(Section(paragraph)), size=1000, overlap=150)
    assert [c.text for c in chunks] == [paragraph]
    # a longer tail is a chunk of its own, and no chunk passes the size by more than a quarter
    longer = " ".join(sentences * 2)
    chunks = chunk_document(_doc(Section(longer)), size=1000, overlap=150)
    assert len(chunks) == 3
    assert all(len(c.text) <= 1250 for c in chunks)
    assert chunks[-1].end == len(longer)


def test_chunks_keep_pages_and_never_span_two() -> None:
    doc = _doc(Section("first page text", page=1), Section("second page text", page=2))
    chunks = chunk_document(doc, size=1000)
    assert [(c.page, c.text) for c in chunks] == [(1, "first page text"), (2, "second page text")]


def test_small_sections_under_one_heading_are_packed_together() -> None:
    doc = _doc(Section("one", heading="A"), Section("two", heading="A"), Section("x", heading="B"))
    chunks = chunk_document(doc, size=1000)
    assert [c.text for c in chunks] == ["one\n\ntwo", "x"]
    assert chunks[0].context == "Title > A"


def test_overlap_repeats_whole_paragraphs() -> None:
    paragraphs = [f"paragraph {i} " + "word " * 15 for i in range(10)]
    doc = _doc(Section("\n\n".join(p.strip() for p in paragraphs)))
    chunks = chunk_document(doc, size=250, overlap=100)
    assert len(chunks) > 2
    for a, b in itertools.pairwise(chunks):
        last_paragraph = a.text.split("\n\n")[-1]
        assert b.text.startswith(last_paragraph)


def test_table_rows_are_units_and_header_goes_to_context() -> None:
    rows = ["name | city"] + [f"person {i} | Bogotá" for i in range(60)]
    doc = _doc(Section("\n".join(rows), heading="Sheet1", kind="table"))
    chunks = chunk_document(doc, size=200, overlap=0)
    assert len(chunks) > 3
    for chunk in chunks:
        assert all(line.count("|") == 1 for line in chunk.text.split("\n"))
    assert chunks[0].context == "Title > Sheet1"
    assert chunks[1].context == "Title > Sheet1\nname | city"


def test_text_without_spaces_is_cut_anyway() -> None:
    doc = _doc(Section("東" * 2500))
    chunks = chunk_document(doc, size=1000, overlap=100)
    assert sum(len(c.text) for c in chunks) >= 2500
    assert all(len(c.text) <= 1000 for c in chunks)


def test_tiny_chunk_size_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        chunk_document(_doc(Section("x")), size=10)


def test_one_huge_paragraph_is_split_in_memory_proportional_to_it() -> None:
    """The issue-19 text bomb, scaled down: one paragraph of 1 MB. The regular expression
    that found paragraphs kept a backtracking frame per character (150 MB here, 1.2 GB
    for 10 MB); the chunks themselves are about 1.1 MB."""
    text = "a" * (1 << 20)
    tracemalloc.start()
    try:
        chunks = chunk_document(_doc(Section(text)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "".join(c.text for c in chunks[::2]).startswith("a" * 1200)
    assert chunks[-1].end == len(text)
    assert peak < 8 * len(text)


@pytest.mark.parametrize(
    ("text", "paragraphs"),
    [
        ("A\n\nB", ["A", "B"]),
        ("\n\nA\nA\n", ["A\nA\n"]),
        ("A\n\n\n\nB\n\n", ["A", "B"]),
        ("A\nA\n\n\nB\n", ["A\nA", "B\n"]),
        ("\n", []),
    ],
)
def test_paragraphs_end_at_a_blank_line_and_keep_single_newlines(
    text: str, paragraphs: list[str]
) -> None:
    wide = text.replace("A", "a" * 20).replace("B", "b" * 45)  # one paragraph per chunk
    chunks = chunk_document(_doc(Section(wide)), size=50, overlap=0)
    expected = [p.replace("A", "a" * 20).replace("B", "b" * 45) for p in paragraphs]
    assert [c.text for c in chunks] == expected

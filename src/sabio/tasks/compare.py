"""What changed between two documents (or two versions of one), with pages on both sides.

    compare_documents(old_pages, new_pages) ─► [Change(kind, old, new, pages, section)]

No model: the documents' sentences (as the support check splits them, so a table row is
one) are aligned in order with difflib, compared folded (case, spacing, thousands
separators aside). A run of removed sentences facing a run of added ones is paired
sentence by sentence when they are alike (a "changed" sentence, with the words that
differ), else they are removed and added. Each change names its page in each document
and the section (heading) it is in.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sabio.facts import sentences
from sabio.tasks.budget import Page

ALIKE = 0.5
"""Word overlap (difflib ratio) from which a removed and an added sentence are one change."""
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_HEADING_LINE = re.compile(r"^(#{1,6}[ \t]+[^\n]*)$", re.MULTILINE)
_FOLD = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Unit:
    text: str
    page: int | None
    section: str


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # added, removed, changed
    old: Unit | None
    new: Unit | None
    removed_words: str = ""
    added_words: str = ""

    @property
    def section(self) -> str:
        unit = self.new or self.old
        return unit.section if unit else ""


def units(pages: Sequence[Page]) -> list[Unit]:
    """The document's sentences in order, each with its page and section (the Markdown
    heading lines above it, as stored documents give them)."""
    found: list[Unit] = []
    section: list[str] = []
    for page, text in pages:
        for block in _HEADING_LINE.split(text):
            if match := _HEADING.match(block.strip()):
                depth = len(match.group(1))
                section = [*section[: depth - 1], match.group(2).strip()]
                continue
            for start, end in sentences(block):
                if body := " ".join(block[start:end].split()):
                    found.append(Unit(body, page, " > ".join(section)))
    return found


def compare_documents(old: Sequence[Page], new: Sequence[Page]) -> list[Change]:
    a, b = units(old), units(new)
    matcher = difflib.SequenceMatcher(
        None, [_fold(u.text) for u in a], [_fold(u.text) for u in b], autojunk=False
    )
    changes: list[Change] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "delete":
            changes += [Change("removed", u, None) for u in a[i1:i2]]
        elif tag == "insert":
            changes += [Change("added", None, u) for u in b[j1:j2]]
        elif tag == "replace":
            changes += _paired(a[i1:i2], b[j1:j2])
    return changes


def _paired(removed: Sequence[Unit], added: Sequence[Unit]) -> list[Change]:
    """A block of removed sentences against a block of added ones: alike pairs (in order)
    are changes, the rest removed or added where they stand."""
    changes: list[Change] = []
    j = 0
    for old in removed:
        best, best_at = 0.0, -1
        for k in range(j, min(len(added), j + 4)):  # look a few sentences ahead
            ratio = _ratio(old.text, added[k].text)
            if ratio > best:
                best, best_at = ratio, k
        if best >= ALIKE:
            changes += [Change("added", None, u) for u in added[j:best_at]]
            changes.append(_changed(old, added[best_at]))
            j = best_at + 1
        else:
            changes.append(Change("removed", old, None))
    changes += [Change("added", None, u) for u in added[j:]]
    return changes


def _changed(old: Unit, new: Unit) -> Change:
    a, b = old.text.split(), new.text.split()
    removed: list[str] = []
    added: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag in ("delete", "replace"):
            removed.append(" ".join(a[i1:i2]))
        if tag in ("insert", "replace"):
            added.append(" ".join(b[j1:j2]))
    return Change("changed", old, new, " … ".join(removed), " … ".join(added))


def _ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(
        None, a.lower().split(), b.lower().split(), autojunk=False
    ).ratio()


def _fold(text: str) -> str:
    return _FOLD.sub(" ", re.sub(r"(?<=\d)[.,](?=\d{3}\b)", "", text)).strip().casefold()

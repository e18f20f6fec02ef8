"""Each knowledge base's instructions and style: the ``kb_guide`` table and
:class:`GuideStore` (:mod:`sabio.guides` applies them to answers).

A guide is a system instruction ("answer as the firm's legal team, formal Spanish,
always give the clause number"), a glossary (terms and the wording to prefer) and a few
example question → answer pairs. It goes with its knowledge base (deleted with it,
exported with the database).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass

from sabio.errors import ConfigError
from sabio.store.connection import SqlDatabase
from sabio.store.migrations import execute_script, migration

MAX_INSTRUCTION = 4000
MAX_TERMS = 200
MAX_EXAMPLES = 10
MAX_PAIR = 2000
"""Characters one glossary entry or example (both halves) may hold."""


@migration(8)
def create_guides(db: sqlite3.Connection) -> None:
    """Knowledge bases' instructions, glossaries and examples."""
    execute_script(
        db,
        """
CREATE TABLE IF NOT EXISTS kb_guide (
    kb_id INTEGER PRIMARY KEY REFERENCES kb(id) ON DELETE CASCADE,
    instruction TEXT NOT NULL DEFAULT '',
    glossary TEXT NOT NULL DEFAULT '[]',
    examples TEXT NOT NULL DEFAULT '[]',
    updated_at REAL NOT NULL
);
""",
    )


@dataclass(frozen=True, slots=True)
class Guide:
    """``glossary``: (term, preferred wording) pairs; ``examples``: (question, answer)."""

    instruction: str = ""
    glossary: tuple[tuple[str, str], ...] = ()
    examples: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.instruction or self.glossary or self.examples)

    def checked(self) -> Guide:
        """This guide trimmed, or ConfigError saying what is too long or empty."""
        instruction = self.instruction.strip()
        if len(instruction) > MAX_INSTRUCTION:
            raise _too_long(f"the instruction is over {MAX_INSTRUCTION} characters")
        glossary = tuple(_pair(p, "glossary entry") for p in self.glossary)
        examples = tuple(_pair(p, "example") for p in self.examples)
        if len(glossary) > MAX_TERMS or len(examples) > MAX_EXAMPLES:
            raise _too_long(f"keep at most {MAX_TERMS} terms and {MAX_EXAMPLES} examples")
        return Guide(instruction, glossary, examples)


class GuideStore:
    """The guides of one database (a :class:`~sabio.store.Store`)."""

    def __init__(self, store: SqlDatabase) -> None:
        self.store = store

    def get_guide(self, kb_id: int) -> Guide:
        """The knowledge base's guide; an empty one when it has none."""
        row = self.store.db.execute(
            "SELECT instruction, glossary, examples FROM kb_guide WHERE kb_id=?", (kb_id,)
        ).fetchone()
        if row is None:
            return Guide()
        pairs = [tuple(tuple(p) for p in json.loads(column)) for column in row[1:]]
        return Guide(row[0], *pairs)

    def set_guide(self, kb_id: int, guide: Guide) -> Guide:
        """Replace the knowledge base's guide (an empty one removes it)."""
        guide = guide.checked()
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO kb_guide(kb_id, instruction, glossary, examples, updated_at)"
                " VALUES (?,?,?,?,?) ON CONFLICT (kb_id) DO UPDATE SET"
                " instruction=excluded.instruction, glossary=excluded.glossary,"
                " examples=excluded.examples, updated_at=excluded.updated_at",
                (
                    kb_id,
                    guide.instruction,
                    json.dumps(guide.glossary, ensure_ascii=False),
                    json.dumps(guide.examples, ensure_ascii=False),
                    time.time(),
                ),
            )
        return self.get_guide(kb_id)


def _pair(pair: tuple[str, str], what: str) -> tuple[str, str]:
    first, second = (" ".join(part.split()) for part in pair)
    if not first or not second:
        raise ConfigError(f"a {what} needs both of its halves", key="guide_pair_empty")
    if len(first) + len(second) > MAX_PAIR:
        raise _too_long(f"a {what} is over {MAX_PAIR} characters")
    return first, second


def _too_long(what: str) -> ConfigError:
    return ConfigError(f"{what}: shorten it", key="guide_too_long")

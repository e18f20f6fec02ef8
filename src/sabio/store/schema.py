"""The schema: every migration, in order (:mod:`sabio.store.migrations`).

1: knowledge bases, documents, chunks (:mod:`sabio.store.documents`); 2: chats and their
messages (:mod:`sabio.store.chats`); 3: user accounts, their sessions and API tokens
(:mod:`sabio.store.users`); 4: sources, what each of their items became, and background
jobs (:mod:`sabio.store.sources`); 5: knowledge bases' identifiers (``slug``,
:mod:`sabio.names`), members' access to them (``kb_member``), and chats as trees: each
message's ``parent_id`` (regenerated answers and edited questions are siblings), the
branch shown (``chat.leaf_id``), answers stopped by their reader and the claims of each
answer; 6: API tokens' scope (a browser extension's pairing gives one for its routes
only); 7: feedback on answers and the corrections among it (notes,
:mod:`sabio.store.feedback`); 8: each knowledge base's instructions and style
(:mod:`sabio.store.guides`); 9: the chart drawn with an answer computed over a table
(``message.chart``, an SVG document); 10: the security review's dismissed findings
and alerts (:mod:`sabio.store.reviews`); 11: each knowledge base's OCR languages
(``kb.ocr_languages``); 12: how each answer was made (``message.route``, the
:class:`sabio.routing.Route` as JSON); 13: whether a knowledge base reviews the files
uploaded into it (``kb.review``). A new change of the schema is a new function here
(or in the module of its tables), appended to :data:`MIGRATIONS`.
"""

from __future__ import annotations

import sqlite3

from sabio.store.chats import create_chats
from sabio.store.documents import create_documents
from sabio.store.feedback import create_feedback
from sabio.store.guides import create_guides
from sabio.store.migrations import Migration, execute_script, migration
from sabio.store.reviews import create_review_tables
from sabio.store.sources import create_sources_and_jobs
from sabio.store.users import create_users


@migration(5)
def identifiers_members_and_chat_trees(db: sqlite3.Connection) -> None:
    """Schema 5 over a database of an earlier one (over a new one it finds nothing to
    change): members' access to knowledge bases (``kb_member``), the new columns, each
    knowledge base its own name as identifier (names were identifiers until then), every
    chat's messages one branch, oldest first, and members (not admins) keep the access
    they had, to every knowledge base, as writers."""
    execute_script(
        db,
        """
CREATE TABLE IF NOT EXISTS kb_member (
    kb_id INTEGER NOT NULL REFERENCES kb(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES user(id) ON DELETE CASCADE,
    access TEXT NOT NULL CHECK (access IN ('read', 'write')),
    PRIMARY KEY (kb_id, user_id)
);
CREATE INDEX IF NOT EXISTS kb_member_user ON kb_member(user_id);
""",
    )
    added = [
        ("kb", "slug", "TEXT NOT NULL DEFAULT ''"),
        ("message", "parent_id", "INTEGER REFERENCES message(id) ON DELETE CASCADE"),
        ("message", "stopped", "INTEGER NOT NULL DEFAULT 0"),
        ("message", "claims", "TEXT NOT NULL DEFAULT '[]'"),
        ("chat", "leaf_id", "INTEGER"),
    ]
    for table, column, declaration in added:
        if column not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
    db.execute("UPDATE kb SET slug = name WHERE slug = ''")
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS kb_slug ON kb(slug)")
    db.execute(
        """UPDATE message SET parent_id = (SELECT max(p.id) FROM message p
               WHERE p.chat_id = message.chat_id AND p.id < message.id)
           WHERE parent_id IS NULL"""
    )
    db.execute(
        "UPDATE chat SET leaf_id = (SELECT max(m.id) FROM message m WHERE m.chat_id = chat.id)"
    )
    db.execute(
        "INSERT OR IGNORE INTO kb_member(kb_id, user_id, access)"
        " SELECT kb.id, user.id, 'write' FROM kb, user WHERE NOT user.admin"
    )


@migration(6)
def add_token_scope(db: sqlite3.Connection) -> None:
    """An API token's scope: "" for every route its user may call, "extension" for the
    browser extension's routes only (the token a pairing gives)."""
    if "scope" not in {row[1] for row in db.execute("PRAGMA table_info(api_token)")}:
        db.execute("ALTER TABLE api_token ADD COLUMN scope TEXT NOT NULL DEFAULT ''")


@migration(9)
def message_charts(db: sqlite3.Connection) -> None:
    """Schema 9: an answer's chart, kept with it (``message.chart``: the SVG of
    :mod:`sabio.tables.charts`, '' for none)."""
    if "chart" not in {row[1] for row in db.execute("PRAGMA table_info(message)")}:
        db.execute("ALTER TABLE message ADD COLUMN chart TEXT NOT NULL DEFAULT ''")


@migration(11)
def kb_ocr_languages(db: sqlite3.Connection) -> None:
    """Schema 11: the Tesseract language packs a knowledge base's scans are read with
    (``kb.ocr_languages``, as 'spa+eng'; '' for the ``ocr_languages`` setting's)."""
    if "ocr_languages" not in {row[1] for row in db.execute("PRAGMA table_info(kb)")}:
        db.execute("ALTER TABLE kb ADD COLUMN ocr_languages TEXT NOT NULL DEFAULT ''")


@migration(12)
def message_routes(db: sqlite3.Connection) -> None:
    """Schema 12: how an answer was made, kept with it (``message.route``: top-k passages,
    the whole document or map-reduce and the counted tokens, as JSON; '' for none)."""
    if "route" not in {row[1] for row in db.execute("PRAGMA table_info(message)")}:
        db.execute("ALTER TABLE message ADD COLUMN route TEXT NOT NULL DEFAULT ''")


@migration(13)
def kb_review(db: sqlite3.Connection) -> None:
    """Schema 13: whether the files uploaded into a knowledge base are reviewed as they
    arrive (``kb.review``, 0 or 1), as a source's ``review`` option does for its items."""
    if "review" not in {row[1] for row in db.execute("PRAGMA table_info(kb)")}:
        db.execute("ALTER TABLE kb ADD COLUMN review INTEGER NOT NULL DEFAULT 0")


MIGRATIONS: tuple[Migration, ...] = (
    create_documents,
    create_chats,
    create_users,
    create_sources_and_jobs,
    identifiers_members_and_chat_trees,
    add_token_scope,
    create_feedback,
    create_guides,
    message_charts,
    create_review_tables,
    kb_ocr_languages,
    message_routes,
    kb_review,
)
SCHEMA_VERSION = MIGRATIONS[-1].number
"""The number of the last migration (kept in ``PRAGMA user_version`` too, and in exports)."""
assert [m.number for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))

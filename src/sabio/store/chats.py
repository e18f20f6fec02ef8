"""The chats and their messages (what :mod:`sabio.chats` reads and writes).

A chat names its knowledge base (``kb_name``) instead of referring to its row: a
knowledge base deleted with ``keep_chats`` leaves its chats readable. ``user_id`` is the
chat's owner when the server requires login; NULL is the single local user.
"""

from __future__ import annotations

import sqlite3

from sabio.store.migrations import execute_script, migration


@migration(2)
def create_chats(db: sqlite3.Connection) -> None:
    """Chats and their messages."""
    execute_script(
        db,
        """
CREATE TABLE IF NOT EXISTS chat (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER,
    title TEXT NOT NULL DEFAULT '',
    kb_name TEXT,
    model TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    leaf_id INTEGER
);
CREATE INDEX IF NOT EXISTS chat_updated ON chat(updated_at);
CREATE TABLE IF NOT EXISTS message (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id INTEGER NOT NULL REFERENCES chat(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content TEXT NOT NULL,
    citations TEXT NOT NULL DEFAULT '[]',
    complete INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL,
    parent_id INTEGER REFERENCES message(id) ON DELETE CASCADE,
    stopped INTEGER NOT NULL DEFAULT 0,
    claims TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS message_chat ON message(chat_id);
""",
    )

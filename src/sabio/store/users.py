"""User accounts, their sessions and API tokens, and members' access to knowledge bases
(what :mod:`sabio.users` reads and writes). Sessions and tokens are kept as SHA-256
digests only, passwords as scrypt hashes.
"""

from __future__ import annotations

import sqlite3

from sabio.store.migrations import execute_script, migration


@migration(3)
def create_users(db: sqlite3.Connection) -> None:
    """Accounts, sessions, API tokens."""
    execute_script(
        db,
        """
CREATE TABLE IF NOT EXISTS user (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    admin INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS session (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES user(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    csrf_token TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS session_user ON session(user_id);
CREATE TABLE IF NOT EXISTS api_token (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES user(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    last_used_at REAL
);
CREATE INDEX IF NOT EXISTS api_token_user ON api_token(user_id);
CREATE INDEX IF NOT EXISTS chat_user ON chat(user_id);
""",
    )

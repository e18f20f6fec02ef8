"""Sources that keep a knowledge base current, what each of their items became, and the
background jobs (what :mod:`sabio.sources` and :mod:`sabio.jobs` read and write).
"""

from __future__ import annotations

import sqlite3

from sabio.store.migrations import execute_script, migration


@migration(4)
def create_sources_and_jobs(db: sqlite3.Connection) -> None:
    """Sources, their items, jobs."""
    execute_script(
        db,
        """
CREATE TABLE IF NOT EXISTS source (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kb_id INTEGER NOT NULL REFERENCES kb(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    location TEXT NOT NULL,
    options TEXT NOT NULL DEFAULT '{}',
    secret BLOB,
    state TEXT NOT NULL DEFAULT '{}',
    interval_s REAL,
    created_at REAL NOT NULL,
    last_sync_at REAL,
    next_sync_at REAL,
    last_error TEXT NOT NULL DEFAULT '',
    UNIQUE (kb_id, kind, location)
);
CREATE TABLE IF NOT EXISTS source_item (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id INTEGER NOT NULL REFERENCES source(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    document_id INTEGER,
    status TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    etag TEXT,
    last_modified TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    changed_at REAL NOT NULL,
    checked_at REAL NOT NULL,
    UNIQUE (source_id, key)
);
CREATE TABLE IF NOT EXISTS job (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    source_id INTEGER REFERENCES source(id) ON DELETE CASCADE,
    payload TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    run_after REAL NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER,
    message TEXT NOT NULL DEFAULT '',
    counts TEXT NOT NULL DEFAULT '{}',
    error TEXT NOT NULL DEFAULT '',
    owner TEXT,
    heartbeat_at REAL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS job_status ON job(status, run_after);
CREATE INDEX IF NOT EXISTS job_source ON job(source_id);
""",
    )

"""`kill -9` in the middle of `sabio add`, with the real CLI and the real embedded model."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import need_data

pytestmark = pytest.mark.slow


def _sabio(home: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SABIO_HOME": str(home),
        "SABIO_EMBEDDING_MODEL": "embedded:all-minilm-l6-v2",
    }
    env.pop("OLLAMA_HOST", None)
    return subprocess.Popen(
        [sys.executable, "-m", "sabio", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _write_version(folder: Path, abstracts: list[dict[str, str]], tag: str) -> None:
    for doc in abstracts:
        sentences = re.split(r"(?<=[.!?]) ", doc["text"]) * 2
        text = "\n\n".join(f"{tag} {s}" for s in [doc["title"], *sentences])
        (folder / f"{doc['_id']}.txt").write_text(text, encoding="utf-8")


def _wait_for(db: Path, sql: str, at_least: int, proc: subprocess.Popen[bytes]) -> None:
    """Until ``sql`` counts ``at_least``; a process that never gets there is killed (on a
    busy machine of 2 cores a sync of 600 files takes minutes: the bound is generous)."""
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    if conn.execute(sql).fetchone()[0] >= at_least:
                        return
            except sqlite3.OperationalError:
                pass
        time.sleep(0.05)
    proc.kill()
    proc.communicate()
    pytest.fail(f"never saw {at_least} rows for {sql!r} (exit {proc.poll()})")


def test_kill_during_replace_leaves_each_document_whole(tmp_path: Path) -> None:
    corpus = need_data("beir_scifact", "corpus.jsonl")
    with corpus.open(encoding="utf-8") as f:
        abstracts = [json.loads(next(f)) for _ in range(240)]
    folder, home = tmp_path / "docs", tmp_path / "home"
    folder.mkdir()
    _write_version(folder, abstracts, "VERSIONA")
    first = _sabio(home, "add", str(folder))
    _, errors = first.communicate(timeout=600)
    assert first.returncode == 0, errors.decode()

    _write_version(folder, abstracts, "VERSIONB")
    db = home / "sabio.db"
    proc = _sabio(home, "add", str(folder))
    _wait_for(db, "SELECT count(*) FROM chunk WHERE text LIKE 'VERSIONB%'", 1, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()  # returns only once the workers, which hold its pipes, are gone too

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        orphans = "SELECT count(*) FROM chunk WHERE document_id NOT IN (SELECT id FROM document)"
        assert conn.execute(orphans).fetchone()[0] == 0
        rows = conn.execute(
            "SELECT d.id, d.chunk_count, count(c.id), group_concat(DISTINCT substr(c.text, 1, 8))"
            " FROM document d LEFT JOIN chunk c ON c.document_id = d.id GROUP BY d.id"
        ).fetchall()
    assert len(rows) == len(abstracts)
    versions = set()
    for _, declared, actual, tags in rows:
        assert declared == actual > 0
        assert tags in ("VERSIONA", "VERSIONB"), "a document mixes two versions"
        versions.add(tags)
    assert versions == {"VERSIONA", "VERSIONB"}, (
        "the kill did not land mid-run; make the run longer"
    )

    rerun = _sabio(home, "add", str(folder), "--json")
    out, rerun_errors = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, (out + rerun_errors).decode()[-3000:]
    outcomes = {r["outcome"] for r in json.loads(out)}
    assert outcomes <= {"updated", "unchanged"}
    with sqlite3.connect(db) as conn:
        left = conn.execute("SELECT count(*) FROM chunk WHERE text LIKE 'VERSIONA%'").fetchone()[0]
    assert left == 0


def test_a_worker_killed_mid_sync_resumes_and_indexes_nothing_twice(tmp_path: Path) -> None:
    """`sabio worker` syncing a watched folder is killed with -9 after some documents
    were written; the next worker takes the job up again, finishes it, and leaves
    every file indexed exactly once, the ones written before the kill untouched."""
    corpus = need_data("beir_scifact", "corpus.jsonl")
    with corpus.open(encoding="utf-8") as f:
        abstracts = [json.loads(next(f)) for _ in range(600)]
    folder = tmp_path / "docs"
    folder.mkdir()
    _write_version(folder, abstracts, "v1")
    home = tmp_path / "home"
    db = home / "sabio.db"
    added = _sabio(home, "source", "add", "folder", str(folder))
    assert added.communicate(timeout=120)[1] == b"" and added.returncode == 0
    first = _sabio(home, "worker")
    _wait_for(db, "SELECT count(*) FROM document WHERE status='indexed'", 1, first)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    with sqlite3.connect(db) as conn:
        before = dict(conn.execute("SELECT source, updated_at FROM document").fetchall())
        job = conn.execute("SELECT status, attempts FROM job").fetchone()
    assert 0 < len(before) < len(abstracts), "the kill came too late to test a resume"
    assert job == ("running", 1)

    second = _sabio(home, "worker")
    _wait_for(db, "SELECT count(*) FROM job WHERE status='done'", 1, second)
    second.send_signal(signal.SIGTERM)
    second.communicate(timeout=60)
    assert second.returncode == 0
    with sqlite3.connect(db) as conn:
        after = dict(conn.execute("SELECT source, updated_at FROM document").fetchall())
        total = conn.execute("SELECT count(*) FROM document").fetchone()[0]
        per_file = conn.execute(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM chunk GROUP BY document_id, ord)"
        ).fetchone()[0]
        job = conn.execute("SELECT status, attempts FROM job").fetchone()
        items = conn.execute("SELECT count(*), count(DISTINCT key) FROM source_item").fetchone()
    assert total == len(after) == len(abstracts)
    assert per_file == 1  # no passage twice
    assert job == ("done", 2)
    assert items == (len(abstracts), len(abstracts))
    assert all(after[source] == when for source, when in before.items())  # not redone

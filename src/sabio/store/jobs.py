"""Background jobs, kept in the database (the ``job`` table, created by migration 4):
they survive a restart and a killed process.

A job is a sync of one source (all of it, or only the paths a watcher saw change), files
to add to a knowledge base (uploads that a stopped server had not indexed), a
whole-document task (:mod:`sabio.tasks.jobs`: a summary, a translation…), a report, or
the delivery of a task's result to a webhook (:mod:`sabio.sources.automation`). It is
``queued`` until a worker claims it (``sabio serve`` or ``sabio worker``: claiming is one
atomic UPDATE, so two workers never run the same job; on PostgreSQL its SELECT takes
``FOR UPDATE SKIP LOCKED``, so workers on several machines claim at once, each passing
over the rows another holds), ``running`` while the worker
beats its heartbeat, then ``done`` or, after its last attempt, ``failed``, with the error
kept for the user to read. A failed attempt is tried again later, each wait four times
the last (:data:`RETRY_DELAYS_S`). A job may be ``cancelled`` while queued or running:
a running one's worker sees it at its next heartbeat and stops (a task's model at its
next word), and nothing it finishes afterwards changes that.

A worker killed mid-job stops beating; once its heartbeat is :data:`STALE_AFTER_S` old
(or at once, when it was this machine's process and that process is gone) the job is
claimed again and runs from the start. That is safe because a sync is idempotent: every
document is written whole in its own transaction and what is already indexed is
recognised as unchanged, so the second run does only what the first did not finish.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sabio.errors import NotFoundError
from sabio.store.connection import SqlDatabase

RETRY_DELAYS_S = (15.0, 60.0, 240.0, 960.0)
"""Waits before the 2nd, 3rd… attempts; after the last one the job is left failed."""
STALE_AFTER_S = 60.0
HEARTBEAT_S = 5.0
KEEP_FINISHED_S = 7 * 86400.0
"""Finished jobs are listed for a week, then forgotten."""


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: str
    source_id: int | None
    payload: dict[str, Any]
    status: str  # queued | running | done | failed | cancelled
    attempts: int
    run_after: float
    done: int
    total: int | None
    message: str
    counts: dict[str, int]
    """What a finished sync did: items by outcome (added, updated, unchanged…)."""
    error: str
    owner: str | None
    heartbeat_at: float | None
    created_at: float
    started_at: float | None
    finished_at: float | None


_COLUMNS = """id, kind, source_id, payload, status, attempts, run_after, done, total, message,
    counts, error, owner, heartbeat_at, created_at, started_at, finished_at"""


def this_process() -> str:
    """Who a worker is: host name and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


class JobQueue:
    def __init__(self, store: SqlDatabase, owner: str | None = None) -> None:
        self.store = store
        self.owner = owner or this_process()
        self._row_lock = store.row_lock

    def enqueue_sync(self, source_id: int, paths: list[str] | None = None) -> Job:
        """Queue a sync of the source (of ``paths`` only, when given). A sync of the same
        source that is still queued takes the new paths instead (a full sync covers all)."""
        now = time.time()
        with self.store.transaction() as db:
            row = db.execute(
                "SELECT id, payload FROM job WHERE kind='sync' AND source_id=?"
                " AND status='queued' AND attempts=0 ORDER BY id LIMIT 1",
                (source_id,),
            ).fetchone()
            if row is not None:
                old = json.loads(row[1]).get("paths")
                merged = None if old is None or paths is None else sorted({*old, *paths})
                db.execute(
                    "UPDATE job SET payload=?,"
                    " run_after=CASE WHEN run_after < ? THEN run_after ELSE ? END WHERE id=?",
                    (json.dumps({} if merged is None else {"paths": merged}), now, now, row[0]),
                )
                job_id = int(row[0])
            else:
                payload = {} if paths is None else {"paths": sorted(set(paths))}
                job_id = int(
                    db.execute(
                        "INSERT INTO job(kind, source_id, payload, status, run_after, created_at)"
                        " VALUES ('sync', ?, ?, 'queued', ?, ?) RETURNING id",
                        (source_id, json.dumps(payload), now, now),
                    ).fetchone()[0]
                )
        return self.get(job_id)

    def enqueue_ingest(
        self, kb_name: str, paths: list[str], *, ocr: bool = False, transcribe: bool = False
    ) -> Job:
        """Queue adding files to a knowledge base (what a stopped server left unindexed);
        ``ocr``: reading them again for the scanned pages their first reading left;
        ``transcribe``: a recording an upload left for this job."""
        flags = {"ocr": ocr, "transcribe": transcribe}
        payload = json.dumps(
            {"kb": kb_name, "paths": sorted(paths), **{k: True for k, v in flags.items() if v}}
        )
        return self._enqueue("ingest", payload)

    def enqueue_task(self, payload: dict[str, Any]) -> Job:
        """Queue a whole-document task (``payload``: what :mod:`sabio.tasks.jobs` runs)."""
        return self._enqueue("task", json.dumps(payload))

    def enqueue_delivery(self, payload: dict[str, Any]) -> Job:
        """Queue posting a finished task's result to a webhook (``payload``: the task's
        job id, where, and what to say; :mod:`sabio.sources.automation`)."""
        return self._enqueue("deliver", json.dumps(payload, ensure_ascii=False))

    def enqueue_report(
        self, kb_name: str, delivery: dict[str, Any], run_after: float | None = None
    ) -> Job:
        """Queue a report over a knowledge base's tables (:mod:`sabio.tables.report`):
        ``delivery`` says where it goes (``folder``), its ``format`` and ``language``, and
        every how many seconds it is made again (``every``; 0: once)."""
        payload = json.dumps({"kb": kb_name, **delivery}, ensure_ascii=False)
        return self._enqueue("report", payload, run_after)

    def _enqueue(self, kind: str, payload: str, run_after: float | None = None) -> Job:
        now = time.time()
        with self.store.transaction() as db:
            job_id = int(
                db.execute(
                    "INSERT INTO job(kind, payload, status, run_after, created_at)"
                    " VALUES (?, ?, 'queued', ?, ?) RETURNING id",
                    (kind, payload, now if run_after is None else run_after, now),
                ).fetchone()[0]
            )
        return self.get(job_id)

    def cancel(self, job_id: int) -> Job:
        """Cancel a queued or running job (a finished one is left as it is)."""
        now = time.time()
        self.store.db.execute(
            "UPDATE job SET status='cancelled', finished_at=?, message='cancelled'"
            " WHERE id=? AND status IN ('queued', 'running')",
            (now, job_id),
        )
        return self.get(job_id)

    def cancel_reports(self, kb_name: str) -> int:
        """Drop a knowledge base's reports still waiting to be made; how many there were."""
        with self.store.transaction() as db:
            rows = db.execute(
                "SELECT id, payload FROM job WHERE kind='report' AND status='queued'"
            ).fetchall()
            ids = [row[0] for row in rows if json.loads(row[1]).get("kb") == kb_name]
            for job_id in ids:  # the payload read here, not by SQL: any backend's JSON
                db.execute("DELETE FROM job WHERE id=?", (job_id,))
        return len(ids)

    def get(self, job_id: int) -> Job:
        row = self.store.db.execute(f"SELECT {_COLUMNS} FROM job WHERE id=?", (job_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no job {job_id}")
        return _job(row)

    def recent(self, source_id: int | None = None, limit: int = 50) -> list[Job]:
        """The latest jobs first, of one source or all."""
        rows = self.store.db.execute(
            f"SELECT {_COLUMNS} FROM job WHERE ? IS NULL OR source_id = ? ORDER BY id DESC LIMIT ?",
            (source_id, source_id, limit),
        ).fetchall()
        return [_job(r) for r in rows]

    def claim(self) -> Job | None:
        """The next job to run, now owned by this worker: a queued one that is due, or a
        running one whose worker died."""
        now = time.time()
        with self.store.transaction() as db:
            self._release_dead(db, now)
            row = db.execute(
                f"""UPDATE job SET status='running', owner=?, heartbeat_at=?,
                        started_at=?, attempts=attempts+1, message='starting'
                    WHERE id = (SELECT id FROM job WHERE status='queued' AND run_after<=?
                                ORDER BY run_after, id LIMIT 1{self._row_lock})
                    RETURNING {_COLUMNS}""",
                (self.owner, now, now, now),
            ).fetchone()
        return _job(row) if row else None

    def _release_dead(self, db: Any, now: float) -> None:
        """Put back the running jobs of workers that are gone: silent too long, or a
        process of this machine that no longer exists."""
        host = socket.gethostname()
        for job_id, owner, beat in db.execute(
            f"SELECT id, owner, heartbeat_at FROM job WHERE status='running'{self._row_lock}"
        ).fetchall():
            gone = beat is None or beat < now - STALE_AFTER_S
            name, _, pid = str(owner).rpartition(":")
            if not gone and name == host and pid.isdigit() and owner != self.owner:
                gone = not _alive(int(pid))
            if gone:
                db.execute(
                    "UPDATE job SET status='queued', owner=NULL, run_after=?,"
                    " message='resumed after its worker stopped' WHERE id=?",
                    (now, job_id),
                )

    def heartbeat(self, job_id: int, done: int, total: int | None, message: str) -> None:
        self.store.db.execute(
            "UPDATE job SET heartbeat_at=?, done=?, total=?, message=?"
            " WHERE id=? AND owner=? AND status='running'",
            (time.time(), done, total, message, job_id, self.owner),
        )

    def finish(self, job: Job, message: str = "done", counts: dict[str, int] | None = None) -> None:
        now = time.time()
        self.store.db.execute(
            "UPDATE job SET status='done', finished_at=?, heartbeat_at=?, message=?, counts=?,"
            " error='' WHERE id=? AND status != 'cancelled'",
            (now, now, message, json.dumps(counts or {}), job.id),
        )
        self._forget_old(now)

    def fail(
        self,
        job: Job,
        error: str,
        *,
        retry: bool = True,
        delays: Sequence[float] = RETRY_DELAYS_S,
    ) -> bool:
        """Record a failed attempt; True when it will be tried again, after the next of
        ``delays`` (never when not ``retry``: a task someone waits for says at once why it
        failed)."""
        now = time.time()
        retry = retry and job.attempts <= len(delays)
        if retry:
            delay = delays[job.attempts - 1]
            self.store.db.execute(
                "UPDATE job SET status='queued', owner=NULL, run_after=?, error=?, message=?"
                " WHERE id=? AND status != 'cancelled'",
                (
                    now + delay,
                    error,
                    f"attempt {job.attempts} failed; retrying in {delay:.0f} s",
                    job.id,
                ),
            )
        else:
            self.store.db.execute(
                "UPDATE job SET status='failed', finished_at=?, error=?, message=?"
                " WHERE id=? AND status != 'cancelled'",
                (now, error, f"failed after {job.attempts} attempts", job.id),
            )
        return retry

    def next_due(self) -> float | None:
        row = self.store.db.execute(
            "SELECT min(run_after) FROM job WHERE status='queued'"
        ).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def _forget_old(self, now: float) -> None:
        self.store.db.execute(
            "DELETE FROM job WHERE status IN ('done', 'failed', 'cancelled') AND finished_at < ?",
            (now - KEEP_FINISHED_S,),
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _job(row: Any) -> Job:
    values = list(row)
    values[3] = json.loads(values[3])
    values[10] = json.loads(values[10])
    return Job(*values)

"""The worker: runs the jobs queue, watches folders, syncs sources on their schedule.

``sabio serve`` runs one in a thread beside the web server; ``sabio worker`` runs one
alone. Several may run over one data directory (claiming a job is atomic), and a job
a killed worker left behind is taken up again (see :mod:`sabio.jobs`).

While nothing changes it costs next to nothing: folder watchers sleep in the kernel's
change notification (inotify), mailbox watchers in IMAP IDLE (the server tells when mail
arrives), and the loop wakes every :data:`POLL_S` seconds to look
for jobs and sources added by another process (one indexed query each).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sabio.errors import ConfigError, NotFoundError, SabioError
from sabio.ingest import FileResult, IngestReport
from sabio.jobs import HEARTBEAT_S, Job, JobQueue
from sabio.loaders import ReadProgress
from sabio.service import Sabio
from sabio.sources import Source, SourceWatch, automation
from sabio.sources.kinds import SourceKind, source_kind
from sabio.sources.run import SyncRun, Tally
from sabio.store.registry import StoreOptions, open_store
from sabio.tasks.budget import TaskCancelled
from sabio.tasks.jobs import load_result, run_task, save_result, task_payload

log = logging.getLogger(__name__)

POLL_S = 2.0
WATCH_S = 0.5
"""How soon a running job's progress is shown and its cancel seen (a task's first "part 1
of 12" within 2 s of queueing it, the model stopped within 2 s of Cancel: bench/tasks.py)."""
KEEP_REMOVED_S = 30 * 86400.0
"""Items removed from a source are listed (with why) for a month, then forgotten."""


class Worker:
    """``sabio`` is the service whose connection writes documents (the server gives the
    worker one of its own, sharing the index and models); the queue and the watchers
    use a connection per thread of their own."""

    def __init__(self, sabio: Sabio, *, watch: bool = True) -> None:
        self.sabio = sabio
        self.watch = watch
        settings = sabio.settings
        self.store = open_store(
            settings.database_url,
            settings.database_path,
            StoreOptions(
                per_thread=True, pool_size=settings.database_pool_size, alongside=sabio.store
            ),
        )
        self.queue = JobQueue(self.store)
        self.sources = self.store.sources
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._watches: dict[int, tuple[str, SourceWatch]] = {}
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> None:
        """Run in a thread of its own until :meth:`stop`."""
        self._thread = threading.Thread(target=self.run, name="sabio worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for _, watch in self._watches.values():
            watch.stop()
        self._watches.clear()
        self.store.close()

    def run(self) -> None:
        """The loop: sync every source once, then run jobs and schedules until stopped."""
        self.reconcile()
        while not self._stop.is_set():
            try:
                self.tick()
                if self._run_one():
                    continue
                wait = self._idle_wait()
            except Exception:  # a bug, or the database unreadable: log it, keep going
                log.error("the worker's loop failed:\n%s", traceback.format_exc())
                wait = POLL_S
            self._wake.wait(wait)
            self._wake.clear()

    def wake(self) -> None:
        self._wake.set()

    # the parts of the loop

    def reconcile(self) -> None:
        """Queue a full sync of every source that can change by itself (every kind but
        webhooks): what changed while no worker ran is picked up at once."""
        for source in self.sources.find():
            if (kind := _kind_of(source)) is not None and kind.fetches:
                self.queue.enqueue_sync(source.id)

    def tick(self) -> None:
        """Queue the syncs that are due; watch the folders and mailboxes there are."""
        now = time.time()
        for source in self.sources.due(now):
            self.sources.schedule(source.id, None)
            self.queue.enqueue_sync(source.id)
        if self.watch:
            self._update_watches(self.sources.find())

    def run_pending(self) -> int:
        """Run every job that is due now, in this thread; how many ran (for tests and
        `sabio source sync --wait`)."""
        ran = 0
        self.tick()
        while self._run_one():
            ran += 1
        return ran

    def _idle_wait(self) -> float:
        due = self.queue.next_due()
        if due is None:
            return POLL_S
        return max(0.05, min(POLL_S, due - time.time()))

    def _update_watches(self, sources: list[Source]) -> None:
        """A watcher per source of a watchable kind: a folder (filesystem events), a
        mailbox (IMAP IDLE)."""
        wanted = {s.id: s for s in sources if (kind := _kind_of(s)) is not None and kind.watchable}
        for source_id in list(self._watches):
            source = wanted.get(source_id)
            if source is None or _identity(source) != self._watches[source_id][0]:
                self._watches.pop(source_id)[1].stop()
        for source_id, source in wanted.items():
            if source_id not in self._watches:
                on_change = functools.partial(self._changed, source_id)
                try:
                    watch = self._watch(source, on_change)
                except SabioError as exc:  # e.g. the password's key is gone: syncs say so
                    log.warning("cannot watch %s: %s", source.describe(), exc)
                    watch = _NoWatch(source.describe())  # until the source changes
                watch.start()
                self._watches[source_id] = (_identity(source), watch)

    def _watch(self, source: Source, on_change: Callable[[list[str]], None]) -> SourceWatch:
        kind = source_kind(source.kind)
        assert kind.watch is not None
        password = self.sabio.source_password(source.id) if kind.secret == "password" else ""
        return kind.watch(source, password, on_change)

    def _changed(self, source_id: int, paths: list[str]) -> None:
        """A watcher saw changes: sync those paths (none given: the whole source)."""
        self.queue.enqueue_sync(source_id, paths or None)
        self.wake()

    def _run_one(self) -> bool:
        job = self.queue.claim()
        if job is None:
            return False
        self._run(job)
        return True

    def _run(self, job: Job) -> None:
        if job.kind == "task":
            self._run_task(job)
            return
        if job.kind == "deliver":
            self._deliver(job)
            return
        source = None
        if job.kind == "sync":
            try:
                source = self.sources.get(job.source_id or 0)
            except NotFoundError:
                self.queue.finish(job, "the source was removed")
                return
        what = source.describe() if source else f"{job.kind} of {job.payload.get('kb')}"
        beating = _Heartbeat(self.queue, job)
        arrived: list[int] = []
        try:
            if source is not None:
                run = self._sync(source, job, beating)
                tally, arrived = run.tally, run.arrived
            elif job.kind == "report":
                tally = self._report(job)
            else:
                tally = self._ingest(job, beating)
        except SabioError as exc:
            error = str(exc)
        except Exception as exc:  # a bug: keep the worker alive, log it, show it
            log.error("job %d (%s) failed:\n%s", job.id, what, traceback.format_exc())
            error = f"internal error ({type(exc).__name__}: {exc}); see the log"
        else:
            if source is not None:
                self.sources.synced(source)
                self.sources.forget_removed(source.id, time.time() - KEEP_REMOVED_S)
                self._on_new(source, arrived)
            self.queue.finish(job, str(tally), tally.counts)
            return
        finally:
            beating.stop()
        if source is not None:
            self.sources.synced(source, error)
        self.queue.fail(job, error)

    def _run_task(self, job: Job) -> None:
        """A whole-document task (:mod:`sabio.tasks.jobs`): its result kept, the job done;
        cancelled (seen by the heartbeat), it stops at the model's next word; failed, it
        is not tried again (someone is waiting to read why)."""
        beating = _Heartbeat(self.queue, job)
        try:
            result = run_task(self.sabio, job.payload, beating.update, beating.cancelled)
            save_result(self.sabio.settings.home, job.id, result)
        except TaskCancelled:
            return
        except SabioError as exc:
            self.queue.fail(job, str(exc), retry=False)
            return
        except Exception as exc:  # a bug: keep the worker alive, log it, show it
            log.error("task job %d failed:\n%s", job.id, traceback.format_exc())
            self.queue.fail(job, f"internal error ({type(exc).__name__}: {exc}); see the log")
            return
        finally:
            beating.stop()
        message = "done"
        if on_new := job.payload.get("deliver"):
            problems = automation.write_result(on_new, result)
            message = f"done, but {'; '.join(problems)}" if problems else message
            if delivery := automation.delivery_of(on_new, job.id, job.payload["kb"]):
                posting = self.queue.enqueue_delivery(delivery)
                message += f"; posting to the webhook is job {posting.id}"
        self.queue.finish(job, message, {"documents": len(result["items"])})

    def _deliver(self, job: Job) -> None:
        """Post a finished task's result to its webhook (:func:`automation.post_result`):
        a try that may pass later is made again after the next of
        :data:`automation.DELIVERY_DELAYS_S`, the documents taken (``job.done``) not
        posted again; each failure is logged, and the result stays where it was."""
        payload, url = job.payload, job.payload["url"]
        try:
            result = load_result(self.sabio.settings.home, payload["task"])
        except NotFoundError as exc:
            self.queue.fail(job, str(exc), retry=False)
            return
        total = len(result["items"])
        beating = _Heartbeat(self.queue, job)  # a slow receiver is no dead worker
        beating.update(job.done, total, f"posting to {url}")  # what earlier tries posted

        def sent(count: int) -> None:
            beating.update(count, total, f"posted {count} of {total}")

        context = {"kb": payload["kb"], "source_id": payload.get("source_id")}
        try:
            problem, again = automation.post_result(url, result, context, start=job.done, sent=sent)
        finally:
            beating.stop()
            self.queue.heartbeat(job.id, *beating.progress)  # what a later try skips
        if not problem:
            tries = f" (try {job.attempts})" if job.attempts > 1 else ""
            self.queue.finish(job, f"delivered to {url}{tries}", {"documents": total})
            return
        delays = automation.DELIVERY_DELAYS_S
        if self.queue.fail(job, problem, retry=again, delays=delays):
            wait = f"trying again in {delays[job.attempts - 1]:.0f} s"
        else:
            wait = f"given up after {job.attempts} tries"
        log.warning("task %d's result: %s; %s (it stays at its /result)", payload["task"],
                    problem, wait)  # fmt: skip

    def _sync(self, source: Source, job: Job, beating: _Heartbeat) -> SyncRun:
        run = SyncRun(self.sabio, source, job.payload, beating.update)
        source_kind(source.kind).connector().sync(run)
        return run

    def _on_new(self, source: Source, arrived: list[int]) -> None:
        """Queue the source's task (``on_new``, :mod:`sabio.sources.automation`) for each
        document its sync brought, to be delivered where it says."""
        on_new = automation.automation_of(source.options)
        if on_new is None:
            return
        for document_id in dict.fromkeys(arrived):
            try:
                payload = task_payload(
                    self.sabio, source.kb_name, on_new["task"], [document_id], on_new["options"]
                )
            except SabioError as exc:  # gone meanwhile, or a model removed: say so
                log.warning("%s: no %s for document %d: %s", source.describe(), on_new["task"],
                            document_id, exc)  # fmt: skip
                continue
            self.queue.enqueue_task({**payload, "deliver": {**on_new, "source_id": source.id}})

    def _report(self, job: Job) -> Tally:
        """A scheduled report over a knowledge base's tables, written into its folder under
        a dated name or posted to its webhook; the next one is queued first, so that a
        failure does not end the schedule."""
        from sabio.tables.report import dated_name, post_report, write_report

        kb, every = job.payload["kb"], float(job.payload.get("every") or 0)
        if every > 0 and job.attempts == 1:  # a retry after a failure queues no second one
            self.queue.enqueue_report(kb, _delivery(job.payload), time.time() + every)
        made = self.sabio.table_report(kb, job.payload.get("language", "en"))
        now, format = datetime.now(), job.payload.get("format", "html")
        if "webhook" in job.payload:
            post_report(made, job.payload["webhook"], format, now)
            return Tally({"sent": 1})
        write_report(made, Path(job.payload["folder"]) / dated_name(kb, now, format))
        return Tally({"written": 1})

    def _ingest(self, job: Job, beating: _Heartbeat) -> Tally:
        """Files to add to a knowledge base (uploads a stopped server left unindexed)."""
        paths = [Path(p) for p in job.payload["paths"] if Path(p).exists()]
        reread = bool(job.payload.get("ocr"))
        done, doing = 0, "OCR in progress" if reread else "reading files"
        pages: tuple[int, int | None] | None = None  # a job of one file counts its reading

        def progress(
            result: FileResult | None,
            note: str,
            total: int | None = None,
            reading: ReadProgress | None = None,
        ) -> None:
            nonlocal done, pages
            done += result is not None
            if reading is not None and len(paths) == 1:  # its pages, or its seconds
                pages = (reading.done, reading.total)
            counts = pages or (done, total or len(paths))
            beating.update(*counts, note or doing)

        report = self.sabio.add(
            paths,
            job.payload["kb"],
            keep_missing=True,
            progress=progress,
            isolate=True,
            reread=reread,
        )
        if reread:
            self._review_read_again(job.payload["kb"], report)
        tally = Tally({})
        for result in report.results:
            tally.add(result.outcome)
        return tally

    def _review_read_again(self, kb_name: str, report: IngestReport) -> None:
        """An OCR job's files that lie in a folder source reviewing what arrives, or that
        were uploaded into a knowledge base whose review is on, are reviewed again, now
        with their scanned pages (their sync or upload reviewed their text pages)."""
        store = self.sabio.store
        kb = store.get_kb(kb_name)
        read = [Path(r.source) for r in report.results if r.outcome in ("added", "updated")]
        for source in self.sources.find(kb.id):
            if source.kind != "folder" or not source.options.get("review"):
                continue
            inside = [p for p in read if p.is_relative_to(source.location)]
            ids = [d.id for p in inside if (d := store.find_document(kb.id, str(p))) is not None]
            if ids:
                self.sabio.review_arrived(source, ids)
        if kb.review:
            uploads = self.sabio.uploads_folder(kb_name)
            self.sabio.review_uploaded(kb_name, [str(p) for p in read if p.is_relative_to(uploads)])


def _delivery(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k != "kb"}


class _NoWatch(SourceWatch):
    """For a source that cannot be watched (it says why when synced)."""

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


def _kind_of(source: Source) -> SourceKind[Any] | None:
    """The source's kind; None when it is no longer known (a kind of one's own that is
    not registered any more): its syncs fail and say so."""
    try:
        return source_kind(source.kind)
    except ConfigError:
        return None


def _identity(source: Source) -> str:
    """What a watcher depends on: when it changes, the watcher is made again."""
    return f"{source.location} {sorted(source.options.items())}"


class _Heartbeat:
    """Beats a job's heartbeat every :data:`HEARTBEAT_S` from a thread, with the latest
    progress, so a long step (embedding a big file) never looks like a dead worker; every
    :data:`WATCH_S` it writes new progress and looks whether the job was cancelled (then
    sets :attr:`cancelled`)."""

    def __init__(self, queue: JobQueue, job: Job) -> None:
        self.queue, self.job = queue, job
        self.progress: tuple[int, int | None, str] = (0, None, "starting")
        self.cancelled = threading.Event()
        self._beaten = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"job {job.id}", daemon=True)
        self._thread.start()

    def update(self, done: int, total: int | None, message: str) -> None:
        self.progress = (done, total, message)

    def _run(self) -> None:
        last: tuple[int, int | None, str] | None = None
        while not self._stop.wait(min(HEARTBEAT_S, WATCH_S)):
            if self._cancelled():
                self.cancelled.set()
            if self.progress != last or self._due():
                last = self.progress
                self.queue.heartbeat(self.job.id, *self.progress)
                self._beaten = time.monotonic()

    def _cancelled(self) -> bool:
        try:
            return self.queue.get(self.job.id).status == "cancelled"
        except NotFoundError:  # forgotten meanwhile (the data purged): nobody waits for it
            return True

    def _due(self) -> bool:
        return time.monotonic() - self._beaten >= HEARTBEAT_S

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

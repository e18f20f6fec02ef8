"""Reader processes: files read in worker processes, each file within a time and a memory
limit, so that one file fails alone, with its reason, and the others go on.

    ReaderPool(read, workers, limits).run(tasks) ─► (task, result, why it failed) as each ends

A reader is a process that takes one task at a time over a pipe and sends back what
``read(task, tell)`` returned; what it ``tell``s meanwhile (how far it is: "page 3 of 12")
reaches the caller at once, as ``run``'s ``on_note(task, note)``. The pool lives in the
calling thread (no thread of its own, so a forked reader never inherits a lock some other
thread held): it waits on the readers' pipes and process handles with the nearest
deadline as timeout, and

- a reader still busy at its task's deadline is killed, its task fails with "took longer
  than N s", and a new reader takes the next task;
- while it reads, a reader may take at most ``memory_mb`` MB of address space more than it
  had when the task began (Linux: ``RLIMIT_AS``, set and lifted around each task); past it
  an allocation fails, Python raises MemoryError, and the task fails with "needed more than
  N MB"; native code that does not survive a failed allocation ends the reader, as a crash;
- a reader that dies (a native library crashing on a hostile file) fails its task only.

Readers leave when the pool is done, and by themselves when their parent dies (even by
``kill -9``). Given a :class:`Keeper` (the server's), a pool leaves its idle readers there
instead, and the next pool of the same kind takes them: a page saved from the browser then
does not wait for a new process to start and import the loaders (seconds, when spawned).
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Generic, TypeVar

try:
    import resource
except ImportError:  # Windows: no memory limit
    resource = None  # type: ignore[assignment]

T = TypeVar("T")
R = TypeVar("R")

Tell = Callable[[Any], None]
"""What a reader's ``read`` calls with a note for the caller (picklable: a tuple)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Per task: ``seconds`` of wall-clock time, ``memory_mb`` of address space above what
    the reader had when the task began (enforced on Linux only)."""

    seconds: float = 120.0
    memory_mb: int = 1024

    def timed_out(self) -> str:
        return f"took longer than {self.seconds:g} s to read (the reader_timeout setting)"

    def out_of_memory(self) -> str:
        return (
            f"needed more than {self.memory_mb} MB of memory to read (the reader_memory_mb setting)"
        )

    def crashed(self) -> str:
        return "the file crashed the reader"


def start_method() -> Any:
    """``fork`` where it is safe and much cheaper (Linux, no other thread in this process:
    0.3 s less per run, most of a small batch), else ``spawn``. A forked reader never
    touches the parent's database connection, and leaves through ``os._exit``, which
    closes nothing of the parent's."""
    if sys.platform == "linux" and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


class Keeper:
    """Idle readers kept between pools, at most ``count`` of each kind (the function they
    run, their memory limit, how they were started); :meth:`close` stops them. Safe to
    share between threads: a reader is in one pool at a time."""

    def __init__(self, count: int = 1) -> None:
        self.count = count
        self._idle: dict[tuple[str, int, str], list[_Reader]] = {}
        self._lock = threading.Lock()

    def take(self, pool: ReaderPool[Any, Any]) -> _Reader | None:
        with self._lock:
            kept = self._idle.get(pool.kind, [])
            while kept:
                reader = kept.pop()
                if reader.process.is_alive():
                    return reader
                reader.stop()
        return None

    def keep(self, pool: ReaderPool[Any, Any], reader: _Reader) -> bool:
        """Whether ``reader`` (idle, alive) is kept: there was room for it."""
        with self._lock:
            kept = self._idle.setdefault(pool.kind, [])
            if len(kept) >= self.count or not reader.process.is_alive():
                return False
            kept.append(reader)
            return True

    def close(self) -> None:
        with self._lock:
            readers = [r for kept in self._idle.values() for r in kept]
            self._idle.clear()
        for reader in readers:
            reader.stop()


class ReaderPool(Generic[T, R]):
    """Up to ``workers`` readers running ``read`` (a module-level function, so that a
    spawned reader can import it) on tasks, within ``limits``; idle readers are taken
    from and left to ``keeper`` when there is one."""

    def __init__(
        self,
        read: Callable[[T, Tell], R],
        workers: int,
        limits: Limits,
        context: Any = None,
        keeper: Keeper | None = None,
    ) -> None:
        self.read, self.workers, self.limits = read, max(1, workers), limits
        self.context = context or start_method()
        self.keeper = keeper
        name = f"{read.__module__}.{read.__qualname__}"
        self.kind = (name, limits.memory_mb, self.context.get_start_method())

    def _reader(self) -> _Reader:
        kept = self.keeper.take(self) if self.keeper is not None else None
        return kept or _Reader(self)

    def run(
        self, tasks: Iterable[T], on_note: Callable[[T, Any], None] | None = None
    ) -> Iterator[tuple[T, R | None, str]]:
        """``(task, result, "")`` for each task read, ``(task, None, reason)`` for each that
        failed, as they end (not in order). Each reader holds one task at a time; a result
        waits in its pipe until the caller takes the next one. ``on_note(task, note)``:
        each note a reader tells while it reads."""
        todo = iter(tasks)
        idle: list[_Reader] = []
        busy: dict[_Reader, tuple[T, float]] = {}
        try:
            while True:
                for task in itertools.islice(todo, self.workers - len(busy)):
                    reader = idle.pop() if idle else self._reader()
                    reader.conn.send(task)
                    busy[reader] = (task, time.monotonic() + self.limits.seconds)
                if not busy:
                    return
                nearest = min(deadline for _, deadline in busy.values())
                waiting = [r.conn for r in busy] + [r.process.sentinel for r in busy]
                ready = set(wait(waiting, timeout=max(0.0, nearest - time.monotonic())))
                now = time.monotonic()
                for reader, (task, deadline) in list(busy.items()):
                    if reader.conn in ready or reader.process.sentinel in ready:
                        note = reader.note()
                        if note is not None:
                            if on_note is not None:
                                on_note(task, note[0])
                            continue
                        del busy[reader]
                        result, failure, alive = reader.receive(self.limits)
                        if alive:
                            idle.append(reader)
                        else:
                            reader.stop()
                        yield task, result, failure
                    elif now >= deadline:
                        del busy[reader]
                        reader.stop(kill=True)
                        yield task, None, self.limits.timed_out()
        finally:
            for reader in idle:
                if self.keeper is None or not self.keeper.keep(self, reader):
                    reader.stop()
            for reader in busy:
                reader.stop()


class _Reader:
    def __init__(self, pool: ReaderPool[Any, Any]) -> None:
        self.conn, theirs = pool.context.Pipe()
        self.process = pool.context.Process(
            target=_serve,
            args=(theirs, pool.read, os.getpid(), pool.limits.memory_mb),
            name="sabio reader",
            daemon=True,
        )
        self.process.start()
        theirs.close()
        self._answer: tuple[str, Any] | None = None

    def note(self) -> tuple[Any] | None:
        """A note the reader told, (note,), or None when what waits is its answer (or
        its end): that is kept for :meth:`receive`."""
        if self._answer is None and self.conn.poll():
            try:
                self._answer = self.conn.recv()
            except (EOFError, OSError):
                return None
        if self._answer is not None and self._answer[0] == "note":
            note, self._answer = self._answer[1], None
            return (note,)
        return None

    def receive(self, limits: Limits) -> tuple[Any, str, bool]:
        """What the reader sent, (result, "") or (None, why it failed), and whether the
        reader is still there to take another task."""
        try:
            status, value = self._answer or self.conn.recv()
        except (EOFError, OSError):
            return None, limits.crashed(), False
        finally:
            self._answer = None
        if status == "memory":
            return None, limits.out_of_memory(), True
        return value, "", True

    def stop(self, *, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        self.conn.close()  # an idle reader reads EOF and leaves
        self.process.join(timeout=0.5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.process.close()


def _serve(conn: Connection, read: Callable[[Any, Tell], Any], parent: int, memory_mb: int) -> None:
    """A reader's life: a task, its notes, its result, the next task; gone when the pipe
    closes."""
    _exit_with_parent(parent)

    def tell(note: Any) -> None:
        conn.send(("note", note))

    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            os._exit(0)
        lift = _limit_memory(memory_mb)
        try:
            answer: tuple[str, Any] = ("ok", read(task, tell))
        except MemoryError:
            answer = ("memory", None)
        finally:
            lift()
        try:
            conn.send(answer)
        except OSError:  # the pool is gone (its caller stopped early)
            os._exit(0)
        del task, answer


def _exit_with_parent(parent: int) -> None:
    """Leave when the parent dies (even by ``kill -9``), instead of reading on with
    nobody to take the result."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def _limit_memory(memory_mb: int) -> Callable[[], None]:
    """Cap this process's address space at what it uses now plus ``memory_mb``; returns
    what lifts the cap again. Linux only (elsewhere the cap is not enforced or there is
    no ``RLIMIT_AS``)."""
    if resource is None or not sys.platform.startswith("linux"):
        return lambda: None
    try:
        with open("/proc/self/statm") as f:
            used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return lambda: None
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = used + memory_mb * 2**20
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (soft, hard))

"""Reader processes kept between pools (:class:`sabio.readers.Keeper`, the server's): the
next pool of the same kind takes the waiting reader instead of starting one; a reader
that died, or one of another kind, is not taken; closing the keeper ends them."""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

from sabio.readers import Keeper, Limits, ReaderPool

SPAWN = multiprocessing.get_context("spawn")  # as in the server (it has threads)


def _pid(task: int, tell: Any) -> int:
    if task < 0:
        os._exit(3)  # a reader that dies on its file
    return os.getpid()


def _run(keeper: Keeper | None, tasks: list[int], memory_mb: int = 512) -> list[int | None]:
    pool = ReaderPool(_pid, 1, Limits(seconds=60, memory_mb=memory_mb), SPAWN, keeper)
    return [result for _, result, _ in pool.run(tasks)]


def test_a_kept_reader_reads_for_the_next_pool_and_ends_with_its_keeper() -> None:
    keeper = Keeper()
    try:
        [first] = _run(keeper, [1])
        [second] = _run(keeper, [2])
        assert first is not None and second == first  # the same process, still there
        [other] = _run(keeper, [3], memory_mb=256)  # another kind: a reader of its own
        assert other not in (None, first)
        assert _run(None, [4]) != [first]  # no keeper: a new one, gone after its run
    finally:
        keeper.close()
    [after] = _run(keeper, [5])  # closed: what was kept is gone, a new one starts
    assert after not in (None, first)
    keeper.close()
    assert not _alive(first) and not _alive(after)


def test_a_reader_that_died_is_not_kept() -> None:
    keeper = Keeper()
    try:
        [first] = _run(keeper, [1])
        assert _run(keeper, [-1]) == [None]  # it died on this task (the crash is its failure)
        [after] = _run(keeper, [2])
        assert after not in (None, first)
    finally:
        keeper.close()


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"  # not a zombie waiting for its parent

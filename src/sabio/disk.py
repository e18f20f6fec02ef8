"""The data directory's disk: a full or read-only one said in one line, not a traceback.

SQLite says "database or disk is full" or "attempt to write a readonly database", the
model cache and uploads get ``ENOSPC`` or ``EROFS``: :func:`storage_error` turns these into
a :class:`~sabio.errors.StorageError` that says what to do (the CLI prints it; the server
answers 507 or 503 with it). :func:`write_problem` is what ``sabio serve`` checks before
it starts.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

from sabio.errors import StorageError

LOW_SPACE_MB = 100
"""Less free space than this on the data directory's disk is worth a warning."""
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
_NOT_WRITABLE = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
_SQLITE_FULL = ("database or disk is full",)
_SQLITE_NOT_WRITABLE = ("readonly database", "unable to open database file")


def storage_error(
    exc: BaseException, home: Path, *, where: str | None = None
) -> StorageError | None:
    """The StorageError that ``exc`` stands for, or None when it is something else (a bug
    shows its traceback). ``where`` names the data directory in the message (default: its
    path; the server says "Sabio's data directory", never a path on it)."""
    place = where or f"the data directory {home}"
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        full = any(part in text for part in _SQLITE_FULL)
        if not full and not any(part in text for part in _SQLITE_NOT_WRITABLE):
            return None
    elif isinstance(exc, OSError) and exc.errno in _FULL:
        full = True
    elif isinstance(exc, OSError) and exc.errno in _NOT_WRITABLE and _under(exc.filename, home):
        full = False
    else:
        return None
    if full:
        return StorageError(
            f"{place} is full (no space left on its disk): free some space, or move it to "
            "a disk with room (SABIO_HOME), and try again; what was written stays consistent",
            full=True,
        )
    return StorageError(
        f"{place} cannot be written (a read-only disk, or not this user's): make it "
        "writable, or point SABIO_HOME at a folder that is; nothing was changed",
        full=False,
    )


def _under(filename: object, home: Path) -> bool:
    if not isinstance(filename, str | bytes | os.PathLike):
        return False
    path = Path(os.path.abspath(os.fsdecode(filename)))
    return path.is_relative_to(os.path.abspath(home))


def write_problem(home: Path) -> str | None:
    """Why Sabio could not keep data in ``home`` now (read-only, not writable, nearly full),
    or None when it can."""
    try:
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=home) as probe:
            probe.write(b"sabio")
    except OSError as exc:
        problem = storage_error(exc, home)
        return str(problem) if problem else f"the data directory {home} cannot be used: {exc}"
    free_mb = shutil.disk_usage(home).free // 2**20
    if free_mb < LOW_SPACE_MB:
        return (
            f"the data directory {home} has only {free_mb} MB free: uploads and indexing "
            "will stop when it is full; free some space"
        )
    return None

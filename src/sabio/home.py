"""The data directory (``SABIO_HOME``, else ``~/.local/share/sabio``): what lives where,
kept private.

    sabio.db, -wal, -shm  the database: documents and their passages, chats, accounts,
                          sources; the only source of truth
    uploads/<kb>/         files uploaded through the server (``.incoming/``: in transit)
    index/                the search index, derived from the database (rebuilt if gone)
    tables/kb-<id>.duckdb the tables of each knowledge base's documents as tables
                          (:mod:`sabio.tables`), rebuilt when the documents are added again
    models/               the embedded model converted for ONNX Runtime (rebuilt if gone)
    secret.key            the key that encrypts saved passwords (:mod:`sabio.vault`)
    config.toml           the settings (unless ``SABIO_CONFIG`` names another file)
    exports/              archives the server made for a download (deleted once sent)
    task-results/         what whole-document tasks run as jobs found (a week, with the job)
    .sabio-work-*/        an export or an import being put together

*Private by default*: the directory is created readable by its owner only (0700), and
every ``sabio`` command sets its umask to :data:`PRIVATE_UMASK` first, so whatever the
user's umask, folders are 0700 and files 0600 (the database is created 0600 in any
case). A directory that already exists keeps its modes: ``sabio doctor`` warns when it
or what is in it is open to other users (:func:`permission_problems`) and gives the
command that fixes it.
"""

from __future__ import annotations

import os
import shlex
import stat
from pathlib import Path

from sabio.errors import ConfigError

PRIVATE_UMASK = 0o077
"""No permission for the group or others on anything a ``sabio`` process creates."""
UPLOADS = "uploads"
DATA_ENTRIES = (
    "sabio.db",
    "sabio.db-wal",
    "sabio.db-shm",
    "sabio.db-journal",
    UPLOADS,
    "index",
    "tables",
    "models",
    "secret.key",
    "config.toml",
    "exports",
    "task-results",
)
"""What Sabio keeps in the data directory (the layout above)."""
WORK_PREFIX = ".sabio-work-"
"""Folders in the data directory where an export or an import is put together."""
TEMPORARY_PREFIXES = (WORK_PREFIX, ".config-")
"""Sabio's own temporary files and folders there (config.toml is written through one)."""


def use_private_umask() -> None:
    """From now on this process (and the processes it starts) creates folders 0700 and
    files 0600."""
    os.umask(PRIVATE_UMASK)


def make_private_home(home: Path) -> None:
    """Create ``home`` readable by its owner only, if it does not exist yet."""
    if home.exists():
        return
    home.parent.mkdir(parents=True, exist_ok=True)
    try:
        home.mkdir(mode=0o700)
    except FileExistsError:  # made by another process meanwhile
        return
    os.chmod(home, 0o700)  # mkdir's mode is filtered by the umask


def create_private_file(path: Path) -> None:
    """Create an empty file readable by its owner only, if there is none at ``path``."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.fchmod(fd, 0o600)
    os.close(fd)


def is_data_entry(name: str) -> bool:
    """Whether Sabio put ``name`` (a file or folder) in the data directory."""
    return name in DATA_ENTRIES or name.startswith(TEMPORARY_PREFIXES)


def uploads_root(home: Path) -> Path:
    return Path(os.path.abspath(home / UPLOADS))


def uploads_folder(home: Path, kb_name: str) -> Path:
    """``<home>/uploads/<kb>``: where a knowledge base's uploaded files are kept."""
    root = uploads_root(home)
    folder = root / kb_name
    if kb_name in ("", ".", "..") or "/" in kb_name or "\\" in kb_name or folder.parent != root:
        raise ConfigError(f"{kb_name!r} cannot hold uploads: rename the knowledge base")
    return folder


def permission_problems(home: Path) -> list[str]:
    """What in ``home`` other users may read or enter (the directory, what is directly in
    it, and the knowledge bases' upload folders), as "path (mode 0755)"."""
    if not home.exists():
        return []
    paths = [home, *sorted(home.iterdir())]
    uploads = home / UPLOADS
    if uploads.is_dir() and not uploads.is_symlink():
        paths += sorted(uploads.iterdir())
    problems = []
    for path in paths:
        try:
            mode = path.lstat().st_mode
        except OSError:
            continue
        if not stat.S_ISLNK(mode) and mode & 0o077:
            problems.append(f"{path} (mode {stat.S_IMODE(mode):04o})")
    return problems


def permission_fix(home: Path) -> str:
    """The command that makes ``home`` and everything in it private."""
    return f"chmod -R go-rwx {shlex.quote(str(home))}"

"""A watched folder: what is saved into it is indexed, what is deleted is forgotten.

A full sync reconciles the folder with the index (new, changed, deleted files; this is
what runs when Sabio starts, so changes made while it was stopped are picked up):
unchanged files cost one ``stat``. While Sabio runs, :class:`FolderWatch` (inotify and
its equivalents, through ``watchfiles``) turns changes into syncs of the changed paths
only, grouped: a burst of events within :data:`QUIET_MS` becomes one job.

Editors that save through a temporary file and a rename (vim, gedit, Office's ``~$``
files) cause no double work: temporary names are never indexed, and by the time a
group of events is synced the temporary file is gone. A renamed or moved file keeps its
passages: its content hash matches the document that vanished in the same group, so the
document is moved instead of read and embedded again.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import ConfigDict, Field

from sabio.errors import ConfigError, SourceError
from sabio.ingest import IGNORED_NAMES, file_hash, scan_paths
from sabio.review.alerts import ReviewOptions
from sabio.sources import ItemUpdate, Source, SourceSetup, SourceWatch
from sabio.sources.kinds import SetupContext, SourceKind, SyncContext, register_source_kind
from sabio.store import DocumentRecord, FileState

log = logging.getLogger(__name__)

QUIET_MS = 300
"""A group of changes is synced once the folder has been quiet this long…"""
MAX_WAIT_MS = 1600
"""…or this long after its first change, whichever comes first."""
TEMPORARY_SUFFIXES = (".tmp", ".temp", ".swp", ".swx", ".part", ".crdownload", ".partial", "~")


def is_temporary(path: str, folder: Path) -> bool:
    """Names editors, browsers and office suites write before the real file: hidden
    files and folders (below the watched ``folder``), ``~$`` lock files, ``.swp``,
    ``.tmp``, ``~`` backups, downloads in progress, and vim's ``4913`` probe."""
    name = os.path.basename(path)
    if name.startswith((".", "~$")) or name in IGNORED_NAMES or name == "4913":
        return True
    if name.lower().endswith(TEMPORARY_SUFFIXES):
        return True
    try:
        parts = Path(path).relative_to(folder).parts[:-1]
    except ValueError:
        return False
    return any(part.startswith(".") for part in parts)


class FolderOptions(ReviewOptions):
    model_config = ConfigDict(extra="forbid")

    follow_links: bool = Field(
        False,
        description="Index files that symbolic links lead to outside the folder "
        "(skipped otherwise).",
    )


class FolderConnector:
    def configure(
        self, setup: SetupContext, location: str, options: FolderOptions, password: str | None
    ) -> SourceSetup:
        folder = Path(os.path.abspath(os.path.expanduser(location)))
        if not folder.is_dir():
            what = "is a file, not a folder" if folder.exists() else "does not exist"
            raise ConfigError(f"{folder} {what}; give the folder to watch")
        follow_links = options.follow_links
        if password:
            raise ConfigError("a folder source takes no password")
        home = Path(os.path.abspath(setup.home))
        if folder == home or home in folder.parents or folder in home.parents:
            raise ConfigError(
                f"{folder} holds Sabio's own data directory ({home}); watch a folder of "
                "documents instead"
            )
        return SourceSetup(str(folder), {"follow_links": True} if follow_links else {})

    def sync(self, run: SyncContext) -> None:
        folder = Path(run.source.location)
        if not folder.is_dir():
            raise SourceError(
                f"the folder {folder} does not exist or cannot be read (moved, renamed or "
                "on a drive that is not mounted?); its documents are kept until it is back"
            )
        paths = run.payload.get("paths")
        follow = bool(run.source.options.get("follow_links"))
        if paths is None:
            run.progress("looking for changes in the folder")
            self._moves_in(run, folder)
            run.ingest_files([folder], follow_links=follow)
            return
        changed = [p for p in paths if not is_temporary(p, folder)]
        self._sync_paths(run, folder, changed, follow)

    def _sync_paths(self, run: SyncContext, folder: Path, paths: list[str], follow: bool) -> None:
        present: list[Path] = []
        gone: dict[str, DocumentRecord] = {}
        for path in paths:
            if os.path.lexists(path):
                present.append(Path(path))
                continue
            for source in [path, *run.documents_under(path)]:
                if (doc := run.document(source)) is not None:
                    gone[source] = doc
        moved = self._moves(run, present, gone)
        if gone:
            run.remove_documents([(s, s) for s in gone], "deleted from the folder")
        rest = [p for p in present if str(p) not in moved]
        if rest:
            run.ingest_files(rest, follow_links=follow, within=folder)

    def _moves_in(self, run: SyncContext, folder: Path) -> None:
        """Files renamed or moved within the folder while no worker watched it (the folder
        is walked for their new names only when some document's file is gone)."""
        known = run.documents_under(str(folder))
        gone = {s: doc for s in known if not os.path.lexists(s) and (doc := run.document(s))}
        if gone:
            present = {str(path) for path in scan_paths([folder]).files}
            self._moves(run, [Path(p) for p in sorted(present - set(known))], gone)

    def _moves(
        self, run: SyncContext, present: list[Path], gone: dict[str, DocumentRecord]
    ) -> set[str]:
        """Files that are documents which vanished in the same group under another name:
        moved in the store, not read again. Removes them from ``gone``."""
        moved: set[str] = set()
        if not gone:
            return moved
        by_size: dict[int, list[DocumentRecord]] = {}
        for record in gone.values():
            by_size.setdefault(record.size, []).append(record)
        for path in present:
            try:
                stat = path.stat()
            except OSError:
                continue
            candidates = by_size.get(stat.st_size, [])
            if not candidates or run.document(str(path)):
                continue
            digest = file_hash(path)
            doc = next((d for d in candidates if d.content_hash == digest), None)
            if doc is None:
                continue
            run.move_document(doc, FileState(str(path), digest, stat.st_size, stat.st_mtime_ns))
            candidates.remove(doc)
            del gone[doc.source]
            moved.add(str(path))
            run.record(
                [
                    ItemUpdate(doc.source, "removed", "removed", f"renamed to {path.name}"),
                    ItemUpdate(
                        str(path),
                        doc.status,
                        "renamed",
                        f"renamed from {Path(doc.source).name}",
                        doc.title,
                        doc.id,
                    ),
                ]
            )
        return moved


class FolderWatch(SourceWatch):
    """Watches one folder; ``on_change`` gets the changed paths of each group of changes.
    A folder that is missing is looked for again every ``retry_s`` seconds. Where the
    kernel's change notification fails (the inotify watch limit reached, some network
    drives), the folder is polled every :data:`POLL_MS` instead."""

    POLL_MS = 5000

    def __init__(self, folder: Path, on_change: Callable[[list[str]], None]) -> None:
        super().__init__(f"watching {folder}")
        self.folder = folder
        self.on_change = on_change
        self.polling = False

    def watch(self) -> None:
        try:
            for paths in self._changes():
                if paths:
                    self.on_change(paths)
        except FileNotFoundError:
            raise
        except OSError as exc:
            if self.polling:
                raise
            self.polling = True
            log.warning(
                "cannot be told of changes in %s (%s): looking every %.0f s instead; on "
                "Linux, raising fs.inotify.max_user_watches (sysctl) lets it be told again",
                self.folder,
                exc,
                self.POLL_MS / 1000,
            )

    def _changes(self) -> Iterator[list[str]]:
        from watchfiles import watch

        for changes in watch(
            self.folder,
            watch_filter=lambda change, path: not is_temporary(path, self.folder),
            debounce=MAX_WAIT_MS,
            step=QUIET_MS,
            stop_event=self.stopping,
            rust_timeout=0,
            yield_on_timeout=False,
            raise_interrupt=False,
            force_polling=self.polling,
            poll_delay_ms=self.POLL_MS,
        ):
            yield sorted({path for _, path in changes})


def _watch(source: Source, password: str, on_change: Callable[[list[str]], None]) -> FolderWatch:
    return FolderWatch(Path(source.location), on_change)


register_source_kind(
    SourceKind(
        name="folder",
        connector=FolderConnector,
        options=FolderOptions,
        location="folder",
        summary="a folder on this computer, watched for changes",
        watch=_watch,
    )
)

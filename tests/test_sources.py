"""Sources and jobs: watched folders with real filesystem events, the jobs queue, retries,
and the CLI. The mailbox and web connectors have their own files."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sabio.cli import app
from sabio.config import Settings
from sabio.errors import ConfigError, ConflictError
from sabio.jobs import RETRY_DELAYS_S, JobQueue
from sabio.service import Sabio
from sabio.sources.folder import FolderWatch, is_temporary
from sabio.worker import Worker


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    (docs / "notes").mkdir(parents=True)
    (docs / "alpha.txt").write_text("Alpacas graze in the high Andes.", encoding="utf-8")
    (docs / "notes" / "beta.md").write_text("# Beta\n\nBeavers build dams.", encoding="utf-8")
    (docs / "plan.dwg").write_bytes(b"AC1032" + b"\x00" * 64)
    return docs


@pytest.fixture
def worker(sabio: Sabio) -> Iterator[Worker]:
    running = Worker(sabio)
    yield running
    running.stop()


def found(sabio: Sabio, query: str) -> set[str]:
    hits = sabio.search(query).hits
    return {Path(h.document).name for h in hits if query.lower() in h.text.lower()}


def eventually(check: Callable[[], bool], seconds: float = 20.0) -> None:
    """Waits for the worker (a bounded wait, not a timing assertion: the bench times it)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    assert check()


def items(sabio: Sabio, source_id: int) -> dict[str, tuple[str, str]]:
    return {Path(i.key).name: (i.label, i.reason) for i in sabio.source_items(source_id)}


def test_a_folder_source_is_synced_and_explains_every_item(sabio: Sabio, folder: Path) -> None:
    source, token = sabio.add_source("folder", str(folder))
    assert token is None and source.kb_name == "default"
    worker = Worker(sabio, watch=False)
    assert worker.run_pending() == 1
    worker.stop()
    assert found(sabio, "alpacas") == {"alpha.txt"}
    assert items(sabio, source.id) == {
        "alpha.txt": ("indexed", ""),
        "beta.md": ("indexed", ""),
        "plan.dwg": ("skipped", "unsupported type (.dwg)"),
    }
    job = sabio.jobs.recent(source.id)[0]
    assert (job.status, job.message) == ("done", "2 added, 1 skipped")


def test_bad_folders_are_refused_clearly(sabio: Sabio, folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        sabio.add_source("folder", str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="is a file"):
        sabio.add_source("folder", str(folder / "alpha.txt"))
    with pytest.raises(ConfigError, match="Sabio's own data"):
        sabio.add_source("folder", str(sabio.settings.home))
    with pytest.raises(ConfigError, match="no such kind of source"):
        sabio.add_source("ftp", "x")
    sabio.add_source("folder", str(folder))
    with pytest.raises(ConflictError, match="already has"):
        sabio.add_source("folder", str(folder))


def test_changes_are_indexed_while_it_runs(sabio: Sabio, folder: Path, worker: Worker) -> None:
    source, _ = sabio.add_source("folder", str(folder))
    worker.start()
    eventually(lambda: found(sabio, "alpacas") == {"alpha.txt"})

    # a new file, an edit, a new folder with a file
    (folder / "gamma.txt").write_text("Gazelles run fast.", encoding="utf-8")
    (folder / "notes" / "beta.md").write_text("# Beta\n\nBadgers dig setts.", encoding="utf-8")
    (folder / "deep" / "er").mkdir(parents=True)
    (folder / "deep" / "er" / "delta.txt").write_text("Dolphins whistle.", encoding="utf-8")
    eventually(lambda: found(sabio, "gazelles") == {"gamma.txt"})
    eventually(lambda: found(sabio, "badgers") == {"beta.md"} and not found(sabio, "beavers"))
    eventually(lambda: found(sabio, "dolphins") == {"delta.txt"})

    # a rename keeps the document and its passages: nothing is read or embedded again
    kb = sabio.kb()
    before = sabio.store.find_document(kb.id, str(folder / "gamma.txt"))
    assert before is not None
    passages = [h.chunk_id for h in sabio.search("gazelles").hits if h.document_id == before.id]
    (folder / "gamma.txt").rename(folder / "notes" / "gazelles.txt")
    eventually(lambda: found(sabio, "gazelles") == {"gazelles.txt"})
    after = sabio.store.find_document(kb.id, str(folder / "notes" / "gazelles.txt"))
    assert after is not None and after.id == before.id
    assert [h.chunk_id for h in sabio.search("gazelles").hits if h.document_id == after.id] == (
        passages
    )
    eventually(lambda: items(sabio, source.id).get("gamma.txt", ("",))[0] == "removed")
    assert items(sabio, source.id)["gazelles.txt"] == ("indexed", "renamed from gamma.txt")

    # an editor's save: a temporary file renamed over the real one, indexed once
    last_job = sabio.jobs.recent(source.id, limit=1)[0].id
    temporary = folder / ".alpha.txt.swp"
    temporary.write_text("Aardvarks eat ants.", encoding="utf-8")
    temporary.replace(folder / "alpha.txt")
    eventually(lambda: found(sabio, "aardvarks") == {"alpha.txt"})
    time.sleep(1.0)  # a second, duplicate sync would have run within this
    since = [j for j in sabio.jobs.recent(source.id) if j.id > last_job]
    assert [j.message for j in since] == ["1 updated"]
    assert not any(".swp" in k for k in items(sabio, source.id))

    # deletions: a file, and a folder with a file in it
    (folder / "alpha.txt").unlink()
    (folder / "deep" / "er" / "delta.txt").unlink()
    (folder / "deep" / "er").rmdir()
    eventually(lambda: not found(sabio, "aardvarks") and not found(sabio, "dolphins"))
    eventually(lambda: items(sabio, source.id)["alpha.txt"][0] == "removed")
    assert {d.source for d in sabio.documents()} == {
        str(folder / "notes" / "beta.md"),
        str(folder / "notes" / "gazelles.txt"),
        str(folder / "plan.dwg"),
    }


def test_changes_made_while_stopped_are_picked_up_on_start(sabio: Sabio, folder: Path) -> None:
    source, _ = sabio.add_source("folder", str(folder))
    first = Worker(sabio, watch=False)
    first.run_pending()
    first.stop()
    kb = sabio.kb()
    beta = sabio.store.find_document(kb.id, str(folder / "notes" / "beta.md"))
    (folder / "alpha.txt").unlink()
    (folder / "notes" / "beta.md").rename(folder / "beta-moved.md")
    (folder / "omega.txt").write_text("Ocelots hunt at night.", encoding="utf-8")
    second = Worker(sabio, watch=False)
    second.reconcile()
    assert second.run_pending() == 1
    second.stop()
    assert found(sabio, "ocelots") == {"omega.txt"}
    assert found(sabio, "beavers") == {"beta-moved.md"}
    moved = sabio.store.find_document(kb.id, str(folder / "beta-moved.md"))
    assert beta is not None and moved is not None and moved.id == beta.id  # not read again
    assert not found(sabio, "alpacas")
    assert items(sabio, source.id)["alpha.txt"] == ("removed", "no longer in the folder")
    assert items(sabio, source.id)["beta.md"] == ("removed", "renamed to beta-moved.md")


def test_a_failing_sync_is_retried_with_backoff_then_left_failed(
    sabio: Sabio, folder: Path, tmp_path: Path
) -> None:
    source, _ = sabio.add_source("folder", str(folder))
    Worker(sabio, watch=False).run_pending()
    folder.rename(tmp_path / "elsewhere")  # an unmounted drive, say
    queue = JobQueue(sabio.store)
    job = sabio.sync_source(source.id)
    worker = Worker(sabio, watch=False)
    for attempt, delay in enumerate(RETRY_DELAYS_S, start=1):
        assert worker.run_pending() == 1
        job = queue.get(job.id)
        assert (job.status, job.attempts) == ("queued", attempt)
        assert "does not exist" in job.error and f"retrying in {delay:.0f} s" in job.message
        assert job.run_after > time.time() + delay - 5
        assert worker.run_pending() == 0  # not before its time
        sabio.store.db.execute("UPDATE job SET run_after=0 WHERE id=?", (job.id,))
    assert worker.run_pending() == 1
    worker.stop()
    job = queue.get(job.id)
    assert job.status == "failed" and "does not exist" in job.error
    assert "does not exist" in sabio.sources.get(source.id).last_error
    assert found(sabio, "alpacas") == {"alpha.txt"}  # nothing lost meanwhile


def test_a_job_of_a_dead_worker_is_taken_up_again(sabio: Sabio, folder: Path) -> None:
    sabio.add_source("folder", str(folder))
    gone = JobQueue(sabio.store, owner=f"{os.uname().nodename}:999999999")
    job = gone.claim()
    assert job is not None and job.status == "running"
    worker = Worker(sabio, watch=False)
    assert worker.run_pending() == 1  # that pid does not exist: the job is claimed again
    worker.stop()
    job = sabio.jobs.get(job.id)
    assert (job.status, job.attempts) == ("done", 2)
    assert found(sabio, "alpacas") == {"alpha.txt"}


def test_queued_syncs_of_one_source_merge(sabio: Sabio, folder: Path) -> None:
    source, _ = sabio.add_source("folder", str(folder))  # a full sync is queued
    first = sabio.jobs.enqueue_sync(source.id, ["/a"])
    assert first.payload == {}  # merged into the full sync
    Worker(sabio, watch=False).run_pending()
    one = sabio.jobs.enqueue_sync(source.id, ["/a"])
    two = sabio.jobs.enqueue_sync(source.id, ["/b"])
    assert one.id == two.id and two.payload == {"paths": ["/a", "/b"]}


def test_temporary_names(tmp_path: Path) -> None:
    for name in (".x.swp", "~$report.docx", "a.txt~", "a.tmp", "4913", "f.crdownload"):
        assert is_temporary(str(tmp_path / name), tmp_path)
    assert is_temporary(str(tmp_path / ".git" / "config.txt"), tmp_path)
    assert not is_temporary(str(tmp_path / "report.docx"), tmp_path)
    hidden_root = tmp_path / ".hidden"  # a watched folder may itself be under a dot-folder
    assert not is_temporary(str(hidden_root / "notes.txt"), hidden_root)


def test_the_cli_adds_syncs_lists_and_removes(settings: Settings, folder: Path) -> None:
    runner = CliRunner()
    env = {"SABIO_HOME": str(settings.home), "SABIO_EMBEDDING_MODEL": "fake:words"}
    result = runner.invoke(app, ["source", "add", "folder", str(folder)], env=env)
    assert result.exit_code == 0, result.output
    assert "Added source 1: folder" in result.output
    result = runner.invoke(app, ["source", "sync", "1"], env=env)
    assert result.exit_code == 0, result.output
    assert "2 added, 1 skipped" in result.output
    result = runner.invoke(app, ["source", "list"], env=env)
    assert "2 indexed, 1 skipped" in result.output
    assert "plan.dwg — unsupported type (.dwg)" in result.output
    result = runner.invoke(app, ["source", "list", "1"], env=env)
    assert "notes/beta.md" in result.output and "alpha.txt" in result.output
    result = runner.invoke(app, ["source", "remove", "1"], env=env)
    assert result.exit_code == 0 and "and its documents" in result.output
    result = runner.invoke(app, ["docs", "--json"], env=env)
    assert result.output.strip() == "[]"
    result = runner.invoke(app, ["source", "add", "folder", "/no/such/folder"], env=env)
    assert result.exit_code == 1 and "does not exist" in result.output


def test_the_cli_speaks_spanish_about_sources(settings: Settings, folder: Path) -> None:
    runner = CliRunner()
    env = {
        "SABIO_HOME": str(settings.home),
        "SABIO_EMBEDDING_MODEL": "fake:words",
        "SABIO_LANGUAGE": "es",
    }
    result = runner.invoke(app, ["source", "add", "folder", str(folder)], env=env)
    assert "Añadida la fuente 1: folder" in result.output, result.output
    assert "la mantiene al día" in result.output
    assert runner.invoke(app, ["source", "sync", "1"], env=env).exit_code == 0
    listed = runner.invoke(app, ["source", "list"], env=env).output
    assert "2 indexados, 1 omitido" in listed and "última sincronización" in listed, listed
    assert "omitido    plan.dwg" in listed
    assert "(2 indexados o sin cambios; --all los muestra)" in listed
    english = runner.invoke(app, ["source", "list"], env={**env, "SABIO_LANGUAGE": "en"}).output
    assert "2 indexed, 1 skipped" in english and "last sync" in english
    result = runner.invoke(app, ["source", "remove", "1", "--keep-documents"], env=env)
    assert "Quitada la fuente 1: folder" in result.output
    assert "(sus documentos se conservan)" in result.output


def test_a_folder_without_change_notification_is_polled(tmp_path: Path) -> None:
    """Where inotify fails (its watch limit, some network drives) the folder is polled."""
    seen: list[list[str]] = []

    class Polled(FolderWatch):
        POLL_MS = 200

    watch = Polled(tmp_path, seen.append)
    watch.polling = True  # as after the kernel refused to watch it
    watch.start()
    try:  # a file written before the first look is part of what the folder was: write more
        for n in range(30):
            (tmp_path / f"late{n}.txt").write_text("Lemurs leap.", encoding="utf-8")
            time.sleep(1.0)
            if any(path.endswith(".txt") for batch in seen for path in batch):
                break
        assert any(path.endswith(".txt") for batch in seen for path in batch)
    finally:
        watch.stop()

"""Adding files and folders through the service, with the real store and loaders."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from sabio import readers
from sabio.errors import EmbeddingMismatchError, NotFoundError
from sabio.loaders import Blob, LoadedDocument, register_loader
from sabio.service import Sabio


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    _write(root / "recetas.md", "# Cocina\n\nLa canción del cocinero habla de paella valenciana.")
    _write(root / "notes.txt", "The quarterly revenue grew by twelve percent in Lisbon.")
    _write(root / "sub" / "deep.txt", "Photosynthesis converts light into chemical energy.")
    (root / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (root / "plan.dwg").write_bytes(b"AC1032")
    (root / ".hidden.txt").write_text("never indexed")
    return root


def _outcomes(report: object) -> dict[str, tuple[str, str]]:
    return {Path(r.source).name: (r.outcome, r.status) for r in report.results}  # type: ignore[attr-defined]


def test_add_folder_reports_every_file_and_one_bad_file_does_not_stop_it(
    sabio: Sabio, folder: Path
) -> None:
    report = sabio.add([folder])
    assert _outcomes(report) == {
        "recetas.md": ("added", "indexed"),
        "notes.txt": ("added", "indexed"),
        "deep.txt": ("added", "indexed"),
        "broken.pdf": ("not_indexed", "failed"),
        "plan.dwg": ("skipped", "skipped"),
    }
    assert [Path(r.source).name for r in report.problems] == ["broken.pdf"]
    assert "unsupported" in next(r.reason for r in report.results if r.source.endswith(".dwg"))
    docs = {Path(d.source).name: d for d in sabio.documents()}
    assert docs["recetas.md"].status == "indexed"
    assert docs["recetas.md"].chunk_count == 1
    assert docs["broken.pdf"].error


def test_second_run_is_all_unchanged_and_embeds_nothing(sabio: Sabio, folder: Path) -> None:
    sabio.add([folder])
    embedder = sabio.embedder("fake:words")
    calls = embedder.calls  # type: ignore[attr-defined]
    report = sabio.add([folder])
    assert {outcome for outcome, _ in _outcomes(report).values()} == {"unchanged"}
    assert embedder.calls == calls  # type: ignore[attr-defined]


def test_touched_but_identical_file_is_unchanged(sabio: Sabio, folder: Path) -> None:
    sabio.add([folder])
    notes = folder / "notes.txt"
    os.utime(notes, ns=(notes.stat().st_atime_ns, notes.stat().st_mtime_ns + 10**9))
    assert _outcomes(sabio.add([folder]))["notes.txt"] == ("unchanged", "indexed")


def test_changed_file_replaces_its_chunks(sabio: Sabio, folder: Path) -> None:
    sabio.add([folder])
    _write(folder / "notes.txt", "Now the notes speak about volcanic islands in the Atlantic.")
    assert _outcomes(sabio.add([folder]))["notes.txt"] == ("updated", "indexed")
    assert not any("revenue" in h.text for h in sabio.search("revenue Lisbon").hits)
    hit = sabio.search("volcanic islands").hits[0]
    assert hit.document.endswith("notes.txt")
    assert sabio.store.integrity_problems() == []


def test_files_gone_from_a_folder_leave_the_index_unless_kept(sabio: Sabio, folder: Path) -> None:
    sabio.add([folder])
    (folder / "sub" / "deep.txt").unlink()
    kept = sabio.add([folder], keep_missing=True)
    assert "deep.txt" not in _outcomes(kept)
    assert any(d.source.endswith("deep.txt") for d in sabio.documents())
    report = sabio.add([folder])
    assert _outcomes(report)["deep.txt"] == ("removed", "removed")
    assert not any(d.source.endswith("deep.txt") for d in sabio.documents())
    assert not any("Photosynthesis" in h.text for h in sabio.search("photosynthesis").hits)


def test_missing_path_is_reported_not_fatal(sabio: Sabio, folder: Path) -> None:
    report = sabio.add([folder / "nope.txt", folder / "notes.txt"])
    assert _outcomes(report) == {
        "nope.txt": ("not_indexed", "failed"),
        "notes.txt": ("added", "indexed"),
    }


def test_remove_document_by_path_and_by_id(sabio: Sabio, folder: Path) -> None:
    sabio.add([folder])
    removed = sabio.remove_document(str(folder / "notes.txt"))
    assert removed.source.endswith("notes.txt")
    doc = next(d for d in sabio.documents() if d.source.endswith("recetas.md"))
    sabio.remove_document(str(doc.id))
    names = {Path(d.source).name for d in sabio.documents()}
    assert "notes.txt" not in names and "recetas.md" not in names
    with pytest.raises(NotFoundError, match="sabio docs"):
        sabio.remove_document("nothing-like-this.txt")


def test_knowledge_bases_are_separate(sabio: Sabio, folder: Path) -> None:
    sabio.create_kb("work")
    sabio.add([folder / "notes.txt"], "work")
    sabio.add([folder / "recetas.md"])
    assert all(h.document.endswith("notes.txt") for h in sabio.search("paella", "work").hits)
    assert sabio.search("revenue", "work").hits[0].document.endswith("notes.txt")
    with pytest.raises(NotFoundError, match="sabio kb create"):
        sabio.add([folder], "unknown")


def test_a_model_that_changed_dimension_is_a_clear_error(sabio: Sabio, folder: Path) -> None:
    sabio.add([folder / "notes.txt"])
    kb = sabio.kb()
    sabio.store.db.execute("UPDATE kb SET dimension = 32 WHERE id = ?", (kb.id,))
    with pytest.raises(EmbeddingMismatchError, match="sabio kb reindex default"):
        sabio.add([folder / "recetas.md"])


def test_reindex_switches_model_atomically(sabio: Sabio, folder: Path) -> None:
    sabio.add([folder])
    kb = sabio.reindex_kb("default", "fake:other")
    assert kb.embedding_model == "fake:other"
    assert sabio.search("paella").hits[0].document.endswith("recetas.md")


def test_progress_hears_the_total_first_then_every_file(sabio: Sabio, folder: Path) -> None:
    events: list[tuple[str | None, str, int | None]] = []

    def progress(result: object, note: str, total: int | None = None) -> None:
        events.append((getattr(result, "source", None), note, total))

    report = sabio.add([folder], progress=progress)
    assert events[0] == (None, "reading files", 5)
    done = [source for source, _, _ in events if source is not None]
    assert sorted(done) == sorted(r.source for r in report.results)


def test_an_isolated_single_file_that_crashes_its_reader_fails_alone(
    sabio: Sabio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The loader below exists in this process only: the worker must be forked, also when
    # an earlier test left a thread running (which makes ingest spawn its workers).
    monkeypatch.setattr(readers, "start_method", lambda: multiprocessing.get_context("fork"))

    @register_loader(".crash")
    def _crash(blob: Blob) -> LoadedDocument:  # a reader killed mid-file, as by a bad PDF
        os._exit(3)

    path = tmp_path / "hostile.crash"
    path.write_text("boom", encoding="utf-8")
    report = sabio.add([path], isolate=True)  # what the server does for every upload
    [result] = report.results
    assert result.status == "failed" and "crash" in result.reason.lower()
    good = tmp_path / "fine.txt"
    good.write_text("still here", encoding="utf-8")
    assert sabio.add([good], isolate=True).count("added") == 1


def test_an_int_reference_is_only_ever_an_id(sabio: Sabio, tmp_path: Path) -> None:
    named = tmp_path / "7"
    named.write_text("a file called seven", encoding="utf-8")
    sabio.add([named])
    doc = sabio.documents()[0]
    wrong_id = doc.id + 6
    with pytest.raises(NotFoundError):
        sabio.remove_document(wrong_id)  # the REST API's /documents/{id}
    assert sabio.remove_document(str(named)).id == doc.id

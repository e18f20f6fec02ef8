"""Hostile files, made here (never committed): each one is read within the readers' time
and memory limits or fails alone with the reason, and the files beside it are indexed.

The loaders registered below exist in this process only, so their readers are forked
(``forked``), as the crash test in test_ingest.py does."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sabio import readers
from sabio.config import Settings
from sabio.ingest import FileResult
from sabio.loaders import Blob, LoadedDocument, Section, register_loader
from sabio.service import Sabio

FINE = "A lighthouse guides ships into the harbour at night."


@pytest.fixture
def forked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "start_method", lambda: multiprocessing.get_context("fork"))


def _service(settings: Settings, **limits: Any) -> Iterator[Sabio]:
    service = Sabio(dataclasses.replace(settings, **limits))
    yield service
    service.close()


@pytest.fixture
def hasty(settings: Settings) -> Iterator[Sabio]:
    """Readers that may take 2 s per file."""
    yield from _service(settings, reader_timeout=2.0)


@pytest.fixture
def strict(settings: Settings) -> Iterator[Sabio]:
    """Readers that may take 200 MB per file, and 1 MB of text (and 60 s: the machine
    may be busy, and no file here needs a second)."""
    yield from _service(settings, reader_timeout=60.0, reader_memory_mb=200, max_text_mb=1)


@pytest.fixture
def patient(settings: Settings) -> Iterator[Sabio]:
    """Readers that may take 60 s per file: linear work takes a fraction of a second."""
    yield from _service(settings, reader_timeout=60.0)


def _add(sabio: Sabio, tmp_path: Path, name: str, data: bytes) -> dict[str, FileResult]:
    """``name`` beside an ordinary note, added together, read in readers as the server
    reads; the results by file name."""
    (tmp_path / name).write_bytes(data)
    (tmp_path / "fine.txt").write_text(FINE, encoding="utf-8")
    report = sabio.add([tmp_path / name, tmp_path / "fine.txt"], isolate=True)
    results = {Path(r.source).name: r for r in report.results}
    assert results["fine.txt"].status == "indexed"
    return results


@register_loader(".slow")
def _slow(blob: Blob) -> LoadedDocument:  # a file that keeps its reader busy
    time.sleep(120)
    return LoadedDocument([Section("never")], "slow")


@register_loader(".hog")
def _hog(blob: Blob) -> LoadedDocument:  # a file whose reading takes 1 GB
    hoard = bytearray(1 << 30)
    return LoadedDocument([Section(f"{len(hoard)}")], "hog")


@register_loader(".pid")
def _pid(blob: Blob) -> LoadedDocument:
    return LoadedDocument([Section(f"read by process {os.getpid()}")], "pid")


@pytest.mark.usefixtures("forked")
def test_a_file_that_takes_too_long_fails_alone(hasty: Sabio, tmp_path: Path) -> None:
    started = time.monotonic()
    result = _add(hasty, tmp_path, "stuck.slow", b"x")["stuck.slow"]
    assert result.status == "failed"
    assert result.reason == "took longer than 2 s to read (the reader_timeout setting)"
    assert time.monotonic() - started < 100  # the reader was stopped, not waited for
    assert [d.status for d in hasty.documents() if d.source.endswith(".slow")] == ["failed"]


@pytest.mark.skipif(sys.platform != "linux", reason="the memory limit is enforced on Linux")
@pytest.mark.usefixtures("forked")
def test_a_file_that_needs_too_much_memory_fails_alone(strict: Sabio, tmp_path: Path) -> None:
    result = _add(strict, tmp_path, "greedy.hog", b"x")["greedy.hog"]
    assert result.status == "failed"
    assert result.reason == (
        "needed more than 200 MB of memory to read (the reader_memory_mb setting)"
    )


@pytest.mark.usefixtures("forked")
def test_files_are_read_in_reader_processes_not_in_the_calling_one(
    sabio: Sabio, tmp_path: Path
) -> None:
    (tmp_path / "one.pid").write_text("x", encoding="utf-8")
    sabio.add([tmp_path / "one.pid"], isolate=True)
    [hit] = sabio.search("read by process").hits
    assert hit.text.startswith("read by process ")
    assert hit.text != f"read by process {os.getpid()}"


def test_a_file_with_more_text_than_a_document_may_hold_fails(
    strict: Sabio, tmp_path: Path
) -> None:
    """The issue's text bomb, past ``max_text_mb``: one paragraph of 2 MB."""
    result = _add(strict, tmp_path, "bomb.txt", b"a" * (2 << 20))["bomb.txt"]
    assert result.status == "failed"
    assert result.reason.startswith("holds 2 MB of text, more than the 1 MB one document")


def test_a_text_bomb_under_the_limit_is_indexed(sabio: Sabio, tmp_path: Path) -> None:
    result = _add(sabio, tmp_path, "bomb.txt", b"a" * (2 << 20))["bomb.txt"]
    assert result.status == "indexed" and result.chunks > 1000


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("heading.md", b"# a" + b" " * 200_000 + b"b\n\nbody"),  # was minutes (backtracking)
        ("spaces.txt", b"x" + b" " * 2_000_000 + b"y"),  # was hours: trailing-space pattern
        ("spaces.md", b"---\ntitle:" + b" " * 200_000 + b"x\n---\nbody"),  # front matter
    ],
)
def test_long_runs_of_spaces_are_read_in_linear_time(
    patient: Sabio, tmp_path: Path, name: str, data: bytes
) -> None:
    result = _add(patient, tmp_path, name, data)[name]
    assert result.status == "indexed", result.reason


def test_a_spreadsheet_of_millions_of_empty_rows_stops_at_the_time_limit(
    hasty: Sabio, tmp_path: Path
) -> None:
    """A zip bomb: 3 million empty rows in a few hundred KB; openpyxl walks them all
    (199 s in the CLI before the limit)."""
    path = tmp_path / "bomb.xlsx"
    _write_xlsx(path, 3_000_000)
    results = _add(hasty, tmp_path, "bomb.xlsx", path.read_bytes())
    assert results["bomb.xlsx"].status == "failed"
    assert "took longer than 2 s" in results["bomb.xlsx"].reason


def _write_xlsx(path: Path, empty_rows: int) -> None:
    """A minimal workbook whose one sheet holds ``empty_rows`` rows with an empty cell."""
    types = (
        '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-'
        'package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/'
        'sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
        'worksheet+xml"/></Types>'
    )
    rels = (
        '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    )
    workbook = (
        '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
        '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    workbook_rels = (
        '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        "</Relationships>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("[Content_Types].xml", types)
        package.writestr("_rels/.rels", rels)
        package.writestr("xl/workbook.xml", workbook)
        package.writestr("xl/_rels/workbook.xml.rels", workbook_rels)
        with package.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(
                b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                b'spreadsheetml/2006/main"><sheetData>'
            )
            block = b"".join(b'<row r="%d"><c r="A%d"/></row>' % (i, i) for i in range(1, 10_001))
            for _ in range(empty_rows // 10_000):
                sheet.write(block)
            sheet.write(b"</sheetData></worksheet>")

"""A bounded fuzzing pass over the loaders: a small valid file of each format, made here,
then mangled by hypothesis (bytes flipped, cut, repeated, inserted), read the way the
server reads uploads: in reader processes within tight time and memory limits. Every file
must end in a status with a reason, or indexed; none may stop the batch or the process.
Derandomized, so CI runs the same files every time."""

from __future__ import annotations

import dataclasses
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import hypothesis
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from sabio.config import Settings
from sabio.service import Sabio

STATUSES = {"indexed", "skipped", "needs_ocr", "encrypted", "failed"}
TEXT = "El faro de Alejandría guiaba a los barcos. The lighthouse guided ships at night."


def _pdf() -> bytes:
    """A one-page PDF with a line of text and a ruled table (three lines across, three
    down, a word in each cell: what the table finder reads), its cross-reference table
    computed."""
    stream = b"BT /F1 12 Tf 72 720 Td (" + TEXT.encode("ascii", "replace") + b") Tj ET"
    stream += b"".join(b" 72 %d m 272 %d l S" % (y, y) for y in (600, 630, 660))
    stream += b"".join(b" %d 600 m %d 660 l S" % (x, x) for x in (72, 172, 272))
    for x, y, word in ((80, 640, b"Faro"), (180, 640, b"Altura"), (80, 610, b"Pharos")):
        stream += b" BT /F1 10 Tf %d %d Td (%s) Tj ET" % (x, y, word)
    stream += b" BT /F1 10 Tf 180 610 Td (137) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return out


def _docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Faros", level=1)
    document.add_paragraph(TEXT)
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(1, 1).text = "nombre", "Alejandría"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _xlsx() -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["faro", "ciudad"])
    sheet.append(["Pharos", "Alejandría"])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _pptx() -> bytes:
    import pptx

    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Faros"
    slide.placeholders[1].text = TEXT
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def _odt() -> bytes:
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P

    document = OpenDocumentText()
    document.text.addElement(H(outlinelevel=1, text="Faros"))
    document.text.addElement(P(text=TEXT))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _eml() -> bytes:
    return (
        "From: ana@example.org\r\nTo: luis@example.org\r\nSubject: Faros\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        f"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{TEXT}\r\n"
        "--b\r\nContent-Type: text/csv; name=a.csv\r\nContent-Disposition: attachment;"
        " filename=a.csv\r\n\r\nfaro,ciudad\r\nPharos,Alejandria\r\n--b--\r\n"
    ).encode()


SEEDS: dict[str, Callable[[], bytes]] = {
    ".pdf": _pdf,
    ".docx": _docx,
    ".xlsx": _xlsx,
    ".pptx": _pptx,
    ".odt": _odt,
    ".eml": _eml,
    ".mbox": lambda: b"From ana@example.org Mon Jan  1 00:00:00 2024\n" + _eml() + b"\n",
    ".html": lambda: (
        f"<html><head><title>Faros</title></head><body><h1>Faros</h1><p>{TEXT}</p></body></html>".encode()
    ),
    ".json": lambda: b'{"faros": [{"name": "Pharos", "city": "Alejandria"}, {"name": "Hercules"}]}',
    ".jsonl": lambda: b'{"name": "Pharos"}\n{"name": "Hercules", "city": "A Coruna"}\n',
    ".csv": lambda: b"faro,ciudad\nPharos,Alejandria\nHercules,A Coruna\n",
    ".md": lambda: f"---\ntitle: Faros\n---\n# Faros\n\n{TEXT}\n\n## Otro\n\ntexto".encode(),
    ".txt": lambda: TEXT.encode("utf-8"),
}


@st.composite
def mangled(draw: st.DrawFn, seed: bytes) -> bytes:
    """``seed`` with a few byte-level edits: flips, cuts, repeats and insertions."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "repeat", "insert", "truncate"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "repeat":
            data[at:at] = bytes(data[at : at + draw(st.integers(1, 32))]) * draw(
                st.integers(2, 2000)
            )
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        else:
            del data[at:]
    return bytes(data)


def _zip_members_mangled(seed: bytes) -> st.SearchStrategy[bytes]:
    """For Office files: mangle one member inside a well-formed zip too (the bytes of a
    zip are mostly compressed, so flips there only test the zip reader)."""
    with zipfile.ZipFile(io.BytesIO(seed)) as package:
        members = {name: package.read(name) for name in package.namelist()}
    xml = sorted(name for name in members if name.endswith(".xml"))

    @st.composite
    def inside(draw: st.DrawFn) -> bytes:
        name = draw(st.sampled_from(xml))
        changed = dict(members, **{name: draw(mangled(members[name]))})
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
            for member, body in changed.items():
                package.writestr(member, body)
        return out.getvalue()

    return inside()


@pytest.mark.parametrize("extension", sorted(SEEDS))
def test_mangled_files_fail_alone_within_the_limits(
    settings: Settings, tmp_path: Path, extension: str
) -> None:
    seed = SEEDS[extension]()
    files = mangled(seed)
    if zipfile.is_zipfile(io.BytesIO(seed)):
        files = st.one_of(files, _zip_members_mangled(seed))
    service = Sabio(
        dataclasses.replace(settings, reader_timeout=20.0, reader_memory_mb=400, max_text_mb=2)
    )
    batch = iter(range(10**6))

    @given(st.lists(files, min_size=4, max_size=4))
    @hypothesis.settings(
        max_examples=3,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def read(blobs: list[bytes]) -> None:
        folder = tmp_path / f"batch{next(batch)}"
        folder.mkdir()
        for i, blob in enumerate(blobs):
            (folder / f"f{i}{extension}").write_bytes(blob)
        (folder / "fine.txt").write_text(TEXT, encoding="utf-8")
        report = service.add([folder], isolate=True)
        results = {Path(r.source).name: r for r in report.results}
        assert len(results) == len(blobs) + 1
        assert results["fine.txt"].status == "indexed"
        for result in results.values():
            assert result.status in STATUSES, result
            assert result.status == "indexed" or result.reason, result

    try:
        read()
        # the seed itself is read
        (tmp_path / f"seed{extension}").write_bytes(seed)
        [seeded] = service.add([tmp_path / f"seed{extension}"], isolate=True).results
        assert seeded.status == "indexed", seeded
    finally:
        service.close()

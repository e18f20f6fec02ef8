"""OCR with the real Tesseract on a real scan (the LinnSequencer brochure of OCRmyPDF's
test files), cropped to its first paragraphs so that a reading takes about a second."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from conftest import need_data
from fake_servers import closed_port
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from sabio.cli import app
from sabio.config import load_settings
from sabio.errors import NeedsOCRError
from sabio.jobs import JobQueue
from sabio.loaders import Blob, OcrOptions, OcrSummary, ReadProgress, load_document
from sabio.loaders.garbled import looks_garbled
from sabio.loaders.ocr import recognize_page, skew_angle
from sabio.readers import Limits, ReaderPool
from sabio.server import create_app
from sabio.service import Sabio
from sabio.store import Store
from sabio.worker import Worker

needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="Tesseract is not installed (scripts/install.sh)"
)
OFF = OcrOptions(program="")
LINE = "The LinnSequencer is a state-of-the-art composition and performance tool"


def _page(*parts: str, dpi: int = 300) -> Image.Image:
    pdf = pdfium.PdfDocument(need_data("documents", "pdf", *parts))
    try:
        page = pdf[0]
        image: Image.Image = page.render(scale=dpi / 72, grayscale=True).to_pil()
        page.close()
    finally:
        pdf.close()
    return image


@pytest.fixture(scope="module")
def brochure_top() -> Image.Image:
    """The title and the first paragraph of the straight scan, at 300 dpi."""
    page = _page("ocrmypdf_scans", "linn.pdf")
    return page.crop((0, 0, page.width, page.height * 22 // 100))


def _words(text: str) -> str:
    return " ".join(text.split())


@needs_tesseract
def test_a_skewed_scan_is_straightened_and_read(brochure_top: Image.Image) -> None:
    tilted = brochure_top.rotate(4, expand=True, fillcolor=255)
    assert skew_angle(tilted) == pytest.approx(-4, abs=0.25)
    page = recognize_page(tilted)
    assert page.skew == pytest.approx(-4, abs=0.25)
    assert LINE in _words(page.text)
    assert page.confidence > 80 and not page.low_confidence


@needs_tesseract
def test_an_upside_down_scan_is_turned_and_read(brochure_top: Image.Image) -> None:
    page = recognize_page(brochure_top.rotate(180, expand=True))
    assert page.rotation == 180
    assert LINE in _words(page.text)


def _image_pdf(image: Image.Image, path: Path) -> Path:
    image.save(path, resolution=300)
    return path


def _mixed_pdf(tmp_path: Path, scan: Image.Image) -> Path:
    """A page with a text layer (a pdf.js test file), then a scanned page."""
    merged = pdfium.PdfDocument.new()
    for part in (need_data("documents", "pdf", "pdfjs", "issue6132.pdf"), tmp_path / "scan.pdf"):
        if part.name == "scan.pdf":
            _image_pdf(scan, part)
        source = pdfium.PdfDocument(part)
        merged.import_pages(source)
        source.close()
    path = tmp_path / "mixed.pdf"
    merged.save(path)
    merged.close()
    return path


@needs_tesseract
def test_only_the_scanned_page_of_a_mixed_pdf_is_read_by_ocr(
    tmp_path: Path, brochure_top: Image.Image
) -> None:
    path = _mixed_pdf(tmp_path, brochure_top)
    text_only = load_document(Blob.from_path(path, ocr=OFF))
    doc = load_document(Blob.from_path(path))
    assert [s.page for s in doc.sections] == [1, 2]
    assert doc.sections[0].text == text_only.sections[0].text  # its text layer, as it was
    assert LINE in _words(doc.sections[1].text)
    assert doc.metadata["ocr_pages"] == "2"
    assert float(doc.metadata["ocr_confidence"]) > 80
    assert "needs_ocr_pages" not in doc.metadata and "ocr_low_pages" not in doc.metadata


def test_without_ocr_the_scanned_page_is_listed_and_left_out(
    tmp_path: Path, brochure_top: Image.Image
) -> None:
    doc = load_document(Blob.from_path(_mixed_pdf(tmp_path, brochure_top), ocr=OFF))
    assert [s.page for s in doc.sections] == [1]
    assert doc.metadata["needs_ocr_pages"] == "2"
    assert "ocr_pages" not in doc.metadata


def test_without_tesseract_a_scan_says_how_to_install_it(
    tmp_path: Path, brochure_top: Image.Image
) -> None:
    missing = OcrOptions(program=str(tmp_path / "no-tesseract-here"))
    scan = Blob.from_path(_image_pdf(brochure_top, tmp_path / "scan.pdf"), ocr=missing)
    with pytest.raises(NeedsOCRError, match="apt-get install tesseract-ocr") as caught:
        load_document(scan)
    assert "1 of 1 pages have no usable text layer" in str(caught.value)


def _first_page_text(*parts: str) -> str:
    pdf = pdfium.PdfDocument(need_data("documents", "pdf", *parts))
    try:
        page = pdf[0]
        textpage = page.get_textpage()
        text: str = textpage.get_text_range()
        textpage.close()
        page.close()
    finally:
        pdf.close()
    return text


def test_garbled_text_layers_are_told_from_real_ones() -> None:
    assert looks_garbled(_first_page_text("pdfjs", "issue20232.pdf"))  # Russian as Hangul
    assert looks_garbled(_first_page_text("pdfjs", "issue5874.pdf"))  # Urdu as mixed scripts
    for real in ("tracemonkey.pdf", "issue8570.pdf", "bug1627427_reduced.pdf", "issue11656.pdf"):
        assert not looks_garbled(_first_page_text("pdfjs", real)), real  # en, ja, ko, he


def test_a_garbled_page_is_not_indexed_as_text() -> None:
    path = need_data("documents", "pdf", "pdfjs", "issue20232.pdf")
    with pytest.raises(NeedsOCRError, match="no usable text layer"):
        load_document(Blob.from_path(path, ocr=OFF))


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SABIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SABIO_EMBEDDING_MODEL", "fake:words")
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    return CliRunner()


@needs_tesseract
def test_an_image_is_searchable_after_sabio_add_and_docs_says_it_was_ocr(
    cli: CliRunner, tmp_path: Path, brochure_top: Image.Image
) -> None:
    photo = tmp_path / "folleto.jpg"
    brochure_top.rotate(-3, expand=True, fillcolor=255).save(photo, quality=80)
    added = cli.invoke(app, ["add", str(photo)], env={"COLUMNS": "200"})
    assert added.exit_code == 0, added.output
    assert "1 page read by OCR (confidence" in added.output
    found = cli.invoke(app, ["search", "composition and performance tool", "--json", "-k", "1"])
    [hit] = json.loads(found.stdout)
    assert hit["document"] == str(photo)
    assert "performance tool for the professional musician" in _words(hit["text"])
    listed = cli.invoke(app, ["docs"], env={"COLUMNS": "200"})
    assert "1 page read by OCR (confidence" in listed.output


@needs_tesseract
def test_an_uploaded_image_is_indexed_and_its_ocr_is_listed(
    tmp_path: Path, brochure_top: Image.Image
) -> None:
    settings = load_settings(
        {"home": tmp_path / "home", "embedding_model": "fake:words", "workers": 1}, environ={}
    )
    scan = io.BytesIO()
    brochure_top.save(scan, format="PNG")
    with TestClient(create_app(settings), base_url="http://127.0.0.1:11435") as client:
        client.post("/api/v1/kbs", json={"name": "scans"})
        upload = client.post(
            "/api/v1/kbs/scans/documents", files=[("files", ("folleto.png", scan.getvalue()))]
        )
        assert upload.status_code == 200, upload.text
        [result] = upload.json()["files"]
        assert (result["status"], result["outcome"]) == ("indexed", "added")
        [document] = client.get("/api/v1/kbs/scans/documents").json()
        assert document["ocr"]["pages"] == [1] and document["ocr"]["confidence"] > 80
        assert document["ocr"]["low_pages"] == [] == document["ocr"]["missing_pages"]
        hits = client.get("/api/v1/kbs/scans/search", params={"q": "LinnSequencer"}).json()
        assert hits["hits"][0]["text"].startswith("The LinnSequencer")


def test_the_document_note_says_what_ocr_read_and_what_is_left() -> None:
    metadata = {"ocr_pages": "2,4", "ocr_confidence": "71.4", "ocr_low_pages": "4"}
    summary = OcrSummary.of({**metadata, "needs_ocr_pages": "7,8"})
    assert summary == OcrSummary((2, 4), 71.4, (4,), (7, 8))
    assert summary.note() == (
        "2 pages read by OCR (confidence 71%) · page 4 is hard to read; check it · "
        "pages 7, 8 need OCR"
    )
    assert OcrSummary.of({}).note() == ""
    assert (
        OcrSummary.of({"needs_ocr_pages": "1,2,3,4,7,9,10"}).note()
        == "pages 1-4, 7, 9, 10 need OCR"
    )
    waiting = OcrSummary.of({"needs_ocr_pages": "5,6,7", "ocr_deferred": "1"})
    assert waiting.pending and waiting.note() == "OCR in progress: pages 5-7"


@needs_tesseract
def test_ocr_out_of_time_reads_the_first_pages_and_lists_the_rest(
    tmp_path: Path, brochure_top: Image.Image
) -> None:
    tiff = tmp_path / "fax.tif"
    first, *rest = [brochure_top.convert("1")] * 3
    first.save(tiff, save_all=True, append_images=rest, compression="group4")
    doc = load_document(Blob.from_path(tiff, ocr=OcrOptions(budget=1e-9)))
    assert doc.pages == 3
    assert [s.page for s in doc.sections] == [1]
    assert LINE in _words(doc.sections[0].text)
    assert (doc.metadata["ocr_pages"], doc.metadata["needs_ocr_pages"]) == ("1", "2,3")


@needs_tesseract
def test_pictures_with_text_inside_office_files_are_read_and_logos_are_not(
    tmp_path: Path, brochure_top: Image.Image
) -> None:
    import docx
    import pptx
    from pptx.util import Inches

    scan, logo = tmp_path / "scan.png", tmp_path / "logo.png"
    brochure_top.save(scan)
    brochure_top.resize((180, 52)).save(logo)  # under 200 x 200 pixels: never read
    document = docx.Document()
    document.add_paragraph("Folleto escaneado:")
    document.add_picture(str(scan))
    document.add_picture(str(logo))
    document.save(tmp_path / "folleto.docx")
    deck = pptx.Presentation()
    for picture in (logo, scan):
        slide = deck.slides.add_slide(deck.slide_layouts[6])
        slide.shapes.add_picture(str(picture), Inches(0.5), Inches(0.5), width=Inches(9))
    deck.save(tmp_path / "folleto.pptx")

    for name, page in (("folleto.docx", None), ("folleto.pptx", 2)):
        doc = load_document(Blob.from_path(tmp_path / name))
        pictures = [s for s in doc.sections if s.heading.startswith("Image: ")]
        assert len(pictures) == 1, name
        assert LINE in _words(pictures[0].text) and pictures[0].page == page


@needs_tesseract
def test_an_uploaded_mixed_pdf_is_searchable_at_once_and_its_scan_after_the_ocr_job(
    tmp_path: Path, brochure_top: Image.Image
) -> None:
    settings = load_settings(
        {"home": tmp_path / "home", "embedding_model": "fake:words", "workers": 1}, environ={}
    )
    mixed = _mixed_pdf(tmp_path, brochure_top).read_bytes()
    api = "/api/v1/kbs/mixed"

    def pages_found(query: str) -> set[int]:
        hits = client.get(f"{api}/search", params={"q": query, "k": 3}).json()["hits"]
        return {hit["page"] for hit in hits}

    app = create_app(settings, run_worker=False)  # the job is run below, by a worker
    with TestClient(app, base_url="http://127.0.0.1:11435") as client:
        client.post("/api/v1/kbs", json={"name": "mixed"})
        upload = client.post(f"{api}/documents", files=[("files", ("mixed.pdf", mixed))])
        assert upload.json()["files"][0]["status"] == "indexed"
        assert pages_found("arithmetic finite field extensions") == {1}  # the text page
        assert 2 not in pages_found("LinnSequencer composition performance tool")
        [document] = client.get(f"{api}/documents").json()
        assert document["ocr"] == {
            "pages": [],
            "confidence": None,
            "low_pages": [],
            "missing_pages": [2],
            "pending": True,
            "progress": None,  # its job has not started
        }
        [job] = client.get("/api/v1/jobs").json()
        assert job["status"] == "queued"

        worker = Worker(Sabio(settings), watch=False)  # as after a restart: the job is kept
        assert worker.run_pending() == 1
        worker.stop()
        assert 2 in pages_found("LinnSequencer composition performance tool")
        [document] = client.get(f"{api}/documents").json()
        assert document["ocr"]["pages"] == [2] and not document["ocr"]["pending"]
        assert document["ocr"]["missing_pages"] == []


def _count_pages(job: int, tell: Callable[[Any], None]) -> int:
    """A reader's task that tells how far it is, as OCR does, page by page."""
    for page in range(job):
        tell(("pages", page, job))
    return job * 10


def test_a_reader_tells_how_far_it_is_before_its_answer() -> None:
    notes: list[tuple[int, Any]] = []
    pool = ReaderPool(_count_pages, 2, Limits(seconds=30))
    ran = pool.run([3, 2], lambda task, note: notes.append((task, note)))
    results = {task: result for task, result, _ in ran}
    assert results == {3: 30, 2: 20}
    assert [n for t, n in notes if t == 3] == [("pages", 0, 3), ("pages", 1, 3), ("pages", 2, 3)]
    assert [n for t, n in notes if t == 2] == [("pages", 0, 2), ("pages", 1, 2)]


def test_the_progress_of_a_reading_says_the_page_or_the_time() -> None:
    assert ReadProgress("ocr", 2, 12).describe() == "OCR in progress — page 3 of 12"
    assert ReadProgress("ocr", 12, 12).describe() == "OCR in progress — page 12 of 12"
    assert ReadProgress("transcription", 125, 600).describe() == "transcribing — 2:05 of 10:00"
    assert ReadProgress("ocr", 2, 12).describe("es") == "OCR en curso — página 3 de 12"
    spanish = ReadProgress("transcription", 125, 600).describe("es")
    assert spanish == "transcribiendo — 2:05 de 10:00"


@needs_tesseract
def test_sabio_add_indexes_a_mixed_pdfs_text_first_then_reads_its_scan_page_by_page(
    tmp_path: Path, brochure_top: Image.Image
) -> None:
    settings = load_settings(
        {"home": tmp_path / "home", "embedding_model": "fake:words", "workers": 1}, environ={}
    )
    path = _mixed_pdf(tmp_path, brochure_top)
    sabio = Sabio(settings)
    sabio.create_kb("m")
    told: list[tuple[str, ReadProgress | None]] = []

    def progress(
        result: Any, note: str, total: int | None = None, reading: ReadProgress | None = None
    ) -> None:
        told.append((note, reading))
        if reading is not None:  # while OCR reads, the text page is searchable already
            assert {
                h.page for h in sabio.search("arithmetic finite field extensions", "m").hits
            } == {1}

    report = sabio.add([path], "m", progress=progress, ocr="after")
    [result] = report.results
    assert (result.outcome, result.status) == ("added", "indexed")
    assert result.note.startswith("1 page read by OCR")
    readings = [(r.done, r.total) for _, r in told if r is not None]
    assert readings == [(0, 1), (1, 1)]
    assert ("OCR in progress — page 1 of 1: mixed.pdf", ReadProgress("ocr", 0, 1)) in told
    assert 2 in {
        h.page for h in sabio.search("LinnSequencer composition performance tool", "m").hits
    }
    [doc] = sabio.documents("m")
    assert not OcrSummary.of(doc.metadata).pending
    sabio.close()


@needs_tesseract
def test_a_mixed_pdf_left_half_read_is_read_by_the_next_sabio_add(
    tmp_path: Path, brochure_top: Image.Image
) -> None:
    """`sabio add` stopped between its passes: the file is unchanged, its scan still unread."""
    settings = load_settings(
        {"home": tmp_path / "home", "embedding_model": "fake:words", "workers": 1}, environ={}
    )
    path = _mixed_pdf(tmp_path, brochure_top)
    sabio = Sabio(settings)
    sabio.create_kb("m")
    sabio.add([path], "m", ocr="job")  # the first pass only (its job never runs here)
    [doc] = sabio.documents("m")
    assert OcrSummary.of(doc.metadata).pending
    [again] = sabio.add([path], "m", ocr="after").results
    assert again.outcome == "updated" and again.note.startswith("1 page read by OCR")
    sabio.close()


@needs_tesseract
def test_the_document_list_says_which_page_a_running_ocr_job_is_at(
    tmp_path: Path, brochure_top: Image.Image
) -> None:
    settings = load_settings(
        {"home": tmp_path / "home", "embedding_model": "fake:words", "workers": 1}, environ={}
    )
    mixed = _mixed_pdf(tmp_path, brochure_top).read_bytes()
    app = create_app(settings, run_worker=False)
    with TestClient(app, base_url="http://127.0.0.1:11435") as client:
        client.post("/api/v1/kbs", json={"name": "mixed"})
        client.post("/api/v1/kbs/mixed/documents", files=[("files", ("mixed.pdf", mixed))])
        queue = JobQueue(Store(settings.database_path))
        job = queue.claim()  # a worker at page 3 of 12 (as its heartbeat says)
        assert job is not None and job.payload["ocr"] and len(job.payload["paths"]) == 1
        queue.heartbeat(job.id, 2, 12, "OCR in progress — page 3 of 12: mixed.pdf")
        [document] = client.get("/api/v1/kbs/mixed/documents").json()
        assert document["ocr"]["pending"]
        assert document["ocr"]["progress"] == {"done": 2, "total": 12}
        queue.finish(job)
        [document] = client.get("/api/v1/kbs/mixed/documents").json()
        assert document["ocr"]["progress"] is None
        queue.store.close()


@needs_tesseract
def test_a_reviewing_folder_sources_scanned_page_is_reviewed_once_its_ocr_job_read_it(
    tmp_path: Path,
) -> None:
    from PIL import ImageDraw, ImageFont

    page = Image.new("L", (2000, 400), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=48)
    draw.text((60, 60), "Cuenta para el pago:", font=font, fill=0)
    draw.text((60, 160), "IBAN ES91 2100 0418 4502 0005 1332", font=font, fill=0)
    folder = tmp_path / "docs"
    folder.mkdir()
    _mixed_pdf(tmp_path, page).rename(folder / "pago.pdf")
    settings = load_settings(
        {"home": tmp_path / "home", "embedding_model": "fake:words", "workers": 1}, environ={}
    )
    sabio = Sabio(settings)
    sabio.create_kb("m")
    sabio.add_source("folder", str(folder), "m", options={"review": True})
    worker = Worker(sabio, watch=False)
    assert worker.run_pending() == 2  # the sync (its text page), then the OCR job
    worker.stop()
    [doc] = sabio.documents("m")
    assert OcrSummary.of(doc.metadata).pages == (2,)
    assert any(a.counts.get("iban") for a in sabio.review_alerts("m"))  # on the scanned page
    sabio.close()

"""OCR with the real Tesseract on a real scan (the LinnSequencer brochure of OCRmyPDF's
test files), cropped to its first paragraphs so that a reading takes about a second."""

from __future__ import annotations

import shutil
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from conftest import need_data
from PIL import Image

from sabio.errors import NeedsOCRError
from sabio.loaders import Blob, OcrOptions, load_document
from sabio.loaders.garbled import looks_garbled
from sabio.loaders.ocr import recognize_page, skew_angle

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

"""Scans uploaded in the web app, read by the real Tesseract: Playwright driving the
system's Chromium against a real ``sabio`` server on loopback. The document list says
what OCR read and warns of a page hard to read, in English and in Spanish.

Screenshots go to ``test-artifacts/web/`` (look at them)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from conftest import need_data
from test_web import (
    DESKTOP,
    Page,
    browser,  # noqa: F401  (the fixture)
    expectation,
    serve,
)

pytestmark = pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="Tesseract is not installed (scripts/install.sh)"
)


@pytest.fixture
def reading(tmp_path: Path) -> Iterator[str]:
    yield from serve(tmp_path, ocr_program="tesseract")


def _brochure(tmp_path: Path) -> Path:
    """The title and first paragraph of OCRmyPDF's skewed LinnSequencer scan, as a PNG."""
    pdf = pdfium.PdfDocument(need_data("documents", "pdf", "ocrmypdf_scans", "skew.pdf"))
    page = pdf[0]
    image = page.render(scale=300 / 72, grayscale=True).to_pil()
    page.close()
    pdf.close()
    path = tmp_path / "folleto.png"
    image.crop((0, 0, image.width, image.height * 22 // 100)).save(path)
    return path


def test_an_uploaded_scan_is_read_and_a_page_hard_to_read_is_flagged(
    browser: Any,  # noqa: F811
    reading: str,
    tmp_path: Path,
) -> None:
    # an Urdu page whose text layer is mojibake: read by OCR without Urdu, poorly
    garbled = need_data("documents", "pdf", "pdfjs", "issue5874.pdf")
    expect = expectation()
    tab = Page(browser, reading, "ocr", viewport=DESKTOP, locale="en-US")
    page = tab.page
    page.goto(reading + "#/kbs")
    page.fill("input[name=kb-name]", "scans")
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".dropzone")).to_be_visible()
    page.set_input_files("input[type=file]", [str(_brochure(tmp_path)), str(garbled)])
    queue = page.locator(".upload-queue li")
    expect(queue.nth(0)).to_have_attribute("data-status", "indexed")
    expect(queue.nth(1)).to_have_attribute("data-status", "indexed")
    documents = page.url
    tab.close()
    for locale, read, hard in (
        ("en-US", "1 page read by OCR (confidence", "Page 1 is hard to read; check it."),
        ("es-ES", "1 página leída con OCR (confianza", "La página 1 se lee mal; revísala."),
    ):
        tab = Page(browser, reading, f"ocr-{locale}", viewport=DESKTOP, locale=locale)
        tab.page.goto(documents)
        rows = tab.page.locator(".documents tbody tr")
        expect(rows).to_have_count(2)
        scan = rows.filter(has_text="folleto.png")
        expect(scan).to_contain_text(read)
        expect(scan.locator(".ocr-low")).to_have_count(0)
        expect(rows.filter(has_text="issue5874.pdf").locator(".ocr-low")).to_have_text(hard)
        tab.shot("documents")
        tab.close()


def test_a_passage_read_by_ocr_is_cited_highlighted_and_opens_its_page(
    browser: Any,  # noqa: F811
    reading: str,
) -> None:
    """A scanned PDF (OCRmyPDF's skewed brochure page, no text layer) uploaded, read by
    Tesseract, asked about: the answer cites page 1, the source panel marks the OCR'd
    passage, and the original opens at that page."""
    scan = need_data("documents", "pdf", "ocrmypdf_scans", "skew.pdf")
    expect = expectation()
    tab = Page(browser, reading, "ocr-cited", viewport=DESKTOP, locale="en-US")
    page = tab.page
    page.goto(reading + "#/kbs")
    page.fill("input[name=kb-name]", "brochures")
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".dropzone")).to_be_visible()
    page.set_input_files("input[type=file]", [str(scan)])
    row = page.locator(".documents tbody tr").filter(has_text="skew.pdf")
    expect(row).to_contain_text("1 page read by OCR", timeout=120_000)
    page.get_by_role("link", name="New chat").click()
    page.get_by_label("Knowledge base").select_option("brochures")
    page.fill("#question", "How many tracks does the LinnSequencer MIDI sequence recorder have?")
    page.keyboard.press("Enter")
    answer = page.locator(".message.assistant").last
    expect(answer).not_to_have_class(re.compile("streaming"))
    expect(answer.locator(".source-chip").first).to_contain_text("p. 1")
    answer.locator("button.cite").first.click()
    panel = page.locator("#source")
    expect(panel).to_be_visible()
    expect(panel.locator("mark")).to_contain_text(re.compile("LinnSequencer|Track", re.IGNORECASE))
    original = panel.get_by_role("link", name="Open the original at page 1")
    href = original.get_attribute("href")
    assert href and href.endswith("#page=1")
    pdf = page.request.get(reading + href.split("#")[0])
    assert pdf.ok and pdf.body()[:5] == b"%PDF-"
    tab.shot("ocr-source")
    tab.close()


def test_an_admin_sets_a_knowledge_bases_ocr_languages_and_a_wrong_one_is_said(
    browser: Any,  # noqa: F811
    reading: str,
) -> None:
    expect = expectation()
    tab = Page(browser, reading, "ocr-languages", viewport=DESKTOP, locale="es-ES")
    page = tab.page
    page.goto(reading + "#/kbs")
    page.fill("input[name=kb-name]", "escaneos")
    page.get_by_role("button", name="Crear").click()
    page.locator("button.ocr-languages").click()
    dialog = page.locator("dialog[open]")
    dialog.locator("input[name=dialog-setting]").fill("spa+klingon")
    dialog.get_by_role("button", name="Guardar").click()
    expect(dialog.locator(".form-error")).to_contain_text(
        "Tesseract no tiene el paquete de idioma «klingon»"
    )
    tab.shot("refused")
    dialog.locator("input[name=dialog-setting]").fill("spa")
    dialog.get_by_role("button", name="Guardar").click()
    expect(page.locator("dialog[open]")).to_have_count(0)
    kb = page.request.get(reading + "/api/v1/kbs/escaneos").json()
    assert kb["ocr_languages"] == "spa"
    page.locator("button.ocr-languages").click()  # it shows what it is now
    expect(page.locator("dialog[open] input[name=dialog-setting]")).to_have_value("spa")
    tab.close()

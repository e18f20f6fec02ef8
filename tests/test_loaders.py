"""Loaders against the real messy files in ../shared/data/documents (see its MANIFEST)."""

from __future__ import annotations

import csv
import json
import mailbox
import re
from pathlib import Path

import pytest

from sabio.errors import (
    CorruptFileError,
    EmptyDocumentError,
    EncryptedError,
    LoadError,
    NeedsOCRError,
    UnsupportedTypeError,
)
from sabio.loaders import Blob, LoadedDocument, OcrOptions, load_document
from sabio.loaders.text import decode_bytes

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DOCS = DATA / "documents"
# OCR (tests/test_ocr.py) turned off: a scan stays "needs OCR", as without Tesseract.
NO_OCR = OcrOptions(program="")

pytestmark = pytest.mark.skipif(
    not DOCS.is_dir(), reason=f"test documents not found at {DOCS} (the shared data checkout)"
)

# Long runs of base64 (or other encoded binary) that must never reach the index.
BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{80,}")


def load(relative: str, password: str | None = None) -> LoadedDocument:
    return load_document(Blob.from_path(DOCS / relative, password=password, ocr=NO_OCR))


def all_text(doc: LoadedDocument) -> str:
    return "\n".join(section.text for section in doc.sections)


def manifest_rows(tag: str, suffix: str) -> list[str]:
    if not (DATA / "MANIFEST.tsv").is_file():
        return []
    with (DATA / "MANIFEST.tsv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [
        row["file"].removeprefix("documents/")
        for row in rows
        if tag in row["notes"] and row["file"].endswith(suffix)
    ]


# --- PDF ------------------------------------------------------------------------------


def test_pdf_has_one_section_per_page_with_page_numbers() -> None:
    doc = load("pdf/pdfjs/tracemonkey.pdf")
    assert doc.pages == 14
    assert [s.page for s in doc.sections] == list(range(1, 15))
    assert "Trace" in doc.sections[0].text
    assert "\n\n" in doc.sections[0].text  # paragraphs survive
    assert "\ufffe" not in all_text(doc)  # pdfium's hyphen marker is resolved


def test_pdf_title_comes_from_metadata_when_sensible() -> None:
    assert load("pdf/pdfjs/TAMReview.pdf").title.startswith("Overview of the Technology")
    assert load("pdf/pdfjs/tracemonkey.pdf").title == "tracemonkey"  # no Title: file stem
    assert load("pdf/pdfjs/issue15690.pdf").title == "issue15690"  # "Microsoft Word - 文档1"


@pytest.mark.parametrize("name", ["ocrmypdf_scans/linn.pdf", "pdfjs/issue4379.pdf"])
def test_scanned_pdf_needs_ocr_without_ocr(name: str) -> None:
    with pytest.raises(NeedsOCRError, match=r"1 of 1 pages have no usable text layer.*OCR"):
        load(f"pdf/{name}")


def test_blank_pdf_is_empty_not_indexed() -> None:
    with pytest.raises(EmptyDocumentError):
        load("pdf/pdfjs/empty.pdf")


def _merged_pdf(tmp_path: Path, parts: list[str]) -> Path:
    import pypdfium2 as pdfium

    merged = pdfium.PdfDocument.new()
    for part in parts:
        source = pdfium.PdfDocument(DOCS / "pdf" / part)
        merged.import_pages(source)
        source.close()
    path = tmp_path / "merged.pdf"
    merged.save(path)
    merged.close()
    return path


def test_partly_scanned_pdf_indexes_text_pages_and_lists_scanned_ones(tmp_path: Path) -> None:
    path = _merged_pdf(tmp_path, ["pdfjs/bug1997343.pdf", "ocrmypdf_scans/linn.pdf"])
    doc = load_document(Blob.from_path(path, ocr=NO_OCR))
    assert [s.page for s in doc.sections] == [1, 2]
    assert doc.metadata["needs_ocr_pages"] == "3"


def test_mostly_scanned_pdf_needs_ocr(tmp_path: Path) -> None:
    path = _merged_pdf(tmp_path, ["pdfjs/issue6132.pdf", "ocrmypdf_scans/cardinal.pdf"])
    with pytest.raises(NeedsOCRError, match="4 of 5 pages"):
        load_document(Blob.from_path(path, ocr=NO_OCR))


# pdfium repairs these well enough to read real text; the rest cannot be opened.
REPAIRED_PDFS = {"issue9418.pdf", "xref_command_missing.pdf", "poppler-90-0-fuzzed.pdf"}


@pytest.mark.parametrize("name", manifest_rows("[corrupt", ".pdf"))
def test_corrupt_pdf_is_a_load_error_or_repaired_text(name: str) -> None:
    if Path(name).name in REPAIRED_PDFS:
        assert load(name).sections
    else:
        with pytest.raises(LoadError):
            load(name)


def test_pdf_with_absurd_page_count_is_a_load_error() -> None:
    with pytest.raises(LoadError):
        load("pdf/pdfjs/poppler-85140-0.pdf")


@pytest.mark.parametrize(
    ("name", "password"), [("issue3371.pdf", "ELXRTQWS"), ("issue21579.pdf", "pässwört")]
)
def test_encrypted_pdf_needs_the_password(name: str, password: str) -> None:
    with pytest.raises(EncryptedError, match="--password"):
        load(f"pdf/pdfjs/{name}")
    with pytest.raises(EncryptedError, match="wrong"):
        load(f"pdf/pdfjs/{name}", password="not-it")
    try:
        doc = load(f"pdf/pdfjs/{name}", password=password)
    except NeedsOCRError:  # issue3371.pdf is an encrypted scan: it opened
        assert name == "issue3371.pdf"
    else:
        assert "decryption succeeded" in all_text(doc)


# --- Office ---------------------------------------------------------------------------


def test_encrypted_docx_asks_for_the_password_then_loads() -> None:
    name = "docx/bug53475-password-is-pass.docx"
    with pytest.raises(EncryptedError, match="password"):
        load(name)
    with pytest.raises(EncryptedError, match="wrong"):
        load(name, password="nope")
    assert "password protected document" in all_text(load(name, password="pass"))


@pytest.mark.parametrize(
    "name",
    ["truncated62886.docx", "clusterfuzz-testcase-minimized-POIXWPFFuzzer-4959857092198400.docx"],
)
def test_damaged_docx_is_corrupt(name: str) -> None:
    with pytest.raises(CorruptFileError):
        load(f"docx/{name}")


def test_docx_tracked_changes_keep_insertions_and_drop_deletions() -> None:
    text = all_text(load("docx/delins.docx"))
    assert "26th @ 15:00" in text  # inside w:ins
    assert "Maang Tika" not in text  # inside w:del
    assert "Tika Waylan" not in text


def test_docx_headings_and_tables() -> None:
    doc = load("docx/IllustrativeCases.docx")
    assert doc.sections[0].heading == "(V) ILLUSTRATIVE CASES"
    tables = [s for s in doc.sections if s.kind == "table"]
    assert tables
    assert tables[0].text.splitlines()[0] == "| 2006 | 2007"
    assert "Standard Rate Band" in tables[0].text


def test_docx_notes_are_included() -> None:
    assert any(
        s.heading == "Endnotes" and "XXX" in s.text for s in load("docx/endnotes.docx").sections
    )
    footnotes = [s for s in load("docx/form_footnotes.docx").sections if s.heading == "Footnotes"]
    assert footnotes
    assert "test phrase" in footnotes[0].text


def test_xlsx_sheet_is_a_table_with_its_header() -> None:
    doc = load("xlsx/ne_1033_data.xlsx")
    assert [s.heading for s in doc.sections] == ["NE data"]
    assert doc.sections[0].kind == "table"
    assert doc.sections[0].text.startswith("state | county | fips")


def test_xlsx_skips_empty_rows_and_formats_numbers(tmp_path: Path) -> None:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Ventas"
    sheet.append(["Región", "Total"])
    sheet.append([None, None])
    sheet.append(["Norte", 42.0])
    path = tmp_path / "ventas.xlsx"
    workbook.save(path)
    doc = load_document(Blob.from_path(path))
    assert doc.sections[0].heading == "Ventas"
    assert doc.sections[0].text == "Región | Total\nNorte | 42"


def test_pptx_one_section_per_slide(tmp_path: Path) -> None:
    import pptx

    presentation = pptx.Presentation()
    slide = presentation.slides.add_slide(presentation.slide_layouts[1])
    slide.shapes.title.text = "Resultados"
    slide.placeholders[1].text = "Las ventas crecieron un 12 %"
    slide.notes_slide.notes_text_frame.text = "Mencionar la oficina de Madrid"
    presentation.slides.add_slide(presentation.slide_layouts[5]).shapes.title.text = "Gracias"
    path = tmp_path / "deck.pptx"
    presentation.save(path)
    doc = load_document(Blob.from_path(path))
    assert [(s.page, s.heading) for s in doc.sections] == [(1, "Resultados"), (2, "Gracias")]
    assert "crecieron" in doc.sections[0].text
    assert "oficina de Madrid" in doc.sections[0].text
    assert doc.pages == 2


def test_odt_paragraphs_under_headings(tmp_path: Path) -> None:
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P

    document = OpenDocumentText()
    document.text.addElement(H(outlinelevel=1, text="Introducción"))
    document.text.addElement(P(text="El año pasado fue bueno."))
    document.text.addElement(H(outlinelevel=2, text="Detalles"))
    document.text.addElement(P(text="Más texto aquí."))
    path = tmp_path / "informe.odt"
    document.save(str(path))
    doc = load_document(Blob.from_path(path))
    assert [(s.heading, s.text) for s in doc.sections] == [
        ("Introducción", "El año pasado fue bueno."),
        ("Introducción > Detalles", "Más texto aquí."),
    ]


# --- text, CSV, JSON ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "last_row"),
    [
        ("test_latin1.csv", "4 | 5 | ©"),
        ("test_utf16_big.csv", "4 | 5 | ʤ"),
        ("test_utf8_bom.csv", "4 | 5 | ʤ"),
        ("null_byte.csv", " | 2 | 3"),
        ("mac_newlines.csv", "Once upon\na time | 5 | 6"),
    ],
)
def test_csv_encodings_and_line_endings(name: str, last_row: str) -> None:
    doc = load(f"csv/{name}")
    assert doc.sections[0].kind == "table"
    text = doc.sections[0].text
    assert text.endswith(last_row.strip())
    assert "\ufeff" not in text
    assert "\ufffd" not in text


def test_csv_ragged_rows_are_kept() -> None:
    lines = load("csv/bad.csv").sections[0].text.splitlines()
    assert lines[0] == "column_a | column_b | column_c"
    assert "I'm too long!" in lines[1]
    assert "I'm too short!" in lines[2]


def test_cp1252_spanish_is_not_mistaken_for_another_code_page(tmp_path: Path) -> None:
    path = tmp_path / "clientes.csv"
    rows = "nombre;ciudad;nota\nMaría Núñez;Logroño;pagó el año\nJosé Peña;Cádiz;señal ó\n"
    path.write_bytes((rows * 3).encode("cp1252"))
    text = load_document(Blob.from_path(path)).sections[0].text
    assert "María Núñez | Logroño | pagó el año" in text


def test_decode_bytes_utf16_without_bom_and_declared_charsets() -> None:
    assert decode_bytes("¿Qué tal, señor?".encode("utf-16-le")) == "¿Qué tal, señor?"
    assert decode_bytes("東京".encode("iso-2022-jp"), "iso-2022-jp") == "東京"
    assert decode_bytes("Año".encode(), "iso-8859-1") == "Año"  # mislabelled UTF-8


def test_markdown_headings_become_paths(tmp_path: Path) -> None:
    path = tmp_path / "notas.md"
    path.write_text("# Guía\nIntro\n\n## Instalación\nPaso 1\n```\n# no es título\n```\n")
    doc = load_document(Blob.from_path(path))
    assert doc.title == "Guía"
    assert [(s.heading, s.text) for s in doc.sections] == [
        ("Guía", "Intro"),
        ("Guía > Instalación", "Paso 1\n```\n# no es título\n```"),
    ]


def test_json_array_gives_one_section_per_record() -> None:
    doc = load("json/github_events.json")
    assert len(doc.sections) == 30
    assert doc.metadata["records"] == "30"
    first = doc.sections[0].text
    assert "type: PushEvent" in first
    assert "actor.login: " in first
    assert ": None" not in all_text(doc)


def test_json_object_with_a_record_list() -> None:
    doc = load("json/twitter.json")
    statuses = [s for s in doc.sections if s.heading.startswith("statuses > ")]
    assert len(statuses) == 100
    assert any("user.screen_name: " in s.text for s in statuses)
    assert doc.sections[0].text.startswith("search_metadata.")


def test_ndjson_with_a_header_row() -> None:
    doc = load("json/amazon_cellphones.ndjson")
    assert doc.metadata["records"] == "792"
    assert "brand: Nokia" in doc.sections[0].text


def test_invalid_json_is_corrupt_and_bad_json_lines_are_counted(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"a": [1, 2')
    with pytest.raises(CorruptFileError, match="not valid JSON"):
        load_document(Blob.from_path(broken))
    lines = tmp_path / "events.jsonl"
    lines.write_text(json.dumps({"evento": "alta"}) + "\n{oops\n" + json.dumps({"evento": "baja"}))
    doc = load_document(Blob.from_path(lines))
    assert [s.text for s in doc.sections] == ["evento: alta", "evento: baja"]
    assert doc.metadata["bad_lines"] == "1"


# --- HTML -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("site", "sentence", "boilerplate"),
    [
        ("bbc-1", 'failure to pass "common sense gun safety laws"', "Accessibility Help"),
        ("la-nacion", "Abdullah Ocalan, el líder independentista kurdo", "Todos los programas"),
        ("heise", "Das in der iOS-Version bereits enthaltene TOTP-Feature", "Arbeiten bei heise"),
    ],
)
def test_html_main_content_without_navigation(site: str, sentence: str, boilerplate: str) -> None:
    expected = (DOCS / "html" / site / "expected.html").read_text(encoding="utf-8")
    assert sentence in expected.replace("&quot;", '"')
    doc = load(f"html/{site}/source.html")
    text = all_text(doc)
    assert sentence in text
    assert boilerplate not in text
    gold = json.loads((DOCS / "html" / site / "expected-metadata.json").read_text(encoding="utf-8"))
    assert doc.title == gold["title"]


def test_html_headings_and_fallback(tmp_path: Path) -> None:
    doc = load("html/wikipedia/source.html")
    assert any(s.heading == "Mozilla > History" for s in doc.sections)
    fragment = tmp_path / "nota.html"
    fragment.write_text("<html><head><title>Nota</title></head><body><p>Hola, mundo</p></body>")
    doc = load_document(Blob.from_path(fragment))
    assert (doc.title, all_text(doc)) == ("Nota", "Hola, mundo")


# --- mail -----------------------------------------------------------------------------

MAIL_FILES = sorted(
    str(p.relative_to(DOCS)) for p in (DOCS / "email").rglob("*") if p.suffix in (".eml", ".mbox")
)


@pytest.mark.parametrize("name", MAIL_FILES)
def test_mail_never_indexes_base64(name: str) -> None:
    for section in load(name).sections:
        assert not BASE64_RUN.search(section.text), section.heading


def test_mail_attachment_text_is_indexed_under_its_name() -> None:
    doc = load("email/spamscope/mail_test_2.eml")
    attachment = [s for s in doc.sections if s.heading == "Attachment: Bollettino.pdf"]
    assert attachment
    assert "BOLLETTINO METEOROLOGICO" in attachment[0].text
    assert attachment[0].page == 1
    assert "intestazione.jpg" in doc.metadata["skipped_attachments"]


def test_mail_broken_pdf_attachment_is_recorded_not_indexed() -> None:
    doc = load("email/mikel_mail/attachment_emails_attachment_pdf.eml")
    assert doc.title == "Another PDF with 🎉 Unicode chars in it 🍿"
    assert "broken.pdf (failed" in doc.metadata["skipped_attachments"]
    assert "Just attaching another PDF" in all_text(doc)
    assert "JVBERi0" not in all_text(doc)


def test_mail_headers_and_metadata() -> None:
    doc = load("email/spamscope/mail_test_17.eml")
    assert doc.title == "Transferencia Interbancaria Banca en Línea"
    assert doc.metadata["date"] == "2022-10-10T20:11:32+00:00"
    assert doc.sections[0].text.startswith('From: "notificaccion-clientes@bbva.mx"')


def test_spanish_mail_with_a_wrong_boundary_is_readable() -> None:
    text = all_text(load("email/spamscope/mail_malformed_3.eml"))
    assert "información de la compañía" in text


def test_mail_nested_message_and_8bit_headers() -> None:
    doc = load("email/mikel_mail/attachment_emails_attachment_message_rfc822.eml")
    assert "Just attaching another PDF" in all_text(doc)
    mbox = load("email/mbox/perceval_mbox_iso8859_encoding.mbox")
    assert "lucíacharlie" in mbox.sections[0].heading


MBOX_FILES = sorted(p.name for p in (DOCS / "email" / "mbox").glob("*.mbox"))


@pytest.mark.parametrize("name", MBOX_FILES)
def test_mbox_has_every_message(name: str) -> None:
    box = mailbox.mbox(DOCS / "email" / "mbox" / name, create=False)
    try:
        expected = len(box)
    finally:
        box.close()
    doc = load(f"email/mbox/{name}")
    assert doc.metadata["messages"] == str(expected)
    headed = {s.heading.split(" > ")[0] for s in doc.sections}
    assert len(headed) == expected


def test_outlook_msg_is_unsupported_with_advice() -> None:
    with pytest.raises(UnsupportedTypeError, match=r"\.eml"):
        load("email/tika/test-outlook2003.msg")


# --- everything -----------------------------------------------------------------------


def test_unknown_extension_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "modelo.stl"
    path.write_bytes(b"solid x")
    with pytest.raises(UnsupportedTypeError):
        load_document(Blob.from_path(path))


def test_every_document_loads_or_fails_with_a_load_error() -> None:
    statuses: dict[str, int] = {}
    for path in sorted(p for p in DOCS.rglob("*") if p.is_file()):
        try:
            doc = load_document(Blob.from_path(path, ocr=NO_OCR))
        except LoadError as exc:
            status = exc.status
        else:
            assert doc.sections, path
            assert all(s.text.strip() for s in doc.sections), path
            status = "ok"
        statuses[status] = statuses.get(status, 0) + 1
    assert statuses["ok"] > 100
    assert statuses["needs_ocr"] >= 10


def test_loader_modules_register_exactly_their_extensions() -> None:
    import importlib

    from sabio import loaders

    for module, extensions in loaders.LOADER_MODULES.items():
        importlib.import_module(module)
        registered = {ext for ext, fn in loaders._LOADERS.items() if fn.__module__ == module} or {
            ext for ext in loaders._LOADERS if loaders._MODULE_OF.get(ext) == module
        }
        assert set(extensions) <= set(loaders._LOADERS), module
        assert registered == set(extensions), module

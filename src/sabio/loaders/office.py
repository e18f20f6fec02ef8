"""Office documents: DOCX, PPTX, XLSX (and their encrypted forms), ODT and ODS.

DOCX is read from its XML: paragraphs under heading styles give the heading path, a
table becomes a ``table`` section (one line per row, cells joined with " | ", its caption
the last part of its heading), tracked
deletions are left out and insertions kept, footnotes and endnotes follow the body.
PPTX gives one section per slide (title as heading, speaker notes included), XLSX one
table section per sheet (ODS too, its cells as the sheet shows them), ODT paragraphs under
their headings.

A password-protected OOXML file is not a zip but an OLE container holding the encrypted
package; it is decrypted with msoffcrypto-tool when a password is given.
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, Any
from xml.sax import SAXException

import docx
import msoffcrypto
import openpyxl
import pptx
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from docx.opc.exceptions import PackageNotFoundError as DocxPackageError
from docx.oxml.parser import parse_xml
from msoffcrypto.exceptions import DecryptionError, FileFormatError, InvalidKeyError, ParseError
from odf import opendocument, teletype
from odf.dc import Title
from odf.table import Table, TableRow
from openpyxl.utils.exceptions import InvalidFileException
from pptx.exc import PackageNotFoundError as PptxPackageError

from sabio.errors import CorruptFileError, EncryptedError
from sabio.loaders import Blob, LoadedDocument, OcrOptions, Section, register_loader
from sabio.loaders.image import embedded_image_sections

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Where a package keeps its pictures; those of these kinds are read by OCR when large enough.
_MEDIA = {"DOCX": "word/media/", "PPTX": "ppt/media/"}
_PICTURES = {".png", ".jpg", ".jpeg", ".gif", ".tif", ".tiff", ".bmp", ".webp"}
MAX_PICTURE_BYTES = 20 * 1024 * 1024
_SLIDE_RELS = re.compile(r"ppt/slides/_rels/slide(\d+)\.xml\.rels")
_MEDIA_TARGET = re.compile(r'Target="\.\./media/([^"]+)"')
# What a damaged zip or XML part makes python-docx, python-pptx, openpyxl or odfpy raise.
_PACKAGE_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    NotImplementedError,  # a zip compression method nobody supports
    DocxPackageError,
    PptxPackageError,
    InvalidFileException,
    SyntaxError,  # lxml.etree.XMLSyntaxError
    SAXException,
    KeyError,
    ValueError,
    EOFError,
    OSError,
    AttributeError,
    IndexError,
    TypeError,
)
_GENERIC_TITLES = {"untitled", "document", "word document", "presentation", "slide 1", "sheet1"}
MAX_SHEET_ROWS = 100_000
MAX_SHEET_COLUMNS = 500
MAX_CAPTION = 100
_CAPTION_TEXT = re.compile(r"^(?:tabla|table|cuadro|tableau|tabelle)\s*\d+\b", re.I)

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_T, _TAB, _BR, _CR = (f"{{{W}}}{name}" for name in ("t", "tab", "br", "cr"))
# Subtrees whose text is not part of the document: tracked deletions and moves, the
# fallback copy of a text box, paragraph and run properties, field codes.
_SKIP = {f"{{{W}}}{name}" for name in ("del", "moveFrom", "pPr", "rPr", "instrText", "delText")} | {
    "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
}
_HEADING_STYLE = re.compile(r"^(?:heading|überschrift|titre|título|заголовок)\s*(\d)$", re.I)


def _open_package(blob: Blob, kind: str) -> IO[bytes]:
    """The zip package to read, decrypted first when the file is password-protected."""
    data = blob.read()
    if not data.startswith(_OLE_MAGIC):
        return io.BytesIO(data)
    try:
        office = msoffcrypto.OfficeFile(io.BytesIO(data))
        encrypted = office.is_encrypted()
    except (FileFormatError, ParseError, OSError, ValueError, KeyError) as exc:
        raise CorruptFileError(f"not a readable {kind} file ({type(exc).__name__})") from exc
    if not encrypted:
        raise CorruptFileError(
            f"this is an old binary Office file, not {kind}; open it and save it as {kind}"
        )
    if not blob.password:
        raise EncryptedError(f"the {kind} file is password-protected; pass it with --password")
    return _decrypt(office, blob.password, kind)


def _decrypt(office: Any, password: str, kind: str) -> IO[bytes]:
    out = io.BytesIO()
    try:
        try:
            office.load_key(password=password)
        except ValueError:
            # msoffcrypto does not pad a SHA-1 key to the AES key size as the spec says.
            office.load_key(secret_key=_agile_secret_key(office.info, password))
        office.decrypt(out)
    except (InvalidKeyError, DecryptionError) as exc:
        raise EncryptedError(f"the {kind} password is wrong; pass the right one") from exc
    except (FileFormatError, ParseError, ValueError, KeyError, TypeError) as exc:
        raise CorruptFileError(f"could not decrypt the {kind} file ({exc})") from exc
    if not out.getvalue().startswith(b"PK"):
        raise EncryptedError(f"the {kind} password is wrong; pass the right one")
    out.seek(0)
    return out


def _agile_secret_key(info: dict[str, Any], password: str) -> bytes:
    """MS-OFFCRYPTO 2.3.4.11: the agile-encryption key derived from a password."""
    algorithm = str(info["passwordHashAlgorithm"]).replace("-", "").lower()

    def digest(data: bytes) -> bytes:
        return hashlib.new(algorithm, data).digest()

    salt: bytes = info["passwordSalt"]
    value = digest(salt + password.encode("utf-16-le"))
    for i in range(int(info["spinValue"])):
        value = digest(i.to_bytes(4, "little") + value)
    size = int(info["passwordKeyBits"]) // 8
    key = digest(value + bytes.fromhex("146e0be7abacd0d6"))[:size].ljust(size, b"\x36")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(salt)).decryptor()
    secret: bytes = decryptor.update(info["encryptedKeyValue"]) + decryptor.finalize()
    return secret


def _guarded(kind: str, read: Callable[[IO[bytes]], LoadedDocument]) -> Callable[[Blob], Any]:
    def load(blob: Blob) -> LoadedDocument:
        package = _open_package(blob, kind)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # openpyxl and odfpy warn about features
                doc = read(package)
                if kind in _MEDIA:
                    doc.sections += _embedded_images(package, kind, blob.ocr)
        except _PACKAGE_ERRORS as exc:
            raise CorruptFileError(f"the {kind} file is damaged ({type(exc).__name__})") from exc
        doc.title = doc.title or Path(blob.name).stem
        return doc

    return load


def _embedded_images(package: IO[bytes], kind: str, ocr: OcrOptions) -> list[Section]:
    """The text of the pictures in a DOCX or PPTX that carry some (a scanned page pasted
    in, a screenshot), each under "Image: name" (a slide's with its slide number)."""
    package.seek(0)
    with zipfile.ZipFile(package) as archive:
        names = [
            info.filename
            for info in archive.infolist()
            if info.filename.startswith(_MEDIA[kind])
            and Path(info.filename).suffix.lower() in _PICTURES
            and info.file_size <= MAX_PICTURE_BYTES
        ]
        slides = _slides_of_media(archive) if kind == "PPTX" else {}
        pictures = [(name, archive.read(name), slides.get(name)) for name in names]
    return embedded_image_sections(pictures, ocr)


def _slides_of_media(archive: zipfile.ZipFile) -> dict[str, int]:
    """ppt/media/… → the first slide that shows it."""
    slides: dict[str, int] = {}
    for name in archive.namelist():
        if match := _SLIDE_RELS.fullmatch(name):
            rels = archive.read(name).decode("utf-8", "replace")
            for target in _MEDIA_TARGET.findall(rels):
                media = f"ppt/media/{target}"
                slides[media] = min(slides.get(media, 1 << 30), int(match.group(1)))
    return slides


def _headed(path: list[tuple[int, str]]) -> str:
    return " > ".join(text for _, text in path)


def _push_heading(path: list[tuple[int, str]], level: int, text: str) -> list[tuple[int, str]]:
    return [(lvl, t) for lvl, t in path if lvl < level] + [(level, text)]


# --- DOCX -----------------------------------------------------------------------------


def _read_docx(package: IO[bytes]) -> LoadedDocument:
    document = docx.Document(package)
    levels = _heading_levels(document.styles.element)
    captions = _caption_styles(document.styles.element)
    sections = list(_docx_blocks(document.element.body, levels, captions))
    for part in document.part.package.iter_parts():
        name = str(part.partname)
        if name in ("/word/footnotes.xml", "/word/endnotes.xml"):
            notes = _notes(parse_xml(part.blob))
            if notes:
                sections.append(Section(notes, heading=Path(name).stem.capitalize()))
    return LoadedDocument(sections=sections, title=_clean_title(document.core_properties.title))


def _heading_levels(styles: Any) -> dict[str, int]:
    """Paragraph style id -> heading level (Title is 1, Heading 1 is 1, ...)."""
    levels: dict[str, int] = {}
    for style in styles.iterfind(f"{{{W}}}style"):
        style_id = style.get(f"{{{W}}}styleId", "")
        name_el = style.find(f"{{{W}}}name")
        name = name_el.get(f"{{{W}}}val", "") if name_el is not None else ""
        outline = style.find(f"{{{W}}}pPr/{{{W}}}outlineLvl")
        if match := _HEADING_STYLE.match(name.strip()):
            levels[style_id] = int(match.group(1))
        elif name.lower() == "title":
            levels[style_id] = 1
        elif outline is not None and outline.get(f"{{{W}}}val", "9") in "012345":
            levels[style_id] = int(outline.get(f"{{{W}}}val", "9")) + 1
    return levels


def _caption_styles(styles: Any) -> set[str]:
    """The ids of the paragraph styles named "caption" (Word's built-in name in any
    language: the id is "Caption", "Descripcin"...)."""
    ids = set()
    for style in styles.iterfind(f"{{{W}}}style"):
        name_el = style.find(f"{{{W}}}name")
        if name_el is not None and name_el.get(f"{{{W}}}val", "").strip().lower() == "caption":
            ids.add(style.get(f"{{{W}}}styleId", ""))
    return ids


def _docx_blocks(body: Any, levels: dict[str, int], captions: set[str]) -> Iterator[Section]:
    path: list[tuple[int, str]] = []
    paragraphs: list[str] = []
    elements = list(_block_elements(body))
    for index, element in enumerate(elements):
        if element.tag == f"{{{W}}}tbl":
            yield Section("\n\n".join(paragraphs), heading=_headed(path))
            paragraphs = []
            title = _table_caption(elements, index, captions)
            heading = " > ".join(filter(None, (_headed(path), title)))
            yield Section("\n".join(_table_rows(element)), heading=heading, kind="table")
            continue
        text = _paragraph_text(element)
        level = levels.get(_style_id(element), 0)
        if level and text.strip():
            yield Section("\n\n".join(paragraphs), heading=_headed(path))
            paragraphs = []
            path = _push_heading(path, level, " ".join(text.split()))
        elif text.strip():
            paragraphs.append(text)
    yield Section("\n\n".join(paragraphs), heading=_headed(path))


def _style_id(paragraph: Any) -> str:
    style = paragraph.find(f"{{{W}}}pPr/{{{W}}}pStyle")
    return str(style.get(f"{{{W}}}val", "")) if style is not None else ""


def _table_caption(elements: list[Any], index: int, captions: set[str]) -> str:
    """The caption of the table at ``index``: the paragraph right above it, or else right
    below, in a caption style or reading "Tabla 2…", "Table 2…", "Cuadro 2…"."""
    for near in (index - 1, index + 1):
        if not 0 <= near < len(elements) or elements[near].tag != f"{{{W}}}p":
            continue
        text = " ".join(_paragraph_text(elements[near]).split())
        named = _style_id(elements[near]) in captions or _CAPTION_TEXT.match(text)
        if text and len(text) <= MAX_CAPTION and named:
            return text
    return ""


def _block_elements(parent: Any) -> Iterator[Any]:
    """Body paragraphs and tables in order, looking inside content controls."""
    for child in parent.iterchildren():
        if child.tag in (f"{{{W}}}p", f"{{{W}}}tbl"):
            yield child
        elif child.tag in (f"{{{W}}}sdt", f"{{{W}}}customXml", f"{{{W}}}sdtContent"):
            yield from _block_elements(child)


def _paragraph_text(paragraph: Any) -> str:
    return "".join(_run_texts(paragraph))


def _run_texts(element: Any) -> Iterator[str]:
    for child in element.iterchildren():
        tag = child.tag
        if tag == _T:
            yield child.text or ""
        elif tag == _TAB:
            yield "\t"
        elif tag in (_BR, _CR):
            yield "\n"
        elif tag not in _SKIP:
            yield from _run_texts(child)


def _table_rows(table: Any) -> Iterator[str]:
    for row in table.iterfind(f"{{{W}}}tr"):
        cells = [_cell_text(cell) for cell in row.iterfind(f"{{{W}}}tc")]
        if any(cells):
            yield " | ".join(cells)


def _cell_text(cell: Any) -> str:
    parts = []
    for element in _block_elements(cell):
        if element.tag == f"{{{W}}}tbl":
            parts.append("; ".join(_table_rows(element)))
        else:
            parts.append(_paragraph_text(element))
    return " ".join(" ".join(parts).split())


def _notes(root: Any) -> str:
    notes = []
    for note in root.iterchildren(f"{{{W}}}footnote", f"{{{W}}}endnote"):
        if note.get(f"{{{W}}}type") in (None, "normal"):
            text = " ".join(_paragraph_text(p) for p in note.iterfind(f".//{{{W}}}p"))
            if text.strip():
                notes.append(text.strip())
    return "\n\n".join(notes)


def _clean_title(title: str | None) -> str:
    title = " ".join((title or "").split())
    generic = title.lower() in _GENERIC_TITLES or title.lower().startswith("microsoft ")
    return title if 3 <= len(title) <= 200 and not generic else ""


# --- PPTX -----------------------------------------------------------------------------


def _read_pptx(package: IO[bytes]) -> LoadedDocument:
    presentation = pptx.Presentation(package)
    sections = []
    first_title = ""
    for number, slide in enumerate(presentation.slides, start=1):
        title_shape = slide.shapes.title
        title = " ".join(title_shape.text_frame.text.split()) if title_shape else ""
        first_title = first_title or title
        body = [
            text for shape in slide.shapes if shape != title_shape for text in _shape_text(shape)
        ]
        notes = slide.notes_slide.notes_text_frame if slide.has_notes_slide else None
        if notes is not None and notes.text.strip():
            body.append(f"Notes: {notes.text.strip()}")
        sections.append(Section("\n\n".join(body) or title, page=number, heading=title))
    title = _clean_title(presentation.core_properties.title) or first_title
    return LoadedDocument(sections=sections, title=title, pages=len(sections))


def _shape_text(shape: Any) -> Iterator[str]:
    if shape.shape_type is not None and hasattr(shape, "shapes"):  # a group
        for child in shape.shapes:
            yield from _shape_text(child)
    if getattr(shape, "has_text_frame", False) and shape.text_frame.text.strip():
        yield shape.text_frame.text.strip()
    if getattr(shape, "has_table", False):
        rows = (" | ".join(" ".join(c.text.split()) for c in row.cells) for row in shape.table.rows)
        yield "\n".join(row for row in rows if row.replace("|", "").strip())


# --- XLSX -----------------------------------------------------------------------------


def _read_xlsx(package: IO[bytes]) -> LoadedDocument:
    workbook = openpyxl.load_workbook(package, read_only=True, data_only=True)
    try:
        sections = []
        metadata: dict[str, str] = {}
        for sheet in workbook.worksheets:
            columns = min(sheet.max_column or MAX_SHEET_COLUMNS, MAX_SHEET_COLUMNS)
            rows = list(_sheet_rows(sheet.iter_rows(max_col=columns, values_only=True)))
            if len(rows) > MAX_SHEET_ROWS:
                metadata[f"truncated:{sheet.title}"] = f"first {MAX_SHEET_ROWS} rows"
                rows = rows[:MAX_SHEET_ROWS]
            sections.append(Section("\n".join(rows), heading=sheet.title, kind="table"))
        title = _clean_title(workbook.properties.title)
    finally:
        workbook.close()
    return LoadedDocument(sections=sections, title=title, metadata=metadata)


def _sheet_rows(rows: Iterable[tuple[Any, ...]]) -> Iterator[str]:
    count = 0
    for values in rows:
        cells = [_cell_value(v) for v in values]
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            yield " | ".join(cells)
            count += 1
            if count > MAX_SHEET_ROWS:
                return


def _cell_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, datetime) and value.time() == time(0):
        return value.date().isoformat()
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return " ".join(str(value).split())


# --- ODT ------------------------------------------------------------------------------

_ODF_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_ODF_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"


def _refuse_encrypted_odf(package: IO[bytes]) -> None:
    with zipfile.ZipFile(package) as archive:
        names = archive.namelist()
        manifest = (
            archive.read("META-INF/manifest.xml") if "META-INF/manifest.xml" in names else b""
        )
    if b"encryption-data" in manifest:
        raise EncryptedError(
            "password-protected ODF files are not supported; save a copy without one"
        )
    package.seek(0)


def _read_odt(package: IO[bytes]) -> LoadedDocument:
    _refuse_encrypted_odf(package)
    document = opendocument.load(package)
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    paragraphs: list[str] = []
    for element in _odf_blocks(document.text):
        tag = element.qname
        if tag == (_ODF_TEXT, "h"):
            sections.append(Section("\n\n".join(paragraphs), heading=_headed(path)))
            paragraphs = []
            level = int(element.getAttribute("outlinelevel") or 1)
            path = _push_heading(path, level, " ".join(teletype.extractText(element).split()))
        elif tag == (_ODF_TABLE, "table"):
            sections.append(Section("\n\n".join(paragraphs), heading=_headed(path)))
            paragraphs = []
            sections.append(Section(_odf_table(element), heading=_headed(path), kind="table"))
        elif text := teletype.extractText(element).strip():
            paragraphs.append(text)
    sections.append(Section("\n\n".join(paragraphs), heading=_headed(path)))
    title = _clean_title(_odf_title(document))
    return LoadedDocument(sections=sections, title=title)


def _odf_blocks(parent: Any) -> Iterator[Any]:
    for child in parent.childNodes:
        if getattr(child, "qname", None) in (
            (_ODF_TEXT, "p"),
            (_ODF_TEXT, "h"),
            (_ODF_TABLE, "table"),
        ):
            yield child
        elif hasattr(child, "childNodes"):
            yield from _odf_blocks(child)


def _odf_table(table: Any) -> str:
    rows = []
    for row in table.getElementsByType(TableRow):
        cells = [" ".join(teletype.extractText(c).split()) for c in row.childNodes]
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _read_ods(package: IO[bytes]) -> LoadedDocument:
    """One table section per sheet, its cells as the sheet shows them ("1.234,50 €")."""
    _refuse_encrypted_odf(package)
    document = opendocument.load(package)
    sections, metadata = [], {}
    for sheet in document.spreadsheet.getElementsByType(Table):
        name = str(sheet.getAttribute("name") or "")
        rows = list(_ods_rows(sheet))
        if len(rows) > MAX_SHEET_ROWS:
            metadata[f"truncated:{name}"] = f"first {MAX_SHEET_ROWS} rows"
            rows = rows[:MAX_SHEET_ROWS]
        sections.append(Section("\n".join(rows), heading=name, kind="table"))
    return LoadedDocument(sections, _clean_title(_odf_title(document)), metadata)


def _ods_rows(sheet: Any) -> Iterator[str]:
    """A sheet's rows, cells " | " separated; a cell repeated across columns (how ODS
    writes runs of empty ones) counted once per column, up to MAX_SHEET_COLUMNS."""
    for row in sheet.getElementsByType(TableRow):
        cells: list[str] = []
        for cell in row.childNodes:
            if getattr(cell, "qname", (None, ""))[1] not in ("table-cell", "covered-table-cell"):
                continue
            repeat = int(cell.getAttribute("numbercolumnsrepeated") or 1)
            text = " ".join(teletype.extractText(cell).split())
            cells.extend([text] * min(repeat, MAX_SHEET_COLUMNS - len(cells)))
            if len(cells) >= MAX_SHEET_COLUMNS:
                break
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            yield " | ".join(cells)


def _odf_title(document: Any) -> str:
    titles = document.meta.getElementsByType(Title)
    return teletype.extractText(titles[0]) if titles else ""


register_loader(".docx")(_guarded("DOCX", _read_docx))
register_loader(".pptx")(_guarded("PPTX", _read_pptx))
register_loader(".xlsx", ".xlsm")(_guarded("XLSX", _read_xlsx))
register_loader(".odt")(_guarded("ODT", _read_odt))
register_loader(".ods")(_guarded("ODS", _read_ods))

"""Plain text, Markdown, CSV/TSV, JSON and JSON Lines; and :func:`decode_bytes`, the one
place that turns bytes of unknown encoding into text (HTML and mail use it too).

JSON becomes readable lines, ``key.path: value``, nulls and empty values left out. A
collection of records (an array of objects, or an object whose values are mostly
objects, at the top or one level down) becomes one section per record, so that a chunk
never mixes two records; the section heading names the record.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from charset_normalizer import from_bytes

from sabio.errors import CorruptFileError, EmptyDocumentError
from sabio.loaders import Blob, LoadedDocument, Section, register_loader

# Fewer non-ASCII bytes than this is too little evidence for a statistical guess; such
# files are nearly always Western European, so they are read as cp1252.
_MIN_EVIDENCE = 24
_WESTERN = ("cp1252", "latin_1", "iso8859_15", "cp1250")
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Declared charsets that are, in practice, their Windows superset (as browsers read them).
_SUPERSETS = {
    "ascii": "cp1252",
    "iso8859-1": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "big5": "big5hkscs",
}
MAX_TABLE_ROWS = 200_000


def decode_bytes(data: bytes, declared: str | None = None) -> str:
    """Decode text of unknown encoding; never fails.

    Order: a byte-order mark; the ``declared`` charset (a mail or HTML header) when it
    decodes cleanly, unless it is a single-byte code page and the bytes are valid UTF-8
    (mislabelled mail is common); UTF-16 without a BOM (NUL bytes in every other
    position); valid or almost valid UTF-8; charset-normalizer's guess when there are
    enough non-ASCII bytes to guess from; cp1252; Latin-1.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    utf8 = _try_decode(data, "utf-8")
    declared = _canonical(declared) if declared else None
    if declared and (utf8 is None or data.isascii() or not _single_byte(declared)):
        text = _try_decode(data, declared)
        if text is not None:
            return text
    if utf16 := _utf16_without_bom(data):
        return data.decode(utf16, errors="replace")
    if utf8 is not None:
        return utf8
    non_ascii = len(data) - len(data.decode("ascii", errors="ignore"))
    text = data.decode("utf-8", errors="replace")
    if text.count("\ufffd") * 20 < non_ascii:  # UTF-8 with a few broken bytes
        return text
    guess = _guess_encoding(data) if non_ascii >= _MIN_EVIDENCE else None
    decoded = _try_decode(data, guess) if guess else None
    return decoded or _try_decode(data, "cp1252") or data.decode("latin-1")


def _try_decode(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (LookupError, UnicodeDecodeError):
        return None


def _canonical(encoding: str) -> str | None:
    try:
        name = codecs.lookup(encoding.strip().strip("\"'")).name
    except LookupError:
        return None
    if name.startswith(("utf-16", "utf-32")):
        return None  # only a BOM or the NUL pattern is trusted for these
    return _SUPERSETS.get(name, name)


def _single_byte(encoding: str) -> bool:
    return encoding in ("ascii", "latin-1", "iso8859-1") or encoding.startswith(
        ("iso8859", "cp125", "windows", "cp1252", "mac-")
    )


def _utf16_without_bom(data: bytes) -> str | None:
    sample = data[:4096]
    half = len(sample) // 2
    if half < 2:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if odd > 0.4 * half and even < 0.05 * half:
        return "utf-16-le"
    if even > 0.4 * half and odd < 0.05 * half:
        return "utf-16-be"
    return None


def _guess_encoding(data: bytes) -> str | None:
    matches = list(from_bytes(data[:200_000]))
    if not matches:
        return None
    best = matches[0]
    # charset-normalizer often cannot tell the Western code pages apart and picks
    # cp1250 or cp932 for Spanish; prefer cp1252 when it reads the bytes as cleanly.
    for match in matches:
        if (
            match.encoding in _WESTERN
            and match.chaos <= best.chaos + 0.01
            and match.coherence >= best.coherence - 0.1
        ):
            return "cp1252"
    encoding: str = best.encoding
    return encoding


def _title_from_name(blob: Blob) -> str:
    return Path(blob.name).stem


@register_loader(".txt", ".text", ".log", ".rst")
def load_text(blob: Blob) -> LoadedDocument:
    text = decode_bytes(blob.read())
    return LoadedDocument(sections=[Section(text)], title=_title_from_name(blob))


# --- Markdown -------------------------------------------------------------------------

# No pattern here has a lazy or repeated part followed by an optional one: those backtrack
# once per character, and a heading line of 20,000 spaces took 15 s (a file of them, hours).
# The closing #s and the quotes are taken off in Python instead.
_ATX = re.compile(r" {0,3}(#{1,6})[ \t]+(.*)")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FRONT_MATTER_TITLE = re.compile(r"^title:[ \t]*(.*)$", re.MULTILINE)


@register_loader(".md", ".markdown")
def load_markdown(blob: Blob) -> LoadedDocument:
    text = decode_bytes(blob.read())
    title = ""
    if text.startswith("---\n") and (end := text.find("\n---", 4)) > 0:
        if match := _FRONT_MATTER_TITLE.search(text[4:end]):
            title = _unquoted(match.group(1).rstrip())
        text = text[end + 4 :].lstrip("-\n")
    sections = list(_markdown_sections(text))
    if not title:
        title = next((s.heading for s in sections if s.heading and "#" not in s.heading), "")
    return LoadedDocument(sections=sections, title=title or _title_from_name(blob))


def _markdown_sections(text: str) -> Iterator[Section]:
    path: list[tuple[int, str]] = []
    body: list[str] = []
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        level, heading = (0, "") if in_fence else _heading(line, body)
        if not level:
            body.append(line)
            continue
        if level == -1:  # setext: the previous line was the heading
            heading, level = body.pop(), 1 if line.strip()[0] == "=" else 2
        yield Section("\n".join(body), heading=" > ".join(h for _, h in path))
        body = []
        path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, heading.strip())]
    yield Section("\n".join(body), heading=" > ".join(h for _, h in path))


def _unquoted(value: str) -> str:
    value = value[1:] if value[:1] in ("'", '"') else value
    return value[:-1] if value[-1:] in ("'", '"') else value


def _heading(line: str, body: list[str]) -> tuple[int, str]:
    if match := _ATX.fullmatch(line):
        return len(match.group(1)), _without_closing_hashes(match.group(2))
    if _SETEXT.match(line) and body and body[-1].strip() and (len(body) < 2 or not body[-2]):
        return -1, ""
    return 0, ""


def _without_closing_hashes(text: str) -> str:
    """An ATX heading's text without its optional closing sequence (``## Title ##``)."""
    text = text.rstrip(" \t")
    opened = text.rstrip("#")
    return opened.rstrip(" \t") if opened != text and opened[-1:] in (" ", "\t") else text


# --- CSV / TSV ------------------------------------------------------------------------


@register_loader(".csv", ".tsv", ".tab")
def load_csv(blob: Blob) -> LoadedDocument:
    text = read_csv_text(blob.read())
    metadata: dict[str, str] = {}
    try:
        rows = _table_rows(text, blob.extension, metadata)
    except csv.Error as exc:
        # Not parseable as a table: still searchable as text.
        metadata["csv_error"] = str(exc)
        return LoadedDocument([Section(text)], _title_from_name(blob), metadata)
    metadata["rows"] = str(len(rows))
    section = Section("\n".join(rows), kind="table")
    return LoadedDocument(sections=[section], title=_title_from_name(blob), metadata=metadata)


def csv_rows(text: str, extension: str) -> Iterator[list[str]]:
    """The rows of a CSV/TSV text as cells, its delimiter sniffed (``,`` ``;`` tab ``|``):
    what the loader reads, and what :mod:`sabio.tables` keeps whole (no row limit)."""
    dialect: type[csv.Dialect] | csv.Dialect
    try:
        dialect = csv.Sniffer().sniff(text[:65536], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel_tab if extension in (".tsv", ".tab") else csv.excel
    return csv.reader(io.StringIO(text, newline=""), dialect)


def read_csv_text(data: bytes) -> str:
    return decode_bytes(data).replace("\x00", "")


def _table_rows(text: str, extension: str, metadata: dict[str, str]) -> list[str]:
    rows: list[str] = []
    for cells in csv_rows(text, extension):
        line = " | ".join(cell.strip() for cell in cells)
        if line.replace("|", "").strip():
            rows.append(line)
            if len(rows) >= MAX_TABLE_ROWS:
                metadata["truncated_at_row"] = str(MAX_TABLE_ROWS)
                break
    return rows


# --- JSON -----------------------------------------------------------------------------

_BLOB_STRING = re.compile(r"[A-Za-z0-9+/=_-]{80,}")
_LABEL_KEYS = ("title", "name", "subject", "id", "_id", "key")


@register_loader(".json")
def load_json(blob: Blob) -> LoadedDocument:
    try:
        value = json.loads(decode_bytes(blob.read()))
    except json.JSONDecodeError as exc:
        raise CorruptFileError(f"not valid JSON: {exc}") from exc
    sections = list(_json_sections(value))
    metadata = {"records": str(sum(1 for s in sections if s.heading))}
    return LoadedDocument(sections=sections, title=_title_from_name(blob), metadata=metadata)


@register_loader(".jsonl", ".ndjson")
def load_json_lines(blob: Blob) -> LoadedDocument:
    records: list[Any] = []
    bad = 0
    for line in decode_bytes(blob.read()).splitlines():
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                bad += 1
    if bad and not records:
        raise CorruptFileError(f"none of the {bad} lines is valid JSON")
    if not records:
        raise EmptyDocumentError("the file has no JSON records")
    header = _header_row(records)
    if header:
        records = [dict(zip(header, r, strict=False)) for r in records[1:]]
    sections = [
        Section(text, heading=_label(r, "", i))
        for i, r in enumerate(records)
        if (text := flatten_json(r))
    ]
    metadata = {"records": str(len(records))}
    if bad:
        metadata["bad_lines"] = str(bad)
    return LoadedDocument(sections=sections, title=_title_from_name(blob), metadata=metadata)


def _header_row(records: list[Any]) -> list[str] | None:
    """JSON Lines exported from a table: a first line of column names, then arrays."""
    first = records[0]
    if not isinstance(first, list) or len(records) < 2:
        return None
    if all(isinstance(c, str) for c in first) and all(
        isinstance(r, list) and len(r) == len(first) for r in records[1:50]
    ):
        return first
    return None


def _is_collection(value: Any) -> bool:
    """A list of objects/arrays, or an object whose values are mostly objects."""
    kinds: type | tuple[type, ...]
    if isinstance(value, dict):
        items, kinds = list(value.values()), dict
    elif isinstance(value, list):
        items, kinds = value, (dict, list)
    else:
        return False
    records = sum(isinstance(item, kinds) for item in items)
    return len(items) >= 2 and records >= 0.8 * len(items)


def _json_sections(value: Any) -> Iterator[Section]:
    if _is_collection(value):
        yield from _records(value, "")
        return
    if not isinstance(value, dict):
        yield Section(flatten_json(value))
        return
    rest = {k: v for k, v in value.items() if not _is_collection(v)}
    yield Section(flatten_json(rest))
    for key, child in value.items():
        if key not in rest:
            yield from _records(child, str(key))


def _records(collection: dict[str, Any] | list[Any], parent: str) -> Iterator[Section]:
    pairs = collection.items() if isinstance(collection, dict) else enumerate(collection)
    for index, (key, record) in enumerate(pairs):
        label = _label(record, key if isinstance(key, str) else "", index)
        yield Section(flatten_json(record), heading=f"{parent} > {label}" if parent else label)


def _label(record: Any, key: str, index: int) -> str:
    """A dict key that is a name, else the record's title/name/id, else its number."""
    if key and not key.isdigit():
        return key
    if isinstance(record, dict):
        for name in _LABEL_KEYS:
            value = record.get(name)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                return str(value)[:80]
    return f"#{index + 1}"


def flatten_json(value: Any, prefix: str = "") -> str:
    """``key.path: value`` lines; nulls, empty values and base64/hash blobs left out."""
    return "\n".join(_flat_lines(value, prefix))


def _flat_lines(value: Any, prefix: str) -> Iterator[str]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _flat_lines(child, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        if all(_is_scalar(v) for v in value):
            joined = ", ".join(s for v in value if (s := _scalar(v)))
            if joined:
                yield f"{prefix}: {joined}" if prefix else joined
        else:
            for i, child in enumerate(value):
                yield from _flat_lines(child, f"{prefix}[{i}]")
    elif text := _scalar(value):
        yield f"{prefix}: {text}" if prefix else text


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip()
    if _BLOB_STRING.fullmatch(text):
        return ""
    return text

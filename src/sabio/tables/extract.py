"""The tables of a loaded document: each ``table`` section (a CSV file, a spreadsheet's
sheet, a table inside a DOCX, ODT or HTML page) as a header, typed columns and canonical
cells, ready for :mod:`sabio.tables.engine` to keep.

A loader writes a table section one row per line, its cells separated by " | ". The
header is the first row that is as wide as most rows below it (a sheet's title lines
above it are skipped); when that row holds only numbers and dates there is none, and
the columns are named ``column_1``, ``column_2``… Columns with no value at all are left
out.
"""

from __future__ import annotations

import gc
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter

from sabio.loaders import Blob, LoadedDocument, Section
from sabio.loaders.text import csv_rows, read_csv_text
from sabio.tables.types import TEXT, ColumnType, canonical_column, infer_types, is_null

MIN_ROWS = 1
"""Data rows a table needs (beside its header) to be kept as a table."""
MAX_COLUMNS = 500
HEADER_SEARCH = 10
"""Rows at the top of a sheet where the header is looked for."""
RESERVED = frozenset(
    "all analyse analyze and any array as asc asymmetric both case cast check collate column "
    "constraint create default deferrable desc describe distinct do else end except false "
    "fetch for foreign from group having in initially intersect into lambda lateral leading "
    "limit not null offset on only or order pivot pivot_longer pivot_wider placing primary "
    "qualify references returning select show some summarize symmetric table then to "
    "trailing true union unique unpivot using variadic when where window with".split()
)
"""DuckDB's reserved words (``duckdb_keywords()``): a column named so gets a "_" after it,
so that a model's SQL need not quote it."""
DELIMITED = frozenset({".csv", ".tsv", ".tab"})
_CELL_SPLIT = re.compile(r"\s*\|\s*")


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    """An identifier that SQL takes unquoted ("fecha_de_pago")."""
    label: str
    """The header as the document has it ("Fecha de pago")."""
    type: ColumnType


@dataclass(slots=True)
class TypedTable:
    """One table of a document, picklable (made in a reader process)."""

    name: str
    """Suggested SQL name (the engine makes it unique in the knowledge base)."""
    sheet: str
    """The sheet's name, or the table's caption or nearest heading above it (the last part
    of its section's heading); "" for a CSV file."""
    page: int | None
    position: int
    """Which table of the document this is (0-based)."""
    columns: list[Column]
    cells: list[list[str | None]] = field(default_factory=list)
    """Canonical cells, one list per column (see :func:`sabio.tables.types.canonical`)."""

    @property
    def row_count(self) -> int:
        return len(self.cells[0]) if self.cells else 0


def identifier(text: str, fallback: str, *, prefix: bool = True) -> str:
    """``text`` as a lowercase SQL identifier without accents ("Año fiscal" →
    "ano_fiscal"), ``fallback`` when nothing is left of it."""
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in plain if not unicodedata.combining(c)).lower()
    name = re.sub(r"[^a-z0-9]+", "_", plain).strip("_")[:60].rstrip("_")
    if not name:
        return fallback
    if name[0].isdigit() and prefix:
        name = f"c_{name}"
    return f"{name}_" if name in RESERVED else name


def split_row(line: str) -> list[str]:
    return _CELL_SPLIT.split(line.strip())


def _header_index(rows: Sequence[list[str]]) -> int:
    widths = Counter(sum(1 for c in row if c) for row in rows[: HEADER_SEARCH * 10])
    usual = max(widths, key=lambda w: (widths[w], w))
    for index, row in enumerate(rows[:HEADER_SEARCH]):
        if sum(1 for c in row if c) >= max(1, usual * 0.6):
            return index
    return 0


def _names(header: Sequence[str], width: int) -> list[tuple[str, str]]:
    taken: set[str] = set()
    names = []
    for i in range(width):
        label = header[i].strip() if i < len(header) else ""
        name = identifier(label, f"column_{i + 1}")
        base, n = name, 2
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        taken.add(name)
        names.append((name, label or f"column_{i + 1}"))
    return names


def table_from_rows(
    rows: Sequence[list[str]],
    name: str,
    sheet: str = "",
    page: int | None = None,
    position: int = 0,
) -> TypedTable | None:
    """A table from its rows of cells as read (header included), or None when there is
    no table there (fewer than :data:`MIN_ROWS` rows under a header)."""
    rows = [row for row in rows if "".join(row).strip()]
    if len(rows) < MIN_ROWS + 1:
        return None
    start = _header_index(rows)
    header, body = rows[start], rows[start + 1 :]
    width = min(max(map(len, rows[start:])), MAX_COLUMNS)
    if _all_values(header):  # numbers or dates where the header would be: there is none
        header, body = [], rows[start:]
    columns = _columns(body, width)
    types = infer_types(columns)
    if len(body) < MIN_ROWS:
        return None
    kept = [i for i in range(width) if any(not is_null(c) for c in columns[i])]
    names = _names(header, width)
    table = TypedTable(name, sheet, page, position, [])
    for i in kept:
        kind = types[i]
        table.columns.append(Column(names[i][0], names[i][1], kind))
        table.cells.append(canonical_column(columns[i], kind))
    return table if table.columns else None


def _columns(body: Sequence[list[str]], width: int) -> list[Sequence[str]]:
    """The rows' cells by column, short rows padded with empty cells."""
    padded = [r if len(r) >= width else r + [""] * (width - len(r)) for r in body]
    return [list(map(itemgetter(i), padded)) for i in range(width)]


@contextmanager
def uncollected() -> Iterator[None]:
    """The cyclic garbage collector held off while a table's cells are made or written:
    they are strings, lists and tuples without cycles (reference counting frees them), and
    with a million rows alive each of the collector's full passes walks them all, which
    was half the CPU time of reading a 1M-row CSV file (``python bench/tables.py load``)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _all_values(row: Sequence[str]) -> bool:
    cells = [c for c in row if c.strip()]
    return all(t.kind != "text" for t in infer_types([[c] for c in cells]))


def tables_of(doc: LoadedDocument, stem: str, blob: Blob | None = None) -> list[TypedTable]:
    """Every table of ``doc`` (``stem``: its file's name without the extension, the
    tables' names start with it). A CSV/TSV file (``blob``) is read again whole: its
    passages stop at the loader's row limit, its table does not. A sheet whose rows the
    loader cut says so in its name ("Sheet1 (first 100000 rows)")."""
    with uncollected():
        return _tables_of(doc, stem, blob)


def _tables_of(doc: LoadedDocument, stem: str, blob: Blob | None) -> list[TypedTable]:
    extension = blob.extension if blob is not None else ""
    if blob is not None and extension in DELIMITED and "csv_error" not in doc.metadata:
        rows = list(csv_rows(read_csv_text(blob.read()), extension))
        table = table_from_rows(rows, identifier(stem, "table"))
        return [table] if table is not None else []
    tables: list[TypedTable] = []
    table_sections = [s for s in doc.sections if s.kind == "table"]
    for section in table_sections:
        rows = [split_row(line) for line in section.text.split("\n")]
        name = _table_name(stem, section, len(table_sections), len(tables))
        sheet = section.heading.rpartition(" > ")[2]  # a caption, or the nearest heading
        if cut := doc.metadata.get(f"truncated:{sheet}"):
            sheet = f"{sheet} ({cut})"
        table = table_from_rows(rows, name, sheet, section.page, len(tables))
        if table is not None:
            tables.append(table)
    return tables


def _table_name(stem: str, section: Section, count: int, index: int) -> str:
    base = identifier(stem, "table")
    if count == 1:
        return base
    sheet = identifier(section.heading.rpartition(" > ")[2], "", prefix=False)
    return f"{base}_{sheet}" if sheet else f"{base}_{index + 1}"


__all__ = ["TEXT", "Column", "TypedTable", "table_from_rows", "tables_of"]

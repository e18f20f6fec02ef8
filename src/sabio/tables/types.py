"""A column's type, inferred from its cells as people write them, and the cells made
canonical (dot decimals, ISO dates) for the engine to read.

Numbers with either decimal separator ("1,234.5" or "1.234,5", "1 234,5"), currencies
("€12,50", "$1,200", "12 EUR"), percentages ("12,5 %"), dates in Spanish and English
("31/01/2023", "2023-01-31", "3 de enero de 2023", "January 3, 2023", "ene-2023") and
date-times ("5/19/2006 0:00:00"). A column is one type only when every cell that is not
empty (or a "no data" mark such as "-" or "n/a") reads as it; anything else is text. Codes
with leading zeros ("01", "0451") stay text, so that they keep them.

Which separator a column uses, and whether its dates are day-first, is decided for the
whole table where one column is unambiguous ("12,5" can only be Spanish; "13/02" only
day-first) and applied to the ambiguous ones ("1.234", "02/03").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

Kind = Literal["integer", "decimal", "double", "date", "timestamp", "text"]

NULL_MARKS = frozenset(
    {"-", "\u2014", "\u2013", "n/a", "na", "n.a.", "null", "none", "s/d", "nd", "?"}
)
CURRENCIES = {"€": "EUR", "$": "USD", "us$": "USD", "£": "GBP", "eur": "EUR", "usd": "USD"}
_CURRENCY = re.compile(r"^(us\$|[€$£]|eur|usd)?\s*(.*?)\s*(us\$|[€$£]|eur|usd)?$", re.IGNORECASE)
_SPACES = re.compile(r"[\s\u00a0\u202f\u2009]")
MAX_SCALE = 6
"""Most decimals a column may have to be kept exact (a DECIMAL); more make it a DOUBLE."""

MONTHS = {
    **dict.fromkeys(("enero", "ene", "january", "jan"), 1),
    **dict.fromkeys(("febrero", "feb", "february"), 2),
    **dict.fromkeys(("marzo", "mar", "march"), 3),
    **dict.fromkeys(("abril", "abr", "april", "apr"), 4),
    **dict.fromkeys(("mayo", "may"), 5),
    **dict.fromkeys(("junio", "jun", "june"), 6),
    **dict.fromkeys(("julio", "jul", "july"), 7),
    **dict.fromkeys(("agosto", "ago", "august", "aug"), 8),
    **dict.fromkeys(("septiembre", "setiembre", "sep", "sept", "set", "september"), 9),
    **dict.fromkeys(("octubre", "oct", "october"), 10),
    **dict.fromkeys(("noviembre", "nov", "november"), 11),
    **dict.fromkeys(("diciembre", "dic", "december", "dec"), 12),
}
_ISO = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?Z?$"
)
_NUMERIC_DATE = re.compile(
    r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})"
    r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?\s*([ap]\.?m\.?)?)?$",
    re.IGNORECASE,
)
_WORDS = re.compile(r"[a-záéíóúñ]+\.?|\d+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ColumnType:
    kind: Kind
    scale: int = 0
    """Decimals kept (for ``decimal``)."""
    unit: str = ""
    """"%" for percentages, "EUR", "USD"… for amounts of money."""
    decimal_comma: bool = False
    day_first: bool = True

    @property
    def sql(self) -> str:
        return {
            "integer": "BIGINT",
            "decimal": f"DECIMAL(38,{self.scale})",
            "double": "DOUBLE",
            "date": "DATE",
            "timestamp": "TIMESTAMP",
            "text": "VARCHAR",
        }[self.kind]


TEXT = ColumnType("text")


def is_null(cell: str) -> bool:
    return not cell or cell.strip().lower() in NULL_MARKS


# --- numbers --------------------------------------------------------------------------


def _number_parts(cell: str) -> tuple[str, str] | None:
    """The digits of ``cell`` without currency or percent sign, and its unit; None when it
    has neither digits nor the shape of a number."""
    text = _SPACES.sub(" ", cell.strip())
    unit = ""
    if text.endswith("%"):
        text, unit = text[:-1].strip(), "%"
    else:
        match = _CURRENCY.match(text)
        if match and (match.group(1) or match.group(3)):
            symbol = (match.group(1) or match.group(3)).lower()
            text, unit = match.group(2), CURRENCIES[symbol]
    text = text.replace("\u2212", "-")
    if text.startswith("(") and text.endswith(")"):  # accounting negatives
        text = "-" + text[1:-1]
    text = text.replace(" ", "")
    if not text or not re.fullmatch(r"[+-]?[\d.,]*\d[\d.,]*", text):
        return None
    return text, unit


def _canonical_number(digits: str, decimal_comma: bool) -> str | None:
    """The number in ``digits`` ("1.234,5" with a decimal comma, "1,234.5") as "1234.5";
    None when its separators do not fit that convention (thousands in groups of three, one
    decimal separator)."""
    thousands, point = (".", ",") if decimal_comma else (",", ".")
    sign = "-" if digits.startswith("-") else ""
    body = digits.lstrip("+-")
    whole, _, fraction = body.partition(point)
    if point in fraction or thousands in fraction or (not whole and not fraction):
        return None
    if thousands in whole:
        groups = whole.split(thousands)
        if not (1 <= len(groups[0]) <= 3) or any(len(g) != 3 for g in groups[1:]):
            return None
        whole = "".join(groups)
    whole = whole or "0"
    if not whole.isdigit() or (fraction and not fraction.isdigit()):
        return None
    return f"{sign}{whole}.{fraction}" if fraction else f"{sign}{whole}"


@dataclass(slots=True)
class _NumberFit:
    dot: bool = True
    comma: bool = True
    leading_zero: bool = False
    units: set[str] | None = None


_PLAIN = {
    False: re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"),
    True: re.compile(r"-?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?"),
}
"""A number without unit or spaces, with a decimal point (False) or comma (True): the
common case, read without :func:`_number_parts` (a million cells in a second)."""


def _plain_number(cell: str, decimal_comma: bool) -> str | None:
    if not _PLAIN[decimal_comma].fullmatch(cell):
        return None
    return cell.replace(".", "").replace(",", ".") if decimal_comma else cell.replace(",", "")


def _fit_numbers(cells: Sequence[str]) -> _NumberFit | None:
    fit = _NumberFit(units=set())
    assert fit.units is not None
    for cell in cells:
        dot = _PLAIN[False].fullmatch(cell) is not None
        comma = _PLAIN[True].fullmatch(cell) is not None
        if dot or comma:
            body = cell.lstrip("-")
        else:
            parts = _number_parts(cell)
            if parts is None:
                return None
            digits, unit = parts
            fit.units.add(unit)
            body = "" if unit else digits.lstrip("+-")
            dot = _canonical_number(digits, False) is not None
            comma = _canonical_number(digits, True) is not None
        if len(body) > 1 and body[0] == "0" and body[1].isdigit():
            fit.leading_zero = True
        fit.dot, fit.comma = fit.dot and dot, fit.comma and comma
        if not (fit.dot or fit.comma):
            return None
    return fit


def _number(cell: str, decimal_comma: bool) -> tuple[str, str] | None:
    """The number in ``cell`` as "1234.5", and its unit."""
    if (plain := _plain_number(cell, decimal_comma)) is not None:
        return plain, ""
    parts = _number_parts(cell)
    if parts is None:
        return None
    value = _canonical_number(parts[0], decimal_comma)
    return None if value is None else (value, parts[1])


def _number_type(cells: Sequence[str], decimal_comma: bool) -> ColumnType:
    scale, kind, unit = 0, "integer", ""
    plain = _PLAIN[decimal_comma].fullmatch
    point_mark, thousands = (",", ".") if decimal_comma else (".", ",")
    for cell in cells:
        if plain(cell):  # the common case: its canonical text's length and decimals, unmade
            point, length = cell.rfind(point_mark), len(cell) - cell.count(thousands)
            decimals = len(cell) - point - 1 if point >= 0 else 0
        else:
            number = _number(cell, decimal_comma)
            assert number is not None
            value, unit = number[0], unit or number[1]
            point, length = value.find("."), len(value)
            decimals = length - point - 1 if point >= 0 else 0
        if decimals > scale:
            scale = decimals
        if length > 19:
            kind = "double"
    if kind != "double" and scale:
        kind = "decimal" if scale <= MAX_SCALE else "double"
    return ColumnType(kind, scale if kind == "decimal" else 0, unit, decimal_comma)  # type: ignore[arg-type]


# --- dates ----------------------------------------------------------------------------


def _numeric_date(match: re.Match[str], day_first: bool) -> datetime | None:
    first, second, year_text, hour, minute, second_of, meridian = match.groups()
    day, month = (int(first), int(second)) if day_first else (int(second), int(first))
    year = int(year_text) + (2000 if int(year_text) < 70 else 1900) * (len(year_text) == 2)
    h = int(hour or 0)
    if meridian:
        h = h % 12 + (12 if meridian.lower().startswith("p") else 0)
    try:
        return datetime(year, month, day, h, int(minute or 0), int(second_of or 0))
    except ValueError:
        return None


def _named_date(cell: str) -> datetime | None:
    """A date with its month's name: "3 de enero de 2023", "January 3, 2023", "ene-2023"."""
    words = [w.rstrip(".").lower() for w in _WORDS.findall(cell) if w.lower() not in ("de", "del")]
    if not 2 <= len(words) <= 3 or len(_WORDS.sub("", cell).strip(" ,.-/")) > 0:
        return None
    months = [MONTHS[w] for w in words if w in MONTHS]
    numbers = [w for w in words if w.isdigit()]
    if len(months) != 1 or len(numbers) != len(words) - 1:
        return None
    years = [int(n) for n in numbers if len(n) == 4]
    days = [int(n) for n in numbers if len(n) <= 2]
    if len(years) != 1 or len(days) > 1:
        return None
    try:
        return datetime(years[0], months[0], days[0] if days else 1)
    except ValueError:
        return None


def parse_date(cell: str, day_first: bool) -> datetime | None:
    text = cell.strip()
    if match := _ISO.match(text):
        y, m, d, hh, mm, ss = match.groups()
        try:
            return datetime(int(y), int(m), int(d), int(hh or 0), int(mm or 0), int(ss or 0))
        except ValueError:
            return None
    if match := _NUMERIC_DATE.match(text):
        return _numeric_date(match, day_first)
    return _named_date(_plain(text))


def _plain(text: str) -> str:
    """Accents kept for the month names ("sábado" is not one), other marks dropped."""
    return unicodedata.normalize("NFC", text)


@dataclass(slots=True)
class _DateFit:
    day_first: bool = True
    month_first: bool = True
    times: bool = False


def _fit_dates(cells: Sequence[str]) -> _DateFit | None:
    fit = _DateFit()
    for cell in cells:
        day = parse_date(cell, True)
        month = parse_date(cell, False)
        if day is None and month is None:
            return None
        fit.day_first = fit.day_first and day is not None
        fit.month_first = fit.month_first and month is not None
        if not (fit.day_first or fit.month_first):
            return None
        value = day or month
        assert value is not None
        fit.times = fit.times or value.time() != datetime.min.time()
    return fit


# --- columns and tables ---------------------------------------------------------------


def infer_types(columns: Sequence[Sequence[str]]) -> list[ColumnType]:
    """Each column's type (its cells as read, empty ones included); the table's columns
    together decide the ambiguous separators and date orders (see the module)."""
    present = [[c for c in dict.fromkeys(column) if not is_null(c)] for column in columns]
    numbers = [_fit_numbers(cells) if cells else None for cells in present]
    dates = [
        _fit_dates(cells) if cells and numbers[i] is None else None
        for i, cells in enumerate(present)
    ]
    comma = any(f is not None and f.comma and not f.dot for f in numbers)
    day_first = not any(f is not None and f.month_first and not f.day_first for f in dates)
    types: list[ColumnType] = []
    for cells, number, dated in zip(present, numbers, dates, strict=True):
        if number is not None and not number.leading_zero:
            use_comma = number.comma and (comma or not number.dot)
            types.append(_number_type(cells, use_comma))
        elif dated is not None:
            first = dated.day_first and (day_first or not dated.month_first)
            kind: Kind = "timestamp" if dated.times else "date"
            types.append(ColumnType(kind, day_first=first))
        else:
            types.append(TEXT)
    return types


def canonical_column(cells: Sequence[str], kind: ColumnType) -> list[str | None]:
    """:func:`canonical` of every cell, each different cell read once (a million rows
    of a few hundred dates or names cost a few hundred readings)."""
    if kind.kind == "text":
        return [c or None for c in map(str.strip, cells)]
    seen: dict[str, str | None] = {}
    numeric = kind.kind in ("integer", "decimal", "double")
    for cell in dict.fromkeys(cells):
        plain = _plain_number(cell, kind.decimal_comma) if numeric else None
        seen[cell] = plain if plain is not None else canonical(cell, kind)  # the common case first
    return [seen[c] for c in cells]


def canonical(cell: str, kind: ColumnType) -> str | None:
    """``cell`` as the engine reads a value of ``kind`` (None: no value)."""
    if is_null(cell):
        return None if kind.kind != "text" or not cell.strip() else cell.strip()
    if kind.kind == "text":
        return cell.strip()
    if kind.kind in ("date", "timestamp"):
        value = parse_date(cell, kind.day_first)
        assert value is not None
        return value.date().isoformat() if kind.kind == "date" else value.isoformat(" ")
    number = _number(cell.strip(), kind.decimal_comma)
    assert number is not None
    return number[0]


def python_value(text: str | None, kind: ColumnType) -> object:
    """What :func:`canonical` gave, as a Python value (for tests and the bench)."""
    if text is None:
        return None
    if kind.kind == "integer":
        return int(text)
    if kind.kind in ("decimal", "double"):
        return float(text)
    if kind.kind == "date":
        return date.fromisoformat(text)
    if kind.kind == "timestamp":
        return datetime.fromisoformat(text)
    return text

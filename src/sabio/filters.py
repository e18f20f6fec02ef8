"""Filters a person can say: which documents a search or an answer may use.

A filter names documents (``--document``, the API's ``documents``) and a period
(``--after`` / ``--before``); :func:`filtered_document_ids` turns it into the ids of the
knowledge base's searchable documents that pass it, which the rankings are then
restricted to (:func:`sabio.search.search_chunks`).

A name matches a document's file name (``report-2023.pdf``), that name without its
extension (``report-2023``), the end of its path (``2023/report.pdf``), its full path,
its id, or its title, ignoring case and accents ("Informe anual" matches "informe
ANUAL", "camion" matches "camión"; spaces, ``_`` and ``-`` are alike); a number that
is a document's id names that document only (``7.pdf`` names the file). A name with
``*``, ``?`` or ``[`` is a glob over the same (``*2023*``, ``contoso_*.pdf``). Several
names: a document matching any of them.

A date is ``2023``, ``2023-03`` or ``2023-03-15`` (a date and time is cut to its day).
Both ends count whole and are included: ``--after 2023-03`` keeps documents dated from
1 March 2023, ``--before 2023`` those dated up to 31 December 2023, so ``--after 2023
--before 2023`` is "in 2023". A document's date is the one its loader found in it (a
web page's publication date, a mail's ``Date``), else the file's modification time (in
the machine's time zone); a posted text or a fetched item without either, the time it
was indexed.

A filter that leaves no document is an error that names it (``no document matches
--document 'x'``), not an empty result: nothing to search is not "nothing found".
"""

from __future__ import annotations

import calendar
import datetime as dt
import fnmatch
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from sabio.errors import ConfigError, NotFoundError
from sabio.store import DocumentRecord

_DATE = re.compile(r"^\s*(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?(?:[T ].*)?\s*$")
_GLOB = re.compile(r"[*?\[]")
_SEPARATORS = re.compile(r"[\s_-]+")
_BRACKETS = re.compile(r"(\[!?\]?[^\]]*\])")
SEARCHABLE = "indexed"


@dataclass(frozen=True, slots=True)
class DocumentFilter:
    """``documents``: names or globs (any of them); ``after``/``before``: the first and
    last day a document's date may be (included). Empty: every document."""

    documents: tuple[str, ...] = ()
    after: dt.date | None = None
    before: dt.date | None = None

    @classmethod
    def parse(
        cls, documents: Iterable[str] = (), after: str | None = None, before: str | None = None
    ) -> DocumentFilter:
        """A filter from what a person typed; a date that is not one is a ConfigError."""
        names = tuple(name.strip() for name in documents if name.strip())
        first = parse_date(after, end=False, option="after") if after else None
        last = parse_date(before, end=True, option="before") if before else None
        if first and last and first > last:
            raise ConfigError(
                f"--after {after} comes after --before {before}: no date is in between; swap them",
                key="filter_dates_crossed",
                after=after,
                before=before,
            )
        return cls(names, first, last)

    def __bool__(self) -> bool:
        return bool(self.documents) or self.after is not None or self.before is not None

    def describe(self) -> str:
        """The filter as options, as the person could type it again."""
        parts = [f"--document {name!r}" for name in self.documents]
        if self.after:
            parts.append(f"--after {self.after.isoformat()}")
        if self.before:
            parts.append(f"--before {self.before.isoformat()}")
        return " ".join(parts)


def parse_date(text: str, *, end: bool, option: str = "after") -> dt.date:
    """``2023``, ``2023-03`` or ``2023-03-15`` as a day: the period's first day, or with
    ``end`` its last. Anything else is a ConfigError that shows the forms."""
    match = _DATE.match(text)
    try:
        if match is None:
            raise ValueError(text)
        year, month, day = match.group(1, 2, 3)
        y = int(year)
        m = int(month) if month else (12 if end else 1)
        d = int(day) if day else (calendar.monthrange(y, m)[1] if end else 1)
        return dt.date(y, m, d)
    except ValueError:
        raise ConfigError(
            f"--{option} {text!r} is not a date: give 2023, 2023-03 or 2023-03-15",
            key="filter_bad_date",
            option=option,
            value=text,
        ) from None


def document_date(doc: DocumentRecord) -> dt.date:
    """The document's own date (from its metadata), else its file's modification day,
    else the day it was indexed."""
    found = _DATE.match(str(doc.metadata.get("date", "")))
    if found is not None:
        try:
            return parse_date(found.group(0), end=False)
        except ConfigError:
            pass  # "2023-13-40" in a page's metadata: not a date, the file's is used
    seconds = doc.mtime_ns / 1e9 if doc.mtime_ns else doc.updated_at
    return dt.datetime.fromtimestamp(seconds).date()


def fold(text: str, *, separators: bool = True) -> str:
    """Lower case without accents, spaces, ``_`` and ``-`` as one space: how names are
    compared ("Informe anual" names ``informe_anual.pdf``)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SEPARATORS.sub(" ", plain).strip() if separators else plain


def fold_glob(pattern: str) -> str:
    """A glob folded as names are, but for its ``[...]`` sets, whose ``-`` is a range
    (``report_[0-9]*``)."""
    parts = _BRACKETS.split(pattern)
    return "".join(
        fold(part, separators=False)
        if _BRACKETS.fullmatch(part)
        else _SEPARATORS.sub(" ", fold(part, separators=False))
        for part in parts
    ).strip()


def names_of(doc: DocumentRecord) -> list[str]:
    """What a document can be called: its file name, that name's stem, its path, its
    title (folded)."""
    path = PurePath(doc.source)
    names = [path.name, path.stem, doc.source, doc.title]
    return [fold(name) for name in names if name]


def matches_name(doc: DocumentRecord, name: str) -> bool:
    """Whether ``name`` (a name or a glob, see the module docstring) names ``doc``. (A
    number that is a document's id names that document only: see
    :func:`filtered_document_ids`.)"""
    if name.isdigit() and int(name) == doc.id:
        return True
    names = names_of(doc)
    if _GLOB.search(name):
        pattern = fold_glob(name.replace("\\", "/"))
        return any(fnmatch.fnmatchcase(candidate, pattern) for candidate in names)
    wanted = fold(name.replace("\\", "/"))
    source = fold(doc.source.replace("\\", "/"))
    return wanted in names or source.endswith("/" + wanted.lstrip("/"))


def filtered_document_ids(documents: Sequence[DocumentRecord], wanted: DocumentFilter) -> list[int]:
    """The ids of the searchable ``documents`` that pass ``wanted``; a name that names none
    of them, or a filter that leaves none, is a NotFoundError that says which."""
    searchable = [d for d in documents if d.status == SEARCHABLE]
    kept = searchable
    if wanted.documents:
        named: dict[int, DocumentRecord] = {}
        for name in wanted.documents:
            by_id = [d for d in searchable if name.isdigit() and d.id == int(name)]
            these = {d.id: d for d in by_id or searchable if matches_name(d, name)}
            if not these:
                hint = "" if _GLOB.search(name) else f"; for part of a name use '*{name}*'"
                raise NotFoundError(
                    f"no document matches --document {name!r}{hint}; see `sabio docs`",
                    key="filter_no_document",
                    name=name,
                )
            named |= these
        kept = list(named.values())
    if wanted.after is not None or wanted.before is not None:
        first, last = wanted.after or dt.date.min, wanted.before or dt.date.max
        kept = [d for d in kept if first <= document_date(d) <= last]
        if not kept:
            raise NotFoundError(
                f"no document matches {wanted.describe()}: none is dated in that period "
                "(a document's own date, else its file's modification day)",
                key="filter_no_date",
                filter=wanted.describe(),
            )
    return sorted(d.id for d in kept)

"""Office files that can run macros, and files that are not what their names say: what a
file's bytes hold, not only its name.

Checked without a library (oletools was weighed: BSD-licensed but it brings pyparsing,
msoffcrypto-tool and cryptography, and reading the macros is not needed to warn about
them): an Office Open XML file (a ZIP) with a ``vbaProject.bin`` part, an OpenDocument
one with a ``Basic/`` library, an old Office file (OLE2) with a ``_VBA_PROJECT``
stream, and a program's header (Windows ``MZ``, ELF, Mach-O) under a document's name.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

EXECUTABLE = frozenset(
    ".exe .scr .com .pif .bat .cmd .vbs .vbe .js .jse .wsf .wsh .hta .jar .msi .ps1 .lnk "
    ".cpl .reg .dll .iso .img .vhd".split()
)
DOCUMENT = frozenset(
    ".pdf .doc .docx .xls .xlsx .ppt .pptx .txt .jpg .jpeg .png .gif .rtf .odt .ods .odp "
    ".csv".split()
)
MACRO = frozenset(".docm .dotm .xlsm .xltm .xlsb .xlam .pptm .potm .ppsm .sldm".split())
_OOXML = frozenset(".docx .dotx .xlsx .xltx .pptx .potx .ppsx".split())
_OPENDOCUMENT = frozenset(".odt .ods .odp .odg .ott .ots".split())
_OLE_OFFICE = frozenset(".doc .dot .xls .xlt .ppt .pot .pps".split())
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_PROGRAM_MAGIC = (b"MZ", b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe")
_OLE_MACRO_STREAMS = ("_VBA_PROJECT".encode("utf-16-le"), b"_VBA_PROJECT")
MAX_BYTES = 64 << 20  # larger files are judged by their names


def suffixes(name: str) -> list[str]:
    return re.findall(r"\.[a-z0-9]{1,5}", name.lower().rstrip(". "))


def name_risk(name: str) -> str | None:
    """What a file's name alone says: a program behind a document's name (or after many
    blanks), a program, an Office format that runs macros."""
    found = suffixes(name)
    last = found[-1] if found else ""
    if last in EXECUTABLE:
        if (len(found) >= 2 and found[-2] in DOCUMENT) or re.search(r"\s{3,}|_{5,}", name):
            return "double_extension"
        return "executable"
    if last in MACRO:
        return "macro"
    return None


def content_risk(name: str, data: bytes) -> str | None:
    """What a document's bytes say its name does not: macros inside a format that has
    none (``disguised_macro``: a ``.docm`` renamed ``.docx``), macros in an old Office or
    OpenDocument file (``macro``), a program named as a document (``disguised_executable``)."""
    found = suffixes(name)
    last = found[-1] if found else ""
    if last in DOCUMENT and data.startswith(_PROGRAM_MAGIC) and last not in (".txt", ".csv"):
        return "disguised_executable"
    if last in _OOXML or last in MACRO or last in _OPENDOCUMENT:
        parts = _zip_names(data)
        if last in _OPENDOCUMENT:
            return "macro" if any(p.startswith("Basic/") for p in parts) else None
        if any(p.lower().endswith("vbaproject.bin") for p in parts):
            return "macro" if last in MACRO else "disguised_macro"
        return None
    if data.startswith(_OLE_MAGIC) and any(s in data for s in _OLE_MACRO_STREAMS):
        return "macro" if last in _OLE_OFFICE else "disguised_macro"
    return None


def _zip_names(data: bytes) -> list[str]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        return []


def file_risk(path: Path) -> str | None:
    """A file's risk in a folder: a program hidden behind a document's name, or an Office
    file that runs macros (programs under their own names are not reported: a folder of
    installers is not an attack)."""
    why = name_risk(path.name)
    if why == "double_extension":
        return why
    try:
        if path.stat().st_size > MAX_BYTES:
            return why if why == "macro" else None
        found = content_risk(path.name, path.read_bytes())
    except OSError:
        return None
    return found or (why if why == "macro" else None)

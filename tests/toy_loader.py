"""A loader of one's own, added the way docs/architecture.md says: this one file, whose
one registration line declares its format (for a loader inside Sabio, the line is its
``Format`` in ``sabio.loaders.formats.BUILT_IN``). tests/test_plugins.py uses it through
``sabio add``, an upload and the original file the server hands back.

A ``.toy`` file starts with ``TOY1``; its first line after that is the title, and each
paragraph a section.
"""

from __future__ import annotations

from sabio.errors import CorruptFileError
from sabio.loaders import Blob, LoadedDocument, Section, register_loader
from sabio.loaders.formats import Format

MAGIC = b"TOY1\n"
TOY = Format(
    (".toy",),
    media_types={"application/x-toy": ".toy"},
    magic=(MAGIC,),
    mismatch="not a toy file{seen}",
)


@register_loader(TOY)
def load_toy(blob: Blob) -> LoadedDocument:
    data = blob.read()
    if not data.startswith(MAGIC):
        raise CorruptFileError(f"{blob.name} is not a toy file")
    title, _, body = data[len(MAGIC) :].decode("utf-8").partition("\n")
    return LoadedDocument([Section(p) for p in body.split("\n\n")], title, {"format": "toy"})

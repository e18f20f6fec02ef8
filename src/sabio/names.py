"""Knowledge-base names, and the identifiers derived from them.

A name is what a person types ("Informes año 2024"): any printable characters, with at
least one letter or digit, at most 64 of them. Its
identifier (``slug``) is what URLs, the ``kb/<id>`` models of the Ollama and OpenAI APIs
and the uploads folder (``<home>/uploads/<id>/``) use: letters, digits, ``-``, ``_`` and
``.``, never ``.`` first, so never ``..``. A name that already is such an identifier is its
own (every name Sabio accepted before names were free keeps its URLs and folder);
another gets its letters without accents, lower-cased, with ``-`` for the rest
("informes-ano-2024"), and ``-2``, ``-3``… when that is taken. A knowledge base is found
by its name or its identifier.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection

from sabio.errors import ConfigError

MAX_NAME_CHARS = 64
IDENTIFIER = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")


def check_kb_name(name: str) -> str:
    """The name as it will be kept (spaces at its ends and runs of spaces trimmed), or a
    ConfigError that says what is wrong with it."""
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ConfigError("a knowledge base needs a name", key="kb_name_empty")
    if len(cleaned) > MAX_NAME_CHARS:
        raise ConfigError(
            f"{cleaned[:20]!r}… is too long for a knowledge base name: at most "
            f"{MAX_NAME_CHARS} characters",
            key="kb_name_long",
            max=MAX_NAME_CHARS,
        )
    if not any(ch.isalnum() for ch in cleaned):
        raise ConfigError(
            f"{cleaned!r} is not a knowledge base name: it needs a letter or a digit",
            key="kb_name_invalid",
        )
    if any(unicodedata.category(ch)[0] == "C" for ch in cleaned):
        raise ConfigError(
            f"{cleaned!r} holds control characters: a knowledge base name is text a person "
            "can read",
            key="kb_name_invalid",
        )
    return cleaned


def kb_identifier(name: str, taken: Collection[str]) -> str:
    """The identifier of a new knowledge base called ``name`` (module docstring), unlike
    every one in ``taken`` (other knowledge bases' names and identifiers), compared
    without case."""
    base = name if IDENTIFIER.fullmatch(name) else _derived(name)
    used = {t.casefold() for t in taken}
    candidate, n = base, 1
    while candidate.casefold() in used:
        n += 1
        suffix = f"-{n}"
        candidate = base[: MAX_NAME_CHARS - len(suffix)] + suffix
    return candidate


def _derived(name: str) -> str:
    letters = unicodedata.normalize("NFKD", name)
    ascii_only = "".join(ch for ch in letters if not unicodedata.combining(ch))
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_only).lower()
    slug = re.sub(r"-{2,}", "-", slug).strip("-.")[:MAX_NAME_CHARS].rstrip("-.")
    return slug or "kb"

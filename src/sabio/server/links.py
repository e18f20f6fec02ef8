"""How the API names a document: by its file name and the URL of the original file.

Never by its path on the server: a path tells every client about the server's disk (and
the user name in it) and means nothing in a browser. Documents, search hits and answer
citations all go through :func:`document_link`; the CLI's ``--json``, which is local,
keeps the full paths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

API_PREFIX = "/api/v1"


def file_url(
    kb_name: str | None, document_id: int, source: str, page: int | None = None
) -> str | None:
    """Where the original is: the file's URL here (a PDF's with ``#page=N`` when a page is
    given, which browsers' PDF viewers open at), a web page's own address; None for a
    mail or a posted text, and without a knowledge base."""
    if source.startswith(("https://", "http://")):
        return source
    if kb_name is None or not is_file_source(source):
        return None
    url = f"{API_PREFIX}/kbs/{quote(kb_name, safe='')}/documents/{document_id}/file"
    if page and Path(source).suffix.lower() == ".pdf":
        url += f"#page={page}"
    return url


def is_file_source(source: str) -> bool:
    """Whether a document came from a file on this computer (not a web page, a mail or
    a posted text: see :mod:`sabio.sources`)."""
    return source.startswith("/") or (len(source) > 2 and source[1:3] in (":\\", ":/"))


def document_link(
    kb_name: str | None, document_id: int, source: str, page: int | None = None
) -> dict[str, Any]:
    """``document`` (the file name) and ``file_url`` (:func:`file_url`)."""
    return {"document": Path(source).name, "file_url": file_url(kb_name, document_id, source, page)}


def linked_citations(kb_name: str | None, citations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Citations as :meth:`Answer.to_dict` gives them, each ``document`` a file name
    with its ``file_url``."""
    return [
        {**c, **document_link(kb_name, c["document_id"], c["document"], c.get("page"))}
        for c in citations
    ]


def linked_answer(kb_name: str | None, answer: dict[str, Any]) -> dict[str, Any]:
    """An answer's dict (the ``done`` event) with its citations, also the dropped ones,
    linked by :func:`linked_citations`, and its claims' documents named the same way."""
    claims = [
        {**c, **document_link(kb_name, c["document_id"], c["document"], c.get("page"))}
        if c.get("document_id") is not None
        else c
        for c in answer.get("claims", [])
    ]
    return {
        **answer,
        "citations": linked_citations(kb_name, answer["citations"]),
        "dropped": linked_citations(kb_name, answer["dropped"]),
        "claims": claims,
    }

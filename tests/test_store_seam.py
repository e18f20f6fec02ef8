"""The store is the only module that writes SQL (issue 20): every other module talks to
it through methods."""

from __future__ import annotations

import re
from pathlib import Path

import sabio

SRC = Path(sabio.__file__).parent
SQL = re.compile(r"\.(execute|executemany|executescript)\(|\.transaction\(\)")


OWN_ENGINES = ("store", "tables")
"""Packages that own a database: the store, and the tables' analytical engine (DuckDB,
one file per knowledge base, whose SQL is the feature itself: sabio.tables)."""


def test_no_module_outside_the_store_writes_sql() -> None:
    found = {
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path.relative_to(SRC).parts[0] not in OWN_ENGINES and SQL.search(path.read_text("utf-8"))
    }
    assert found == set()


def test_no_route_reaches_into_the_store() -> None:
    reaching = {
        path.name
        for path in (SRC / "server").glob("*.py")
        if re.search(r"(?<!from )\b(reader|writer|sabio)\.store\b", path.read_text("utf-8"))
    }
    # the OpenAI and Ollama APIs (find_kb) are left
    assert reaching <= {"ollama_api.py", "openai_api.py", "ollama_answers.py"}

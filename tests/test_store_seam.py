"""The store is the only module that writes SQL (issue 20): every other module talks to
it through methods. The modules listed in STILL_SQL have yet to be moved behind it.
``tables/`` is the other engine, with a file of its own: a knowledge base's tables in
DuckDB, and the SQL the chat model writes over them (issue 23)."""

from __future__ import annotations

import re
from pathlib import Path

import sabio

SRC = Path(sabio.__file__).parent
STILL_SQL = {"chats.py", "users.py", "sources/__init__.py", "archive.py"}
"""Their SQL moves into store/ next; archive.py copies and checks whole database files."""
SQL = re.compile(r"\.(execute|executemany|executescript)\(|\.transaction\(\)")


def test_no_module_outside_the_store_writes_sql() -> None:
    found = {
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path.relative_to(SRC).parts[0] not in ("store", "tables")
        and SQL.search(path.read_text("utf-8"))
    }
    assert found == STILL_SQL


def test_no_route_reaches_into_the_store() -> None:
    reaching = {
        path.name
        for path in (SRC / "server").glob("*.py")
        if re.search(r"(?<!from )\b(reader|writer|sabio)\.store\b", path.read_text("utf-8"))
    }
    # the OpenAI and Ollama APIs (find_kb) are left
    assert reaching <= {"ollama_api.py", "openai_api.py", "ollama_answers.py"}

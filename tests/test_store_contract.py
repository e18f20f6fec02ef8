"""The store contract (tests/store_contract.py) over SQLite (a file, a file read through a
connection per thread, the server's, and an in-memory database) and over a real
PostgreSQL with pgvector (tests/pg_server.py; skipped only when its wheel is absent)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pg_server import new_database, postgres_server
from store_contract import StoreContract

from sabio.store import Store, StoreBackend

__all__ = ["postgres_server"]  # the fixture, used by TestPostgresStore


class TestSQLiteStore(StoreContract):
    @pytest.fixture(params=["file", "per_thread", "memory"])
    def backend(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreBackend]:
        path = ":memory:" if request.param == "memory" else tmp_path / "sabio.db"
        store = Store(path, per_thread=request.param == "per_thread")
        yield store
        store.close()


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def backend(self, postgres_server: Any) -> Iterator[StoreBackend]:
        from sabio.store.pg_documents import PostgresStore

        store = PostgresStore(new_database(postgres_server))
        yield store
        store.close()

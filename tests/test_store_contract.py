"""The store contract (tests/store_contract.py) over SQLite: a file, a file read through a
connection per thread (the server's), and an in-memory database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from store_contract import StoreContract

from sabio.store import Store, StoreBackend


class TestSQLiteStore(StoreContract):
    @pytest.fixture(params=["file", "per_thread", "memory"])
    def backend(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreBackend]:
        path = ":memory:" if request.param == "memory" else tmp_path / "sabio.db"
        store = Store(path, per_thread=request.param == "per_thread")
        yield store
        store.close()

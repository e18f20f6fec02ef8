"""PostgreSQL's pool of connections per process (issue 27): a process never opens more
than ``database_pool_size``, the stores of one process share them, a statement that
finds none free fails in words that say what to do, and a wrong URL fails at once. A
real server (tests/pg_server.py), skipped only when its wheel is absent."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pg_server import new_database, postgres_server

from sabio.config import load_settings
from sabio.errors import ConfigError, DatabaseBusyError
from sabio.service import Sabio

__all__ = ["postgres_server"]


def _backends(server: Any, url: str) -> int:
    """How many connections PostgreSQL has open to the database of ``url``."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_process_opens_at_most_its_pool_size(postgres_server: Any) -> None:
    from sabio.store.pg_documents import PostgresStore

    url = new_database(postgres_server)
    store = PostgresStore(url, pool_size=2)
    seen: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        with store.transaction() as db:  # holds its connection while it sleeps
            db.execute("SELECT pg_sleep(0.3)")
            with lock:
                seen.append(_backends(postgres_server, url))
        store.create_kb(f"kb{threading.get_ident()}", "fake:words", 4)  # outside: any free

    threads = [threading.Thread(target=work) for _ in range(6)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(seen) == 6 and len(store.kb_names()) == 6
        assert max(seen) == 2  # two at once, never a third
    finally:
        store.close()


def test_the_services_of_a_process_share_one_pool(postgres_server: Any, tmp_path: Path) -> None:
    url = new_database(postgres_server)
    settings = load_settings(
        {"home": tmp_path / "home", "embedding_model": "fake:words", "workers": 1},
        environ={"SABIO_DATABASE_URL": url, "SABIO_DATABASE_POOL_SIZE": "3"},
    )
    reader = Sabio(settings, concurrent_reads=True)
    writer = Sabio(settings, shared_with=reader)
    pool = getattr(reader.store, "pool", None)
    assert pool is not None and getattr(writer.store, "pool", None) is pool
    assert pool.size == 3
    reader.create_kb("notes")
    reader.close()
    assert writer.store.kb_names() == ["notes"]  # the pool stays while a store uses it
    writer.close()
    deadline = time.monotonic() + 10
    while _backends(postgres_server, url) and time.monotonic() < deadline:
        time.sleep(0.05)  # a closed connection's backend ends a moment later
    assert _backends(postgres_server, url) == 0


def test_a_statement_that_finds_no_free_connection_says_what_to_do(
    postgres_server: Any,
) -> None:
    from sabio.store.pg_documents import PostgresStore
    from sabio.store.postgres import PostgresPool

    url = new_database(postgres_server)
    pool = PostgresPool(url, 1, wait_s=0.2)
    store = PostgresStore(url, pool=pool)
    pool.release()  # the store's reference is the one left
    failed: list[BaseException] = []

    def other_thread() -> None:
        try:
            store.kb_names()
        except DatabaseBusyError as exc:
            failed.append(exc)

    try:
        with store.transaction():  # the only connection
            thread = threading.Thread(target=other_thread)
            thread.start()
            thread.join()
        assert len(failed) == 1
        error = failed[0]
        assert isinstance(error, DatabaseBusyError) and error.key == "database_busy"
        assert error.args_for_key == {"size": 1}
        assert "raise database_pool_size" in str(error)
        assert store.kb_names() == []  # free again: it works
    finally:
        store.close()


def test_a_wrong_database_url_fails_at_once_and_says_why() -> None:
    pytest.importorskip("psycopg")
    from sabio.store.pg_documents import PostgresStore
    from sabio.store.postgres import PostgresPool

    with pytest.raises(ConfigError, match="cannot reach the PostgreSQL database"):
        PostgresStore("postgresql://sabio@127.0.0.1:1/sabio")
    with pytest.raises(ConfigError, match="database_pool_size must be at least 1"):
        PostgresPool("postgresql://sabio@127.0.0.1:1/sabio", 0)

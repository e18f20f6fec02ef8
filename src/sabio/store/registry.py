"""Which store backend ``database_url`` selects (issue 27): a registry by URL scheme.

'' (the default) or ``sqlite:///PATH``: the SQLite file (:class:`sabio.store.Store`);
``postgresql://…``: PostgreSQL with pgvector (:class:`sabio.store.pg_documents.
PostgresStore`, the ``postgres`` extra: psycopg is imported only when one is opened). A
new backend is a class that keeps :class:`~sabio.store.backend.SabioStore` and one
line in :data:`BACKENDS`.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sabio.errors import ConfigError
from sabio.store import Store
from sabio.store.backend import SabioStore
from sabio.store.pg_documents import PostgresStore
from sabio.store.postgres import DEFAULT_POOL_SIZE


@dataclass(frozen=True, slots=True)
class StoreOptions:
    """How a store is opened. ``per_thread``: a connection per calling thread (SQLite;
    PostgreSQL's come from its pool). ``pool_size``: PostgreSQL's connections per
    process at most. ``alongside``: another store of this process over the same
    database, whose connections this one shares (PostgreSQL's pool)."""

    per_thread: bool = False
    pool_size: int = DEFAULT_POOL_SIZE
    alongside: SabioStore | None = None


def _open_sqlite(url: str, default: Path, options: StoreOptions) -> SabioStore:
    path = url.removeprefix("sqlite:///") if url else default
    return Store(path or default, per_thread=options.per_thread)


def _open_postgres(url: str, default: Path, options: StoreOptions) -> SabioStore:
    other = options.alongside
    if isinstance(other, PostgresStore) and other.path == url:
        return PostgresStore(url, pool=other.pool)
    return PostgresStore(url, pool_size=options.pool_size)


BACKENDS: dict[str, Callable[[str, Path, StoreOptions], SabioStore]] = {
    "sqlite": _open_sqlite,
    "postgresql": _open_postgres,
    "postgres": _open_postgres,
}
"""Store backends by the scheme of ``database_url``; '' is SQLite in the data directory."""


def backend_name(database_url: str) -> str:
    """``sqlite`` or ``postgresql``: which backend ``database_url`` selects."""
    scheme = database_url.partition("://")[0].lower() if database_url else "sqlite"
    if scheme not in BACKENDS or (database_url and "://" not in database_url):
        raise ConfigError(
            f"database_url {database_url!r} is neither 'sqlite:///PATH' nor "
            "'postgresql://…'; leave it empty for the SQLite file in the data directory"
        )
    return "postgresql" if scheme.startswith("postgres") else "sqlite"


def open_store(
    database_url: str, default_path: Path, options: StoreOptions | None = None
) -> SabioStore:
    """The store ``database_url`` names (:data:`BACKENDS`); empty: SQLite at
    ``default_path``."""
    name = backend_name(database_url)
    return BACKENDS[name](database_url, default_path, options or StoreOptions())


def describe_database(database_url: str, default_path: Path) -> str:
    """Where the data is, to show: the SQLite file's path, or the PostgreSQL URL without
    its password."""
    if backend_name(database_url) == "sqlite":
        return database_url.removeprefix("sqlite:///") or str(default_path)
    parts = urllib.parse.urlsplit(database_url)
    if parts.password is None:
        return database_url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
    netloc += f":{parts.port}" if parts.port else ""
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))

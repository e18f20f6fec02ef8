"""Kinds of source: each one declared once, with its connector, options and flags.

A kind is a :class:`SourceKind`: its name, its connector (what checks a new source and
syncs it), its options as a pydantic model (``extra="forbid"``), what its location is,
and a few flags (``watchable``: a thread tells of changes at once; ``scheduled``: synced
every so often; ``fetches``; whether it keeps a password or a token's digest). The CLI's
``sabio source add``, the REST schema (``POST /api/v1/sources``, ``GET
/api/v1/source-kinds``), the worker and the web app's form are derived from these
declarations: adding a kind is one file that calls :func:`register_source_kind`, and one
line in :data:`BUILT_IN` (or an import of that file, for a kind of your own).

A connector never sees the service. It is given a narrow context: :class:`SetupContext`
when a source is added (the data directory to keep clear of, a way to encrypt a
password), and a :class:`SyncContext` when it syncs (its source's options and state,
its password, and what it may do: index, update and remove items, report progress).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from sabio.config import Settings
from sabio.errors import ConfigError
from sabio.ingest import LoadedSource
from sabio.sources import ItemUpdate, Source, SourceItem, SourceSetup, SourceWatch, automation
from sabio.store import DocumentRecord, FileState

BUILT_IN = {
    "folder": "sabio.sources.folder",
    "imap": "sabio.sources.imap",
    "url": "sabio.sources.web",
    "feed": "sabio.sources.web",
    "sitemap": "sabio.sources.web",
    "webhook": "sabio.sources.webhook",
}
"""The module that registers each built-in kind, imported when it is first used."""

Location = Literal["folder", "file", "url", "name", "none"]
"""What a source's location is: a folder or a file on this computer, a URL, an optional
name, or nothing (the options say it all)."""
Secret = Literal["none", "password", "digest"]
"""What a kind keeps secret: nothing; a password, encrypted to replay (an export seals
it); a digest to check a token against (an export keeps it as it is)."""
Options = TypeVar("Options", bound=BaseModel)
OptionsIn = TypeVar("OptionsIn", bound=BaseModel, contravariant=True)


@dataclass(frozen=True, slots=True)
class SetupContext:
    """What a connector may know while it checks a new source."""

    home: Path
    """Sabio's data directory (a watched folder must not hold it)."""
    encrypt: Callable[[str], bytes]
    """Encrypts a password to keep (:class:`sabio.vault.Vault`)."""


class SyncContext(Protocol):
    """What a connector may read and do while it syncs one source
    (:class:`sabio.sources.run.SyncRun` is the one Sabio gives)."""

    @property
    def source(self) -> Source: ...
    @property
    def payload(self) -> dict[str, Any]:
        """What this sync is about (a folder's changed ``paths``; empty: everything)."""

    @property
    def settings(self) -> Settings:
        """Sabio's settings, read only (time limits, the fetcher's)."""

    def password(self) -> str: ...
    def save_state(self, state: dict[str, Any]) -> None: ...
    def progress(self, note: str, *, done: int | None = None, total: int | None = None) -> None: ...
    def item(self, key: str) -> SourceItem | None: ...
    def items(self) -> list[SourceItem]: ...
    def document(self, source: str) -> DocumentRecord | None:
        """This knowledge base's document from ``source`` (a path, a URL), if any."""

    def documents_under(self, folder: str) -> list[str]:
        """The sources of this knowledge base's documents below ``folder``."""

    def move_document(self, document: DocumentRecord, to: FileState) -> None: ...
    def ingest_files(
        self,
        paths: Sequence[Path],
        *,
        remove_missing: bool = True,
        follow_links: bool = False,
        within: Path | None = None,
    ) -> None: ...
    def index_loaded(
        self, items: Sequence[LoadedSource], keys: Sequence[str], extra: Sequence[ItemUpdate] = ()
    ) -> None: ...
    def remove_documents(
        self, sources_and_keys: Sequence[tuple[str, str]], reason: str
    ) -> None: ...
    def record(self, updates: Sequence[ItemUpdate]) -> None: ...


class Connector(Protocol[OptionsIn]):
    """``configure`` checks what the user gave (raising a SabioError that says what is
    wrong) and returns the source to keep; ``sync`` looks at the source and tells ``run``
    what to index or remove."""

    def configure(
        self, setup: SetupContext, location: str, options: OptionsIn, password: str | None
    ) -> SourceSetup: ...

    def sync(self, run: SyncContext) -> None: ...


Watch = Callable[[Source, str, Callable[[list[str]], None]], SourceWatch]
"""Starts watching a source (given its password): calls back with the changed paths
(none: sync it all)."""


@dataclass(frozen=True, slots=True)
class SourceKind(Generic[Options]):
    """One kind of source, as the CLI, the API, the worker and the web app know it."""

    name: str
    connector: Callable[[], Connector[Options]]
    options: type[Options]
    location: Location
    summary: str
    """One line for `sabio source kinds` and the API (the web app has its own words)."""
    watch: Watch | None = None
    """Set when the kind is ``watchable``: how the worker watches a source of it."""
    scheduled: bool = False
    """Synced on a schedule (its connector sets the default interval)."""
    fetches: bool = True
    """False when there is nothing to sync: a webhook's documents are posted to it."""
    secret: Secret = "none"

    @property
    def watchable(self) -> bool:
        return self.watch is not None

    def check_options(self, options: dict[str, Any]) -> Options:
        """The options as the kind's model reads them, or a ConfigError naming each
        problem; what any source may do with its new items (``on_new``,
        :mod:`sabio.sources.automation`) is checked apart and left out."""
        if automation.KEY in options:
            automation.check_on_new(options[automation.KEY])
        own = {name: value for name, value in options.items() if name != automation.KEY}
        try:
            return self.options.model_validate(own)
        except ValidationError as exc:
            raise ConfigError(
                f"bad options for a {self.name} source: {describe_errors(exc)}"
            ) from None

    def describe(self) -> dict[str, Any]:
        """What ``GET /api/v1/source-kinds`` says of it."""
        return {
            "kind": self.name,
            "summary": self.summary,
            "location": self.location,
            "password": self.secret == "password",
            "watchable": self.watchable,
            "scheduled": self.scheduled,
            "fetches": self.fetches,
            "options": _with_on_new(self.options.model_json_schema()),
        }


def _with_on_new(schema: dict[str, Any]) -> dict[str, Any]:
    """A kind's options' schema with ``on_new``, which every kind takes."""
    on_new = automation.OnNew.model_json_schema()
    properties = {**schema.get("properties", {}), automation.KEY: on_new}
    return {**schema, "properties": properties}


def describe_errors(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        name = ".".join(str(p) for p in error["loc"]) or "options"
        if error["type"] == "extra_forbidden":
            parts.append(f"{name} is not one of its options")
        else:
            parts.append(f"{name}: {error['msg']}")
    return "; ".join(parts)


_KINDS: dict[str, SourceKind[Any]] = {}


def register_source_kind(kind: SourceKind[Any]) -> SourceKind[Any]:
    """Make ``kind`` known to the CLI, the API, the worker and the web app."""
    _KINDS[kind.name] = kind
    return kind


def source_kind(name: str) -> SourceKind[Any]:
    if name not in _KINDS and name in BUILT_IN:
        importlib.import_module(BUILT_IN[name])
    kind = _KINDS.get(name)
    if kind is None:
        known = ", ".join(k.name for k in source_kinds())
        raise ConfigError(f"no such kind of source: {name!r} (one of {known})")
    return kind


def source_kinds() -> list[SourceKind[Any]]:
    """Every kind: the built-in ones first, then those registered since."""
    for module in dict.fromkeys(BUILT_IN.values()):
        importlib.import_module(module)
    order = list(BUILT_IN)
    return sorted(
        _KINDS.values(),
        key=lambda k: (order.index(k.name) if k.name in order else len(order), k.name),
    )


def item_name(source: Source, item: SourceItem) -> str:
    """How an item is named to people: a folder's by its path in the folder, others by
    their key (a URL, a Message-ID)."""
    if source_kind(source.kind).location == "folder":
        return item.key.removeprefix(source.location.rstrip("/") + "/")
    return item.key

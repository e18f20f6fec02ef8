"""Everything in the data directory, taken away and brought back: ``sabio export``,
``sabio import`` and ``sabio purge`` (and their REST routes, :mod:`sabio.server.data_api`).

An export is one tar file::

    sabio-export.json   what it is: format, Sabio and schema versions, the data directory
                        it came from, counts, and how the secrets are sealed (or null)
    sabio.db            the database (documents, passages and their vectors, chats,
                        accounts, sources, jobs), copied consistently by ``VACUUM INTO``,
                        so it holds no deleted page; without the saved passwords
    config.toml         the settings, without API keys (if there is a config file)
    secrets.enc         the saved passwords of the sources and the API keys of config.toml,
                        sealed under a passphrase the user gives (:func:`sabio.vault.seal`);
                        only when there are any
    uploads/<kb>/...    the files uploaded through the server

It does not hold the search index or the converted model: both are rebuilt from the
database when first needed. Files added from their own place (``sabio add ~/Documents``)
stay where they are; their passages are in the database. The archive is written 0600,
through a temporary file beside it that is renamed into place; the database's copy is
made in a folder inside the data directory (so an export needs about twice the
database's size free for a moment).

An import goes into a data directory that holds no data yet (a new one, or one just
purged): it checks the archive and the passphrase first, unpacks into a folder inside the
data directory, rewrites the uploaded files' paths for their new place, seals the
passwords again under this data directory's key (:class:`sabio.vault.Vault`), and only
then moves everything into place. A failure before that leaves the directory as it was.

A purge deletes everything Sabio keeps in the data directory, then the directory (what
else someone put there stays, and is named). Deleting a file does not overwrite the disk
blocks it used, and on an SSD nothing a program does can promise that: full-disk
encryption is what protects a lost or discarded disk.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
import tomllib
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sabio import __version__
from sabio.config import Settings, config_file, write_config_file
from sabio.errors import ConfigError, ConflictError
from sabio.home import (
    UPLOADS,
    WORK_PREFIX,
    create_private_file,
    is_data_entry,
    make_private_home,
    uploads_root,
)
from sabio.sources.kinds import source_kinds
from sabio.store import SCHEMA_VERSION, SabioStore, Store, copies
from sabio.vault import Vault, seal, unseal

FORMAT = "sabio-export"
VERSION = 1
MANIFEST = "sabio-export.json"
DATABASE = "sabio.db"
CONFIG = "config.toml"
SECRETS = "secrets.enc"
PASSPHRASE_NEEDED = (
    "the data holds saved passwords or API keys: give a passphrase to seal them in the "
    "archive (you will need it to import it)"
)


@dataclass(frozen=True, slots=True)
class Contents:
    """What a data directory (or an archive) holds."""

    knowledge_bases: int = 0
    documents: int = 0
    passages: int = 0
    chats: int = 0
    users: int = 0
    sources: int = 0
    uploads: int = 0
    secrets: int = 0

    @property
    def empty(self) -> bool:
        return not (self.knowledge_bases or self.chats or self.users or self.sources)

    def describe(self, language: str = "en") -> str:
        """e.g. "2 knowledge bases, 31 documents, 4 chats, 1 source, 12 uploaded files", or
        in Spanish (``language`` "es"): "2 bases de conocimiento, 31 documentos, …"."""
        counts = (
            self.knowledge_bases,
            self.documents,
            self.chats,
            self.users,
            self.sources,
            self.uploads,
        )
        names = _NAMES["es" if language == "es" else "en"]
        text = ", ".join(f"{n} {names[i][n != 1]}" for i, n in enumerate(counts) if n)
        return text or names[-1][0]


_NAMES = {
    "en": (
        ("knowledge base", "knowledge bases"),
        ("document", "documents"),
        ("chat", "chats"),
        ("account", "accounts"),
        ("source", "sources"),
        ("uploaded file", "uploaded files"),
        ("no data", "no data"),
    ),
    "es": (
        ("base de conocimiento", "bases de conocimiento"),
        ("documento", "documentos"),
        ("chat", "chats"),
        ("cuenta", "cuentas"),
        ("fuente", "fuentes"),
        ("archivo subido", "archivos subidos"),
        ("ningún dato", "ningún dato"),
    ),
}
"""What :meth:`Contents.describe` counts, (singular, plural), and its word for none."""


def _uploaded_files(home: Path) -> Iterator[Path]:
    """The files kept in ``<home>/uploads/<kb>/`` (not those still arriving)."""
    root = uploads_root(home)
    if not root.is_dir():
        return
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and not folder.name.startswith("."):
            yield from (p for p in sorted(folder.iterdir()) if p.is_file())


def contents(settings: Settings) -> Contents:
    """What the data directory of ``settings`` holds (nothing when it does not exist)."""
    if not settings.database_path.exists():
        return Contents(uploads=sum(1 for _ in _uploaded_files(settings.home)))
    store = Store(settings.database_path)
    try:
        counts = copies.contents(store)
    finally:
        store.close()
    return Contents(**counts, uploads=sum(1 for _ in _uploaded_files(settings.home)))


@contextlib.contextmanager
def _work_folder(home: Path) -> Iterator[Path]:
    """A private folder inside the data directory, deleted afterwards."""
    make_private_home(home)
    folder = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=home))  # 0700
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def clear_leftovers(home: Path) -> None:
    """Delete what an interrupted export or import left in the data directory."""
    for folder in home.glob(f"{WORK_PREFIX}*") if home.is_dir() else ():
        shutil.rmtree(folder, ignore_errors=True)


# export


def _config_without_keys(
    settings: Settings, environ: Mapping[str, str]
) -> tuple[str | None, dict[str, str]]:
    """config.toml's text without the ``api_key`` of its ``[openai.NAME]`` tables, and
    those keys by server name."""
    path = config_file(settings.home, environ)
    if not path.exists():
        return None, {}
    import tomlkit
    import tomlkit.exceptions

    try:
        document = tomlkit.parse(path.read_text(encoding="utf-8"))
    except (tomlkit.exceptions.ParseError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}): fix it first") from exc
    keys: dict[str, str] = {}
    servers = document.get("openai")
    if isinstance(servers, dict):
        for name, table in servers.items():
            if isinstance(table, dict) and table.get("api_key"):
                keys[str(name)] = str(table["api_key"])
                del table["api_key"]
    return tomlkit.dumps(document), keys


def _snapshot(store: Store, settings: Settings, target: Path) -> dict[str, str]:
    """A consistent copy of the database at ``target`` without saved passwords; the
    passwords, decrypted, by source id."""
    digests = _digest_kinds()
    taken = copies.snapshot(store, target, keeps_secret=lambda kind: kind in digests)
    vault = Vault(settings.home)
    return {str(source_id): vault.decrypt(secret) for source_id, secret in taken.items()}


def _digest_kinds() -> list[str]:
    """Kinds whose secret is a digest to check against (a webhook's token), not a
    password encrypted to replay: an export keeps it as it is."""
    return [kind.name for kind in source_kinds() if kind.secret == "digest"]


def needs_passphrase(
    store: SabioStore, settings: Settings, environ: Mapping[str, str] | None = None
) -> bool:
    """Whether an export of this data directory holds secrets to seal."""
    env = os.environ if environ is None else environ
    held = store.sources.holds_secrets(except_kinds=_digest_kinds())
    return held or bool(_config_without_keys(settings, env)[1])


def export_archive(
    store: Store,
    settings: Settings,
    target: Path,
    passphrase: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Contents:
    """Write the archive of the data directory to ``target`` (see the module docstring);
    ``passphrase`` seals the secrets, and is needed when there are any."""
    env = os.environ if environ is None else environ
    target = Path(os.path.abspath(target))
    if target.is_dir():
        raise ConfigError(f"{target} is a folder: give the archive's file name")
    if not target.parent.is_dir():
        raise ConfigError(f"{target.parent} does not exist: create it first")
    with _work_folder(settings.home) as work:
        database = work / DATABASE
        passwords = _snapshot(store, settings, database)
        config, api_keys = _config_without_keys(settings, env)
        secrets = {"sources": passwords, "openai_api_keys": api_keys}
        sealed, sealing = None, None
        if passwords or api_keys:
            if not passphrase:
                raise ConfigError(PASSPHRASE_NEEDED)
            sealed, sealing = seal(json.dumps(secrets).encode(), passphrase)
        found = copies.copy_contents(database)
        uploaded = list(_uploaded_files(settings.home))
        summary = Contents(**found, uploads=len(uploaded), secrets=len(passwords) + len(api_keys))
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "sabio": __version__,
            "schema": SCHEMA_VERSION,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "home": str(Path(os.path.abspath(settings.home))),
            "uploads": str(uploads_root(settings.home)),
            "contents": asdict(summary),
            "secrets": sealing,
        }
        members: list[tuple[str, bytes | Path]] = [
            (MANIFEST, json.dumps(manifest, indent=2).encode()),
            (DATABASE, database),
        ]
        if config is not None:
            members.append((CONFIG, config.encode("utf-8")))
        if sealed is not None:
            members.append((SECRETS, sealed))
        root = uploads_root(settings.home)
        members += [(f"{UPLOADS}/{p.relative_to(root).as_posix()}", p) for p in uploaded]
        _write_tar(target, members)
    return summary


def _write_tar(target: Path, members: list[tuple[str, bytes | Path]]) -> None:
    """A tar of ``members`` (each its bytes or a file) at ``target``, 0600, through a
    temporary file beside it, synced and renamed into place."""
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
    create_private_file(partial)
    try:
        with partial.open("wb") as out:
            with tarfile.open(fileobj=out, mode="w") as tar:
                for name, member in members:
                    if isinstance(member, bytes):
                        _add_bytes(tar, name, member)
                    else:
                        _add_file(tar, name, member)
            out.flush()
            os.fsync(out.fileno())  # the end-of-archive blocks are written by now
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _member(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    """A member owned by nobody in particular: no user or group name is looked up (that
    would ask the name service) or kept in the archive."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o600, int(mtime)
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    tar.addfile(_member(name, len(data), time.time()), io.BytesIO(data))


def _add_file(tar: tarfile.TarFile, name: str, path: Path) -> None:
    with path.open("rb") as f:
        found = os.fstat(f.fileno())
        tar.addfile(_member(name, found.st_size, found.st_mtime), f)


# import


def _read_manifest(tar: tarfile.TarFile, name: str) -> dict[str, Any]:
    first = tar.next()
    if first is None or first.name != MANIFEST or not first.isfile():
        raise ConfigError(f"{name} is not a Sabio export (it does not start with {MANIFEST})")
    raw = tar.extractfile(first)
    assert raw is not None
    try:
        manifest = json.loads(raw.read(1_000_000))
    except ValueError as exc:
        raise ConfigError(f"{name}: its {MANIFEST} is damaged ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ConfigError(f"{name} is not a Sabio export")
    if not isinstance(manifest.get("version"), int) or manifest["version"] > VERSION:
        raise ConflictError(f"{name} was exported by a newer Sabio: upgrade Sabio to import it")
    if not isinstance(manifest.get("schema"), int) or manifest["schema"] > SCHEMA_VERSION:
        raise ConflictError(f"{name} holds a newer database (schema {manifest.get('schema')})")
    return manifest


def archive_needs_passphrase(archive: Path) -> bool:
    """Whether importing ``archive`` needs the passphrase it was exported with."""
    with _open_archive(archive) as tar:
        return _read_manifest(tar, archive.name).get("secrets") is not None


@contextlib.contextmanager
def _open_archive(archive: Path) -> Iterator[tarfile.TarFile]:
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            yield tar
    except FileNotFoundError:
        raise ConfigError(f"{archive} does not exist") from None
    except (tarfile.TarError, EOFError) as exc:
        raise ConfigError(f"{archive} is not a Sabio export, or it is damaged ({exc})") from exc


def _upload_target(name: str, uploads: Path) -> Path | None:
    """Where ``uploads/<kb>/<file>`` goes under ``uploads``; None for any other name."""
    parts = name.split("/")
    if len(parts) != 3 or parts[0] != UPLOADS:
        return None
    kb, file = parts[1], parts[2]
    for part in (kb, file):
        if part in ("", ".", "..") or part.startswith(".") or "\\" in part or "\0" in part:
            return None
    return uploads / kb / file


def _unpack(tar: tarfile.TarFile, work: Path, name: str) -> dict[str, Path]:
    """The archive's database, config and secrets (paths in ``work``); its uploads in
    ``work/uploads``. Anything else in it is refused."""
    found: dict[str, Path] = {}
    for member in tar:
        if member.name == MANIFEST:
            continue  # read first, by _read_manifest
        if member.name in (DATABASE, CONFIG, SECRETS) and member.isfile():
            target = work / member.name
            found[member.name] = target
        elif member.isfile() and (upload := _upload_target(member.name, work / UPLOADS)):
            target = upload
        else:
            raise ConfigError(
                f"{name} holds {member.name!r}, which no Sabio export holds; nothing was imported"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        source = tar.extractfile(member)
        assert source is not None
        create_private_file(target)
        with target.open("wb") as out:
            shutil.copyfileobj(source, out, 1024 * 1024)
    if DATABASE not in found:
        raise ConfigError(f"{name} holds no {DATABASE}; nothing was imported")
    return found


def _rehome(
    database: Path, manifest: dict[str, Any], settings: Settings, passwords: dict[str, str]
) -> None:
    """Point the uploaded documents at their new place and seal the passwords under this
    data directory's key."""
    problem = copies.copy_problem(database)
    if problem is not None:
        raise ConfigError(f"the archive's database is damaged ({problem}); nothing was imported")
    old = str(manifest.get("uploads") or "").rstrip("/") + "/"
    new = str(uploads_root(settings.home)) + "/"
    vault = Vault(settings.home)
    sealed = {int(source_id): vault.encrypt(password) for source_id, password in passwords.items()}
    copies.rehome_copy(database, old, new, sealed)


def _restore_config(text: str, keys: dict[str, str], path: Path) -> None:
    import tomlkit

    document = tomlkit.parse(text)
    servers = document.get("openai")
    for name, key in keys.items():
        if isinstance(servers, dict) and isinstance(servers.get(name), dict):
            servers[name]["api_key"] = key
    write_config_file(path, tomlkit.dumps(document))


def _unsealed(
    manifest: dict[str, Any], found: dict[str, Path], passphrase: str | None, name: str
) -> dict[str, dict[str, str]]:
    """The archive's secrets: ``sources`` (passwords by source id), ``openai_api_keys``."""
    if manifest.get("secrets") is None:
        return {"sources": {}, "openai_api_keys": {}}
    if SECRETS not in found:
        raise ConfigError(f"{name} lacks its {SECRETS}; nothing was imported")
    if not passphrase:
        raise ConfigError(
            f"{name} holds sealed passwords or API keys: give the passphrase it was exported with"
        )
    secrets = json.loads(unseal(found[SECRETS].read_bytes(), passphrase, manifest["secrets"]))
    return {key: dict(secrets.get(key) or {}) for key in ("sources", "openai_api_keys")}


def _move_into_place(work: Path, database: Path, settings: Settings) -> None:
    # the old (empty) database's log first, or SQLite would apply it to the new one
    for suffix in ("-wal", "-shm"):
        Path(f"{settings.database_path}{suffix}").unlink(missing_ok=True)
    os.replace(database, settings.database_path)
    shutil.rmtree(settings.home / "index", ignore_errors=True)  # rebuilt from the database
    shutil.rmtree(settings.home / "tables", ignore_errors=True)  # another data's tables
    if (work / UPLOADS).is_dir():
        shutil.rmtree(uploads_root(settings.home), ignore_errors=True)
        os.replace(work / UPLOADS, uploads_root(settings.home))


def import_archive(
    settings: Settings,
    archive: Path,
    passphrase: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[Contents, bool | None]:
    """Bring ``archive`` into the data directory of ``settings``, which must hold no data
    (nothing may have it open meanwhile). Returns what it holds and whether its settings
    were restored (False: a config file was there already and stays; None: the archive
    has none)."""
    env = os.environ if environ is None else environ
    archive = Path(os.path.abspath(archive))
    present = contents(settings)
    if not present.empty:
        raise ConflictError(
            f"{settings.home} already holds {present.describe()}: import into an empty data "
            "directory (`sabio --home NEW import …`) or `sabio purge` this one first"
        )
    with _open_archive(archive) as tar, _work_folder(settings.home) as work:
        manifest = _read_manifest(tar, archive.name)
        found = _unpack(tar, work, archive.name)
        secrets = _unsealed(manifest, found, passphrase, archive.name)
        _rehome(found[DATABASE], manifest, settings, secrets["sources"])
        summary = Contents(
            **copies.copy_contents(found[DATABASE]),
            uploads=sum(1 for p in (work / UPLOADS).rglob("*") if p.is_file()),
            secrets=sum(len(kept) for kept in secrets.values()),
        )
        config_path = config_file(settings.home, env)
        config = found[CONFIG].read_text(encoding="utf-8") if CONFIG in found else None
        restored = None if config is None else not config_path.exists()
        if config is not None:
            try:
                tomllib.loads(config)  # a damaged one is refused before anything moves
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(
                    f"{archive.name}: its {CONFIG} is damaged ({exc}); nothing was imported"
                ) from exc
        _move_into_place(work, found[DATABASE], settings)
        if config is not None and restored:
            _restore_config(config, secrets["openai_api_keys"], config_path)
    return summary, restored


# purge


def purge(settings: Settings) -> list[Path]:
    """Delete everything Sabio keeps in the data directory of ``settings`` (its layout:
    :data:`sabio.home.DATA_ENTRIES`), and the directory itself when nothing else is in
    it. Nothing may have it open meanwhile. Returns what was left because Sabio did not
    put it there; a config file named by ``SABIO_CONFIG`` elsewhere stays too."""
    home = Path(os.path.abspath(settings.home))
    if not home.is_dir():
        return []
    left = []
    for entry in sorted(home.iterdir()):
        if not is_data_entry(entry.name):
            left.append(entry)
        elif entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    if not left:
        home.rmdir()
    return left

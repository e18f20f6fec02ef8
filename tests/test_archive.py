"""`sabio export`, `import` and `purge`: a real data directory (uploads through the real
REST app, chats, an account, a mailbox source with its saved password, a webhook, API keys
in config.toml) exported, purged and imported back, here and into another directory;
and what a bad archive, a wrong passphrase or a full directory do (nothing)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_server import API, FARO, LOCAL, _kb_with_notes, _settings, _upload
from typer.testing import CliRunner

from sabio import archive
from sabio.cli import app as cli_app
from sabio.config import Settings, load_settings
from sabio.errors import AuthError, ConfigError, ConflictError
from sabio.server import create_app
from sabio.service import Sabio
from sabio.sources.webhook import check_token
from sabio.vault import Vault

SECRET = "Zarzaparrillaunica"
PASSPHRASE = "caballo correcto batería grapa"
CONFIG = """# my settings
chat_model = "fake:cite"

[openai.lab]
base_url = "http://127.0.0.1:1234/v1"
api_key = "sk-lab-123"
"""


def _filled(settings: Settings, tmp_path: Path) -> str:
    """Fill the data directory; returns the webhook's token."""
    settings.home.mkdir(parents=True)
    settings.config_path.write_text(CONFIG)
    with TestClient(create_app(settings, run_worker=False), base_url=LOCAL) as client:
        _kb_with_notes(client)  # faro.txt and etna.md, uploaded
        text = f"El expediente de {SECRET} es confidencial."
        assert _upload(client, "notes", [("secreto.txt", text.encode())]).status_code == 200
    own = tmp_path / "own.txt"
    own.write_text("Las actas del consejo se guardan en el archivo municipal.")
    sabio = Sabio(settings)
    try:
        sabio.add([own], "notes")
        chat = sabio.create_chat("notes", "fake:cite")
        "".join(sabio.ask_in_chat(chat.id, "When did Etna erupt?"))
        sabio.users.create_user("ana", "contraseña larga", admin=True)
        kb = sabio.store.get_kb("notes")
        secret = Vault(settings.home).encrypt("imap-password")
        sabio.sources.add(kb, "imap", "imaps://ana@mail.test:993/INBOX", secret=secret)
        _, token = sabio.add_source("webhook", "n8n", "notes")
    finally:
        sabio.close()
    assert token
    return token


def _export(settings: Settings, target: Path) -> None:
    sabio = Sabio(settings)
    try:
        archive.export_archive(sabio.store, settings, target, PASSPHRASE, {})
    finally:
        sabio.close()


def _check_everything_is_back(settings: Settings, token: str) -> None:
    sabio = Sabio(settings)
    try:
        titles = sorted(d.title for d in sabio.documents("notes"))
        assert titles == ["Volcanoes", "faro", "own", "secreto"]
        assert sabio.search(SECRET, "notes").hits[0].text.startswith("El expediente")
        [chat] = sabio.list_chats()
        messages = sabio.get_chat(chat.id).messages
        assert [m.role for m in messages] == ["user", "assistant"]
        assert messages[0].content == "When did Etna erupt?"
        assert sabio.users.get_user("ana").admin
        imap, webhook = sorted(sabio.list_sources(), key=lambda s: s.kind)
        assert sabio.source_password(imap.id) == "imap-password"
        check_token(sabio, webhook, f"Bearer {token}")
        with pytest.raises(AuthError):
            check_token(sabio, webhook, "Bearer sabio_hook_wrong")
    finally:
        sabio.close()
    config = settings.config_path.read_text()
    assert config.startswith("# my settings") and 'api_key = "sk-lab-123"' in config
    loaded = load_settings({"home": settings.home}, environ={})
    assert loaded.openai_servers["lab"].api_key == "sk-lab-123"
    with TestClient(create_app(settings, run_worker=False), base_url=LOCAL) as client:
        docs = {d["name"]: d for d in client.get(f"{API}/kbs/notes/documents").json()}
        original = client.get(docs["faro.txt"]["file_url"])
        assert original.status_code == 200 and original.text == FARO


def test_export_purge_import_brings_everything_back(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    token = _filled(settings, tmp_path)
    target = tmp_path / "backup.tar"
    sabio = Sabio(settings)
    try:
        assert archive.needs_passphrase(sabio.store, settings, {})
        with pytest.raises(ConfigError, match="give a passphrase"):
            archive.export_archive(sabio.store, settings, target, None, {})
        summary = archive.export_archive(sabio.store, settings, target, PASSPHRASE, {})
    finally:
        sabio.close()
    assert summary.documents == 4 and summary.chats == 1 and summary.uploads == 3
    assert summary.secrets == 2  # the mailbox password and the API key
    assert target.stat().st_mode & 0o777 == 0o600
    with tarfile.open(target) as tar:
        names = tar.getnames()
        raw = b"".join(tar.extractfile(m).read() for m in tar if m.isfile())  # type: ignore[union-attr]
    assert names[0] == "sabio-export.json"
    assert set(names) >= {"sabio.db", "config.toml", "secrets.enc", "uploads/notes/faro.txt"}
    assert b"imap-password" not in raw and b"sk-lab-123" not in raw  # sealed

    assert archive.purge(settings) == []
    assert not settings.home.exists()
    holding = [p for p in tmp_path.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert holding == [target]  # nowhere but in the user's own archive

    restored = archive.import_archive(settings, target, PASSPHRASE, {})
    assert restored[1] is True and restored[0].documents == 4
    _check_everything_is_back(settings, token)


def test_an_archive_moves_to_another_data_directory(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    token = _filled(settings, tmp_path)
    target = tmp_path / "backup.tar"
    _export(settings, target)
    elsewhere = _settings(tmp_path / "new computer")
    archive.import_archive(elsewhere, target, PASSPHRASE, {})
    _check_everything_is_back(elsewhere, token)
    moved = Sabio(elsewhere)
    try:
        sources = {Path(d.source).name: d.source for d in moved.documents("notes")}
    finally:
        moved.close()
    assert sources["faro.txt"] == str(elsewhere.home / "uploads" / "notes" / "faro.txt")
    assert sources["own.txt"] == str(tmp_path / "own.txt")  # the user's own file, where it is


def test_a_wrong_passphrase_or_a_full_directory_changes_nothing(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _filled(settings, tmp_path)
    target = tmp_path / "backup.tar"
    _export(settings, target)
    with pytest.raises(ConflictError, match="already holds 1 knowledge base, 4 documents"):
        archive.import_archive(settings, target, PASSPHRASE, {})
    empty = _settings(tmp_path / "empty")
    with pytest.raises(ConfigError, match="passphrase does not open"):
        archive.import_archive(empty, target, "not it", {})
    with pytest.raises(ConfigError, match="give the passphrase it was exported with"):
        archive.import_archive(empty, target, None, {})
    assert [p.name for p in empty.home.iterdir()] == []


def _tar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"notes.txt": b"hello"}, "not a Sabio export"),
        ({"sabio-export.json": b"{not json"}, "is damaged"),
        ({"sabio-export.json": json.dumps({"format": "x"}).encode()}, "not a Sabio export"),
        (
            {"sabio-export.json": json.dumps({"format": "sabio-export", "version": 9}).encode()},
            "newer Sabio",
        ),
        ({"sabio-export.json": b"{}", "../../evil.txt": b"x"}, "not a Sabio export"),
    ],
)
def test_what_is_not_an_archive_is_refused(
    tmp_path: Path, members: dict[str, bytes], message: str
) -> None:
    path = tmp_path / "bad.tar"
    path.write_bytes(_tar(members))
    settings = _settings(tmp_path)
    with pytest.raises((ConfigError, ConflictError), match=message):
        archive.import_archive(settings, path, None, {})
    assert not settings.database_path.exists()


def test_an_archive_whose_database_is_not_one_is_refused(tmp_path: Path) -> None:
    manifest = {"format": "sabio-export", "version": 1, "schema": 1, "secrets": None}
    path = tmp_path / "bad.tar"
    path.write_bytes(
        _tar({"sabio-export.json": json.dumps(manifest).encode(), "sabio.db": b"not SQLite" * 99})
    )
    settings = _settings(tmp_path)
    with pytest.raises(ConfigError, match="the archive's database is damaged"):
        archive.import_archive(settings, path, None, {})
    assert not settings.database_path.exists()


def test_an_archive_holding_a_stranger_file_is_refused_whole(tmp_path: Path) -> None:
    manifest = {"format": "sabio-export", "version": 1, "schema": 1, "secrets": None}
    for stranger in ("../../evil.txt", "uploads/../../evil.txt", "index/x.npy"):
        path = tmp_path / "bad.tar"
        path.write_bytes(_tar({"sabio-export.json": json.dumps(manifest).encode(), stranger: b"x"}))
        settings = _settings(tmp_path)
        with pytest.raises(ConfigError, match="which no Sabio export holds"):
            archive.import_archive(settings, path, None, {})
        assert not (tmp_path / "evil.txt").exists()
        assert not settings.database_path.exists()


def test_purge_leaves_what_sabio_did_not_put_there(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    Sabio(settings).close()
    mine = settings.home / "mis notas.txt"
    mine.write_text("mine")
    assert archive.purge(settings) == [mine]
    assert [p.name for p in settings.home.iterdir()] == ["mis notas.txt"]


def test_the_cli_exports_purges_and_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)
    token = _filled(settings, tmp_path)
    monkeypatch.setenv("SABIO_HOME", str(settings.home))
    monkeypatch.setenv("SABIO_EMBEDDING_MODEL", "fake:words")
    runner = CliRunner()
    target = tmp_path / "backup.tar"
    exported = runner.invoke(
        cli_app, ["export", str(target), "--passphrase-stdin"], input=f"{PASSPHRASE}\n"
    )
    assert exported.exit_code == 0, exported.output
    assert "Exported 1 knowledge base, 4 documents, 1 chat, 1 account, 2 sources" in exported.output
    refused = runner.invoke(cli_app, ["purge"], input="n\n")
    assert refused.exit_code == 1 and "This cannot be undone" in refused.output
    assert settings.database_path.exists()
    purged = runner.invoke(cli_app, ["purge", "--yes"])
    assert purged.exit_code == 0 and not settings.home.exists()
    wrong = runner.invoke(cli_app, ["import", str(target), "--passphrase-stdin"], input="no\n")
    assert wrong.exit_code == 1 and "passphrase does not open" in wrong.output
    imported = runner.invoke(
        cli_app, ["import", str(target), "--passphrase-stdin"], input=f"{PASSPHRASE}\n"
    )
    assert imported.exit_code == 0, imported.output
    _check_everything_is_back(settings, token)


def test_no_passphrase_is_asked_without_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)
    sabio = Sabio(settings)
    sabio.create_kb("notes")
    sabio.close()
    monkeypatch.setenv("SABIO_HOME", str(settings.home))
    target = tmp_path / "plain.tar"
    result = CliRunner().invoke(cli_app, ["export", str(target)], input="")
    assert result.exit_code == 0, result.output
    assert "Passphrase" not in result.output
    assert not archive.archive_needs_passphrase(target)
    again = tmp_path / "otra.tar"
    spanish = CliRunner().invoke(cli_app, ["export", str(again)], env={"SABIO_LANGUAGE": "es"})
    assert f"Se exportó a {again}: 1 base de conocimiento." in spanish.output, spanish.output


def test_the_contents_are_counted_in_either_language() -> None:
    many = archive.Contents(knowledge_bases=2, documents=1, uploads=3)
    assert many.describe() == "2 knowledge bases, 1 document, 3 uploaded files"
    assert many.describe("es") == "2 bases de conocimiento, 1 documento, 3 archivos subidos"
    assert archive.Contents().describe("es") == "ningún dato"

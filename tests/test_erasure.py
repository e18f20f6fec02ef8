"""Deleting deletes: `rm` and `kb delete` remove the uploaded files and a knowledge base's
chats, and the deleted text is gone from the database file and its write-ahead log; the
data directory is private (0700, files 0600) whatever the umask, and `doctor` says so
when it is not. Real SQLite, the real REST app and the real `sabio` entry point."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_server import API, FARO, LOCAL, _kb_with_notes, _settings, _upload
from typer.testing import CliRunner

from sabio.cli import app as cli_app
from sabio.config import Settings
from sabio.server import create_app
from sabio.service import Sabio

TESTS = Path(__file__).resolve().parent
SECRET = "Zarzaparrillaunica"
"""A word in one document only: whether it can still be read anywhere is the test."""


def _stored_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in home.glob("sabio.db*") if p.is_file())


def _uploaded_notes(settings: Settings) -> None:
    with TestClient(create_app(settings, run_worker=False), base_url=LOCAL) as client:
        _kb_with_notes(client)
        paragraph = f"El expediente {{}} de {SECRET} es confidencial y no sale del despacho. "
        text = "\n\n".join(paragraph.format(n) * 8 for n in range(30))  # pages of its own
        files = [("secreto.txt", text.encode())]
        assert _upload(client, "notes", files).status_code == 200
    with sqlite3.connect(settings.database_path) as db:  # as time does: into the database file
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def test_rm_deletes_the_uploaded_file_and_the_text_from_the_database_files(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    _uploaded_notes(settings)
    uploaded = settings.home / "uploads" / "notes" / "secreto.txt"
    assert uploaded.exists() and SECRET.encode() in _stored_bytes(settings.home)
    sabio = Sabio(settings)
    try:
        sabio.remove_document(str(uploaded), "notes")
        assert not uploaded.exists()
        assert _stored_bytes(settings.home).count(SECRET.encode()) == 0  # zeroed, log emptied
        assert [d.title for d in sabio.documents("notes")] == ["Volcanoes", "faro"]
    finally:
        sabio.close()


def test_rm_leaves_a_file_added_from_its_own_place(sabio: Sabio, tmp_path: Path) -> None:
    own = tmp_path / "mine.txt"
    own.write_text(FARO)
    sabio.add([own])
    sabio.remove_document(str(own))
    assert own.read_text() == FARO


def test_kb_delete_removes_uploads_and_chats_and_nothing_comes_back(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _uploaded_notes(settings)
    sabio = Sabio(settings)
    try:
        chat = sabio.create_chat("notes", "fake:cite")
        "".join(sabio.ask_in_chat(chat.id, f"¿Qué dice el expediente de {SECRET}?"))
        other = sabio.create_chat(None, "fake:cite")
        sabio.delete_kb("notes")
        assert [c.id for c in sabio.list_chats()] == [other.id]
        assert not (settings.home / "uploads" / "notes").exists()
        assert _stored_bytes(settings.home).count(SECRET.encode()) == 0
        sabio.create_kb("notes")  # the same name again: no leftover to pick up
    finally:
        sabio.close()
    with TestClient(create_app(settings, run_worker=False), base_url=LOCAL) as client:
        assert client.get(f"{API}/kbs/notes/documents").json() == []
        assert client.app.state.services.reader.jobs.recent() == []  # type: ignore[attr-defined]


def test_kb_delete_can_keep_the_chats(client_settings: Settings) -> None:
    with TestClient(create_app(client_settings, run_worker=False), base_url=LOCAL) as client:
        _kb_with_notes(client)
        chat = client.post(f"{API}/chats", json={"kb": "notes", "model": "fake:cite"}).json()
        client.post(f"{API}/chats/{chat['id']}/messages", json={"question": "Etna?"})
        assert client.delete(f"{API}/kbs/notes", params={"keep_chats": "true"}).status_code == 204
        kept = client.get(f"{API}/chats/{chat['id']}").json()
        assert kept["kb_available"] is False and len(kept["messages"]) == 2
        _kb_with_notes(client)
        assert client.delete(f"{API}/kbs/notes").status_code == 204
        assert client.get(f"{API}/chats/{chat['id']}").status_code == 404


def test_the_cli_asks_before_deleting_a_kb_with_its_chats(
    client_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SABIO_HOME", str(client_settings.home))
    monkeypatch.setenv("SABIO_EMBEDDING_MODEL", "fake:words")
    sabio = Sabio(client_settings)
    sabio.create_kb("notes")
    sabio.create_chat("notes")
    sabio.close()
    runner = CliRunner()
    refused = runner.invoke(cli_app, ["kb", "delete", "notes"], input="n\n")
    assert "Delete 'notes', its 0 documents and its 1 chat?" in refused.output
    assert refused.exit_code == 1
    done = runner.invoke(cli_app, ["kb", "delete", "notes", "--yes"])
    assert done.exit_code == 0, done.output
    assert "its 1 chat" in done.output


@pytest.fixture
def client_settings(tmp_path: Path) -> Settings:
    return _settings(tmp_path)


# private on disk


def _sabio_command(home: Path, *args: str, umask: int = 0) -> subprocess.CompletedProcess[str]:
    """The real `sabio` entry point (main()) in a new process started with ``umask``, with
    the fake embedder of conftest.py registered."""
    code = (
        f"import sys; sys.path.insert(0, {str(TESTS)!r}); import conftest; "
        f"from sabio.cli import main; sys.argv = ['sabio', *{list(args)!r}]; main()"
    )
    env = {
        **os.environ,
        "SABIO_HOME": str(home),
        "SABIO_EMBEDDING_MODEL": "fake:words",
        "OLLAMA_HOST": "127.0.0.1:9",
    }

    def start_with_umask() -> None:
        os.umask(umask)

    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=start_with_umask,
    )


def test_everything_sabio_writes_is_private_whatever_the_umask(tmp_path: Path) -> None:
    home = tmp_path / "data" / "sabio"
    notes = tmp_path / "notes.txt"
    notes.write_text(FARO)
    added = _sabio_command(home, "add", str(notes))
    assert added.returncode == 0, added.stderr
    searched = _sabio_command(home, "search", "faro")  # the index is written now
    assert searched.returncode == 0, searched.stderr
    paths = [home, *home.rglob("*")]
    assert {p.relative_to(home).parts[0] for p in paths[1:]} >= {"sabio.db", "index"}
    modes = {str(p.relative_to(tmp_path)): p.stat().st_mode & 0o777 for p in paths}
    wrong = {
        p: f"{m:o}"
        for p, m in modes.items()
        if m != (0o700 if Path(tmp_path, p).is_dir() else 0o600)
    }
    assert wrong == {}


def test_doctor_warns_about_a_data_directory_others_can_read(tmp_path: Path) -> None:
    home = tmp_path / "sabio"
    _sabio_command(home, "kb", "create", "notes")
    os.chmod(home, 0o755)
    os.chmod(home / "sabio.db", 0o644)
    doctor = _sabio_command(home, "doctor")
    assert f"{home} (mode 0755)" in doctor.stdout
    assert f"{home / 'sabio.db'} (mode 0644)" in doctor.stdout
    assert f"fix: chmod -R go-rwx {home}" in doctor.stdout
    subprocess.run(["chmod", "-R", "go-rwx", str(home)], check=True)
    assert "readable by other users" not in _sabio_command(home, "doctor").stdout

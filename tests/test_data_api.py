"""Export, import and purge through the REST API of a running server (in-process, real
data directory, the worker running): the archive downloaded once, the data purged under
the running server and brought back; admins only when accounts are on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fake_servers import closed_port
from fastapi.testclient import TestClient
from test_auth import PASSWORD, _server, _user
from test_server import API, LOCAL, _error, _events, _kb_with_notes, _settings

from sabio.server import create_app
from sabio.service import Sabio
from sabio.vault import Vault

PASSPHRASE = "ñandú azul 2024"  # not Latin-1 only: the header is percent-encoded


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(tmp_path)), base_url=LOCAL) as test_client:
        yield test_client


def test_export_download_purge_and_import_under_a_running_server(client: TestClient) -> None:
    _kb_with_notes(client)
    chat = client.post(f"{API}/chats", json={"kb": "notes", "model": "fake:cite"}).json()
    _events(client.post(f"{API}/chats/{chat['id']}/messages", json={"question": "Etna?"}))
    services = client.app.state.services  # type: ignore[attr-defined]
    kb = services.reader.store.get_kb("notes")
    secret = Vault(services.settings.home).encrypt("imap-password")
    mailbox = {"host": "127.0.0.1", "port": closed_port(), "username": "ana", "security": "none"}
    location = f"imap://ana@127.0.0.1:{mailbox['port']}/INBOX"  # refused: nothing to fetch
    services.reader.sources.add(kb, "imap", location, options=mailbox, secret=secret)

    summary = client.get(f"{API}/data").json()
    assert summary["needs_passphrase"] is True
    assert summary["contents"]["documents"] == 2 and summary["contents"]["chats"] == 1
    no_passphrase = client.post(f"{API}/data/export", json={})
    assert "passphrase" in _error(no_passphrase, 400, "bad_request")
    made = client.post(f"{API}/data/export", json={"passphrase": PASSPHRASE})
    assert made.status_code == 201, made.text
    assert made.json()["contents"]["uploads"] == 2
    download = client.get(made.json()["url"])
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/x-tar"
    assert "attachment" in download.headers["content-disposition"]
    assert len(download.content) == made.json()["size"]
    assert client.get(made.json()["url"]).status_code == 404  # once
    home = services.settings.home
    assert list((home / "exports").iterdir()) == []

    refused = client.post(f"{API}/data/purge", json={"confirm": False})
    assert "nothing was deleted" in _error(refused, 400, "bad_request")
    assert client.post(f"{API}/data/purge", json={"confirm": True}).status_code == 204
    assert client.get(f"{API}/kbs").json() == []
    assert not (home / "uploads").exists()
    fresh = client.app.state.services  # type: ignore[attr-defined]
    assert fresh is not services and fresh.worker is not None  # the worker runs again

    wrong = client.post(
        f"{API}/data/import", content=download.content, headers={"X-Sabio-Passphrase": "no"}
    )
    assert "passphrase does not open" in _error(wrong, 400, "bad_request")
    brought = client.post(
        f"{API}/data/import",
        content=download.content,
        headers={"X-Sabio-Passphrase": quote(PASSPHRASE)},
    )
    assert brought.status_code == 200, brought.text
    assert brought.json()["contents"]["documents"] == 2
    assert [kb["name"] for kb in client.get(f"{API}/kbs").json()] == ["notes"]
    hits = client.get(f"{API}/kbs/notes/search", params={"q": "Etna erupted"}).json()["hits"]
    assert hits and hits[0]["document"] == "etna.md"
    assert len(client.get(f"{API}/chats/{chat['id']}").json()["messages"]) == 2
    again = client.post(f"{API}/data/import", content=download.content)
    assert "already holds" in _error(again, 409, "conflict")
    restored = Sabio(services.settings)
    try:
        [source] = restored.list_sources()
        assert restored.source_password(source.id) == "imap-password"
    finally:
        restored.close()


def test_a_bad_archive_is_refused_and_changes_nothing(client: TestClient) -> None:
    assert client.post(f"{API}/data/purge", json={"confirm": True}).status_code == 204
    bad = client.post(f"{API}/data/import", content=b"not a tar at all")
    assert "not a Sabio export" in _error(bad, 400, "bad_request")
    assert client.get(f"{API}/kbs").json() == []


def test_only_admins_export_import_and_purge(tmp_path: Path) -> None:
    with _server(_settings(tmp_path, auth=True)) as app:
        admin = TestClient(app, base_url=LOCAL, client=("127.0.0.1", 50000))
        made = admin.post(f"{API}/auth/setup", json={"name": "ana", "password": PASSWORD})
        admin.headers["X-CSRF-Token"] = made.json()["csrf_token"]
        bea = _user(app, admin, "bea")
        for method, path in [
            ("GET", "/data"),
            ("POST", "/data/export"),
            ("GET", "/data/exports/" + "0" * 32),
            ("POST", "/data/import"),
            ("POST", "/data/purge"),
        ]:
            refused = bea.request(method, f"{API}{path}", json={"confirm": True})
            assert "admin" in _error(refused, 403, "forbidden")
        assert admin.get(f"{API}/data").status_code == 200
        assert admin.post(f"{API}/data/export", json={}).status_code == 201

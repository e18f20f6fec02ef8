"""Sources over REST and the webhook: the real app in-process, its worker running in its
thread, a real folder with real filesystem events, and the local web site."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_auth import PASSWORD, THIS_COMPUTER, _browser, _server, _user
from test_server import API, LOCAL, _error, _multipart
from web_site import serve_site

from sabio.config import Settings, load_settings
from sabio.server import create_app
from sabio.service import Sabio


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return load_settings(
        {"home": tmp_path / "home", "embedding_model": "fake:words", "workers": 2, **overrides},
        environ={},
    )


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(tmp_path)), base_url=LOCAL) as test_client:
        yield test_client


def eventually(check: Callable[[], Any], seconds: float = 20.0) -> Any:
    """A bounded wait for the worker thread (not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    raise AssertionError(f"never true within {seconds} s")


def _found(client: TestClient, query: str) -> set[str]:
    hits = client.get(f"{API}/kbs/default/search", params={"q": query}).json()["hits"]
    return {h["document"] for h in hits if query.lower() in h["text"].lower()}


def test_a_folder_source_over_rest(client: TestClient, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "alpha.txt").write_text("Alpacas graze in the Andes.", encoding="utf-8")
    (folder / "plan.dwg").write_bytes(b"AC1032")
    added = client.post(f"{API}/sources", json={"kind": "folder", "location": str(folder)})
    assert added.status_code == 201, added.text
    source = added.json()
    assert source["kind"] == "folder" and source["token"] is None
    eventually(lambda: _found(client, "alpacas") == {"alpha.txt"})
    (folder / "beta.txt").write_text("Beavers build dams.", encoding="utf-8")
    eventually(lambda: _found(client, "beavers") == {"beta.txt"})

    detail = client.get(f"{API}/sources/{source['id']}").json()
    items = {i["name"]: (i["status"], i["reason"]) for i in detail["items"]}
    assert items == {
        "alpha.txt": ("indexed", ""),
        "beta.txt": ("indexed", ""),
        "plan.dwg": ("skipped", "unsupported type (.dwg)"),
    }
    assert detail["counts"] == {"indexed": 2, "skipped": 1}
    assert detail["items_total"] == 3
    page = client.get(f"{API}/sources/{source['id']}", params={"limit": 1}).json()
    assert [i["name"] for i in page["items"]] == ["plan.dwg"]  # what needs a look comes first
    assert detail["jobs"][0]["status"] == "done"
    listed = client.get(f"{API}/sources").json()
    assert [s["id"] for s in listed] == [source["id"]]

    job = client.post(f"{API}/sources/{source['id']}/sync")
    assert job.status_code == 202 and job.json()["status"] == "queued"
    eventually(lambda: client.get(f"{API}/jobs").json()[0]["status"] == "done")
    assert client.get(f"{API}/jobs").json()[0]["message"] == "3 unchanged"

    assert client.delete(f"{API}/sources/{source['id']}").status_code == 204
    assert client.get(f"{API}/kbs/default/documents").json() == []
    _error(client.get(f"{API}/sources/{source['id']}"), 404, "not_found")


def test_bad_sources_are_refused_with_the_reason(client: TestClient, tmp_path: Path) -> None:
    message = _error(
        client.post(f"{API}/sources", json={"kind": "folder", "location": "/no/such"}),
        400,
        "bad_request",
    )
    assert "does not exist" in message
    message = _error(
        client.post(
            f"{API}/sources", json={"kind": "url", "location": "http://169.254.169.254/latest"}
        ),
        400,
        "bad_request",
    )
    assert "link-local" in message and "allow" in message
    assert client.post(f"{API}/sources", json={"kind": "gopher"}).status_code == 422


def test_the_webhook_takes_texts_urls_and_files_with_its_token(
    client: TestClient, tmp_path: Path
) -> None:
    added = client.post(
        f"{API}/sources",
        json={"kind": "webhook", "location": "n8n", "options": {"allow_private": True}},
    ).json()
    token, url = added["token"], added["webhook_url"]
    assert token.startswith("sabio_hook_") and url == f"{API}/sources/{added['id']}/webhook"
    assert token not in client.get(f"{API}/sources/{added['id']}").text
    auth = {"Authorization": f"Bearer {token}"}

    _error(client.post(url, json={"text": "x"}), 401, "unauthorized")
    _error(
        client.post(url, json={"text": "x"}, headers={"Authorization": "Bearer nope"}),
        401,
        "unauthorized",
    )

    sent = client.post(
        url, json={"text": "Quokkas smile at tourists.", "title": "Quokkas"}, headers=auth
    )
    assert sent.status_code == 200, sent.text
    (doc,) = sent.json()["documents"]
    assert doc["status"] == "indexed" and doc["document_id"] and doc["name"] == "Quokkas"
    assert _found(client, "quokkas")

    body, headers = _multipart([("notes.txt", b"Wombats dig burrows.")])
    sent = client.post(url, content=body, headers={**headers, **auth})
    assert sent.status_code == 200, sent.text
    assert sent.json()["documents"][0]["status"] == "indexed"
    assert _found(client, "wombats") == {"notes.txt"}

    with serve_site() as site:
        sent = client.post(url, json={"url": f"{site.base}/pages/bbc-1.html"}, headers=auth)
    assert sent.status_code == 200, sent.text
    assert sent.json()["documents"][0]["status"] == "indexed"

    items = client.get(f"{API}/sources/{added['id']}").json()["items"]
    assert {i["status"] for i in items} == {"indexed"} and len(items) == 3
    documents = {d["title"]: d for d in client.get(f"{API}/kbs/default/documents").json()}
    quokkas = documents["Quokkas"]
    assert quokkas["file_url"] is None  # a posted text has no file to open
    _error(client.get(f"{API}/kbs/default/documents/{quokkas['id']}/file"), 404, "not_found")
    page = next(d for d in documents.values() if d["name"] == "bbc-1.html")
    assert page["file_url"].startswith("http://127.0.0.1:")  # the page itself

    _error(client.post(url, json={"text": "a", "url": "b"}, headers=auth), 400, "bad_request")
    huge = b'{"text": "' + b"a" * (21 * 2**20) + b'"}'
    _error(
        client.post(url, content=huge, headers={**auth, "Content-Type": "application/json"}),
        413,
        "too_large",
    )
    _error(
        client.post(url, content=b"{nope", headers={**auth, "Content-Type": "application/json"}),
        422,
        "validation_error",
    )
    _error(
        client.post(url, content=b"x", headers={**auth, "Content-Type": "text/plain"}),
        400,
        "bad_request",
    )


def test_with_accounts_only_admins_manage_sources(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    with _server(_settings(tmp_path, auth=True)) as app:
        admin = _browser(app, LOCAL, THIS_COMPUTER)
        created = admin.post(f"{API}/auth/setup", json={"name": "ana", "password": PASSWORD})
        admin.headers["X-CSRF-Token"] = created.json()["csrf_token"]
        user = _user(app, admin, "ben")
        refused = user.post(f"{API}/sources", json={"kind": "folder", "location": str(folder)})
        _error(refused, 403, "forbidden")
        added = admin.post(f"{API}/sources", json={"kind": "webhook"})
        assert added.status_code == 201, added.text
        assert user.get(f"{API}/sources").status_code == 200
        _error(user.delete(f"{API}/sources/{added.json()['id']}"), 403, "forbidden")
        # the webhook needs its token, not a user
        stranger = _browser(app)
        hook = added.json()["webhook_url"]
        _error(stranger.post(hook, json={"text": "hi"}), 401, "unauthorized")
        token = admin.post(f"{API}/auth/tokens", json={"name": "n8n"})
        assert token.status_code == 201, token.text
        with_api_token = stranger.post(
            hook,
            json={"text": "Tapirs swim."},
            headers={"Authorization": f"Bearer {token.json()['token']}"},
        )
        assert with_api_token.status_code == 200, with_api_token.text
        sent = stranger.post(
            hook,
            json={"text": "Okapis live in forests."},
            headers={"Authorization": f"Bearer {added.json()['token']}"},
        )
        assert sent.status_code == 200, sent.text


def test_an_upload_a_killed_server_left_unindexed_is_indexed_on_start(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    sabio = Sabio(settings)
    sabio.create_kb("casos")
    sabio.close()
    folder = settings.home / "uploads" / "casos"  # accepted, then the server was killed
    folder.mkdir(parents=True)
    (folder / "acta.txt").write_text("Los ñandúes corren rápido.", encoding="utf-8")
    with TestClient(create_app(settings), base_url=LOCAL) as client:
        documents = eventually(lambda: client.get(f"{API}/kbs/casos/documents").json())
        assert [(d["name"], d["status"]) for d in documents] == [("acta.txt", "indexed")]
        job = client.get(f"{API}/jobs").json()[0]
        assert job["status"] == "done" and job["counts"] == {"added": 1}

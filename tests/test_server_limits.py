"""The server under the issue-19 attacks: a trickling web page during logins, oversized and
many-file uploads, a declared Content-Length that never arrives, login brute force, huge
ids, and a full or read-only data directory (the CLI's too)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import running_server
from fastapi import FastAPI
from fastapi.testclient import TestClient
from test_auth import ANOTHER_DEVICE, PASSWORD, THIS_COMPUTER, _browser, _server
from test_server import API, LOCAL, _error, _multipart, _settings
from web_site import serve_site

from sabio.config import Settings
from sabio.server import create_app
from sabio.server.throttle import PER_ACCOUNT, PER_ADDRESS, WINDOW_S, SignInThrottle


def _incoming(settings: Settings) -> list[Path]:
    folder = settings.home / "uploads" / ".incoming"
    return sorted(folder.iterdir()) if folder.is_dir() else []


# no network or slow indexing under the writer lock


def test_a_trickling_page_posted_to_a_webhook_never_holds_a_login(tmp_path: Path) -> None:
    settings = _settings(tmp_path, auth=True, fetch_deadline=4.0)
    with serve_site() as site, running_server(create_app(settings, run_worker=False)) as url:
        with httpx.Client(base_url=url) as admin:
            made = admin.post(f"{API}/auth/setup", json={"name": "ana", "password": PASSWORD})
            admin.headers["X-CSRF-Token"] = made.json()["csrf_token"]
            hook = admin.post(
                f"{API}/sources",
                json={"kind": "webhook", "location": "n8n", "options": {"allow_private": True}},
            ).json()
        posted: dict[str, Any] = {}

        def post() -> None:
            posted["reply"] = httpx.post(
                url + hook["webhook_url"],
                json={"url": f"{site.base}/trickle"},
                headers={"Authorization": f"Bearer {hook['token']}"},
                timeout=60,
            )

        poster = threading.Thread(target=post)
        poster.start()
        while "/trickle" not in site.requests:  # the fetch has begun
            poster.join(0.05)
        login = httpx.post(f"{url}{API}/auth/login", json={"name": "ana", "password": PASSWORD})
        assert login.status_code == 200
        assert poster.is_alive(), "the login waited for the webhook's fetch"
        poster.join()
    message = _error(posted["reply"], 400, "bad_request")
    assert "/trickle took longer than 4 s to arrive (the fetch_deadline setting)" in message


# limits on requests


def test_many_files_in_one_request_are_refused_and_leave_nothing(tmp_path: Path) -> None:
    settings = _settings(tmp_path, max_upload_files=3)
    with TestClient(create_app(settings), base_url=LOCAL) as client:
        body, headers = _multipart([(f"n{i}.txt", b"a note") for i in range(4)])
        reply = client.post(f"{API}/kbs/default/documents", content=body, headers=headers)
        assert "more than 3 files" in _error(reply, 413, "too_large")
        assert _incoming(settings) == []
        assert client.get(f"{API}/kbs").json() == []


def test_a_request_over_the_total_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    settings = _settings(tmp_path, max_request_mb=1)
    with TestClient(create_app(settings), base_url=LOCAL) as client:
        files = [(f"part{i}.txt", b"words " * 100_000) for i in range(2)]  # 0.6 MB each
        body, headers = _multipart(files)
        reply = client.post(f"{API}/kbs/default/documents", content=body, headers=headers)
        assert "larger than 1 MB in all (max_request_mb)" in _error(reply, 413, "too_large")
        assert _incoming(settings) == []
        assert not (settings.home / "uploads" / "default").exists()


def test_a_declared_length_over_the_total_is_refused_before_the_body(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with running_server(create_app(settings, run_worker=False)) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            conn.sendall(
                f"POST {API}/kbs/default/documents HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: multipart/form-data; boundary=x\r\n"
                "Content-Length: 3000000000\r\n\r\n".encode()
            )  # and no body: the answer must not wait for 3 GB
            answer = b""
            while b"max_request_mb" not in answer and (part := conn.recv(65536)):
                answer += part
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert b"max_request_mb" in answer
    assert _incoming(settings) == []


# login and setup throttling


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[tuple[FastAPI, Clock]]:
    clock = Clock()
    with _server(_settings(tmp_path, auth=True)) as app:
        app.state.sign_ins = SignInThrottle(clock=clock)  # a clock the test moves
        browser = _browser(app, LOCAL, THIS_COMPUTER)
        made = browser.post(f"{API}/auth/setup", json={"name": "ana", "password": PASSWORD})
        assert made.status_code == 201
        yield app, clock


def _login(app: FastAPI, name: str, password: str, host: str = "192.168.1.20") -> httpx.Response:
    browser = _browser(app, client=(host, 50000))
    return browser.post(f"{API}/auth/login", json={"name": name, "password": password})


def test_wrong_passwords_for_an_account_make_it_wait(
    accounts: tuple[FastAPI, Clock], caplog: pytest.LogCaptureFixture
) -> None:
    app, clock = accounts
    for _ in range(PER_ACCOUNT):
        _error(_login(app, "ana", "wrong guess"), 401, "unauthorized")
    refused = _login(app, "ana", PASSWORD)  # even the right one, while it waits
    message = _error(refused, 429, "too_many_attempts")
    assert message == f"too many sign-in attempts: try again in {int(WINDOW_S)} s"
    assert refused.headers["retry-after"] == str(int(WINDOW_S))
    assert "sign-in refused for 'ana'" in caplog.text  # logged for the admin
    clock.now += WINDOW_S / 2
    assert "try again in 150 s" in _error(_login(app, "ANA", PASSWORD), 429, "too_many_attempts")
    clock.now += WINDOW_S / 2
    assert _login(app, "ana", PASSWORD).status_code == 200


def test_failures_from_one_address_make_it_wait_whatever_the_account(
    accounts: tuple[FastAPI, Clock],
) -> None:
    app, _ = accounts
    for i in range(PER_ADDRESS):
        _error(_login(app, f"user{i}", "guess", host="10.0.0.9"), 401, "unauthorized")
    _error(_login(app, "ana", PASSWORD, host="10.0.0.9"), 429, "too_many_attempts")
    assert _login(app, "ana", PASSWORD, host="10.0.0.10").status_code == 200


def test_wrong_setup_codes_make_the_address_wait(tmp_path: Path) -> None:
    with _server(_settings(tmp_path, auth=True)) as app:
        device = _browser(app, client=ANOTHER_DEVICE)
        for _ in range(5):
            reply = device.post(
                f"{API}/auth/setup",
                json={"name": "eve", "password": PASSWORD, "setup_code": "AAAA-BBBB-CCCC"},
            )
            _error(reply, 403, "forbidden")
        right = app.state.setup_code
        reply = device.post(
            f"{API}/auth/setup", json={"name": "eve", "password": PASSWORD, "setup_code": right}
        )
        assert "try again in" in _error(reply, 429, "too_many_attempts")


# every id validated

HUGE = "99999999999999999999"
ID_ROUTES = [
    ("GET", f"{API}/chats/{HUGE}"),
    ("PATCH", f"{API}/chats/{HUGE}"),
    ("DELETE", f"{API}/chats/{HUGE}"),
    ("POST", f"{API}/chats/{HUGE}/messages"),
    ("GET", f"{API}/kbs/default/passages/{HUGE}"),
    ("GET", f"{API}/kbs/default/documents/{HUGE}/file"),
    ("DELETE", f"{API}/kbs/default/documents/{HUGE}"),
    ("GET", f"{API}/sources/{HUGE}"),
    ("GET", f"{API}/sources/1?offset={HUGE}"),
    ("POST", f"{API}/sources/{HUGE}/sync"),
    ("DELETE", f"{API}/sources/{HUGE}"),
    ("POST", f"{API}/sources/{HUGE}/webhook"),
    ("GET", f"{API}/jobs?source_id={HUGE}"),
    ("GET", f"{API}/chats/-1"),
]


@pytest.mark.parametrize(("method", "path"), ID_ROUTES)
def test_an_id_past_what_sqlite_holds_is_a_422(tmp_path: Path, method: str, path: str) -> None:
    with TestClient(create_app(_settings(tmp_path)), base_url=LOCAL) as client:
        reply = client.request(method, path, json={"title": "x", "question": "x"})
        _error(reply, 422, "validation_error")


# a full or read-only data directory


def test_a_full_database_is_a_507_and_a_read_only_one_a_503(tmp_path: Path) -> None:
    """SQLite's own conditions: a page limit reached (SQLITE_FULL) and a connection that may
    only read (SQLITE_READONLY), on the server's writers."""
    with TestClient(create_app(_settings(tmp_path)), base_url=LOCAL) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        assert client.post(f"{API}/kbs", json={"name": "notes"}).status_code == 201
        pages = services.indexer.store.db.execute("PRAGMA page_count").fetchone()[0]
        services.indexer.store.db.execute(f"PRAGMA max_page_count={pages}")
        body, headers = _multipart([("big.txt", b"lighthouse keeper " * 50_000)])
        reply = client.post(f"{API}/kbs/notes/documents", content=body, headers=headers)
        message = _error(reply, 507, "insufficient_storage")
        assert message.startswith("Sabio's data directory is full") and str(tmp_path) not in message
        services.writer.store.db.execute("PRAGMA query_only=ON")
        reply = client.post(f"{API}/chats", json={"kb": "notes"})
        assert "cannot be written" in _error(reply, 503, "read_only")
        assert client.get(f"{API}/kbs").status_code == 200  # reading still works


def _namespace_mounts() -> bool:
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


@pytest.mark.skipif(
    not _namespace_mounts(), reason="needs root and mount namespaces (unshare -m) for a tmpfs"
)
def test_the_cli_says_in_one_line_that_its_data_directory_is_full_or_read_only(
    tmp_path: Path,
) -> None:
    """The issue's reproduction: a small tmpfs as the data directory, then read-only."""
    home = tmp_path / "home"
    home.mkdir()
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "small.txt").write_text("A lighthouse guides ships.", encoding="utf-8")
    (notes / "big.txt").write_text("lighthouse keeper " * 200_000, encoding="utf-8")
    # the CLI with conftest's fake embedder registered (python -c: argv[1:] are sabio's)
    code = "import sys, conftest; from sabio.cli import main; main()"
    sabio = f"{sys.executable} -c '{code}' --home {home}"
    script = (
        f"mount -t tmpfs -o size=600k tmpfs {home} && {sabio} add {notes / 'small.txt'}"
        f" && {{ {sabio} add {notes / 'big.txt'} 2> {tmp_path / 'full.txt'}; true; }}"
        f" && mount -o remount,ro {home}"
        f" && {{ {sabio} kb create other 2> {tmp_path / 'ro.txt'}; true; }}"
    )
    env = {**os.environ, "SABIO_EMBEDDING_MODEL": "fake:words", "SABIO_WORKERS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).parent), *filter(None, [env.get("PYTHONPATH")])]
    )
    ran = subprocess.run(["unshare", "-m", "sh", "-c", script], env=env, check=False)
    assert ran.returncode == 0
    for name, expected in (("full.txt", "is full"), ("ro.txt", "cannot be written")):
        lines = (tmp_path / name).read_text().strip().splitlines()
        assert len(lines) == 1, lines  # one clear line, no traceback
        assert lines[0].startswith("error: the data directory") and expected in lines[0]


def test_serve_warns_when_it_cannot_write(tmp_path: Path) -> None:
    from sabio.disk import write_problem

    assert write_problem(tmp_path / "home") is None
    blocked = tmp_path / "file"
    blocked.write_text("not a folder", encoding="utf-8")
    problem = write_problem(blocked / "home")
    assert problem is not None and "cannot be" in problem

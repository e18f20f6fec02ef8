"""Accounts and who may call what: the local mode without login (this computer only, no
cross-site changes), the mode with accounts (setup, login, cookies and CSRF, API tokens,
admins, chats per user), the schema upgrade, and the `sabio user` and `sabio serve`
commands. In-process: the real app over a real data directory, browsers played by
TestClients with their own cookie jars."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from test_server import API, LOCAL, _error, _settings
from typer.testing import CliRunner

from sabio.cli import app as cli_app
from sabio.config import Settings, load_settings
from sabio.errors import NotFoundError
from sabio.server import create_app
from sabio.service import Sabio
from sabio.store import SCHEMA_VERSION, Store

LAN = "http://sabio.lan:11435"
THIS_COMPUTER = ("127.0.0.1", 50000)
ANOTHER_DEVICE = ("192.168.1.20", 50000)
PASSWORD = "correct horse"


@contextmanager
def _server(settings: Settings) -> Iterator[FastAPI]:
    """The app, started (its data directory open) until the block ends."""
    app = create_app(settings)
    with TestClient(app, base_url=LOCAL):
        yield app


def _browser(
    app: FastAPI, base_url: str = LAN, client: tuple[str, int] = ANOTHER_DEVICE
) -> TestClient:
    """A browser of its own (its own cookies) on the running ``app``."""
    return TestClient(app, base_url=base_url, client=client)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return _settings(tmp_path, auth=True)


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    with _server(settings) as running:
        yield running


@pytest.fixture
def admin(app: FastAPI) -> TestClient:
    """A browser on this computer, signed in as the first admin, 'ana'; its CSRF token
    goes with every request."""
    browser = _browser(app, LOCAL, THIS_COMPUTER)
    created = browser.post(f"{API}/auth/setup", json={"name": "ana", "password": PASSWORD})
    assert created.status_code == 201, created.text
    browser.headers["X-CSRF-Token"] = created.json()["csrf_token"]
    return browser


def _user(app: FastAPI, admin: TestClient, name: str, *, is_admin: bool = False) -> TestClient:
    """A new account made by ``admin``, and a browser signed in as it (CSRF token set)."""
    made = admin.post(
        f"{API}/auth/users", json={"name": name, "password": PASSWORD, "admin": is_admin}
    )
    assert made.status_code == 201, made.text
    browser = _browser(app)
    browser.headers["X-CSRF-Token"] = _login(browser, name, PASSWORD)["csrf_token"]
    return browser


def _login(browser: TestClient, name: str, password: str) -> dict[str, Any]:
    response = browser.post(f"{API}/auth/login", json={"name": name, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _db(settings: Settings) -> sqlite3.Connection:
    return sqlite3.connect(settings.database_path)


# local mode: no login, this computer only


@pytest.fixture
def local(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(tmp_path)), base_url=LOCAL) as client:
        yield client


def test_without_auth_the_api_needs_no_login_and_says_it_is_local(local: TestClient) -> None:
    assert local.get(f"{API}/auth/status").json() == {
        "auth": False,
        "setup_needed": False,
        "local": True,
        "user": None,
        "csrf_token": None,
    }
    assert local.post(f"{API}/kbs", json={"name": "notes"}).status_code == 201
    assert local.post(f"{API}/chats", json={"title": "Faros"}).status_code == 201
    assert [c["title"] for c in local.get(f"{API}/chats").json()] == ["Faros"]
    bearer = {"Authorization": "Bearer sabio_unknown"}  # ignored: there are no accounts
    assert local.get(f"{API}/kbs", headers=bearer).status_code == 200
    message = _error(
        local.post(f"{API}/auth/login", json={"name": "a", "password": "b"}), 400, "bad_request"
    )
    assert "--auth" in message


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost:8080", "[::1]:11435", "127.0.0.2"])
def test_without_auth_this_computers_names_are_answered(local: TestClient, host: str) -> None:
    assert local.get(f"{API}/kbs", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:11435", "192.168.1.20", ""])
def test_without_auth_other_host_names_are_refused(local: TestClient, host: str) -> None:
    """A page on evil.example whose name is made to point at 127.0.0.1 (DNS rebinding)
    still sends Host: evil.example."""
    message = _error(local.get(f"{API}/kbs", headers={"Host": host}), 403, "forbidden")
    assert "--auth" in message
    _error(local.post(f"{API}/kbs", json={"name": "x"}, headers={"Host": host}), 403, "forbidden")
    assert local.get("/", headers={"Host": host}).status_code != 403  # the page is not the API
    assert local.get("/docs", headers={"Host": host}).status_code == 200


def test_without_auth_changes_from_other_sites_are_refused(local: TestClient) -> None:
    for origin in ("http://evil.example", "http://127.0.0.1:9999", "null", "https://127.0.0.1"):
        refused = local.post(f"{API}/kbs", json={"name": "x"}, headers={"Origin": origin})
        assert "another site" in _error(refused, 403, "forbidden")
    assert local.get(f"{API}/kbs").json() == []
    same = local.post(f"{API}/kbs", json={"name": "a"}, headers={"Origin": LOCAL})
    assert same.status_code == 201
    assert local.post(f"{API}/kbs", json={"name": "b"}).status_code == 201  # curl: no Origin
    reading = local.get(f"{API}/kbs", headers={"Origin": "http://evil.example"})
    assert reading.status_code == 200  # the browser does not let that page read it anyway
    gone = local.delete(f"{API}/kbs/a", headers={"Origin": "http://evil.example"})
    _error(gone, 403, "forbidden")


# accounts: setup and login


def test_with_auth_every_route_needs_a_user(app: FastAPI) -> None:
    browser = _browser(app)
    status = browser.get(f"{API}/auth/status").json()
    assert status == {
        "auth": True,
        "setup_needed": True,
        "local": False,
        "user": None,
        "csrf_token": None,
    }
    assert browser.get(f"{API}/health").status_code == 200
    for method, path in [
        ("GET", "/kbs"),
        ("POST", "/kbs"),
        ("GET", "/chats"),
        ("DELETE", "/chats/1"),
        ("GET", "/auth/tokens"),
        ("POST", "/auth/logout"),
        ("GET", "/models"),
    ]:
        response = browser.request(method, f"{API}{path}", json={"name": "x"})
        assert "sign in" in _error(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert browser.get("/docs").status_code == 200
    visit = {"Accept": "text/html,*/*;q=0.8", "Sec-Fetch-Mode": "navigate"}
    assert browser.get("/", headers=visit).status_code == 200  # it shows the login form


def test_setup_on_this_computer_creates_the_admin_and_signs_in(app: FastAPI) -> None:
    browser = _browser(app, LOCAL, THIS_COMPUTER)
    created = browser.post(f"{API}/auth/setup", json={"name": "ana", "password": PASSWORD})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["user"] == {"id": 1, "name": "ana", "admin": True}
    assert body["auth"] and not body["setup_needed"] and not body["local"]
    cookie = created.headers["set-cookie"]
    assert cookie.startswith("sabio_session=")
    attributes = {a.strip().split("=")[0].lower(): a for a in cookie.split(";")[1:]}
    assert {"httponly", "samesite", "path", "max-age"} <= set(attributes)
    assert attributes["samesite"].strip().lower() == "samesite=strict"
    assert attributes["path"].strip() == "Path=/"
    assert attributes["max-age"].strip() == f"Max-Age={30 * 24 * 3600}"
    assert "secure" not in attributes  # plain http here; https gets Secure
    assert browser.get(f"{API}/kbs").status_code == 200
    status = browser.get(f"{API}/auth/status").json()
    assert status["user"]["name"] == "ana" and status["csrf_token"] == body["csrf_token"]
    again = browser.post(f"{API}/auth/setup", json={"name": "eve", "password": PASSWORD})
    _error(again, 409, "conflict")
    _error(
        _browser(app).post(f"{API}/auth/setup", json={"name": "e", "password": PASSWORD}),
        409,
        "conflict",
    )


def test_setup_from_another_device_needs_the_setup_code(app: FastAPI) -> None:
    browser = _browser(app)
    body = {"name": "ana", "password": PASSWORD}
    assert "setup code" in _error(browser.post(f"{API}/auth/setup", json=body), 403, "forbidden")
    wrong = browser.post(f"{API}/auth/setup", json={**body, "setup_code": "AAAA-BBBB-CCCC"})
    assert "not it" in _error(wrong, 403, "forbidden")
    proxied = _browser(app, LOCAL, THIS_COMPUTER).post(
        f"{API}/auth/setup", json=body, headers={"X-Forwarded-For": "192.168.1.20"}
    )
    _error(proxied, 403, "forbidden")  # a proxy on this computer: the client is elsewhere
    code: str = app.state.setup_code
    assert len(code) == 14 and code.count("-") == 2
    typed = code.replace("-", " ").lower()  # as typed: any case, spaces or dashes
    created = browser.post(f"{API}/auth/setup", json={**body, "setup_code": typed})
    assert created.status_code == 201, created.text
    assert browser.get(f"{API}/kbs").status_code == 200


def test_setup_checks_the_name_and_the_password(app: FastAPI) -> None:
    browser = _browser(app, LOCAL, THIS_COMPUTER)
    short = browser.post(f"{API}/auth/setup", json={"name": "ana", "password": "short"})
    assert "8 characters" in _error(short, 400, "bad_request")
    bad = browser.post(f"{API}/auth/setup", json={"name": "ana maría", "password": PASSWORD})
    assert "not a valid user name" in _error(bad, 400, "bad_request")
    assert browser.get(f"{API}/auth/status").json()["setup_needed"] is True


def test_login_and_setup_refuse_a_foreign_origin(app: FastAPI, admin: TestClient) -> None:
    browser = _browser(app)
    evil = {"Origin": "http://evil.example"}
    body = {"name": "ana", "password": PASSWORD}
    _error(browser.post(f"{API}/auth/login", json=body, headers=evil), 403, "forbidden")
    assert "set-cookie" not in browser.post(f"{API}/auth/login", json=body, headers=evil).headers
    ok = browser.post(f"{API}/auth/login", json=body, headers={"Origin": LAN})
    assert ok.status_code == 200
    behind_tls = browser.post(
        f"{API}/auth/login", json=body, headers={"Origin": "https://sabio.lan", "Host": "sabio.lan"}
    )
    assert behind_tls.status_code == 200  # a proxy that ends TLS and keeps the Host


def test_login(app: FastAPI, admin: TestClient) -> None:
    browser = _browser(app)
    wrong = browser.post(f"{API}/auth/login", json={"name": "ana", "password": "wrong password"})
    unknown = browser.post(f"{API}/auth/login", json={"name": "nobody", "password": PASSWORD})
    assert _error(wrong, 401, "unauthorized") == _error(unknown, 401, "unauthorized")
    assert "set-cookie" not in wrong.headers
    lone_surrogates = '{"name": "\\ud800", "password": "\\udfff and more"}'  # valid JSON
    json_body = {"Content-Type": "application/json"}
    odd = browser.post(f"{API}/auth/login", content=lone_surrogates, headers=json_body)
    assert _error(odd, 401, "unauthorized") == _error(wrong, 401, "unauthorized")
    _error(browser.get(f"{API}/kbs"), 401, "unauthorized")
    status = _login(browser, "ANA", PASSWORD)  # names are matched in any case
    assert status["user"]["name"] == "ana" and status["csrf_token"]
    assert browser.get(f"{API}/kbs").status_code == 200
    assert browser.get(f"{API}/auth/status").json()["user"]["name"] == "ana"
    over_tls = _browser(app, "https://sabio.lan")
    signed_in = over_tls.post(f"{API}/auth/login", json={"name": "ana", "password": PASSWORD})
    assert "; secure" in signed_in.headers["set-cookie"].lower()
    assert over_tls.get(f"{API}/kbs").status_code == 200


def test_changes_made_with_the_cookie_need_the_csrf_token(app: FastAPI, admin: TestClient) -> None:
    browser = _browser(app)
    csrf = _login(browser, "ana", PASSWORD)["csrf_token"]
    refused = browser.post(f"{API}/kbs", json={"name": "notes"})
    assert "X-CSRF-Token" in _error(refused, 403, "csrf")
    wrong = browser.post(f"{API}/kbs", json={"name": "notes"}, headers={"X-CSRF-Token": "x"})
    _error(wrong, 403, "csrf")
    foreign = browser.post(
        f"{API}/kbs",
        json={"name": "notes"},
        headers={"X-CSRF-Token": admin.headers["X-CSRF-Token"]},
    )
    _error(foreign, 403, "csrf")  # another session's token
    assert browser.get(f"{API}/kbs").json() == []  # reading needs none
    made = browser.post(f"{API}/kbs", json={"name": "notes"}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201
    _error(browser.delete(f"{API}/kbs/notes"), 403, "csrf")
    gone = browser.delete(f"{API}/kbs/notes", headers={"X-CSRF-Token": csrf})
    assert gone.status_code == 204


def test_logout_ends_the_session(app: FastAPI, admin: TestClient) -> None:
    browser = _browser(app)
    csrf = _login(browser, "ana", PASSWORD)["csrf_token"]
    cookie = browser.cookies["sabio_session"]
    _error(browser.post(f"{API}/auth/logout"), 403, "csrf")
    out = browser.post(f"{API}/auth/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204
    assert (
        'sabio_session=""' in out.headers["set-cookie"] and "Max-Age=0" in out.headers["set-cookie"]
    )
    assert "sabio_session" not in browser.cookies
    stale = _browser(app)
    stale.cookies["sabio_session"] = cookie
    _error(stale.get(f"{API}/kbs"), 401, "unauthorized")
    assert admin.get(f"{API}/kbs").status_code == 200  # other sessions go on


def test_password_change_ends_the_other_sessions(app: FastAPI, admin: TestClient) -> None:
    elsewhere = _browser(app)
    _login(elsewhere, "ana", PASSWORD)
    url = f"{API}/auth/password"
    wrong = admin.post(url, json={"current": "not it at all", "new": "new password"})
    assert "current password" in _error(wrong, 403, "forbidden")
    _error(admin.post(url, json={"current": PASSWORD, "new": "short"}), 400, "bad_request")
    assert admin.post(url, json={"current": PASSWORD, "new": "new password"}).status_code == 204
    assert admin.get(f"{API}/kbs").status_code == 200  # this session stays
    _error(elsewhere.get(f"{API}/kbs"), 401, "unauthorized")
    old = elsewhere.post(f"{API}/auth/login", json={"name": "ana", "password": PASSWORD})
    _error(old, 401, "unauthorized")
    _login(elsewhere, "ana", "new password")


def test_passwords_and_sessions_are_kept_hashed(
    app: FastAPI, admin: TestClient, settings: Settings
) -> None:
    cookie = admin.cookies["sabio_session"]
    with _db(settings) as db:
        [(password_hash,)] = db.execute("SELECT password_hash FROM user").fetchall()
        [(token_hash, csrf)] = db.execute("SELECT token_hash, csrf_token FROM session").fetchall()
    scheme, n, r, p, salt, digest = password_hash.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2**15), "8", "1")
    assert PASSWORD not in password_hash and len(digest) == 44 and len(salt) == 24
    assert token_hash == hashlib.sha256(cookie.encode()).hexdigest() != cookie
    assert csrf == admin.headers["X-CSRF-Token"]


# API tokens


def test_api_tokens_work_without_csrf_and_stop_when_revoked(
    app: FastAPI, admin: TestClient, settings: Settings
) -> None:
    _error(admin.post(f"{API}/auth/tokens", json={"name": " "}), 400, "bad_request")
    created = admin.post(f"{API}/auth/tokens", json={"name": "backup script"})
    assert created.status_code == 201, created.text
    new = created.json()
    token = new["token"]
    assert token.startswith("sabio_") and len(token) > 40
    assert new["name"] == "backup script" and new["last_used_at"] is None
    listed = admin.get(f"{API}/auth/tokens").json()
    assert listed == [{k: v for k, v in new.items() if k != "token"}]

    script = httpx.Headers({"Authorization": f"Bearer {token}"})
    program = _browser(app)  # no cookie: a script
    assert program.get(f"{API}/kbs", headers=script).status_code == 200
    assert program.post(f"{API}/kbs", json={"name": "n"}, headers=script).status_code == 201
    status = program.get(f"{API}/auth/status", headers=script).json()
    assert status["user"]["name"] == "ana" and status["csrf_token"] is None
    assert admin.get(f"{API}/auth/tokens").json()[0]["last_used_at"] is not None
    with _db(settings) as db:
        rows = db.execute("SELECT * FROM api_token").fetchall()
    assert token not in repr(rows)
    assert hashlib.sha256(token.encode()).hexdigest() in repr(rows)

    for wrong in (f"Bearer {token}x", "Bearer sabio_", "Bearer", f"Basic {token}"):
        refused = program.get(f"{API}/kbs", headers={"Authorization": wrong})
        _error(refused, 401, "unauthorized")
    assert admin.delete(f"{API}/auth/tokens/{new['id']}").status_code == 204
    _error(program.get(f"{API}/kbs", headers=script), 401, "unauthorized")
    _error(admin.delete(f"{API}/auth/tokens/{new['id']}"), 404, "not_found")


def test_a_token_is_its_owners_only(app: FastAPI, admin: TestClient) -> None:
    bea = _user(app, admin, "bea")
    token = admin.post(f"{API}/auth/tokens", json={"name": "ana's"}).json()
    assert bea.get(f"{API}/auth/tokens").json() == []
    _error(bea.delete(f"{API}/auth/tokens/{token['id']}"), 404, "not_found")
    assert [t["id"] for t in admin.get(f"{API}/auth/tokens").json()] == [token["id"]]


# chats belong to their user


def test_a_user_sees_and_changes_only_their_own_chats(app: FastAPI, admin: TestClient) -> None:
    bea = _user(app, admin, "bea")
    anas = admin.post(f"{API}/chats", json={"title": "Ana's"}).json()
    beas = bea.post(f"{API}/chats", json={"title": "Bea's"}).json()
    assert [c["title"] for c in admin.get(f"{API}/chats").json()] == ["Ana's"]
    assert [c["title"] for c in bea.get(f"{API}/chats").json()] == ["Bea's"]
    assert bea.get(f"{API}/chats", params={"q": "ana"}).json() == []
    url = f"{API}/chats/{anas['id']}"
    for response in (
        bea.get(url),
        bea.patch(url, json={"title": "mine"}),
        bea.delete(url),
        bea.post(f"{url}/messages", json={"question": "Hello?"}),
    ):
        assert (
            _error(response, 404, "not_found")
            == f"no chat {anas['id']}; list them with GET /api/v1/chats"
        )
    assert admin.get(url).json()["title"] == "Ana's"
    assert bea.get(f"{API}/chats/{beas['id']}").status_code == 200


def test_the_service_keeps_each_users_chats_apart(sabio: Sabio) -> None:
    mine = sabio.create_chat(title="Mine", user_id=1)
    theirs = sabio.create_chat(title="Theirs", user_id=2)
    assert mine.user_id == 1 and [c.id for c in sabio.list_chats(user_id=1)] == [mine.id]
    assert [c.id for c in sabio.list_chats("theirs", user_id=1)] == []
    assert {c.id for c in sabio.list_chats()} == {mine.id, theirs.id}  # local: every chat
    for call in (
        lambda: sabio.get_chat(theirs.id, user_id=1),
        lambda: sabio.rename_chat(theirs.id, "x", user_id=1),
        lambda: sabio.delete_chat(theirs.id, user_id=1),
        lambda: sabio.ask_in_chat(theirs.id, "Hello?", user_id=1),
    ):
        with pytest.raises(NotFoundError, match=f"no chat {theirs.id}"):
            call()
    assert sabio.get_chat(theirs.id, user_id=2).title == "Theirs"


def test_the_first_admin_takes_over_the_chats_made_without_login(tmp_path: Path) -> None:
    with _server(_settings(tmp_path)) as local:
        made = _browser(local, LOCAL).post(f"{API}/chats", json={"title": "Before"})
        assert made.status_code == 201
    with _server(_settings(tmp_path, auth=True)) as app:
        browser = _browser(app, LOCAL, THIS_COMPUTER)
        browser.post(f"{API}/auth/setup", json={"name": "ana", "password": PASSWORD})
        assert [c["title"] for c in browser.get(f"{API}/chats").json()] == ["Before"]


# admins


def test_only_admins_manage_accounts_settings_and_models(app: FastAPI, admin: TestClient) -> None:
    bea = _user(app, admin, "bea")
    for method, path in [
        ("GET", "/auth/users"),
        ("POST", "/auth/users"),
        ("DELETE", "/auth/users/1"),
        ("PUT", "/settings"),
        ("PUT", "/settings/"),
        ("POST", "/models/pull"),
    ]:
        refused = bea.request(method, f"{API}{path}", json={"name": "x", "password": PASSWORD})
        assert "admin" in _error(refused, 403, "forbidden")
    assert bea.get(f"{API}/settings").status_code != 403  # reading them is for everyone
    not_refused = admin.put(f"{API}/settings", json={"no_such_setting": 1})
    assert not_refused.status_code not in (401, 403)


def test_admins_create_list_and_delete_accounts(
    app: FastAPI, admin: TestClient, settings: Settings
) -> None:
    bea = _user(app, admin, "bea")
    bea_chat = bea.post(f"{API}/chats", json={"title": "Bea's"}).json()
    bea_token = bea.post(f"{API}/auth/tokens", json={"name": "t"}).json()["token"]
    users = admin.get(f"{API}/auth/users").json()
    assert [(u["name"], u["admin"]) for u in users] == [("ana", True), ("bea", False)]
    assert set(users[0]) == {"id", "name", "admin", "created_at"}
    url = f"{API}/auth/users"
    taken = admin.post(url, json={"name": "BEA", "password": PASSWORD})
    assert "already" in _error(taken, 409, "conflict")
    _error(admin.post(url, json={"name": "a/b", "password": PASSWORD}), 400, "bad_request")
    _error(admin.post(url, json={"name": "x" * 65, "password": PASSWORD}), 400, "bad_request")
    assert admin.post(url, json={"name": "o'neil", "password": PASSWORD}).status_code == 400
    assert (
        admin.post(url, json={"name": "carla.r-s_1@casa", "password": PASSWORD}).status_code == 201
    )
    ana_id, bea_id = users[0]["id"], users[1]["id"]
    assert "your own" in _error(admin.delete(f"{url}/{ana_id}"), 409, "conflict")
    assert admin.delete(f"{url}/{bea_id}").status_code == 204
    _error(admin.delete(f"{url}/{bea_id}"), 404, "not_found")
    _error(bea.get(f"{API}/kbs"), 401, "unauthorized")
    _error(
        _browser(app).get(f"{API}/kbs", headers={"Authorization": f"Bearer {bea_token}"}),
        401,
        "unauthorized",
    )
    with _db(settings) as db:
        assert db.execute("SELECT count(*) FROM chat WHERE id=?", (bea_chat["id"],)).fetchone() == (
            0,
        )
        assert db.execute("SELECT count(*) FROM session WHERE user_id=?", (bea_id,)).fetchone() == (
            0,
        )


def test_account_routes_say_when_accounts_are_off(local: TestClient) -> None:
    for method, path in [("GET", "/auth/tokens"), ("POST", "/auth/setup"), ("GET", "/auth/users")]:
        response = local.request(method, f"{API}{path}", json={"name": "a", "password": PASSWORD})
        assert "accounts are off" in _error(response, 400, "bad_request")


# the schema and the setting


def test_a_database_of_schema_2_gains_the_account_tables(tmp_path: Path) -> None:
    path = tmp_path / "sabio.db"
    old = Store(path)
    old.create_kb("notes", "fake:words", 64)
    old.db.executescript(
        "DROP TABLE api_token; DROP TABLE session; DROP TABLE user; DROP TABLE _migrations;"
        " PRAGMA user_version=2;"  # as schema 2 was: before numbered migrations
    )
    old.close()
    store = Store(path)
    try:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in store.db.execute("SELECT name FROM sqlite_master")}
        assert {"user", "session", "api_token"} <= tables
        assert [kb.name for kb in store.list_kbs()] == ["notes"]
        assert store.integrity_problems() == []
    finally:
        store.close()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("1", True),
        ("YES", True),
        ("on", True),
        ("false", False),
        ("0", False),
        ("no", False),
    ],
)
def test_the_auth_setting_reads_booleans_from_the_environment(value: str, expected: bool) -> None:
    assert load_settings(environ={"SABIO_AUTH": value}).auth is expected


def test_a_wrong_auth_setting_says_so(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="SABIO_AUTH"):
        load_settings(environ={"SABIO_AUTH": "maybe"})
    (tmp_path / "config.toml").write_text("auth = true\n")
    assert load_settings({"home": tmp_path}, environ={}).auth is True
    assert load_settings({"home": tmp_path, "auth": False}, environ={}).auth is False


# the commands


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20"])
def test_serve_beyond_this_computer_needs_auth(host: str, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli_app, ["--home", str(tmp_path), "serve", "--host", host])
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert "--auth" in line and "auth = true" in line and host in line
    (tmp_path / "config.toml").write_text("auth = true\n")
    overridden = runner.invoke(
        cli_app, ["--home", str(tmp_path), "serve", "--host", host, "--no-auth"]
    )
    assert overridden.exit_code == 1 and "--auth" in overridden.output


def test_user_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    home = ["--home", str(tmp_path / "home")]

    def sabio(*args: str, input: str | None = None) -> Any:
        return runner.invoke(cli_app, [*home, *args], input=input)

    first = sabio("user", "add", "bea", "--password-stdin", input=f"{PASSWORD}\n")
    assert first.exit_code == 1 and "must be an admin" in first.output
    made = sabio("user", "add", "ana", "--admin", "--password-stdin", input=f"{PASSWORD}\n")
    assert made.exit_code == 0, made.output
    assert "Created admin ana" in made.output
    prompted = sabio("user", "add", "bea", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert prompted.exit_code == 0, prompted.output
    assert PASSWORD not in prompted.output  # hidden input
    for args, words in [
        (("user", "add", "bea", "--password-stdin"), "already"),
        (("user", "add", "a b", "--password-stdin"), "not a valid user name"),
        (("user", "add", "carla", "--password-stdin"), "8 characters"),
        (("user", "rm", "ana", "--yes"), "last admin"),
        (("user", "passwd", "nobody", "--password-stdin"), "no user called 'nobody'"),
    ]:
        result = sabio(*args, input="short\n" if "carla" in args else f"{PASSWORD}\n")
        assert result.exit_code == 1, result.output
        message = " ".join(result.output.split())  # the console wraps long lines
        assert message.startswith("error:") and words in message and "Traceback" not in message
    listed = sabio("user", "list", "--json")
    assert [(u["name"], u["admin"]) for u in json.loads(listed.stdout)] == [
        ("ana", True),
        ("bea", False),
    ]
    assert "ana" in sabio("user", "list").output
    changed = sabio("user", "passwd", "bea", "--password-stdin", input="another password\n")
    assert changed.exit_code == 0, changed.output
    with _server(load_settings({"home": tmp_path / "home", "auth": True}, environ={})) as app:
        _login(_browser(app), "bea", "another password")
    assert sabio("user", "rm", "bea", input="n\n").exit_code == 1
    assert sabio("user", "rm", "bea", "--yes").exit_code == 0
    assert "bea" not in sabio("user", "list").output

"""Who may call what with accounts on: every route tried with every role's API token
against a real server (uvicorn on loopback), and what the lists, chats and ``kb/``
models show each role. The table below is the specification, written apart from
``server/roles.py``: a route the app serves that has no rule there, or no line here,
fails the suite.

Roles: ``anonymous`` (no token), ``outsider`` (a member given no knowledge base),
``reader`` (read on "shared"), ``writer`` (write on "shared"), ``admin``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import running_server
from test_server import API, _settings

from sabio.server import create_app
from sabio.server.roles import RULES, app_routes

PASSWORD = "correct horse"
ROLES = ("anonymous", "outsider", "reader", "writer", "admin")
WHO = {
    "open": set(ROLES),
    "user": {"outsider", "reader", "writer", "admin"},
    "read": {"reader", "writer", "admin"},
    "write": {"writer", "admin"},
    "admin": {"admin"},
    "webhook": {"admin"},  # or the webhook's own token; another is no credential: 401
}

SPEC: dict[tuple[str, str], str] = {
    ("GET", "/"): "open",
    ("HEAD", "/"): "open",
    ("GET", "/static/{path}"): "open",
    ("GET", "/openapi.json"): "open",
    ("HEAD", "/openapi.json"): "open",
    ("GET", "/docs"): "open",
    ("GET", "/redoc"): "open",
    ("GET", "/docs-assets/{path}"): "open",
    ("GET", f"{API}/health"): "open",
    ("GET", f"{API}/models"): "user",
    ("POST", f"{API}/models/pull"): "admin",
    ("GET", f"{API}/settings"): "user",
    ("GET", f"{API}/models/hosts"): "admin",
    ("PUT", f"{API}/settings"): "admin",
    ("GET", f"{API}/data"): "admin",
    ("POST", f"{API}/data/export"): "admin",
    ("GET", f"{API}/data/exports/{{token}}"): "admin",
    ("POST", f"{API}/data/import"): "admin",
    ("POST", f"{API}/data/purge"): "admin",  # without {"confirm": true}: nothing happens
    ("GET", f"{API}/kbs"): "user",
    ("POST", f"{API}/kbs"): "admin",
    ("GET", f"{API}/kbs/{{name}}"): "read",
    ("PATCH", f"{API}/kbs/{{name}}"): "admin",
    ("DELETE", f"{API}/kbs/{{name}}"): "admin",
    ("POST", f"{API}/kbs/{{name}}/reindex"): "admin",
    ("GET", f"{API}/kbs/{{name}}/members"): "admin",
    ("PUT", f"{API}/kbs/{{name}}/members/{{user_id}}"): "admin",
    ("DELETE", f"{API}/kbs/{{name}}/members/{{user_id}}"): "admin",
    ("GET", f"{API}/kbs/{{name}}/events"): "read",
    ("GET", f"{API}/kbs/{{name}}/documents"): "read",
    ("POST", f"{API}/kbs/{{name}}/documents"): "write",
    ("DELETE", f"{API}/kbs/{{name}}/documents/{{document_id}}"): "write",
    ("POST", f"{API}/kbs/{{name}}/documents/{{document_id}}/password"): "write",
    ("GET", f"{API}/kbs/{{name}}/documents/{{document_id}}/file"): "read",
    ("GET", f"{API}/kbs/{{name}}/documents/{{document_id}}/transcript"): "read",
    ("GET", f"{API}/kbs/{{name}}/passages/{{chunk_id}}"): "read",
    ("GET", f"{API}/kbs/{{name}}/search"): "read",
    ("GET", f"{API}/kbs/{{name}}/review"): "read",
    ("GET", f"{API}/kbs/{{name}}/report"): "read",
    ("POST", f"{API}/kbs/{{name}}/review/dismissals"): "write",
    ("DELETE", f"{API}/kbs/{{name}}/review/dismissals"): "write",
    ("POST", f"{API}/kbs/{{name}}/review/drops"): "write",
    ("GET", f"{API}/kbs/{{name}}/review/evidence"): "read",
    ("GET", f"{API}/kbs/{{name}}/review/summary"): "read",
    ("GET", f"{API}/kbs/{{name}}/review/alerts"): "read",
    ("POST", f"{API}/kbs/{{name}}/review/alerts/seen"): "read",
    ("POST", f"{API}/kbs/{{name}}/ask"): "read",
    ("GET", f"{API}/kbs/{{name}}/tasks"): "read",
    ("POST", f"{API}/kbs/{{name}}/tasks"): "read",
    ("GET", f"{API}/kbs/{{name}}/tasks/{{task_id}}"): "read",
    ("POST", f"{API}/kbs/{{name}}/tasks/{{task_id}}/cancel"): "read",
    ("GET", f"{API}/kbs/{{name}}/tasks/{{task_id}}/result"): "read",
    ("GET", f"{API}/chats"): "user",
    ("POST", f"{API}/chats"): "user",
    ("GET", f"{API}/chats/{{chat_id}}"): "user",
    ("PATCH", f"{API}/chats/{{chat_id}}"): "user",
    ("DELETE", f"{API}/chats/{{chat_id}}"): "user",
    ("POST", f"{API}/chats/{{chat_id}}/messages"): "user",
    ("POST", f"{API}/chats/{{chat_id}}/regenerate"): "user",
    ("PUT", f"{API}/chats/{{chat_id}}/branch"): "user",
    ("POST", f"{API}/chats/{{chat_id}}/stop"): "user",
    ("GET", f"{API}/chats/{{chat_id}}/export"): "user",
    ("POST", f"{API}/chats/{{chat_id}}/messages/{{message_id}}/feedback"): "user",
    ("GET", f"{API}/chats/{{chat_id}}/messages/{{message_id}}/feedback"): "user",
    ("POST", f"{API}/kbs/{{name}}/feedback"): "read",
    ("POST", f"{API}/answers/{{answer_id}}/feedback"): "user",
    ("GET", f"{API}/kbs/{{name}}/notes"): "read",
    ("PATCH", f"{API}/kbs/{{name}}/notes/{{note_id}}"): "write",
    ("DELETE", f"{API}/kbs/{{name}}/notes/{{note_id}}"): "write",
    ("GET", f"{API}/kbs/{{name}}/judged"): "read",
    ("GET", f"{API}/kbs/{{name}}/guide"): "read",
    ("PUT", f"{API}/kbs/{{name}}/guide"): "write",
    ("GET", f"{API}/auth/status"): "open",
    ("POST", f"{API}/auth/setup"): "open",
    ("POST", f"{API}/auth/login"): "open",
    ("POST", f"{API}/auth/logout"): "user",
    ("POST", f"{API}/auth/password"): "user",
    ("GET", f"{API}/auth/tokens"): "user",
    ("POST", f"{API}/auth/tokens"): "user",
    ("DELETE", f"{API}/auth/tokens/{{token_id}}"): "user",
    ("GET", f"{API}/auth/users"): "admin",
    ("POST", f"{API}/auth/users"): "admin",
    ("DELETE", f"{API}/auth/users/{{user_id}}"): "admin",
    ("GET", f"{API}/sources"): "user",
    ("GET", f"{API}/source-kinds"): "user",
    ("POST", f"{API}/sources"): "admin",
    ("GET", f"{API}/sources/{{source_id}}"): "read",
    ("POST", f"{API}/sources/{{source_id}}/sync"): "admin",
    ("DELETE", f"{API}/sources/{{source_id}}"): "admin",
    ("POST", f"{API}/sources/{{source_id}}/webhook"): "webhook",
    ("GET", f"{API}/jobs"): "admin",
    ("POST", f"{API}/extension/pages"): "user",
    ("POST", f"{API}/extension/pages/file"): "user",
    ("POST", f"{API}/extension/pages/{{page_id}}/ask"): "user",  # with "kb": read access to it
    ("POST", f"{API}/extension/pages/{{page_id}}/summarize"): "user",
    ("POST", f"{API}/extension/pages/{{page_id}}/translate"): "user",
    ("POST", f"{API}/extension/kbs/{{name}}/pages"): "write",
    ("POST", f"{API}/extension/pairing"): "user",
    ("POST", f"{API}/extension/pair"): "open",
    ("GET", "/api/version"): "user",
    ("HEAD", "/api/version"): "user",
    ("GET", "/api/tags"): "user",
    ("HEAD", "/api/tags"): "user",
    ("GET", "/api/ps"): "user",
    ("POST", "/api/show"): "read",  # of kb/shared
    ("POST", "/api/chat"): "read",
    ("POST", "/api/generate"): "read",
    ("POST", "/api/embed"): "user",
    ("POST", "/api/embeddings"): "user",
    ("POST", "/api/pull"): "admin",
    ("POST", "/api/push"): "admin",
    ("POST", "/api/create"): "admin",
    ("POST", "/api/copy"): "admin",
    ("DELETE", "/api/delete"): "admin",
    ("GET", "/v1/models"): "user",
    ("GET", "/v1/models/{model:path}"): "read",
    ("POST", "/v1/chat/completions"): "read",
    ("POST", "/v1/completions"): "user",
    ("POST", "/v1/embeddings"): "user",
}

KB_MODEL = "kb/shared"
BODIES: dict[tuple[str, str], Any] = {
    ("POST", f"{API}/models/pull"): {"name": "qwen3:4b"},
    ("PUT", f"{API}/settings"): {},
    ("POST", f"{API}/kbs"): {"name": "Informes año 2024"},
    ("PATCH", f"{API}/kbs/{{name}}"): {"ocr_languages": ""},
    ("PUT", f"{API}/kbs/{{name}}/members/{{user_id}}"): {"access": "read"},
    ("POST", f"{API}/kbs/{{name}}/documents/{{document_id}}/password"): {"password": "x"},
    ("POST", f"{API}/kbs/{{name}}/ask"): {"question": "¿Qué guiaba el faro?"},
    ("POST", f"{API}/chats"): {"title": "Mine"},
    ("PATCH", f"{API}/chats/{{chat_id}}"): {"title": "Renamed"},
    ("POST", f"{API}/chats/{{chat_id}}/messages"): {"question": "¿Qué guiaba el faro?"},
    ("POST", f"{API}/chats/{{chat_id}}/regenerate"): {"message_id": 999999},
    ("PUT", f"{API}/chats/{{chat_id}}/branch"): {"message_id": 999999},
    ("POST", f"{API}/chats/{{chat_id}}/messages/{{message_id}}/feedback"): {"rating": "up"},
    ("POST", f"{API}/kbs/{{name}}/feedback"): {"question": "¿El faro?", "rating": "up"},
    ("POST", f"{API}/answers/{{answer_id}}/feedback"): {"rating": "up"},
    ("PATCH", f"{API}/kbs/{{name}}/notes/{{note_id}}"): {"correction": "Guiaba barcos."},
    ("PUT", f"{API}/kbs/{{name}}/guide"): {"instruction": "Responde con formalidad."},
    ("POST", f"{API}/auth/setup"): {"name": "eve", "password": PASSWORD},
    ("POST", f"{API}/auth/login"): {"name": "ana", "password": PASSWORD},
    ("POST", f"{API}/auth/password"): {"current": PASSWORD, "new": PASSWORD},
    ("POST", f"{API}/auth/tokens"): {"name": "script"},
    ("POST", f"{API}/auth/users"): {"name": "dan", "password": PASSWORD},
    ("POST", f"{API}/sources"): {"kind": "webhook", "location": "more", "kb": "shared"},
    ("POST", f"{API}/sources/{{source_id}}/webhook"): {"text": "Un texto.", "title": "t"},
    ("POST", f"{API}/extension/pages"): {"url": "https://a.example/", "text": "El faro."},
    ("POST", f"{API}/extension/pages/{{page_id}}/ask"): {"question": "¿El faro?"},
    ("POST", f"{API}/extension/pages/{{page_id}}/summarize"): {},
    ("POST", f"{API}/extension/pages/{{page_id}}/translate"): {"to": "en"},
    ("POST", f"{API}/extension/pair"): {"code": "AAAA-BBBB"},
    ("POST", "/api/show"): {"model": KB_MODEL},
    ("POST", "/api/chat"): {
        "model": KB_MODEL,
        "stream": False,
        "messages": [{"role": "user", "content": "¿Qué guiaba el faro?"}],
    },
    ("POST", "/api/generate"): {"model": KB_MODEL, "stream": False, "prompt": "¿El faro?"},
    ("POST", "/v1/chat/completions"): {
        "model": KB_MODEL,
        "messages": [{"role": "user", "content": "¿Qué guiaba el faro?"}],
    },
}
"""The body each route gets (others: an Ollama model's, or none), so that an allowed call
is a real one."""
OLLAMA_BODY = {"model": "llama3.2", "name": "llama3.2", "source": "llama3.2", "input": "x"}


def test_every_route_has_a_rule_and_a_line_in_this_table(tmp_path: Path) -> None:
    served = set(app_routes(create_app(_settings(tmp_path, auth=True))))
    assert served - set(RULES) == set(), "routes without a rule in server/roles.py"
    assert set(RULES) - served == set(), "rules in server/roles.py for routes that are gone"
    assert served ^ set(SPEC) == set(), "routes missing from (or stale in) this table"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """A real server with accounts on, the roles' tokens, and what the calls name."""
    settings = _settings(tmp_path, auth=True, chat_model="fake:cite")
    with running_server(create_app(settings, run_worker=False)) as url, contextlib.ExitStack() as s:
        ids = _setup(url, s)
        ids["clients"] = {role: _as(url, ids["tokens"].get(role), s) for role in ROLES}
        yield url, ids


def _setup(url: str, stack: contextlib.ExitStack) -> dict[str, Any]:
    local = stack.enter_context(httpx.Client(base_url=url))
    made = local.post(f"{API}/auth/setup", json={"name": "ana", "password": PASSWORD})
    assert made.status_code == 201, made.text
    local.headers["X-CSRF-Token"] = made.json()["csrf_token"]
    tokens = {"admin": _token(local)}
    users = {}
    for role in ("outsider", "reader", "writer", "spare"):
        made = local.post(f"{API}/auth/users", json={"name": role, "password": PASSWORD})
        assert made.status_code == 201, made.text
        users[role] = made.json()["id"]
        signed = stack.enter_context(httpx.Client(base_url=url))
        login = signed.post(f"{API}/auth/login", json={"name": role, "password": PASSWORD})
        signed.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        tokens[role] = _token(signed)
    admin = _as(url, tokens["admin"], stack)
    for kb in ("shared", "doomed"):
        assert admin.post(f"{API}/kbs", json={"name": kb}).status_code == 201
    upload = admin.post(
        f"{API}/kbs/shared/documents",
        files={"files": ("faro.txt", "El faro de Alejandría guiaba a los barcos.".encode())},
    )
    assert upload.json()["files"][0]["status"] == "indexed"
    for role, access in (("reader", "read"), ("writer", "write")):
        given = admin.put(f"{API}/kbs/shared/members/{users[role]}", json={"access": access})
        assert given.status_code == 200, given.text
    hook = admin.post(f"{API}/sources", json={"kind": "webhook", "location": "n8n", "kb": "shared"})
    assert hook.status_code == 201, hook.text
    chats = {}
    for role in ("outsider", "reader", "writer", "admin"):
        kb = None if role == "outsider" else "shared"
        made = _as(url, tokens[role], stack).post(f"{API}/chats", json={"kb": kb})
        assert made.status_code == 201, made.text
        chats[role] = made.json()["id"]
    return {"tokens": tokens, "users": users, "source": hook.json()["id"], "chats": chats}


def _token(signed_in: httpx.Client) -> str:
    made = signed_in.post(f"{API}/auth/tokens", json={"name": "tests"})
    assert made.status_code == 201, made.text
    token: str = made.json()["token"]
    return token


def _as(url: str, token: str | None, stack: contextlib.ExitStack) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return stack.enter_context(httpx.Client(base_url=url, headers=headers, timeout=60))


def _call(client: httpx.Client, role: str, method: str, path: str, ids: dict[str, Any]) -> int:
    """The status of one call of the route ``path`` as ``role``."""
    filled = path.replace(":path}", "}").format(
        name="doomed" if (method, path) == ("DELETE", f"{API}/kbs/{{name}}") else "shared",
        user_id=ids["users"]["spare"],
        document_id=999999,
        chunk_id=999999,
        message_id=999999,
        note_id=999999,
        answer_id="unknown",
        token_id=999999,
        task_id=999999,
        token="0" * 32,
        source_id=ids["source"],
        chat_id=ids["chats"].get(role, 999999),
        page_id="closed",
        model=KB_MODEL,
        path="style.css",
    )
    body = BODIES.get((method, path), OLLAMA_BODY if path.startswith("/api/") else None)
    files = None
    if (method, path) == ("POST", f"{API}/kbs/{{name}}/documents"):
        files, body = {"files": (f"{role}.txt", b"Un texto de prueba.")}, None
    # GET / is the page for a browser opening it; a program's probe needs a token (ollama_api)
    headers = {"Sec-Fetch-Mode": "navigate"} if (method, path) == ("GET", "/") else None
    with client.stream(method, filled, json=body, files=files, headers=headers) as response:
        client.cookies.clear()  # a login's session must not sign the anonymous one in
        return response.status_code


def test_every_route_answers_each_role_as_the_table_says(
    server: tuple[str, dict[str, Any]],
) -> None:
    clients = server[1]["clients"]
    ids = server[1]
    wrong = []
    changes_last = sorted(SPEC, key=lambda route: (route[0] == "DELETE", "/kbs/{name}" in route[1]))
    for method, path in changes_last:  # deletions last, the knowledge base's own at the end
        allowed = WHO[SPEC[(method, path)]]
        for role in ROLES:
            status = _call(clients[role], role, method, path, ids)
            refused = 401 if role == "anonymous" or SPEC[(method, path)] == "webhook" else 403
            expected = "allowed" if role in allowed else refused
            if (status in (401, 403)) != (expected != "allowed") or (
                expected != "allowed" and status != expected
            ):
                wrong.append(f"{method} {path} as {role}: {status}, expected {expected}")
    assert wrong == [], "\n".join(wrong)


def test_members_see_only_what_they_were_given(server: tuple[str, dict[str, Any]]) -> None:
    ids = server[1]
    reader, outsider, admin = (ids["clients"][r] for r in ("reader", "outsider", "admin"))
    assert [(kb["id"], kb["access"]) for kb in reader.get(f"{API}/kbs").json()] == [
        ("shared", "read")
    ]
    assert outsider.get(f"{API}/kbs").json() == []
    assert [kb["access"] for kb in admin.get(f"{API}/kbs").json()] == ["manage", "manage"]
    assert [s["kb"] for s in reader.get(f"{API}/sources").json()] == ["shared"]
    assert outsider.get(f"{API}/sources").json() == []
    assert outsider.get(f"{API}/sources", params={"kb": "shared"}).status_code == 403
    ollama = {m["name"] for m in outsider.get("/api/tags").json()["models"]}
    assert not any(name.startswith("kb/") for name in ollama)
    assert "kb/shared:latest" in {m["name"] for m in reader.get("/api/tags").json()["models"]}
    assert KB_MODEL in {m["id"] for m in reader.get("/v1/models").json()["data"]}
    assert KB_MODEL not in {m["id"] for m in outsider.get("/v1/models").json()["data"]}

    # a chat over a knowledge base the member may not read: refused, in the one shape
    refused = outsider.post(f"{API}/chats", json={"kb": "shared"})
    assert refused.status_code == 403 and refused.json()["error"]["key"] == "kb_forbidden"
    moved = outsider.patch(f"{API}/chats/{ids['chats']['outsider']}", json={"kb": "shared"})
    assert moved.status_code == 403
    # access taken away: the member's chat over it can be read, not asked in
    taken = admin.delete(f"{API}/kbs/shared/members/{ids['users']['reader']}")
    assert taken.status_code == 204
    chat = ids["chats"]["reader"]
    assert reader.get(f"{API}/chats/{chat}").status_code == 200
    asked = reader.post(f"{API}/chats/{chat}/messages", json={"question": "¿Y el faro?"})
    assert asked.status_code == 403 and "ask an admin" in asked.json()["error"]["message"]
    assert reader.get(f"{API}/kbs").json() == []
    # an admin needs no access given, and cannot be given any
    admin_id = admin.get(f"{API}/auth/status").json()["user"]["id"]
    given = admin.put(f"{API}/kbs/shared/members/{admin_id}", json={"access": "read"})
    assert given.status_code == 409 and given.json()["error"]["key"] == "member_is_admin"
    members = admin.get(f"{API}/kbs/shared/members").json()
    assert members == [{"user_id": ids["users"]["writer"], "name": "writer", "access": "write"}]


def test_without_accounts_the_single_user_may_do_everything(tmp_path: Path) -> None:
    with (
        running_server(create_app(_settings(tmp_path), run_worker=False)) as url,
        httpx.Client(base_url=url) as local,
    ):
        made = local.post(f"{API}/kbs", json={"name": "notes"})
        assert made.status_code == 201 and made.json()["access"] == "manage"
        assert local.delete(f"{API}/kbs/notes").status_code == 204
        members = local.get(f"{API}/kbs/default/members")
        assert members.status_code in (400, 404)  # accounts are off: no members


def test_members_are_given_access_from_the_command_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sabio.cli import app as cli_app

    runner = CliRunner()
    env = {"SABIO_HOME": str(tmp_path / "home"), "SABIO_EMBEDDING_MODEL": "fake:words"}

    def sabio(*args: str, stdin: str | None = None) -> Any:
        return runner.invoke(cli_app, list(args), input=stdin, env=env)

    assert (
        sabio("user", "add", "ana", "--admin", "--password-stdin", stdin=f"{PASSWORD}\n").exit_code
        == 0
    )
    assert sabio("user", "add", "bea", "--password-stdin", stdin=f"{PASSWORD}\n").exit_code == 0
    made = sabio("kb", "create", "Informes año 2024")
    assert made.exit_code == 0 and "informes-ano-2024" in made.output
    granted = sabio("user", "grant", "bea", "informes-ano-2024", "--write")
    assert granted.exit_code == 0 and "may now write Informes año 2024" in granted.output
    listed = " ".join(sabio("user", "list").output.split())
    assert "bea member Informes año 2024 (write)" in listed and "ana admin all" in listed
    refused = sabio("user", "grant", "ana", "informes-ano-2024")
    assert refused.exit_code == 1 and "is an admin" in refused.output
    assert sabio("user", "revoke", "bea", "Informes año 2024").exit_code == 0
    assert "(write)" not in sabio("user", "list").output

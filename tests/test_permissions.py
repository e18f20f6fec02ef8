"""Who may call what with accounts on, route by role: the Ollama and OpenAI compatible
routes (passed through to a stand-in Ollama that records what reaches it) and deleting a
knowledge base that has sources. A member's API token is what the issue-19 attack used."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import running_server
from fake_servers import FakeOllama, chat_model

from sabio.config import load_settings
from sabio.server import create_app
from sabio.service import Sabio

PASSWORD = "a long enough password"
QUESTION = [{"role": "user", "content": "hola"}]

# (method, path, body, what a member gets, what an admin gets); "up" is whatever the
# stand-in Ollama answers (the request reached it), 404 for a route it does not have.
ROUTES: list[tuple[str, str, dict[str, Any] | None, int | str, int | str]] = [
    ("GET", "/api/tags", None, 200, 200),
    ("GET", "/api/version", None, 200, 200),
    ("GET", "/api/ps", None, 200, 200),
    ("POST", "/api/show", {"model": "llama3.2"}, "up", "up"),
    ("POST", "/api/chat", {"model": "llama3.2", "messages": QUESTION, "stream": False}, 200, 200),
    ("POST", "/api/generate", {"model": "kb/docs", "prompt": "hola", "stream": False}, 200, 200),
    ("POST", "/api/embed", {"model": "llama3.2", "input": "hola"}, "up", "up"),
    ("POST", "/api/pull", {"model": "qwen3:235b"}, 403, "up"),
    ("POST", "/api/push", {"model": "llama3.2"}, 403, "up"),
    ("POST", "/api/create", {"model": "mine", "from": "llama3.2"}, 403, "up"),
    ("POST", "/api/copy", {"source": "llama3.2", "destination": "x"}, 403, "up"),
    ("DELETE", "/api/delete", {"model": "llama3.2"}, 403, "up"),
    ("GET", "/v1/models", None, 200, 200),
    ("GET", "/v1/models/kb/docs", None, 200, 200),
    ("POST", "/v1/chat/completions", {"model": "kb/docs", "messages": QUESTION}, 200, 200),
    ("POST", "/v1/embeddings", {"model": "llama3.2", "input": "hola"}, "up", "up"),
    ("POST", "/v1/completions", {"model": "llama3.2", "prompt": "hola"}, "up", "up"),
]
MODEL_CHANGES = {"/api/pull", "/api/push", "/api/create", "/api/copy", "/api/delete"}


@dataclass
class Team:
    url: str
    upstream: FakeOllama
    tokens: dict[str, str]  # "admin", "member"

    def call(self, who: str, method: str, path: str, body: Any = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who in self.tokens else {}
        content = json.dumps(body).encode() if body is not None else None
        if content is not None:
            headers["Content-Type"] = "application/json"
        return httpx.request(method, self.url + path, content=content, headers=headers)


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    with FakeOllama(models=[chat_model("llama3.2:latest")]) as upstream:
        settings = load_settings(
            {
                "home": tmp_path / "home",
                "embedding_model": "fake:words",
                "chat_model": "fake:cite",
                "ollama_host": upstream.url,
                "auth": True,
            },
            environ={},
        )
        (tmp_path / "faro.txt").write_text("El faro guía a los barcos.", encoding="utf-8")
        (tmp_path / "watched").mkdir()
        with closing(Sabio(settings)) as sabio:
            sabio.create_kb("docs")
            sabio.add([tmp_path / "faro.txt"], "docs")
            sabio.add_source("folder", str(tmp_path / "watched"), "docs")
            tokens = {}
            for name, admin in (("admin", True), ("member", False)):
                user = sabio.users.create_user(name, PASSWORD, admin=admin)
                tokens[name] = sabio.users.create_token(user.id, "script")[1]
                if not admin:  # a member who may write into docs: still no admin's rights
                    sabio.users.set_kb_access(user.id, sabio.kb("docs").id, "write")
        with running_server(create_app(settings, run_worker=False)) as url:
            yield Team(url, upstream, tokens)


@pytest.mark.parametrize(("method", "path", "body", "member", "admin"), ROUTES)
def test_ollama_and_openai_routes_by_role(
    team: Team,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    member: int | str,
    admin: int | str,
) -> None:
    for who, expected in (("member", member), ("admin", admin), ("nobody", 401)):
        before = team.upstream.count(method, path)
        response = team.call(who, method, path, body)
        reached = team.upstream.count(method, path) > before
        if expected == "up":
            assert reached, f"{who}: {method} {path} did not reach Ollama ({response.text})"
        else:
            assert response.status_code == expected, f"{who}: {method} {path}: {response.text}"
        if expected in (401, 403):
            assert not reached, f"{who}: {method} {path} reached Ollama"
            assert "error" in response.json()
    if path in MODEL_CHANGES:
        refused = team.call("member", method, path, body)
        assert "only an admin may manage Ollama's models" in json.dumps(refused.json())


def test_a_member_cannot_delete_a_knowledge_base_with_sources(team: Team) -> None:
    """Removing a source is an admin's, and so is deleting a knowledge base (with its
    sources): a member who may write into it is refused both."""
    source = team.call("admin", "GET", "/api/v1/sources").json()[0]["id"]
    assert team.call("member", "DELETE", f"/api/v1/sources/{source}").status_code == 403
    refused = team.call("member", "DELETE", "/api/v1/kbs/docs")
    assert refused.status_code == 403
    assert "only an admin may" in refused.json()["error"]["message"]
    assert len(team.call("admin", "GET", "/api/v1/sources").json()) == 1  # still there
    assert team.call("member", "GET", "/api/v1/kbs/docs").status_code == 200
    assert team.call("admin", "DELETE", "/api/v1/kbs/docs").status_code == 204
    assert team.call("admin", "GET", "/api/v1/sources").json() == []

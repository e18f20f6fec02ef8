"""Schemathesis over the REST API's OpenAPI schema: requests generated from what the
schema says each route takes (positive) and from what it refuses (negative: ids past any
integer SQLite holds, wrong types, missing fields), sent to the real app, in local mode and
with accounts on as an admin. Zero 500s: a 500 is a bug in Sabio. Bounded: a few
examples per operation, so the whole pass takes about a minute."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fake_servers import closed_port
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from sabio.config import load_settings
from sabio.server import create_app

schemathesis.openapi.media_type(  # the bodies of the extension's routes (saving, a PDF)
    "application/pdf", st.one_of(st.binary(max_size=2000), st.just(b"%PDF-1.4\n%%EOF"))
)
schemathesis.openapi.media_type("text/html", st.text(max_size=2000).map(str.encode))

EXAMPLES = 10
"""Examples per operation and mode (CI time: about 40 operations)."""
LOCAL_HOST = {"Host": "127.0.0.1"}
WHOLE_DIRECTORY = {"/api/v1/data/import", "/api/v1/data/purge"}
"""Left out: they replace or empty the whole data directory (the fixture's accounts and
notes with it), and an import's body is a tar archive; tests/test_privacy.py and
tests/test_data_api.py send them bad archives and wrong confirmations."""


@pytest.fixture(scope="module", params=["local", "accounts"])
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[FastAPI, TestClient, dict[str, str]]]:
    """The app, started, with a knowledge base holding a note; and the headers every
    request carries (an admin's API token with accounts on)."""
    home = tmp_path_factory.mktemp(request.param) / "home"
    accounts = request.param == "accounts"
    app = create_app(
        load_settings(
            {
                "home": home,
                "embedding_model": "fake:words",
                "chat_model": "fake:cite",
                "ollama_host": f"127.0.0.1:{closed_port()}",
                "auth": accounts,
            },
            environ={},
        ),
        run_worker=False,
    )
    with TestClient(app, base_url="http://127.0.0.1", client=("127.0.0.1", 50000)) as client:
        headers = dict(LOCAL_HOST)
        if accounts:
            made = client.post(
                "/api/v1/auth/setup", json={"name": "ana", "password": "a long password"}
            )
            client.headers["X-CSRF-Token"] = made.json()["csrf_token"]
        _notes(client, headers)
        yield app, client, headers


def _notes(client: TestClient, headers: dict[str, str]) -> None:
    """A token for the admin when there is none (a fuzzed DELETE /auth/tokens/{id} may
    have revoked it), and the knowledge base 'notes' with a note when it is gone."""
    if client.app.state.services.settings.auth:  # type: ignore[attr-defined]
        kept = {t["name"] for t in client.get("/api/v1/auth/tokens").json()}  # by the cookie
        if "fuzz" not in kept:
            made = client.post("/api/v1/auth/tokens", json={"name": "fuzz"}).json()
            headers["Authorization"] = f"Bearer {made['token']}"
    if client.get("/api/v1/kbs/notes", headers=headers).status_code == 404:
        client.post("/api/v1/kbs", json={"name": "notes"}, headers=headers)
        files = {"files": ("faro.txt", b"El faro guia a los barcos.", "text/plain")}
        client.post("/api/v1/kbs/notes/documents", files=files, headers=headers)


def test_no_request_makes_the_api_fail(running: tuple[FastAPI, TestClient, dict[str, str]]) -> None:
    app, client, headers = running
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=LOCAL_HOST)
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    operations = [
        operation
        for operation in (result.ok() for result in schema.get_all_operations())
        if operation.path not in WHOLE_DIRECTORY
    ]
    assert len(operations) > 30
    for operation, mode in itertools.product(operations, GenerationMode):
        _notes(client, headers)

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def call(case: Any) -> None:
            response = case.call(headers=dict(headers))  # (it adds to the dict it is given)
            statuses[response.status_code] += 1
            if response.status_code == 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.text[:200]}")

        try:
            call()
        except Unsatisfiable:  # nothing to get wrong (a route without parameters)
            assert mode is GenerationMode.NEGATIVE
    assert failures == []
    assert statuses[200] + statuses[201] + statuses[204] > 50, statuses  # it got past the guard

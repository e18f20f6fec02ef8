"""Uploads reviewed on arrival: files uploaded (REST, the web app's upload) into a
knowledge base whose review is on (``kb.review``: `sabio kb set --review`, PATCH) give an
alert for each with findings, as a source's review on arrival does; off, none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_servers import closed_port
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from sabio.cli import app
from sabio.config import load_settings
from sabio.server import create_app

PASSWORD = "Tr0ub4dor&3x-9"
API = "/api/v1/kbs"


def test_uploads_into_a_knowledge_base_whose_review_is_on_raise_alerts(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "home": tmp_path / "home",
            "embedding_model": "fake:words",
            "ollama_host": f"127.0.0.1:{closed_port()}",
        },
        environ={},
    )
    secret = ("vpn.txt", f"VPN\npassword: {PASSWORD}\n".encode())
    clean = ("acta.txt", "Acta de la reunión: nada que ocultar.\n".encode())
    with TestClient(create_app(settings, run_worker=False), base_url="http://127.0.0.1:11435") as c:
        for name in ("correo", "otra"):
            c.post(API, json={"name": name})
        changed = c.patch(f"{API}/correo", json={"review": True})
        assert changed.status_code == 200, changed.text
        assert changed.json()["review"] is True and changed.json()["ocr_languages"] == ""
        assert c.get(f"{API}/otra").json()["review"] is False
        c.post(f"{API}/otra/documents", files=[("files", secret)])
        assert c.get(f"{API}/otra/review/alerts").json() == []  # review off: no alert
        uploaded = c.post(f"{API}/correo/documents", files=[("files", secret), ("files", clean)])
        assert [f["status"] for f in uploaded.json()["files"]] == ["indexed", "indexed"]
        [alert] = c.get(f"{API}/correo/review/alerts", params={"unseen": True}).json()
        assert (alert["name"], alert["counts"], alert["severity"]) == (
            "vpn.txt",
            {"password": 1},
            "high",
        )
        again = c.post(f"{API}/correo/documents", files=[("files", secret)])  # unchanged
        assert again.json()["files"][0]["outcome"] == "unchanged"
        assert len(c.get(f"{API}/correo/review/alerts").json()) == 1
        assert PASSWORD not in json.dumps(alert)
        c.patch(f"{API}/correo", json={"review": False})
        c.post(f"{API}/correo/documents", files=[("files", ("otra.txt", secret[1] + b"x\n"))])
        assert len(c.get(f"{API}/correo/review/alerts").json()) == 1
        wrong = c.patch(f"{API}/correo", json={"review": "maybe"})
        assert wrong.status_code == 422 and c.get(f"{API}/correo").json()["review"] is False


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SABIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SABIO_EMBEDDING_MODEL", "fake:words")
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    return CliRunner()


def test_sabio_kb_set_turns_the_review_of_uploads_on_and_off(cli: CliRunner) -> None:
    assert cli.invoke(app, ["kb", "create", "correo"]).exit_code == 0
    on = cli.invoke(app, ["kb", "set", "correo", "--review"])
    assert on.exit_code == 0 and "uploads are reviewed as they arrive" in on.output
    [kb] = json.loads(cli.invoke(app, ["kb", "list", "--json"]).stdout)
    assert kb["review"] is True and kb["ocr_languages"] == ""
    off = cli.invoke(app, ["kb", "set", "correo", "--no-review"])
    assert "uploads are not reviewed" in off.output
    [kb] = json.loads(cli.invoke(app, ["kb", "list", "--json"]).stdout)
    assert kb["review"] is False
    missing = cli.invoke(app, ["kb", "set", "nada", "--review"])
    assert missing.exit_code != 0 and "no knowledge base called 'nada'" in missing.output

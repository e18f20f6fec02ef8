"""A source's ``on_new`` (sabio.sources.automation): every new file of a watched folder
extracted (or summarized) by a task job of the worker, the result posted to a real
webhook receiver on loopback and written into a folder; the chat model scripted at the
edge (test_extract's ``scripted:`` backend)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_servers import FakeServer, closed_port
from test_extract import INVOICE, SCHEMA, Scripted
from typer.testing import CliRunner

from sabio.cli import app
from sabio.config import Settings, load_settings
from sabio.errors import ConfigError
from sabio.service import Sabio
from sabio.worker import Worker

HOOK = "/webhook/facturas"
SECOND = INVOICE.replace("Talleres Gómez S.L.", "Ferretería Ruiz").replace("1.452,00", "99,00")


def _settings(tmp_path: Path) -> Settings:
    return load_settings(
        {"home": tmp_path / "home", "embedding_model": "fake:words", "chat_model": "scripted:4096"},
        environ={},
    )


@pytest.fixture
def receiver() -> Iterator[FakeServer]:
    with FakeServer() as server:
        server.route("POST", HOOK, lambda request: (200, {"ok": True}))
        yield server


def _run(sabio: Sabio) -> None:
    worker = Worker(sabio, watch=False)
    try:
        worker.run_pending()  # the sync, then the tasks it queued
    finally:
        worker.stop()


def _posts(server: FakeServer) -> list[dict[str, Any]]:
    return [r.json for r in server.requests if (r.method, r.path) == ("POST", HOOK)]


def test_each_new_file_is_extracted_posted_and_written(
    tmp_path: Path, receiver: FakeServer
) -> None:
    inbox, out = tmp_path / "facturas", tmp_path / "json"
    inbox.mkdir()
    (inbox / "gomez.txt").write_text(INVOICE, encoding="utf-8")
    sabio = Sabio(_settings(tmp_path))
    try:
        on_new = {
            "task": "extract",
            "options": {"schema": SCHEMA},
            "webhook_url": receiver.url + HOOK,
            "output": str(out),
        }
        source, _ = sabio.add_source("folder", str(inbox), options={"on_new": on_new})
        assert source.options["on_new"]["options"]["schema"] == SCHEMA
        Scripted.replies = ['{"seller": "Talleres Gómez S.L.", "total": 1452, "currency": "EUR"}']
        _run(sabio)
        [post] = _posts(receiver)
        assert (post["event"], post["task"], post["kb"]) == ("task.done", "extract", "default")
        assert post["source_id"] == source.id and post["document"].endswith("gomez.txt")
        assert post["result"]["valid"] and post["result"]["data"]["total"] == 1452
        assert "Talleres Gómez S.L." in post["markdown"]
        lines = (out / "extracted.jsonl").read_text(encoding="utf-8").splitlines()
        assert [json.loads(line)["data"]["seller"] for line in lines] == ["Talleres Gómez S.L."]
        task = next(j for j in sabio.jobs.recent() if j.kind == "task")
        assert task.status == "done" and task.message == "done and delivered"

        # a second file: only it is extracted; the first, unchanged, is not again
        (inbox / "ruiz.txt").write_text(SECOND, encoding="utf-8")
        sabio.sync_source(source.id)
        Scripted.replies = ['{"seller": "Ferretería Ruiz", "total": 99, "currency": "EUR"}']
        _run(sabio)
        assert [p["result"]["data"]["seller"] for p in _posts(receiver)] == [
            "Talleres Gómez S.L.",
            "Ferretería Ruiz",
        ]
        lines = (out / "extracted.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(lines) == 2 and all(json.loads(line)["valid"] for line in lines)
    finally:
        sabio.close()


def test_a_webhook_that_is_down_is_said_in_the_job(tmp_path: Path) -> None:
    inbox = tmp_path / "informes"
    inbox.mkdir()
    (inbox / "informe.txt").write_text(INVOICE, encoding="utf-8")
    sabio = Sabio(_settings(tmp_path))
    try:
        down = f"http://127.0.0.1:{closed_port()}/hook"
        on_new = {"task": "summarize", "webhook_url": down, "output": str(tmp_path / "out")}
        sabio.add_source("folder", str(inbox), options={"on_new": on_new})
        Scripted.replies = ["Talleres Gómez S.L. invoiced 1.452,00 EUR [1]."]
        _run(sabio)
        task = next(j for j in sabio.jobs.recent() if j.kind == "task")
        assert task.status == "done"
        assert task.message.startswith(f"done, but the webhook {down} did not answer")
        summary = (tmp_path / "out" / "informe.summary.md").read_text(encoding="utf-8")
        assert "Talleres Gómez S.L. invoiced 1.452,00 EUR [1]." in summary  # still written
    finally:
        sabio.close()


@pytest.mark.parametrize(
    ("on_new", "problem"),
    [
        ({"task": "dance"}, "task"),
        ({"task": "summarize", "options": {"length": "epic"}}, "epic"),
        ({"task": "extract", "webhook_url": "ftp://example.com/x"}, "http"),
        ({"task": "translate", "colour": "red"}, "colour"),
    ],
)
def test_a_bad_on_new_adds_no_source(tmp_path: Path, on_new: dict[str, Any], problem: str) -> None:
    (tmp_path / "inbox").mkdir()
    sabio = Sabio(_settings(tmp_path))
    try:
        with pytest.raises(ConfigError, match=problem):
            sabio.add_source("folder", str(tmp_path / "inbox"), options={"on_new": on_new})
        assert sabio.list_sources() == []
    finally:
        sabio.close()


def test_sabio_source_add_with_on_new(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    schema = tmp_path / "factura.json"
    schema.write_text(json.dumps(SCHEMA), encoding="utf-8")
    home = ["--home", str(tmp_path / "home")]
    env = {"SABIO_EMBEDDING_MODEL": "fake:words"}
    added = CliRunner().invoke(
        app,
        [
            *home,
            "source",
            "add",
            "folder",
            str(tmp_path / "inbox"),
            "--on-new",
            "extract",
            "--task-option",
            f"schema={schema}",
            "--webhook-url",
            "http://127.0.0.1:5678/webhook/facturas",
            "--output",
            str(tmp_path / "json"),
            "--json",
        ],
        env=env,
    )
    assert added.exit_code == 0, added.output
    kept = json.loads(added.stdout)["options"]["on_new"]
    assert kept["task"] == "extract" and kept["options"]["schema"] == SCHEMA  # the file, read
    assert kept["output"] == str(tmp_path / "json")
    bad = CliRunner().invoke(
        app, [*home, "source", "add", "folder", str(tmp_path / "inbox"), "--output", "x"], env=env
    )
    assert bad.exit_code != 0 and "go with --on-new" in bad.output

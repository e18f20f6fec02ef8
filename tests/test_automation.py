"""A source's ``on_new`` (sabio.sources.automation): every new file of a watched folder
extracted (or summarized) by a task job of the worker, the result posted to a real
webhook receiver on loopback and written into a folder; the chat model scripted at the
edge (test_extract's ``scripted:`` backend)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_servers import FakeServer, Request, closed_port
from test_extract import INVOICE, SCHEMA, Scripted
from typer.testing import CliRunner

from sabio.cli import app
from sabio.config import Settings, load_settings
from sabio.errors import ConfigError
from sabio.jobs import Job
from sabio.service import Sabio
from sabio.sources.automation import DELIVERY_DELAYS_S, post_result
from sabio.tasks.jobs import load_result
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
        task = _job(sabio, "task")
        delivery = _job(sabio, "deliver")
        assert task.status == "done"
        assert task.message == f"done; posting to the webhook is job {delivery.id}"
        assert (delivery.status, delivery.message) == ("done", f"delivered to {receiver.url}{HOOK}")

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


def _job(sabio: Sabio, kind: str) -> Job:
    return next(j for j in sabio.jobs.recent() if j.kind == kind)


def _due_now(sabio: Sabio, job: Job) -> None:
    """Its next try made due now: the wait it was given is checked, not waited out."""
    sabio.store.db.execute("UPDATE job SET run_after=0 WHERE id=?", (job.id,))


def _summarized(tmp_path: Path, sabio: Sabio, url: str) -> None:
    """A folder source whose new file is summarized, written to out/ and posted to ``url``."""
    inbox = tmp_path / "informes"
    inbox.mkdir()
    (inbox / "informe.txt").write_text(INVOICE, encoding="utf-8")
    on_new = {"task": "summarize", "webhook_url": url, "output": str(tmp_path / "out")}
    sabio.add_source("folder", str(inbox), options={"on_new": on_new})
    Scripted.replies = ["Talleres Gómez S.L. invoiced 1.452,00 EUR [1]."]


def test_a_webhook_that_fails_first_gets_the_result_on_a_later_try(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    answers = iter([503])  # then 200: a receiver being restarted

    def flaky(request: Request) -> tuple[int, dict[str, Any]]:
        return next(answers, 200), {"ok": True}

    sabio = Sabio(_settings(tmp_path))
    with FakeServer() as receiver:
        receiver.route("POST", HOOK, flaky)
        try:
            _summarized(tmp_path, sabio, receiver.url + HOOK)
            with caplog.at_level(logging.WARNING, logger="sabio.worker"):
                _run(sabio)
            delivery = _job(sabio, "deliver")
            assert (delivery.status, delivery.attempts) == ("queued", 1)
            assert delivery.error == f"the webhook {receiver.url}{HOOK} answered 503"
            assert delivery.message == "attempt 1 failed; retrying in 5 s"
            assert delivery.run_after > time.time()  # backing off, not at once
            assert "answered 503; trying again in 5 s" in caplog.text  # and in the log
            _due_now(sabio, delivery)
            _run(sabio)
            delivery = sabio.jobs.get(delivery.id)
            assert delivery.status == "done" and delivery.message.endswith("(try 2)")
            first, second = _posts(receiver)
            assert first == second and "1.452,00 EUR" in second["markdown"]  # the same result
        finally:
            sabio.close()


def test_a_webhook_that_stays_down_is_tried_three_times_and_nothing_is_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sabio = Sabio(_settings(tmp_path))
    try:
        down = f"http://127.0.0.1:{closed_port()}/hook"
        _summarized(tmp_path, sabio, down)
        with caplog.at_level(logging.WARNING, logger="sabio.worker"):
            _run(sabio)
            for waited in DELIVERY_DELAYS_S:
                delivery = _job(sabio, "deliver")
                assert delivery.status == "queued" and f"retrying in {waited:.0f} s" in (
                    delivery.message
                )
                _due_now(sabio, delivery)
                _run(sabio)
        delivery = _job(sabio, "deliver")
        assert (delivery.status, delivery.attempts) == ("failed", 3)  # bounded
        assert delivery.error.startswith(f"the webhook {down} did not answer")
        assert caplog.text.count("did not answer") == 3 and "given up after 3 tries" in caplog.text
        task = _job(sabio, "task")
        assert task.status == "done"
        summary = (tmp_path / "out" / "informe.summary.md").read_text(encoding="utf-8")
        assert "Talleres Gómez S.L. invoiced 1.452,00 EUR [1]." in summary  # still written
        result = load_result(sabio.settings.home, task.id)  # and still at its /result
        assert "1.452,00 EUR" in result["items"][0]["summary"]
    finally:
        sabio.close()


def test_a_webhook_that_refuses_is_not_tried_again(tmp_path: Path, receiver: FakeServer) -> None:
    sabio = Sabio(_settings(tmp_path))
    try:
        _summarized(tmp_path, sabio, receiver.url + "/webhook/typo")  # the fake answers 404
        _run(sabio)
        delivery = _job(sabio, "deliver")
        assert (delivery.status, delivery.attempts) == ("failed", 1)
        assert delivery.error == f"the webhook {receiver.url}/webhook/typo answered 404"
    finally:
        sabio.close()


def test_a_later_try_posts_only_the_documents_not_taken(receiver: FakeServer) -> None:
    answers = iter([200, 500])
    receiver.route("POST", "/some", lambda request: (next(answers, 200), {"ok": True}))
    items = [{"document": f"/{n}.txt", "summary": f"Summary {n}.", "claims": []} for n in "ab"]
    result = {"kind": "summarize", "items": items}
    taken: list[int] = []
    url = receiver.url + "/some"
    assert post_result(url, result, {"kb": "default"}, sent=taken.append) == (
        f"the webhook {url} answered 500",
        True,
    )
    assert taken == [1]
    assert post_result(url, result, {"kb": "default"}, start=1, sent=taken.append) == ("", False)
    assert taken == [1, 2]
    posted = [r.json["document"] for r in receiver.requests if r.path == "/some"]
    assert posted == ["/a.txt", "/b.txt", "/b.txt"]  # a.txt once


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

"""`sabio report` (sabio.tables.report): a report over a folder of CSV files, its figures
checked against the same sums done here with the csv module, not Sabio's engine."""

from __future__ import annotations

import csv
import os
import time
import xml.etree.ElementTree as ET
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from fake_servers import closed_port
from typer.testing import CliRunner

from sabio.cli import app

ROWS = [
    ("03/01/2024", "Madrid", "luz", "1.234,50"),
    ("15/01/2024", "Sevilla", "agua", "980,00"),
    ("28/02/2024", "Madrid", "agua", "12,50"),
    ("01/03/2024", "Jaén", "luz", "100,00"),
    ("09/03/2024", "Sevilla", "luz", "7,25"),
    ("30/03/2024", "Madrid", "gas", "40,00"),
]


def _amount(text: str) -> Decimal:
    return Decimal(text.replace(".", "").replace(",", "."))


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SABIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SABIO_EMBEDDING_MODEL", "fake:words")
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    docs = tmp_path / "docs"
    docs.mkdir()
    with (docs / "gastos.csv").open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow(["fecha", "provincia", "concepto", "importe", "nivel"])
        writer.writerows((*row, "7") for row in ROWS)  # one level all along: not a measure
    (docs / "notas.csv").write_text("nombre,apodo\nAna,La Jefa\nLuis,Lucho\n", encoding="utf-8")
    assert CliRunner().invoke(app, ["add", str(docs)]).exit_code == 0
    return docs


def test_a_report_over_csv_files_computes_every_figure_it_shows(folder: Path) -> None:
    out = folder.parent / "informe.md"
    done = CliRunner().invoke(app, ["report", "--out", str(out), "--language", "es"])
    assert done.exit_code == 0, done.output
    text = out.read_text(encoding="utf-8")
    total = sum(_amount(r[3]) for r in ROWS)
    assert "# Informe sobre las tablas de default" in text and "2 tablas" in text
    assert "6 filas de gastos.csv; columnas: fecha, provincia, concepto, importe, nivel." in text
    assert "nivel)" not in text  # nothing added up or averaged over it
    assert f"| total_importe | {total} |" in text and "| filas | 6 |" in text
    by_month = Counter[str]()
    for day, *_, amount in ROWS:
        by_month[f"2024-{day[3:5]}"] += _amount(amount)  # type: ignore[assignment]
    for month, value in by_month.items():
        assert f"| {month} | {value} |" in text
    by_province = Counter[str]()
    for _, province, _, amount in ROWS:
        by_province[province] += _amount(amount)  # type: ignore[assignment]
    top = sorted(by_province.items(), key=lambda kv: (-kv[1], kv[0]))
    table = "\n".join(f"| {p} | {v} |" for p, v in top)
    assert table in text  # every province, the largest first
    assert "```sql\nSELECT" in text and text.count("De gastos.csv.") == 3
    charts = sorted((folder.parent / "informe_charts").glob("*.svg"))
    assert len(charts) == 2 and "![" in text  # the months' line, the provinces' bars
    labels = [ET.fromstring(c.read_text(encoding="utf-8")).get("aria-label") for c in charts]
    assert labels == [
        "Gráfico de líneas: total_importe por mes (3)",
        "Gráfico de barras: total_importe por provincia (3)",
    ]
    # the table of names has no measure, no date and no repeated category: its row count
    assert "2 filas de notas.csv" in text


def test_the_html_report_is_one_file_with_its_charts_inline(folder: Path) -> None:
    out = folder.parent / "report.html"
    done = CliRunner().invoke(app, ["report", "--out", str(out), "--language", "en"])
    assert done.exit_code == 0, done.output
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and '<html lang="en">' in page
    assert page.count("<svg ") == 2 and "<script" not in page
    assert "Top 5 provincia by total_importe" in page and "From gastos.csv." in page
    printed = CliRunner().invoke(app, ["report"])
    assert printed.exit_code == 0 and "## gastos" in printed.output and "![" not in printed.output


def test_the_api_serves_the_report_sandboxed(folder: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from sabio.config import load_settings
    from sabio.server import create_app

    settings = load_settings({}, environ=dict(os.environ))
    with TestClient(create_app(settings), base_url="http://127.0.0.1:11435") as client:
        page = client.get("/api/v1/kbs/default/report", params={"language": "es"})
        text = client.get("/api/v1/kbs/default/report", params={"format": "markdown"})
        missing = client.get("/api/v1/kbs/nada/report")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == "sandbox"
    assert "Los 5 primeros provincia por total_importe" in page.text
    assert page.text.count("<svg ") == 2
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/markdown")
    assert "## gastos" in text.text and "| total_importe |" in text.text
    assert missing.status_code == 404


def test_a_scheduled_report_is_written_by_the_worker_and_queued_again(folder: Path) -> None:
    from sabio.config import load_settings
    from sabio.service import Sabio
    from sabio.worker import Worker

    reports = folder.parent / "informes"
    cli = CliRunner()
    every = ["report", "--to-folder", str(reports), "--every", "1d", "--language", "es"]
    queued = cli.invoke(app, every)
    assert queued.exit_code == 0 and "every 1d" in queued.output, queued.output
    sabio = Sabio(load_settings({}, environ=dict(os.environ)))
    worker = Worker(sabio, watch=False)
    try:
        assert worker.run_pending() == 1  # today's; tomorrow's waits
        [written] = reports.glob("default-report-*.html")
        page = written.read_text(encoding="utf-8")
        assert "Informe sobre las tablas de default" in page and page.count("<svg ") == 2
        waiting = [j for j in sabio.jobs.recent() if j.kind == "report" and j.status == "queued"]
        assert len(waiting) == 1 and waiting[0].run_after > time.time() + 86_000
        assert worker.run_pending() == 0
    finally:
        worker.stop()
        sabio.close()
    stopped = cli.invoke(app, ["report", "--stop"])
    assert stopped.exit_code == 0 and "1 scheduled report stopped" in stopped.output
    once = cli.invoke(app, ["report", "--to-folder", str(reports), "--markdown"])
    assert once.exit_code == 0 and "then every" not in once.output


def test_a_scheduled_report_is_posted_to_its_webhook(folder: Path) -> None:
    from fake_servers import FakeServer

    from sabio.config import load_settings
    from sabio.service import Sabio
    from sabio.worker import Worker

    cli = CliRunner()
    both = cli.invoke(app, ["report", "--to-folder", "x", "--to-webhook", "http://h/"])
    assert both.exit_code != 0 and "--to-folder or --to-webhook" in both.output
    assert cli.invoke(app, ["report", "--to-webhook", "ftp://h/"]).exit_code != 0
    with FakeServer() as hook:
        hook.route("POST", "/hook", lambda request: (200, {"ok": True}))
        for path in ("/hook", "/gone"):  # the second one answers 404
            sent = ["report", "--to-webhook", hook.url + path, "--markdown", "--language", "es"]
            assert cli.invoke(app, sent).exit_code == 0
        sabio = Sabio(load_settings({}, environ=dict(os.environ)))
        worker = Worker(sabio, watch=False)
        try:
            assert worker.run_pending() == 2
            jobs = {j.payload["webhook"].rsplit("/", 1)[1]: j for j in sabio.jobs.recent()}
        finally:
            worker.stop()
            sabio.close()
    [request] = [r for r in hook.requests if r.path == "/hook"]
    assert request.json["kb"] == "default" and request.json["format"] == "markdown"
    assert request.json["title"] == "Informe sobre las tablas de default"
    assert "## gastos" in request.json["content"] and request.json["tables"] == 2
    assert jobs["hook"].status == "done" and jobs["hook"].message == "1 sent"
    assert jobs["gone"].status != "done" and "it answered 404" in jobs["gone"].error

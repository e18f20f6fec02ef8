"""Each knowledge base's OCR languages: set with `sabio kb create/set` and the API, used
when its scans are read, an unknown language pack refused with nothing changed."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from conftest import need_data
from fake_servers import closed_port
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from sabio.cli import app
from sabio.config import load_settings
from sabio.server import create_app
from sabio.service import Sabio
from sabio.worker import Worker

pytestmark = pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="Tesseract is not installed (scripts/install.sh)"
)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SABIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SABIO_EMBEDDING_MODEL", "fake:words")
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    return CliRunner()


def _brochure_top() -> Image.Image:
    """The title and first paragraph of the scanned brochure, at 300 dpi."""
    pdf = pdfium.PdfDocument(need_data("documents", "pdf", "ocrmypdf_scans", "linn.pdf"))
    try:
        page = pdf[0]
        image: Image.Image = page.render(scale=300 / 72, grayscale=True).to_pil()
        page.close()
    finally:
        pdf.close()
    return image.crop((0, 0, image.width, image.height * 22 // 100))


def _mixed_pdf(scan: Image.Image) -> bytes:
    """A page with a text layer (a pdf.js test file), then the scan: its OCR is a job."""
    merged = pdfium.PdfDocument.new()
    scanned = io.BytesIO()
    scan.save(scanned, format="PDF", resolution=300)
    for part in (need_data("documents", "pdf", "pdfjs", "issue6132.pdf"), scanned.getvalue()):
        source = pdfium.PdfDocument(part)
        merged.import_pages(source)
        source.close()
    out = io.BytesIO()
    merged.save(out)
    merged.close()
    return out.getvalue()


def test_a_scan_added_to_a_knowledge_base_is_read_with_its_languages(
    cli: CliRunner, tmp_path: Path
) -> None:
    made = cli.invoke(app, ["kb", "create", "escaneos", "--ocr-languages", "spa"])
    assert made.exit_code == 0, made.output
    assert "scans read as spa" in made.output
    scan = tmp_path / "linn.pdf"
    shutil.copy(need_data("documents", "pdf", "ocrmypdf_scans", "linn.pdf"), scan)
    added = cli.invoke(app, ["add", str(scan), "--kb", "escaneos"], env={"COLUMNS": "200"})
    assert added.exit_code == 0, added.output
    [document] = json.loads(cli.invoke(app, ["docs", "--kb", "escaneos", "--json"]).stdout)
    assert document["metadata"]["ocr_languages"] == "spa"
    assert document["metadata"]["ocr_pages"] == "1"

    refused = cli.invoke(app, ["kb", "set", "escaneos", "--ocr-languages", "spa+klingon"])
    assert refused.exit_code != 0
    assert "no language pack 'klingon'" in refused.output
    [kb] = json.loads(cli.invoke(app, ["kb", "list", "--json"]).stdout)
    assert kb["ocr_languages"] == "spa"  # nothing changed

    changed = cli.invoke(app, ["kb", "set", "escaneos", "--ocr-languages", "eng"])
    assert changed.exit_code == 0, changed.output
    [kb] = json.loads(cli.invoke(app, ["kb", "list", "--json"]).stdout)
    assert kb["ocr_languages"] == "eng"


def test_the_api_sets_a_knowledge_bases_ocr_languages_and_uploads_use_them(
    tmp_path: Path,
) -> None:
    settings = load_settings(
        {"home": tmp_path / "home", "embedding_model": "fake:words", "workers": 1}, environ={}
    )
    app = create_app(settings, run_worker=False)  # the OCR job is run below, by a worker
    with TestClient(app, base_url="http://127.0.0.1:11435") as client:
        refused = client.post("/api/v1/kbs", json={"name": "scans", "ocr_languages": "xx"})
        assert refused.status_code == 400
        assert refused.json()["error"]["key"] == "ocr_language_unknown"
        assert client.get("/api/v1/kbs").json() == []  # nothing made
        made = client.post("/api/v1/kbs", json={"name": "scans", "ocr_languages": "spa"})
        assert made.status_code == 201 and made.json()["ocr_languages"] == "spa"
        bad = client.patch("/api/v1/kbs/scans", json={"ocr_languages": "eng+xx"})
        assert bad.json()["error"]["args"] == {"languages": "xx", "installed": "eng, spa"}
        assert client.get("/api/v1/kbs/scans").json()["ocr_languages"] == "spa"
        changed = client.patch("/api/v1/kbs/scans", json={"ocr_languages": "eng"})
        assert changed.status_code == 200 and changed.json()["ocr_languages"] == "eng"
        scan = _brochure_top()
        png = io.BytesIO()
        scan.save(png, format="PNG")
        files = [
            ("files", ("folleto.png", png.getvalue())),
            ("files", ("mixto.pdf", _mixed_pdf(scan))),
        ]
        upload = client.post("/api/v1/kbs/scans/documents", files=files)
        assert [f["status"] for f in upload.json()["files"]] == ["indexed", "indexed"], upload.text
        worker = Worker(Sabio(settings), watch=False)  # the mixed PDF's scanned page
        assert worker.run_pending() == 1
        worker.stop()
    sabio = Sabio(settings)
    read = {Path(d.source).name: d.metadata for d in sabio.documents("scans")}
    assert read["folleto.png"]["ocr_languages"] == "eng"
    assert read["mixto.pdf"]["ocr_pages"] == "2" and read["mixto.pdf"]["ocr_languages"] == "eng"
    sabio.close()

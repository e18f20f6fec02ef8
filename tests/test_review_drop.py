"""Dropping a found secret from the index (sabio.review.drop), over real SQLite and the
real embedded MiniLM: a search no longer finds it, the stored text shows it masked at its
length, the file on disk keeps it; a wrong fingerprint changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_servers import closed_port
from typer.testing import CliRunner

from sabio.chunking import Chunk
from sabio.cli import app
from sabio.config import load_settings
from sabio.review.drop import mask_passages
from sabio.review.findings import mask_in_place
from sabio.service import Sabio

EMBEDDER = "embedded:all-minilm-l6-v2"
AWS_KEY = "AKIA" + "IOSFODNN7Q2XK4BZ"
PASSWORD = "Tr0ub4dor&3x-9"
FILLER = "Notas de la reunión de infraestructura sobre copias de seguridad y accesos. " * 25


def _settings(home: Path) -> object:
    return load_settings(
        {"home": home, "embedding_model": EMBEDDER, "ollama_host": f"127.0.0.1:{closed_port()}"},
        environ={},
    )


def test_a_secret_across_two_passages_is_masked_in_both_at_its_length() -> None:
    text = "clave: " + AWS_KEY + " y nada más"
    at = text.index(AWS_KEY)
    cut = at + 8  # the key is split between the two overlapping passages
    chunks = [
        Chunk(text[:cut], 0, cut, None, "Claves", "Doc > Claves"),
        Chunk(text[at:], at, len(text), None, "Claves", f"Doc > Claves {AWS_KEY}"),
    ]
    first, second = mask_passages(chunks, [(at, at + len(AWS_KEY))])
    hidden = mask_in_place(AWS_KEY)
    assert hidden == "AKIA" + "*" * 16 and len(hidden) == len(AWS_KEY)
    assert first.text == "clave: " + hidden[:8] and second.text == hidden + " y nada más"
    assert AWS_KEY not in second.context and hidden in second.context
    assert (first.start, first.end, second.start) == (0, cut, at)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SABIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SABIO_EMBEDDING_MODEL", EMBEDDER)
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    return CliRunner()


def _found(sabio: Sabio, value: str) -> bool:
    return any(value in hit.text for hit in sabio.search(value, k=10).hits)


def test_sabio_review_drop_masks_the_secret_in_the_index_not_in_the_file(
    cli: CliRunner, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    text = f"{FILLER}\n\nAcceso a AWS\naws_access_key_id = {AWS_KEY}\n\n{FILLER}\n"
    (folder / "infra.txt").write_text(text, encoding="utf-8")
    (folder / "otra.txt").write_text(f"Copia de la clave {AWS_KEY}\n", encoding="utf-8")
    (folder / "vpn.txt").write_text(f"VPN\npassword: {PASSWORD}\n", encoding="utf-8")
    assert cli.invoke(app, ["add", str(folder)]).exit_code == 0
    sabio = Sabio(load_settings())
    assert _found(sabio, AWS_KEY) and _found(sabio, PASSWORD)
    found = json.loads(cli.invoke(app, ["review", "default", "--json"]).stdout)["findings"]
    [fingerprint] = {f["fingerprint"] for f in found if f["kind"] == "api_key"}

    wrong = cli.invoke(app, ["review", "default", "--drop", "0123456789abcdef"])
    assert wrong.exit_code != 0 and "no secret with fingerprint" in wrong.output
    assert _found(sabio, AWS_KEY)  # nothing changed

    dropped = cli.invoke(app, ["review", "default", "--drop", fingerprint, "--json"])
    assert dropped.exit_code == 0, dropped.output
    assert "indexed passages of 2 documents" in dropped.stderr
    assert "original files are unchanged" in dropped.stderr
    after = json.loads(dropped.stdout)
    assert "api_key" not in after["counts"] and after["counts"].get("password") == 1
    assert not _found(sabio, AWS_KEY) and _found(sabio, PASSWORD)
    assert all(h.keyword_rank is None for h in sabio.search(AWS_KEY).hits)
    doc = sabio.get_document(sabio.kb(None), str(folder / "infra.txt"))
    stored = "".join(page for _, page in sabio.store.document_pages(doc.kb_id, doc.id))
    assert AWS_KEY not in stored and f"aws_access_key_id = {mask_in_place(AWS_KEY)}" in stored
    assert (folder / "infra.txt").read_text(encoding="utf-8") == text
    index = tmp_path / "home" / "index"
    assert not any(AWS_KEY.lower() in p.read_text() for p in index.rglob("vocab-*.json"))
    sabio.close()


def test_the_drop_endpoint_refuses_a_wrong_fingerprint_and_drops_a_secret(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from sabio.server import create_app

    note = f"Acceso VPN\nusuario: ana\npassword: {PASSWORD}\nIBAN ES9121000418450200051332\n"
    api = "/api/v1/kbs/notas"
    app_ = create_app(_settings(tmp_path / "home"), run_worker=False)  # type: ignore[arg-type]
    with TestClient(app_, base_url="http://127.0.0.1:11435") as c:
        c.post("/api/v1/kbs", json={"name": "notas"})
        c.post(f"{api}/documents", files={"files": ("vpn.txt", note.encode())})
        findings = c.get(f"{api}/review").json()["findings"]
        password = next(f for f in findings if f["kind"] == "password")
        iban = next(f for f in findings if f["kind"] == "iban")
        chunk_id = c.get(f"{api}/search", params={"q": PASSWORD}).json()["hits"][0]["chunk_id"]
        wrong = c.post(f"{api}/review/drops", json={"fingerprint": iban["fingerprint"]})
        assert (wrong.status_code, wrong.json()["error"]["key"]) == (404, "secret_fingerprint")
        assert PASSWORD in c.get(f"{api}/passages/{chunk_id}").json()["text"]
        done = c.post(f"{api}/review/drops", json={"fingerprint": password["fingerprint"]})
        assert done.status_code == 200, done.text
        assert done.json() == {"documents": ["vpn.txt"]}
        hits = c.get(f"{api}/search", params={"q": PASSWORD}).json()["hits"]
        assert hits and not any(PASSWORD in h["text"] for h in hits)
        shown = c.get(f"{api}/passages/{hits[0]['chunk_id']}").json()["text"]
        assert f"password: {mask_in_place(PASSWORD)}" in shown
        left = {f["kind"] for f in c.get(f"{api}/review").json()["findings"]}
        assert "password" not in left and "iban" in left


def _deck(path: Path, slides: list[str]) -> Path:
    from pptx import Presentation

    deck = Presentation()
    for i, text in enumerate(slides, 1):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = f"Diapositiva {i}"  # type: ignore[union-attr]
        slide.placeholders[1].text = text  # type: ignore[attr-defined]
    deck.save(str(path))
    return path


def test_a_findings_evidence_is_on_its_page_masked_among_its_lines(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from sabio.server import create_app

    deck = _deck(
        tmp_path / "claves.pptx",
        [
            "Presentación del proyecto",
            f"Acceso al panel\nusuario: ana\npassword: {PASSWORD}\nIBAN ES9121000418450200051332",
            "Preguntas",
        ],
    )
    settings = load_settings(
        {
            "home": tmp_path / "home",
            "embedding_model": "fake:words",
            "ollama_host": f"127.0.0.1:{closed_port()}",
        },
        environ={},
    )
    api = "/api/v1/kbs/notas/review"
    with TestClient(create_app(settings, run_worker=False), base_url="http://127.0.0.1:11435") as c:
        c.post("/api/v1/kbs", json={"name": "notas"})
        c.post("/api/v1/kbs/notas/documents", files={"files": ("claves.pptx", deck.read_bytes())})
        findings = {f["kind"]: f for f in c.get(api).json()["findings"]}
        password = findings["password"]
        key = {k: password[k] for k in ("document_id", "kind", "fingerprint", "start")}
        shown = c.get(f"{api}/evidence", params=key)
        assert shown.status_code == 200, shown.text
        evidence = shown.json()
        assert (evidence["page"], evidence["name"], evidence["masked"]) == (2, "claves.pptx", True)
        assert evidence["text"] == mask_in_place(PASSWORD) and evidence["line"] == password["line"]
        assert evidence["before"].endswith("usuario: ana\npassword: ")
        assert "Presentación" not in evidence["before"] and "Preguntas" not in evidence["after"]
        assert mask_in_place("ES9121000418450200051332") in evidence["after"]
        assert PASSWORD not in shown.text and "ES9121000418450200051332" not in shown.text
        c.post(f"{api}/drops", json={"fingerprint": password["fingerprint"]})
        gone = c.get(f"{api}/evidence", params=key)
        assert (gone.status_code, gone.json()["error"]["key"]) == (404, "finding_gone")
        other = c.get(f"{api}/evidence", params={**key, "document_id": 999})
        assert other.status_code == 404

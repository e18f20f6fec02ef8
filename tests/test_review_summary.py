"""The findings summarised (sabio.review.summary): a chat model sees only the findings,
masked, and what it writes is used only when every finding, document and value it
mentions is one of them; else the counted summary, saying why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_servers import closed_port
from typer.testing import CliRunner

from sabio.cli import app
from sabio.config import load_settings
from sabio.review import review_text
from sabio.review.scan import Report
from sabio.review.summary import check_summary, counted_summary, listed
from sabio.service import Sabio

PASSWORD = "Tr0ub4dor&3x-9"
IBAN = "ES9121000418450200051332"


def _report() -> Report:
    vpn = review_text(f"Acceso VPN\npassword: {PASSWORD}\n", "/docs/vpn.txt")
    pay = review_text(f"Nóminas\nIBAN {IBAN}\nDNI 12345678Z\n", "/docs/nominas.txt")
    return Report(documents=3, findings=[*vpn, *pay])


def test_a_summary_that_mentions_only_findings_passes_the_check() -> None:
    findings = listed(_report())
    assert [f.kind for f in findings] == ["password", "iban", "dni"]  # high first
    good = (
        "Change the password in vpn.txt first (Tr0****) [F1]; then nominas.txt holds an IBAN [F2]."
    )
    assert check_summary(good, findings) == []
    assert check_summary("All is well.", findings) == ["it cites no finding"]
    assert check_summary("A key [F1][F4].", findings) == ["it cites F4, which is not a finding"]
    assert check_summary("See claves.xlsx [F1].", findings) == [
        "it names claves.xlsx, a document without findings"
    ]
    assert check_summary("The key AKIA**** [F1].", findings) == [
        "it shows AKIA****, a value no finding has"
    ]


def test_the_counted_summary_in_both_languages() -> None:
    report = _report()
    english = counted_summary(report, "en")
    assert english.startswith("3 findings in 2 of 3 documents: 1 high, 2 medium, 0 low.")
    assert "Start with: password Tr0**** (vpn.txt)." in english
    assert PASSWORD not in english and IBAN not in english
    assert counted_summary(report, "es").startswith("3 hallazgos en 2 de 3 documentos")
    assert counted_summary(Report(documents=4), "es") == "Nada encontrado en 4 documentos."


@pytest.fixture
def sabio(tmp_path: Path) -> Sabio:
    settings = load_settings(
        {
            "home": tmp_path / "home",
            "embedding_model": "fake:words",
            "ollama_host": f"127.0.0.1:{closed_port()}",
        },
        environ={},
    )
    return Sabio(settings)


def test_the_model_sees_only_the_masked_findings_and_a_checked_summary_is_kept(
    sabio: Sabio,
) -> None:
    report = _report()
    done = sabio.summarize_review(report, "es", "fake:echo")
    assert done.model == "fake:echo" and done.refused == []
    [request] = sabio.chat_model("fake:echo").requests  # type: ignore[attr-defined]
    system, user = request
    assert "No añadas hallazgos" in system["content"]
    lines = user["content"].splitlines()
    assert [line.split(" · ")[0] for line in lines] == ["F1", "F2", "F3"]
    assert "vpn.txt, line 2 · Tr0****" in lines[0] and "Cámbiala" in lines[0]
    assert PASSWORD not in json.dumps(request) and IBAN not in json.dumps(request)
    assert done.text == user["content"]


def test_a_summary_that_invents_a_finding_is_replaced_by_the_counted_one(sabio: Sabio) -> None:
    report = _report()
    done = sabio.summarize_review(report, "en", "fake:overclaim")
    assert done.model == "" and done.text == counted_summary(report, "en")
    assert done.refused == [
        "it cites F99, which is not a finding",
        "it names claves.txt, a document without findings",
    ]
    silent = sabio.summarize_review(report, "en", "fake:made-up")
    assert silent.refused == ["it cites no finding"]
    unreachable = sabio.summarize_review(report, "en", "ollama:qwen3:4b")
    assert unreachable.text == counted_summary(report, "en")
    assert unreachable.refused and "not reachable" in unreachable.refused[0]
    sabio.close()


def test_sabio_review_summary_and_the_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from sabio.server import create_app

    monkeypatch.setenv("SABIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SABIO_EMBEDDING_MODEL", "fake:words")
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    note = tmp_path / "vpn.txt"
    note.write_text(f"VPN\npassword: {PASSWORD}\n", encoding="utf-8")
    cli = CliRunner()
    assert cli.invoke(app, ["add", str(note)]).exit_code == 0
    shown = cli.invoke(app, ["review", "default", "--summary", "-m", "fake:overclaim"])
    assert shown.exit_code == 0, shown.output
    assert "Summary" in shown.output and "counted from the findings" in shown.output
    assert "The model's summary was not used: it cites F99" in shown.output
    data = json.loads(
        cli.invoke(app, ["review", "default", "--summary", "-m", "fake:echo", "--json"]).stdout
    )
    assert data["summary"]["model"] == "fake:echo" and data["summary"]["text"].startswith(
        "F1 · high"
    )
    with TestClient(
        create_app(load_settings(), run_worker=False), base_url="http://127.0.0.1:11435"
    ) as c:
        answer = c.get(
            "/api/v1/kbs/default/review/summary",
            params={"language": "es", "model": "fake:overclaim"},
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"] == "" and answer.json()["text"].startswith("1 hallazgos")
    assert PASSWORD not in answer.text

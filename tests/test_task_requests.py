"""Tasks asked for in a question (sabio.tasks.requests): "resume el informe X" goes to the
summary, "translate X into English" to the translation, in `sabio ask` and through the
Ollama and OpenAI APIs; anything else is answered from passages, and the answer says
which route it took. A real 10-Q PDF; the chat model scripted at the edge."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from conftest import need_data, running_server
from test_extract import Scripted
from typer.testing import CliRunner

from sabio.cli import app
from sabio.config import Settings, load_settings
from sabio.server import create_app
from sabio.service import Sabio
from sabio.tasks.requests import asked_task

REPORT = ("rag_qa", "docugami_sec10q", "docs", "2022 Q3 AAPL.pdf")
DOCS = [
    (1, "/data/Informe_Anual-2023.pdf", "Informe anual 2023"),
    (2, "/data/contrato.docx", "Contrato de arrendamiento"),
    (3, "/data/notes.txt", ""),
]


@pytest.mark.parametrize(
    ("question", "kind", "document", "options"),
    [
        ("resume el informe anual 2023", "summarize", 1, {"length": "page"}),
        ("Resúmeme contrato.docx en pocas palabras", "summarize", 2, {"length": "short"}),
        ("Please summarize notes.txt in detail", "summarize", 3, {"length": "detailed"}),
        ("Can you summarize the contrato?", "summarize", 2, {"length": "page"}),
        ("haz un resumen del INFORME_ANUAL-2023.PDF", "summarize", 1, {"length": "page"}),
        ("translate Informe_Anual-2023.pdf to English", "translate", 1, {"to": "en"}),
        ("traduce el contrato al inglés", "translate", 2, {"to": "en"}),
        ("tradúceme notes al español", "translate", 3, {"to": "es"}),
        ("translate the contrato de arrendamiento", "translate", 2, {}),
    ],
)
def test_a_request_for_a_task_names_its_document(
    question: str, kind: str, document: int, options: dict[str, str]
) -> None:
    asked = asked_task(question, DOCS)
    assert asked is not None
    assert (asked.kind, asked.document_id, asked.options) == (kind, document, options)


@pytest.mark.parametrize(
    "question",
    [
        "¿Qué dice el resumen del informe anual 2023?",  # about its summary: a question
        "What is the summary of notes?",
        "¿Cuál es el plazo de preaviso del contrato?",
        "summarize the notice period rules",  # names no document
        "resume el documento",  # "the document", but there are three
    ],
)
def test_anything_else_is_a_question(question: str) -> None:
    assert asked_task(question, DOCS) is None


def test_the_document_is_enough_when_there_is_one() -> None:
    asked = asked_task("resume el documento", DOCS[:1])
    assert asked is not None and asked.document_id == 1


def _settings(tmp_path: Path) -> Settings:
    return load_settings(
        {
            "home": tmp_path / "home",
            "embedding_model": "fake:words",
            "chat_model": "scripted:100000",
        },
        environ={},
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    sabio = Sabio(_settings(tmp_path))
    sabio.add([need_data(*REPORT)])
    sabio.close()
    return tmp_path


def _ask(home: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app,
        ["--home", str(home / "home"), "ask", *args],
        env={"SABIO_CHAT_MODEL": "scripted:100000", "SABIO_EMBEDDING_MODEL": "fake:words"},
    )
    return result.exit_code, result.stdout, result.stderr


def test_sabio_ask_summarizes_a_named_document_citing_its_pages(home: Path) -> None:
    Scripted.replies = [
        "Apple reports net sales for the quarter [3]. Its cash is described later [12]."
    ]
    code, out, _ = _ask(home, "resume el 2022 Q3 AAPL", "--json")
    assert code == 0, out
    answer = json.loads(out)
    route = answer["route"]  # the whole report fits the model's context, by counted tokens
    assert (route["kind"], route["task"]) == ("document", "summarize")
    assert 10_000 < route["tokens"] <= route["budget"] < 100_000
    assert answer["text"] == (
        "Apple reports net sales for the quarter [1]. Its cash is described later [2]."
    )
    cited = [(c["number"], Path(c["document"]).name, c["page"]) for c in answer["citations"]]
    assert cited == [(1, "2022 Q3 AAPL.pdf", 3), (2, "2022 Q3 AAPL.pdf", 12)]
    assert [c["text"] for c in answer["claims"]][:1] == ["Apple reports net sales for the quarter."]

    Scripted.replies = ["Apple's revenue is given [1]."]
    code, out, err = _ask(home, "What were Apple's total net sales?", "-v")
    assert code == 0 and re.search(r"route: top-k passages, \d+ in [\d,]+ of [\d,]+ prompt", err)


def test_the_ollama_and_openai_apis_route_a_summary_request(home: Path) -> None:
    with running_server(create_app(_settings(home))) as url:
        Scripted.replies = ["Apple sold iPhones and Macs in the quarter [2]."]
        body = {
            "model": "kb/default",
            "messages": [{"role": "user", "content": "Summarize 2022 Q3 AAPL.pdf"}],
            "stream": False,
        }
        ollama = httpx.post(f"{url}/api/chat", json=body, timeout=60).json()
        text = ollama["message"]["content"]
        assert text.startswith("Apple sold iPhones and Macs in the quarter [1].")
        assert "2022 Q3 AAPL.pdf" in text  # its source, as for any answer
        Scripted.replies = ["Apple sold iPhones and Macs in the quarter [2]."]
        openai = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60).json()
        reply = openai["choices"][0]["message"]["content"]
        assert reply.startswith("Apple sold iPhones and Macs in the quarter [1].")


@pytest.fixture
def lease_home(tmp_path: Path) -> Path:
    (tmp_path / "lease.txt").write_text(
        "El inquilino paga 900 euros al mes. El contrato termina en 2025.", encoding="utf-8"
    )
    sabio = Sabio(_settings(tmp_path))
    sabio.add([tmp_path / "lease.txt"])
    sabio.close()
    return tmp_path


def test_translate_into_the_other_language_when_none_is_named(lease_home: Path) -> None:
    Scripted.replies = ["1. The tenant pays 900 euros a month. The lease ends in 2025."]
    code, out, _ = _ask(lease_home, "traduce lease.txt", "--json")
    assert code == 0, out
    answer = json.loads(out)
    assert answer["route"]["kind"] == "document" and answer["route"]["task"] == "translate"
    assert answer["text"].startswith("The tenant pays 900 euros a month.")  # into English
    assert [Path(c["document"]).name for c in answer["citations"]] == ["lease.txt"]

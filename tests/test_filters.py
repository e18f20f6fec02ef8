"""Filters a person can say (``--document``, ``--after``, ``--before``; the API's
``documents``, ``after``, ``before``), over real look-alike documents: four quarterly
reports (10-Q PDFs) of two companies, from ../shared/data, indexed for real (the fake
embedder of conftest.py only stands in for the embedding model)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import need_data, running_server
from fake_servers import closed_port
from typer.testing import CliRunner

from sabio.cli import app
from sabio.config import load_settings
from sabio.errors import ConfigError, NotFoundError
from sabio.filters import (
    DocumentFilter,
    document_date,
    filtered_document_ids,
    matches_name,
    parse_date,
)
from sabio.ingest import LoadedSource
from sabio.loaders import LoadedDocument, Section
from sabio.server import create_app
from sabio.service import Sabio
from sabio.store import DocumentRecord

API = "/api/v1"
REPORTS = {  # file: the day its file was last changed (the date a PDF is filtered by)
    "2022 Q3 AAPL.pdf": dt.date(2022, 7, 29),
    "2023 Q1 AAPL.pdf": dt.date(2023, 2, 3),
    "2022 Q3 NVDA.pdf": dt.date(2022, 11, 18),
    "2023 Q1 NVDA.pdf": dt.date(2023, 5, 26),
}
QUESTION = "total net sales revenue for the quarter"


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The four reports in a folder, each with its filing day as its modification time."""
    source = need_data("rag_qa", "docugami_sec10q", "docs")
    folder = tmp_path_factory.mktemp("reports")
    for name, day in REPORTS.items():
        shutil.copy(source / name, folder / name)
        noon = dt.datetime.combine(day, dt.time(12)).timestamp()
        os.utime(folder / name, (noon, noon))
    return folder


@pytest.fixture(scope="module")
def home(reports: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with the four reports indexed."""
    home = tmp_path_factory.mktemp("filters") / "home"
    sabio = Sabio(_settings(home))
    try:
        report = sabio.add([reports])
    finally:
        sabio.close()
    assert report.count("added") == len(REPORTS), report.problems
    return home


def _settings(home: Path) -> Any:
    values = {
        "home": home,
        "embedding_model": "fake:words",
        "chat_model": "fake:cite",
        "ollama_host": f"127.0.0.1:{closed_port()}",
    }
    return load_settings(values, environ={})


@pytest.fixture
def cli(home: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SABIO_HOME", str(home))
    monkeypatch.setenv("SABIO_EMBEDDING_MODEL", "fake:words")
    monkeypatch.setenv("SABIO_CHAT_MODEL", "fake:cite")
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    return CliRunner()


def _found(cli: CliRunner, *options: str) -> set[str]:
    result = cli.invoke(app, ["search", QUESTION, "--json", "-k", "20", *options])
    assert result.exit_code == 0, result.output
    return {Path(hit["document"]).name for hit in json.loads(result.stdout)}


def test_unfiltered_search_finds_passages_of_every_company(cli: CliRunner) -> None:
    assert {name.split()[-1] for name in _found(cli)} == {"AAPL.pdf", "NVDA.pdf"}


def test_document_by_glob_name_title_or_path_tail(cli: CliRunner, reports: Path) -> None:
    assert _found(cli, "--document", "*aapl*") == {"2022 Q3 AAPL.pdf", "2023 Q1 AAPL.pdf"}
    # case, spaces as underscores, no extension: still the file's name
    assert _found(cli, "--document", "2023_q1_nvda") == {"2023 Q1 NVDA.pdf"}
    assert _found(cli, "--doc", str(reports / "2022 Q3 NVDA.pdf")) == {"2022 Q3 NVDA.pdf"}
    both = _found(cli, "--document", "2022 Q3 AAPL.pdf", "--document", "*2023*NVDA*")
    assert both == {"2022 Q3 AAPL.pdf", "2023 Q1 NVDA.pdf"}


def test_dates_are_the_files_days_and_count_whole(cli: CliRunner) -> None:
    assert _found(cli, "--after", "2023") == {"2023 Q1 AAPL.pdf", "2023 Q1 NVDA.pdf"}
    assert _found(cli, "--before", "2022-07") == {"2022 Q3 AAPL.pdf"}  # 29 July: in July
    in_between = _found(cli, "--after", "2022-08-01", "--before", "2023-02-03")
    assert in_between == {"2022 Q3 NVDA.pdf", "2023 Q1 AAPL.pdf"}
    assert _found(cli, "--document", "*nvda*", "--after", "2023-01") == {"2023 Q1 NVDA.pdf"}


def test_a_filter_that_leaves_nothing_says_which(cli: CliRunner) -> None:
    result = cli.invoke(app, ["search", QUESTION, "--document", "contoso"])
    assert result.exit_code == 1
    assert "no document matches --document 'contoso'" in result.output
    assert "'*contoso*'" in result.output  # how to ask for part of a name
    result = cli.invoke(app, ["search", QUESTION, "--after", "2024"])
    assert result.exit_code == 1 and "no document matches --after 2024-01-01" in result.output
    result = cli.invoke(app, ["search", QUESTION, "--before", "2023-02-30"])
    assert result.exit_code == 1 and "is not a date: give 2023, 2023-03" in result.output
    result = cli.invoke(app, ["ask", QUESTION, "--after", "2024"])
    assert result.exit_code == 1 and "no document matches" in result.output


def test_chat_keeps_to_the_documents_for_every_question(cli: CliRunner) -> None:
    questions = f"{QUESTION}\n/exit\n"
    result = cli.invoke(app, ["chat", "--document", "*aapl*", "--after", "2023"], input=questions)
    assert result.exit_code == 0, result.output
    assert "Only in 1 document: --document '*aapl*' --after 2023-01-01." in result.output
    assert "2023 Q1 AAPL.pdf" in result.output and "NVDA" not in result.output
    result = cli.invoke(app, ["chat", "--document", "*msft*"], input=questions)
    assert result.exit_code == 1 and "no document matches --document '*msft*'" in result.output


def test_ask_cites_only_the_documents_it_may_use(cli: CliRunner) -> None:
    result = cli.invoke(app, ["ask", QUESTION, "--json", "--document", "2022 q3 nvda"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["citations"], answer
    assert {Path(c["document"]).name for c in answer["citations"]} == {"2022 Q3 NVDA.pdf"}


# the REST API, over real HTTP


@pytest.fixture
def url(home: Path) -> Iterator[str]:
    with running_server(create_app(_settings(home), run_worker=False)) as base:
        yield base + API


def _events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    assert response.status_code == 200, response.text
    blocks = [b for b in response.text.split("\n\n") if b.strip()]
    fields = [dict(line.split(": ", 1) for line in b.splitlines()) for b in blocks]
    return [(f["event"], json.loads(f["data"])) for f in fields]


def test_rest_search_filters(url: str) -> None:
    params: Any = {"q": QUESTION, "k": 20, "doc": ["*NVDA*"], "after": "2023"}
    hits = httpx.get(f"{url}/kbs/default/search", params=params).json()["hits"]
    assert hits and {h["document"] for h in hits} == {"2023 Q1 NVDA.pdf"}
    missing = httpx.get(f"{url}/kbs/default/search", params={"q": "x", "doc": "contoso"})
    assert missing.status_code == 404
    error = missing.json()["error"]
    assert error["key"] == "filter_no_document" and error["args"] == {"name": "contoso"}
    bad = httpx.get(f"{url}/kbs/default/search", params={"q": "x", "before": "2023-13"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "validation_error"
    assert "'before'" in bad.json()["error"]["message"]
    assert "is not a date" in bad.json()["error"]["message"]


def test_rest_ask_and_chat_answer_from_the_documents_named(url: str) -> None:
    body = {"question": QUESTION, "documents": ["2023 Q1 AAPL"]}
    answer = _events(httpx.post(f"{url}/kbs/default/ask", json=body, timeout=60))[-1][1]
    assert answer["citations"]
    assert {c["document"] for c in answer["citations"]} == {"2023 Q1 AAPL.pdf"}
    chat = httpx.post(f"{url}/chats", json={"kb": "default"}).json()
    body = {"question": QUESTION, "documents": ["*2022*"], "before": "2022-08"}
    sent = httpx.post(f"{url}/chats/{chat['id']}/messages", json=body, timeout=60)
    answer = _events(sent)[-1][1]
    assert {c["document"] for c in answer["citations"]} == {"2022 Q3 AAPL.pdf"}
    question = httpx.get(f"{url}/chats/{chat['id']}").json()["messages"][0]
    again = {"message_id": question["id"], "documents": ["*nvda*"], "after": "2023-05-26"}
    answer = _events(httpx.post(f"{url}/chats/{chat['id']}/regenerate", json=again))[-1][1]
    assert {c["document"] for c in answer["citations"]} == {"2023 Q1 NVDA.pdf"}
    # a bad date is refused before anything is asked; a filter that leaves nothing, too
    bad = httpx.post(f"{url}/chats/{chat['id']}/messages", json={"question": "x", "after": "x"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
    none = httpx.post(f"{url}/kbs/default/ask", json={"question": "x", "after": "2030"})
    assert none.status_code == 404 and none.json()["error"]["key"] == "filter_no_date"
    shown = httpx.get(f"{url}/chats/{chat['id']}").json()["messages"]  # nothing more saved
    assert len(shown) == 2 and len(shown[1]["versions"]) == 2


# dates


def test_periods_count_whole() -> None:
    assert parse_date("2023", end=False) == dt.date(2023, 1, 1)
    assert parse_date("2023", end=True) == dt.date(2023, 12, 31)
    assert parse_date("2024-02", end=True) == dt.date(2024, 2, 29)
    assert parse_date("2023-03-15T10:00:00+01:00", end=True) == dt.date(2023, 3, 15)
    for wrong in ("yesterday", "2023-00", "23-03-2023", "2023-02-30", ""):
        with pytest.raises(ConfigError, match="is not a date"):
            parse_date(wrong, end=False)
    with pytest.raises(ConfigError, match="swap them"):
        DocumentFilter.parse(after="2024", before="2023")
    assert not DocumentFilter.parse([" "])


def test_a_documents_own_date_comes_before_its_files() -> None:
    noon = dt.datetime(2020, 6, 1, 12).timestamp()

    def record(metadata: dict[str, str]) -> DocumentRecord:
        fields = (1, 1, "/a/page.html", "Page", "", 1, int(noon * 1e9), "indexed", "", None)
        return DocumentRecord(*fields, 1, metadata, noon)

    assert document_date(record({"date": "2019-04-02"})) == dt.date(2019, 4, 2)
    assert document_date(record({"date": "Tue, 2 Apr"})) == dt.date(2020, 6, 1)
    assert document_date(record({})) == dt.date(2020, 6, 1)


def test_a_number_that_is_an_id_names_that_document_only() -> None:
    def record(doc_id: int, name: str) -> DocumentRecord:
        fields = (doc_id, 1, f"/a/{name}", name, "", 1, 0, "indexed", "", None, 1, {}, 0.0)
        return DocumentRecord(*fields)

    documents = [record(1, "2.txt"), record(2, "1.txt"), record(3, "7.txt")]
    assert filtered_document_ids(documents, DocumentFilter(("2",))) == [2]
    assert filtered_document_ids(documents, DocumentFilter(("2.txt",))) == [1]
    assert filtered_document_ids(documents, DocumentFilter(("7",))) == [3]  # its name


def test_names_and_globs_fold_case_accents_and_separators() -> None:
    doc = DocumentRecord(
        3, 1, "/x/Informe_Año-2023 Q1.pdf", "Informe año 2023", "", 1, 0, "indexed", "", None,
        1, {}, 0.0,
    )  # fmt: skip
    for name in (
        "3", "informe ano 2023 q1", "INFORME_AÑO_2023_Q1.PDF", "x/informe año-2023 q1.pdf",
        "Informe año 2023", "*2023*", "*AÑO*", "informe_ano_[0-9]*", "[!x]*q1.pdf",
    ):  # fmt: skip
        assert matches_name(doc, name), name
    for name in ("4", "informe", "*2024*", "informe_ano_[a-z]*", "y/informe año-2023 q1.pdf"):
        assert not matches_name(doc, name), name


def test_a_page_or_mail_is_filtered_by_its_own_date(tmp_path: Path) -> None:
    """Loaders keep a web page's publication date and a mail's Date as ``date``: that, not
    the day it was fetched, is what --after and --before compare."""
    sabio = Sabio(_settings(tmp_path / "home"))
    try:
        dated = {"old": "2019-04-02", "new": "2024-11-05T09:30:00+01:00", "undated": ""}
        items = [
            LoadedSource(
                f"https://example.org/{name}",
                name,
                name,
                LoadedDocument([Section(f"El faro {name} guía a los barcos.")], name),
                metadata={"date": day} if day else {},
            )
            for name, day in dated.items()
        ]
        sabio.store.create_kb("web", "fake:words", 64)
        assert sabio.add_loaded(items, "web").count("added") == 3

        def found(after: str | None = None, before: str | None = None) -> set[str]:
            wanted = DocumentFilter.parse((), after, before)
            return {h.title for h in sabio.search("faro barcos", "web", filters=wanted).hits}

        assert found(before="2019") == {"old"}
        assert found(after="2024-11") == {"new", "undated"}  # undated: indexed today
        with pytest.raises(NotFoundError, match="--after 2020-01-01 --before 2024-10-31"):
            found(after="2020", before="2024-10")
    finally:
        sabio.close()

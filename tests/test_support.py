"""The support check, extractive answers, and what every interface says about them:
real passages, the real service and CLI, scripted chat models at the edge (conftest.py)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from conftest import FakeChat
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from sabio.answer import RepetitionGuard, no_answer_text
from sabio.cli import app
from sabio.config import Settings
from sabio.extractive import answer_type, extractive_text, pick_sentences
from sabio.facts import figures, same_figure, sentences
from sabio.search import SearchHit
from sabio.server import create_app
from sabio.service import Sabio
from sabio.support import Passages, check_claims, support_note

ETNA = (
    "Mount Etna erupted in March 2021 and covered Catania in ash. The eruption did not "
    "damage the airport. About 48,310 thousand euros of damage were reported."
)
FARO = (
    "El faro de Alejandría guiaba a los barcos hacia el puerto durante la noche. Fue "
    "construido por Sóstrato de Cnido en el siglo III a. C. y medía unos 134 metros."
)
TABLE = (
    "The following table shows net sales by category (dollars in millions):\n"
    "Three Months Ended\n"
    "2023 2022\n"
    "iPhone $ 51,334 $ 50,570\n"
    "Mac 7,168 10,435\n"
    "Services 20,907 19,821\n"
)

MARKDOWN_TABLE = (  # as the DOCX, HTML and spreadsheet loaders write a table
    "Net sales by category, in millions of dollars:\n"
    "| Category | 2023 | 2022 |\n"
    "|---|---|---|\n"
    "| iPad | $ 5,791 | $ 7,224 |\n"
    "| Wearables | $ 8,284 | $ 8,084 |\n"
)


def _hits(*texts: str) -> list[SearchHit]:
    return [
        SearchHit(
            n, n, f"/docs/{n}.txt", f"doc {n}", n, 100 * n, 100 * n + len(t), "", t, 1.0, n, n
        )
        for n, t in enumerate(texts, 1)
    ]


@pytest.mark.parametrize(
    ("claim", "passage"),
    [
        ("48.3 million", "48,310 thousand"),
        ("48.3 million", "48 310"),  # a table in thousands
        ("$82.96 billion", "$ 82,959"),  # a table in millions
        ("82,959 million", "$82,959"),
        ("1.234,5", "1,234.5"),
        ("cuatro", "4"),
    ],
)
def test_figures_are_compared_as_values(claim: str, passage: str) -> None:
    assert same_figure(figures(claim)[0], figures(passage)[0])


@pytest.mark.parametrize(("claim", "passage"), [("48.2 million", "48,310 thousand"), ("47", "4")])
def test_different_figures_differ(claim: str, passage: str) -> None:
    assert not same_figure(figures(claim)[0], figures(passage)[0])


def test_sentences_keep_decimals_abbreviations_and_table_rows() -> None:
    spans = [TABLE[s:e] for s, e in sentences(TABLE)]
    assert "iPhone $ 51,334 $ 50,570" in spans and "Mac 7,168 10,435" in spans
    text = "It rose 4.5% in the U.S. market. Then Inc. fell. Wrapped\nline ends here."
    assert [text[s:e] for s, e in sentences(text)] == [
        "It rose 4.5% in the U.S. market.",
        "Then Inc. fell.",
        "Wrapped\nline ends here.",
    ]


@pytest.mark.parametrize(
    ("claim", "supported"),
    [
        ("Mount Etna erupted in March 2021 and covered Catania in ash.", True),  # copied
        ("In March 2021, ash from Etna covered Catania.", True),  # paraphrased
        ("Damage of about 48.3 million euros was reported.", True),  # another unit
        ("Mount Etna erupted in March 2019 and covered Catania in ash.", False),  # date
        ("Mount Etna erupted in June 2021 and covered Catania in ash.", False),  # month
        ("About 58,310 thousand euros of damage were reported.", False),  # figure
        ("Mount Etna erupted in March 2021 and covered Palermo in ash.", False),  # name
        ("The eruption damaged the airport.", False),  # negation dropped
        ("Mount Etna did not erupt in March 2021.", False),  # negation added
        ("Volcanic winters always follow large eruptions worldwide.", False),  # elsewhere
    ],
)
def test_each_claim_is_checked_against_the_passages_english(claim: str, supported: bool) -> None:
    [checked] = check_claims(claim, Passages(_hits(FARO, ETNA)))
    assert checked.supported is supported, checked
    if supported:
        assert checked.passage == 2 and checked.page == 2
        assert checked.quote and checked.quote in ETNA
        assert checked.quote_start is not None and checked.quote_start >= 200


@pytest.mark.parametrize(
    ("claim", "supported"),
    [
        ("El faro de Alejandría guiaba a los barcos durante la noche.", True),
        ("Medía unos 134 metros y lo construyó Sóstrato de Cnido.", True),
        ("El faro medía unos 143 metros.", False),
        ("Fue construido por Arquímedes de Siracusa en el siglo III a. C.", False),
        ("El faro de Alejandría no guiaba a los barcos hacia el puerto.", False),
    ],
)
def test_each_claim_is_checked_against_the_passages_spanish(claim: str, supported: bool) -> None:
    [checked] = check_claims(claim, Passages(_hits(ETNA, FARO)))
    assert checked.supported is supported, checked


def test_cited_passages_are_tried_first_and_unsupported_claims_say_what_is_missing() -> None:
    answer = "Etna erupted in March 2021 [1]. It cost 987,654 dollars [1]. Hello there!"
    claims = check_claims(answer, Passages(_hits(ETNA)))
    assert [c.supported for c in claims] == [True, False]  # "Hello there!" is no claim
    assert claims[1].missing == ["987,654"]
    assert answer[claims[0].start : claims[0].end].startswith("Etna erupted")
    assert support_note(claims, "en") == "1 of 2 statements is not supported by your documents."
    assert (
        support_note(claims, "es") == "1 de 2 afirmaciones no está respaldada por tus documentos."
    )


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many tackles did Kuechly make?", "number"),
        ("¿Cuántos metros medía el faro?", "number"),
        ("What was Apple's iPhone revenue?", "number"),
        ("¿Cuáles fueron los ingresos de Microsoft en el segundo trimestre?", "number"),
        ("¿Cuál fue el total de ventas?", "number"),
        ("¿Cuáles son los colores del faro?", None),
        ("When did Etna erupt?", "date"),
        ("¿En qué año murió Tesla?", "date"),
        ("Who built the lighthouse?", "person"),
        ("¿Quién construyó el faro?", "person"),
        ("¿Dónde está el faro?", "place"),
        ("Why is the sky blue?", None),
    ],
)
def test_the_answer_type_comes_from_the_question_words(question: str, kind: str | None) -> None:
    assert answer_type(question) == kind


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("¿Quién construyó el faro de Alejandría?", "Sóstrato de Cnido"),
        ("When did Mount Etna erupt?", "March 2021"),
        ("What were iPhone net sales?", "iPhone $ 51,334"),
        ("What were iPad net sales?", "| iPad | $ 5,791 | $ 7,224 |"),
    ],
)
def test_extractive_answers_quote_the_sentence_or_row_that_answers(
    question: str, expected: str
) -> None:
    passages = Passages(_hits(ETNA, FARO, TABLE, MARKDOWN_TABLE))
    picks = pick_sentences(question, passages)
    text = extractive_text(passages, picks, list(range(1, len(picks) + 1)))
    assert expected in text, text
    if "iPhone" in expected:  # a row comes with its table's caption and column heads
        assert text.startswith("> The following table shows net sales") and "2023 2022" in text
    if "iPad" in expected:  # the heads of a Markdown table, without its rule line
        assert "| Category | 2023 | 2022 |" in text and "---" not in text, text


def test_nothing_close_enough_gives_no_extractive_answer() -> None:
    assert pick_sentences("Who won the 1986 football World Cup?", Passages(_hits(ETNA, FARO))) == []


def test_a_repeated_phrase_is_a_loop() -> None:
    guard = RepetitionGuard()
    assert not any(guard.feed(p) for p in ["One fact. ", "Another fact here. ", "A third one."])
    assert any(guard.feed("The answer is yes. ") for _ in range(4))


# through the service


@pytest.fixture
def kb(sabio: Sabio, tmp_path: Path) -> Sabio:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "etna.txt").write_text(ETNA, encoding="utf-8")
    (folder / "faro.txt").write_text(FARO, encoding="utf-8")
    sabio.add([folder])
    return sabio


def test_an_extractive_answer_quotes_the_documents_without_calling_the_model(kb: Sabio) -> None:
    model = kb.chat_model("fake:cite")
    assert isinstance(model, FakeChat)
    stream = kb.ask("When did Mount Etna erupt?", model="fake:cite", style="extractive")
    text = "".join(stream)
    answer = stream.answer
    assert text.startswith("> Mount Etna erupted in March 2021") and text.endswith("[1]")
    assert model.requests == []
    assert answer.citations[0].document.endswith("etna.txt") and answer.complete
    [claim] = answer.claims
    assert claim.supported and claim.quoted and claim.citation == 1
    assert answer.text[claim.start : claim.end] == claim.text
    assert answer.timings["first_token_ms"] >= answer.timings["retrieval_ms"]


def test_the_embedded_model_answers_extractively_unless_asked_otherwise(kb: Sabio) -> None:
    assert kb.answer_style("embedded:smollm2") == "extractive"
    assert kb.answer_style("ollama:qwen3:4b") == "generative"
    assert kb.answer_style("embedded:smollm2", "both") == "both"


def test_an_off_topic_question_is_not_answered_in_any_style(kb: Sabio) -> None:
    for style in ("extractive", "generative", "both"):
        stream = kb.ask(
            "¿Quién ganó el Mundial de fútbol de 1986?", model="fake:made-up", style=style
        )
        text = "".join(stream)
        if stream.plan is None:  # the gate refused: no model ran
            assert text == no_answer_text("es")
        assert stream.answer.no_answer or stream.answer.unsupported, text
        assert not any(c.supported and not c.quoted for c in stream.answer.claims)


def test_an_invented_figure_is_marked_and_counted(kb: Sabio) -> None:
    stream = kb.ask("When did Mount Etna erupt?", model="fake:invent", style="generative")
    "".join(stream)
    answer = stream.answer
    supported = [c.supported for c in answer.claims]
    assert supported == [True, False], answer.claims
    assert answer.claims[1].missing == ["987,654"] and not answer.unsupported
    assert answer.claims[0].citation == 1


def test_an_answer_with_no_supported_claim_says_so_and_quotes_the_closest_passages(
    kb: Sabio,
) -> None:
    stream = kb.ask(
        "How much did the Etna eruption cost?", model="fake:made-up", style="generative"
    )
    text = "".join(stream)
    answer = stream.answer
    assert answer.unsupported
    assert "The model's answer is not supported by your documents" in text
    assert "> About 48,310 thousand euros of damage were reported. [1]" in text
    assert answer.citations and answer.citations[0].inferred  # the model cited nothing
    quoted = [c for c in answer.claims if c.quoted]
    assert quoted and answer.text[quoted[0].start : quoted[0].end] == quoted[0].text


def test_both_styles_quote_first_then_the_checked_model_answer(kb: Sabio) -> None:
    stream = kb.ask("When did Mount Etna erupt?", model="fake:invent", style="both")
    text = "".join(stream)
    assert text.startswith("> Mount Etna erupted in March 2021")
    assert "The eruption cost 987,654 dollars." in text
    assert [c.quoted for c in stream.answer.claims] == [True, False, False]


def test_a_loop_is_stopped_and_an_answer_cut_at_the_limit_is_incomplete(kb: Sabio) -> None:
    model = kb.chat_model("fake:loop")
    assert isinstance(model, FakeChat)
    stream = kb.ask("When did Mount Etna erupt?", model="fake:loop", style="generative")
    "".join(stream)
    assert stream.answer.stopped == "repetition" and not stream.answer.complete
    assert model.pulled < 10  # stopped, not read to the end
    assert "repeating itself" in (stream.answer.error or "")
    stream = kb.ask("When did Mount Etna erupt?", model="fake:cut", style="generative")
    "".join(stream)
    assert stream.answer.stopped == "length" and not stream.answer.complete
    assert "limit of" in (stream.answer.error or "")


# what the interfaces say


def test_cli_marks_unsupported_statements_and_prints_the_closing_line(
    kb: Sabio, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SABIO_HOME", str(settings.home))
    monkeypatch.setenv("SABIO_EMBEDDING_MODEL", "fake:words")
    runner = CliRunner()
    question = "When did Mount Etna erupt?"
    result = runner.invoke(app, ["ask", question, "-m", "fake:invent", "--style", "generative"])
    assert result.exit_code == 0, result.output
    assert "✗ The eruption cost 987,654 dollars." in result.stdout
    assert "1 of 2 statements is not supported by your documents." in result.stdout
    result = runner.invoke(app, ["ask", question, "-m", "fake:invent", "--json"])
    answer = json.loads(result.stdout)
    assert answer["style"] == "generative"
    claims = answer["claims"]
    assert claims[0]["supported"] and claims[0]["page"] is None
    assert claims[0]["quote"].startswith("Mount Etna erupted")
    assert claims[0]["quote_start"] == 0 and claims[0]["quote_end"] > 0
    assert claims[1]["supported"] is False and claims[1]["missing"] == ["987,654"]
    cut = runner.invoke(app, ["ask", question, "-m", "fake:cut", "--style", "generative"])
    assert cut.exit_code == 1 and "answer incomplete" in cut.stderr


def test_the_apis_carry_claims_and_the_ollama_footer_says_what_is_unsupported(
    kb: Sabio, settings: Settings
) -> None:
    app = create_app(dataclasses.replace(settings, chat_model="fake:invent"))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        _check_the_apis(client)


def _check_the_apis(client: TestClient) -> None:
    with client.stream(
        "POST",
        "/api/v1/kbs/default/ask",
        json={"question": "When did Mount Etna erupt?", "style": "both"},
    ) as response:
        body = "".join(response.iter_text())
    done = json.loads(body.split("event: done\ndata: ")[1].split("\n")[0])
    assert [c["supported"] for c in done["claims"]] == [True, True, False]
    assert done["claims"][0]["document"] == "etna.txt"  # a file name, never a server path
    reply = client.post(
        "/api/chat",
        json={
            "model": "kb/default",
            "messages": [{"role": "user", "content": "When did Mount Etna erupt?"}],
            "stream": False,
        },
    ).json()
    content = reply["message"]["content"]
    assert "**Sources**" in content and "- [1] etna.txt" in content
    assert "⚠ 1 of 2 statements is not supported by your documents." in content
    rejected = client.post("/api/v1/kbs/default/ask", json={"question": "When?", "style": "poetic"})
    assert rejected.status_code == 422

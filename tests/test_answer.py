"""Grounded answers with scripted chat models (tests/conftest.py): citations, budget,
language, errors. The real embedded model runs the same paths in test_embedded_chat.py."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from conftest import FakeChat
from typer.testing import CliRunner

from sabio.answer import (
    SIMILARITY_FLOORS,
    CitationFilter,
    Turn,
    build_messages,
    coverage,
    detect_language,
    no_answer_text,
    rewrite_query,
)
from sabio.cli import app
from sabio.config import Settings
from sabio.errors import ConfigError
from sabio.search import SearchHit
from sabio.service import Sabio

DOCS = {
    "faro.txt": "El faro de Alejandría guiaba a los barcos hacia el puerto durante la noche.",
    "volcano.md": "# Volcanoes\n\nMount Etna erupted in 2021 and covered Catania in ash.",
}


@pytest.fixture
def kb(sabio: Sabio, tmp_path: Path) -> Sabio:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    sabio.add([folder])
    return sabio


def _stream(pieces: list[str], count: int) -> tuple[str, CitationFilter]:
    citations = CitationFilter(count)
    text = "".join(citations.feed(p) for p in pieces) + citations.flush()
    return text, citations


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("¿Qué guiaba el faro?", "es"),
        ("que guiaba el faro de alejandria", "es"),
        ("When did Etna erupt?", "en"),
        ("Etna", "en"),
        ("Cuál fue la población de Madrid en 2023", "es"),
    ],
)
def test_detect_language(question: str, language: str) -> None:
    assert detect_language(question) == language


def test_citations_are_renumbered_in_order_of_use_even_when_split_across_pieces() -> None:
    text, citations = _stream(["Ash [", "3", "] and ships [1", ", 3]. Again [", "Passage 1]."], 3)
    assert text == "Ash [1] and ships [2][1]. Again [2]."
    assert citations.order == [3, 1]
    assert citations.removed == []


def test_citations_that_name_no_passage_are_removed_and_recorded() -> None:
    text, citations = _stream(["It erupted [", "7", "] in 2021 [0] [2]. Ash [3]", " fell."], 2)
    assert text == "It erupted in 2021 [1]. Ash fell."
    assert citations.removed == ["[7]", "[0]", "[3]"]
    assert citations.order == [2]


def test_other_brackets_pass_through_unchanged() -> None:
    text, _ = _stream(["a list [see", " below] and [x] and [", "2021 was hot"], 3)
    assert text == "a list [see below] and [x] and [2021 was hot"


def _hit(number: int, words: int) -> SearchHit:
    return SearchHit(
        chunk_id=number,
        document_id=1,
        document="/docs/a.pdf",
        title="A",
        page=number,
        start=0,
        end=10,
        heading="",
        text=" ".join(["word"] * words),
        score=1.0,
        keyword_rank=number,
        vector_rank=None,
    )


def test_prompt_fits_the_budget_and_reports_what_it_left_out() -> None:
    model = FakeChat("cite", context_window=400)
    hits = [_hit(n, 60) for n in range(1, 9)]
    plan = build_messages(model, "what word?", hits, language="en", answer_tokens=100)
    assert plan.budget == 300
    assert 0 < len(plan.passages) < 8
    assert plan.passages + plan.dropped == hits
    sent = sum(model.count_tokens(m["content"]) + 8 for m in plan.messages)
    assert plan.tokens <= plan.budget
    assert sent <= plan.tokens + 8  # counted as sent (separators included)


def test_a_question_that_cannot_fit_is_refused() -> None:
    model = FakeChat("cite", context_window=64)
    with pytest.raises(ConfigError, match="too long"):
        build_messages(model, "why " * 100, [], language="en", answer_tokens=16)


def test_history_keeps_the_newest_turns_within_its_share() -> None:
    model = FakeChat("cite", context_window=1000)
    history = [Turn(f"question {n} " + "x " * 40, f"answer {n} " + "y " * 40) for n in range(10)]
    plan = build_messages(model, "and then?", [], language="en", answer_tokens=200, history=history)
    assert 0 < plan.turns_kept < 10
    contents = [m["content"] for m in plan.messages[1:-1]]
    assert contents[-1].startswith("answer 9")  # the newest turn is kept, the oldest go first


def test_ask_streams_an_answer_whose_citations_resolve(kb: Sabio) -> None:
    stream = kb.ask("When did Mount Etna erupt?", model="fake:cite")
    pieces = list(stream)
    answer = stream.answer
    assert len(pieces) > 1 and "".join(pieces).strip() == answer.text
    assert "[1]" in answer.text and "[9]" not in answer.text
    assert answer.removed_citations == ["[9]"]
    [citation] = answer.citations
    assert citation.document.endswith("volcano.md") and citation.number == 1
    assert answer.complete and not answer.no_answer
    assert {"retrieval_ms", "prompt_ms", "first_token_ms", "total_ms"} <= set(answer.timings)


def test_a_spanish_question_gets_the_spanish_prompt(kb: Sabio) -> None:
    model = kb.chat_model("fake:cite")
    assert isinstance(model, FakeChat)
    stream = kb.ask("¿Qué guiaba el faro de Alejandría?", model="fake:cite")
    list(stream)
    system, user = model.requests[-1][0]["content"], model.requests[-1][-1]["content"]
    assert "Responde en español" in system and "guiaba a los barcos" in system
    assert user == "¿Qué guiaba el faro de Alejandría?"
    assert stream.answer.language == "es"
    assert stream.answer.citations[0].document.endswith("faro.txt")


def test_nothing_relevant_means_no_model_call_and_the_no_answer_sentence(
    kb: Sabio, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(SIMILARITY_FLOORS, "fake:words", 0.5)
    model = kb.chat_model("fake:cite")
    assert isinstance(model, FakeChat)
    for question, language in [
        ("Who won the chess olympiad?", "en"),
        ("¿Quién ganó la olimpiada de ajedrez?", "es"),
    ]:
        stream = kb.ask(question, model="fake:cite")
        assert "".join(stream) == no_answer_text(language)
        assert stream.answer.no_answer and stream.answer.citations == []
    assert model.requests == []


def test_without_a_measured_floor_any_vector_match_goes_to_the_model(kb: Sabio) -> None:
    stream = kb.ask("Who won the chess olympiad?", model="fake:cite")
    list(stream)
    assert not stream.answer.no_answer and stream.answer.passages > 0


def test_coverage_counts_rare_words_more() -> None:
    hit = dataclasses.replace(_hit(1, 0), text="The mean of the samples was high.")
    question = "What does chloroplastidan mean for samples?"
    assert coverage(question, hit) == pytest.approx(2 / 3)
    weights = {"chloroplastidan": 5.0, "mean": 0.5, "sample": 0.5}
    assert coverage(question, hit, weights) == pytest.approx(1 / 6)
    assert coverage("chloroplastidan mean", hit) == 0.0  # one shared word of two is chance


def test_a_broken_stream_keeps_the_partial_answer_marked_incomplete(kb: Sabio) -> None:
    stream = kb.ask("When did Mount Etna erupt?", model="fake:broken")
    text = "".join(stream)
    assert text and stream.answer.text == text.strip()
    assert not stream.answer.complete
    assert "connection to the model was lost" in (stream.answer.error or "")


def test_follow_up_questions_are_rewritten_before_retrieval(kb: Sabio) -> None:
    history = [Turn("When did Mount Etna erupt?", "In 2021 [1].")]
    model = FakeChat("echo", 2048)
    query = rewrite_query(model, "¿y Catania?", history, "es")
    # the echo model returns its whole request: unusable, so both questions are the query
    assert query == "When did Mount Etna erupt? ¿y Catania?"
    stream = kb.ask("and Catania?", model="fake:cite", history=history)
    list(stream)
    assert stream.answer.query != "and Catania?"
    assert stream.answer.citations[0].document.endswith("volcano.md")


def test_cli_ask_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "volcano.md").write_text(DOCS["volcano.md"], encoding="utf-8")
    monkeypatch.setenv("SABIO_HOME", str(settings.home))
    monkeypatch.setenv("SABIO_EMBEDDING_MODEL", "fake:words")
    runner = CliRunner()
    assert runner.invoke(app, ["add", str(folder)]).exit_code == 0
    result = runner.invoke(app, ["ask", "When did Etna erupt?", "-m", "fake:cite", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["complete"] and answer["model"] == "fake:cite"
    assert answer["citations"][0]["document"].endswith("volcano.md")
    assert set(answer["citations"][0]) >= {"document", "title", "page", "start", "end"}
    broken = runner.invoke(app, ["ask", "When did Etna erupt?", "-m", "fake:broken"])
    assert broken.exit_code == 1
    assert "answer incomplete" in broken.stderr


def test_cli_ask_names_a_missing_knowledge_base(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SABIO_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(app, ["ask", "hola", "-m", "fake:cite"])
    assert result.exit_code == 1
    assert "sabio add" in result.stderr and "Traceback" not in result.output


def test_cli_chat_keeps_the_conversation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "volcano.md").write_text(DOCS["volcano.md"], encoding="utf-8")
    monkeypatch.setenv("SABIO_HOME", str(settings.home))
    monkeypatch.setenv("SABIO_EMBEDDING_MODEL", "fake:words")
    runner = CliRunner()
    assert runner.invoke(app, ["add", str(folder)]).exit_code == 0
    session = "When did Mount Etna erupt?\nand Catania?\n/new\n\n/exit\n"
    result = runner.invoke(app, ["chat", "-m", "fake:cite"], input=session)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("Sources") == 2
    assert "searched for: When did Mount Etna erupt? and Catania?" in result.stderr
    assert "New conversation." in result.stderr


def test_a_new_topic_in_a_conversation_is_searched_as_asked(
    kb: Sabio, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(SIMILARITY_FLOORS, "fake:words", 0.5)
    history = [Turn("When did Mount Etna erupt?", "In 2021 [1].")]
    # fake:cite's rewrite keeps none of the question's words, and the question stands alone
    stream = kb.ask("Who won the chess olympiad?", model="fake:cite", history=history)
    list(stream)
    assert stream.answer.query == "Who won the chess olympiad?"
    assert stream.answer.no_answer


def test_a_paired_models_hit_meets_the_floor_of_the_part_that_ranked_it() -> None:
    from dataclasses import replace

    from sabio.answer import SIMILARITY_FLOORS, relevant_hits

    minilm, use = "embedded:all-minilm-l6-v2", "embedded:use-multilingual"
    hit = replace(_hit(1, 3), text="nothing shared", similarity=0.3)
    floor = SIMILARITY_FLOORS[minilm]
    assert SIMILARITY_FLOORS[use] < 0.3 < floor
    assert relevant_hits("¿Quién ganó la carrera?", [hit], floor) == []
    ranked_by_use = replace(hit, vector_model=use)
    assert relevant_hits("¿Quién ganó la carrera?", [ranked_by_use], floor) == [ranked_by_use]
    ranked_by_minilm = replace(hit, vector_model=minilm)
    assert relevant_hits("Who won the race?", [ranked_by_minilm], None) == []

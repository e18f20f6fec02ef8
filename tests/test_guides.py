"""Each knowledge base's instructions and style (issue 26): in the prompt of every
answer the model writes over it, within the budget, saying what they pushed out."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import FakeChat
from fake_servers import FakeOllama, chat_model
from fastapi.testclient import TestClient
from test_server import API, LOCAL, _settings
from typer.testing import CliRunner

from sabio.cli import app
from sabio.config import Settings
from sabio.errors import ConfigError
from sabio.guides import fit_guide, guide_text
from sabio.server import create_app
from sabio.service import Sabio
from sabio.store import Guide

CONTRACT = "The notice period for ending the service contract is 30 days, as clause 12 says."
GUIDE = Guide(
    "Answer as the firm's legal team, in formal Spanish, always giving the clause number.",
    (("notice period", "plazo de preaviso"),),
    (("How long is the notice?", "El plazo de preaviso es de 30 días (cláusula 12) [1]."),),
)


def _service(settings: Settings, tmp_path: Path, context_window: int = 0) -> Sabio:
    sabio = Sabio(replace(settings, context_window=context_window))
    folder = tmp_path / "docs"
    folder.mkdir(exist_ok=True)
    for n in range(6):
        (folder / f"contract-{n}.txt").write_text(f"{CONTRACT} Annex {n}.", encoding="utf-8")
    sabio.create_kb("legal")
    sabio.add([folder], "legal")
    return sabio


def _system(sabio: Sabio, question: str) -> tuple[str, list[str]]:
    stream = sabio.ask(question, "legal", model="fake:cite", style="generative")
    "".join(stream)
    model = sabio.chat_model("fake:cite")
    assert isinstance(model, FakeChat)
    return model.requests[-1][0]["content"], stream.answer.notes


def test_a_guide_goes_into_every_answer_the_model_writes(
    settings: Settings, tmp_path: Path
) -> None:
    sabio = _service(settings, tmp_path)
    try:
        before, _ = _system(sabio, "What is the notice period?")
        assert "legal team" not in before
        sabio.set_kb_guide(GUIDE, "legal")
        assert sabio.kb_guide("legal") == GUIDE
        system, notes = _system(sabio, "¿Cuál es el plazo de preaviso?")
        assert "Instrucciones de esta base de conocimiento" in system
        assert GUIDE.instruction in system and "- notice period: plazo de preaviso" in system
        assert system.index("legal team") < system.index("[1] (")  # before the passages
        assert notes == []
    finally:
        sabio.close()


def test_a_guide_keeps_to_its_share_and_says_what_it_pushed_out(
    settings: Settings, tmp_path: Path
) -> None:
    sabio = _service(settings, tmp_path, context_window=400)
    try:
        long = Guide(GUIDE.instruction, GUIDE.glossary, GUIDE.examples * 10)
        sabio.set_kb_guide(long, "legal")
        system, notes = _system(sabio, "What is the notice period?")
        assert GUIDE.instruction in system and system.count("Question: ") < 10
        assert any("examples left out" in n for n in notes), notes
        assert any("passages did not fit" in n and "instructions took" in n for n in notes)
        _, spanish = _system(sabio, "¿Cuál es el plazo de preaviso?")
        assert any("se dejaron fuera" in n and "ejemplos" in n for n in spanish), spanish
        assert not any("examples" in n for n in spanish)  # no English inside
    finally:
        sabio.close()


def test_fitting_drops_examples_then_terms_then_the_instruction() -> None:
    def words(text: str) -> int:
        return len(text.split())

    whole = words(guide_text(GUIDE, "en"))
    assert fit_guide(GUIDE, "en", whole, words)[2] == []
    text, cost, left = fit_guide(GUIDE, "en", whole - 1, words)
    assert left == ["1 examples"] and "Examples" not in text and cost == words(text)
    assert fit_guide(GUIDE, "en", 3, words) == ("", 0, ["1 examples", "1 glossary entries",
                                                        "the instruction"])  # fmt: skip
    assert fit_guide(GUIDE, "es", 3, words)[2] == ["1 ejemplos", "1 entradas del glosario",
                                                   "la instrucción"]  # fmt: skip


def test_an_extractive_answer_quotes_whatever_the_guide(settings: Settings, tmp_path: Path) -> None:
    sabio = _service(settings, tmp_path)
    try:
        spanish = "¿Cuál es el plazo de preaviso?"
        unguided = sabio.ask(spanish, "legal", style="extractive")
        assert CONTRACT not in "".join(unguided) and unguided.answer.no_answer
        sabio.set_kb_guide(GUIDE, "legal")
        stream = sabio.ask("What is the notice period?", "legal", style="extractive")
        assert CONTRACT in "".join(stream)
        assert stream.answer.notes == [
            "in this knowledge base, “notice period” is said “plazo de preaviso” (its glossary)",
            "the knowledge base's instruction and examples are not followed: this answer quotes "
            "your documents as they are (the generative answer style follows them)",
        ]
        # the glossary's wording finds the passages that use its term
        guided = sabio.ask(spanish, "legal", style="extractive")
        assert CONTRACT in "".join(guided) and guided.answer.query == "¿Cuál es el notice period?"
        assert (
            "en esta base de conocimiento, «notice period» se dice «plazo de preaviso»"
            in (guided.answer.notes[0])
        )
        sabio.set_kb_guide(Guide("", GUIDE.glossary), "legal")  # a glossary alone: no excuse
        alone = sabio.ask("What is the notice period?", "legal", style="extractive")
        "".join(alone)
        assert len(alone.answer.notes) == 1
    finally:
        sabio.close()


@pytest.mark.parametrize("bad", [Guide("x", (("term", ""),)), Guide("x" * 5000)])
def test_a_bad_guide_changes_nothing(settings: Settings, tmp_path: Path, bad: Guide) -> None:
    sabio = _service(settings, tmp_path)
    try:
        sabio.set_kb_guide(GUIDE, "legal")
        with pytest.raises(ConfigError, match=r"shorten it|both of its halves"):
            sabio.set_kb_guide(bad, "legal")
        assert sabio.kb_guide("legal") == GUIDE
    finally:
        sabio.close()


def test_a_guide_is_set_over_rest_and_shapes_the_ollama_apis_answer(tmp_path: Path) -> None:
    settings = _settings(tmp_path, chat_model="fake:cite", answer_style="generative")
    with TestClient(create_app(settings), base_url=LOCAL) as client:
        assert client.post(f"{API}/kbs", json={"name": "legal"}).status_code == 201
        files = {"files": ("contract.txt", CONTRACT.encode())}
        assert client.post(f"{API}/kbs/legal/documents", files=files).status_code == 200
        assert client.get(f"{API}/kbs/legal/guide").json()["instruction"] == ""
        body = {"instruction": GUIDE.instruction,
                "glossary": [{"term": "notice period", "wording": "plazo de preaviso"}],
                "examples": [{"question": "Q?", "answer": "A [1]."}]}  # fmt: skip
        put = client.put(f"{API}/kbs/legal/guide", json=body)
        assert put.status_code == 200, put.text
        assert client.get(f"{API}/kbs/legal/guide").json() == body
        bad = client.put(f"{API}/kbs/legal/guide", json={"glossary": [{"term": "x"}]})
        assert bad.status_code == 422 and client.get(f"{API}/kbs/legal/guide").json() == body
        question = {"role": "user", "content": "What is the notice period?"}
        asked = {"model": "kb/legal", "stream": False, "messages": [question]}
        assert client.post("/api/chat", json=asked).status_code == 200
        model = client.app.state.services.reader.chat_model("fake:cite")  # type: ignore[attr-defined]
        assert GUIDE.instruction in model.requests[-1][0]["content"]


def test_sabio_kb_guide_shows_sets_and_clears(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("SABIO_HOME", str(settings.home))
    monkeypatch.setenv("SABIO_EMBEDDING_MODEL", "fake:words")
    runner = CliRunner()
    assert runner.invoke(app, ["kb", "create", "legal"]).exit_code == 0
    assert "No guide" in runner.invoke(app, ["kb", "guide", "legal"]).stdout
    made = runner.invoke(
        app,
        ["kb", "guide", "legal", "--instruction", GUIDE.instruction, "--term",
         "notice period = plazo de preaviso", "--example", "Q? => A [1]."],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "Term: notice period = plazo de preaviso" in made.stdout
    shown = json.loads(runner.invoke(app, ["kb", "guide", "legal", "--json"]).stdout)
    assert shown["examples"] == [["Q?", "A [1]."]]
    bad = runner.invoke(app, ["kb", "guide", "legal", "--term", "lonely"])
    assert bad.exit_code == 1 and "both of its halves" in bad.stderr
    cleared = runner.invoke(app, ["kb", "guide", "legal", "--clear"])
    assert "No guide" in cleared.stdout


def test_sabio_kb_publish_makes_an_ollama_model_with_the_guide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    with FakeOllama([chat_model("qwen3:4b")]) as ollama:
        monkeypatch.setenv("SABIO_HOME", str(settings.home))
        monkeypatch.setenv("SABIO_EMBEDDING_MODEL", "fake:words")
        monkeypatch.setenv("SABIO_CHAT_MODEL", "fake:cite")
        monkeypatch.setenv("OLLAMA_HOST", ollama.url)
        runner = CliRunner()
        assert runner.invoke(app, ["kb", "create", "legal"]).exit_code == 0
        bare = runner.invoke(app, ["kb", "publish", "legal", "--from", "qwen3:4b"])
        assert bare.exit_code == 1 and "no guide to publish" in bare.stderr
        guide = ["kb", "guide", "legal", "--instruction", GUIDE.instruction]
        assert runner.invoke(app, guide).exit_code == 0
        no_base = runner.invoke(app, ["kb", "publish", "legal"])
        assert no_base.exit_code == 1 and "--from qwen3:4b" in no_base.stderr
        made = runner.invoke(
            app, ["kb", "publish", "legal", "--from", "qwen3:4b", "--language", "es"]
        )
        assert made.exit_code == 0, made.output
        assert "ollama run sabio-legal" in made.stdout
        [body] = ollama.created
        assert (body["model"], body["from"]) == ("sabio-legal", "qwen3:4b")
        assert body["system"] == f"Instrucciones (síguelas):\n{GUIDE.instruction}"
        missing = runner.invoke(app, ["kb", "publish", "legal", "--from", "nada:1b"])
        assert missing.exit_code == 1 and "nada:1b" in missing.stderr

"""End to end with the real embedded models: MiniLM retrieves, SmolLM2 (llama.cpp) answers.

SmolLM2-135M's answers are weak; these tests check the machinery around them: streaming,
citations that resolve to the right document and page, the token budget against the
real tokenizer and context, the answer's language, and the errors users meet. Answers
are kept short (``answer_tokens``) and greedy (temperature 0) so the tests stay quick.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import need_data
from fake_servers import closed_port
from typer.testing import CliRunner

from sabio.answer import detect_language, no_answer_text
from sabio.cli import app
from sabio.config import Settings, load_settings
from sabio.errors import ConfigError, ModelError
from sabio.models import ChatOptions, get_chat_model
from sabio.models import llama as llama_backend
from sabio.service import Sabio

pytestmark = pytest.mark.slow
pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")

APPLE = "2023 Q1 AAPL.pdf"
SETTINGS = {
    "embedding_model": "embedded:all-minilm-l6-v2",
    "temperature": 0,
    "workers": 1,
    "answer_style": "generative",  # these tests are about the model; the CLI's uses the default
}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with a real 10-Q filing (PDF) and a Spanish text, indexed once."""
    pdf = need_data("rag_qa", "docugami_sec10q", "docs", APPLE)
    xquad = need_data("xquad_retrieval", "es", "corpus.jsonl")
    docs = tmp_path_factory.mktemp("docs")
    shutil.copy(pdf, docs / APPLE)
    rows = [json.loads(line) for line in xquad.read_text(encoding="utf-8").splitlines()[:10]]
    (docs / "super_bowl_50.txt").write_text("\n\n".join(r["text"] for r in rows), "utf-8")
    home = tmp_path_factory.mktemp("home")
    with _service(home) as sabio:
        report = sabio.add([docs])
    assert report.count("added") == 2
    return home


class _service:
    def __init__(self, home: Path, **overrides: object) -> None:
        self.sabio = Sabio(load_settings({"home": home, **SETTINGS, **overrides}, environ={}))

    def __enter__(self) -> Sabio:
        return self.sabio

    def __exit__(self, *exc: object) -> None:
        self.sabio.close()


@pytest.fixture
def sabio(home: Path) -> Iterator[Sabio]:
    with _service(home, answer_tokens=48) as service:
        yield service


def test_an_english_question_streams_an_answer_citing_the_right_page(sabio: Sabio) -> None:
    stream = sabio.ask(
        "What were Apple's total net sales for the three months ended December 31, 2022?",
        model="embedded:smollm2",
    )
    pieces = list(stream)
    answer = stream.answer
    assert len(pieces) > 3  # streamed, not returned whole
    # answer_tokens is small: an answer cut there is marked so, and nothing else broke
    assert answer.complete or answer.stopped == "length", answer.error
    assert answer.language == "en" and not answer.no_answer
    assert answer.citations, answer.text
    pages = {c.page for c in answer.citations if c.document.endswith(APPLE)}
    assert pages, answer.citations
    # every cited page holds the passage the citation quotes
    for citation in answer.citations:
        assert citation.page is not None and 1 <= citation.page <= 30
        assert f"[{citation.number}]" in answer.text
    assert answer.prompt_tokens <= answer.budget


def test_a_spanish_question_gets_a_spanish_answer(sabio: Sabio) -> None:
    stream = sabio.ask(
        "¿Cuántos puntos cedieron los Panthers en defensa?", model="embedded:smollm2"
    )
    text = "".join(stream)
    assert stream.answer.language == "es"
    assert detect_language(text) == "es", text


def test_an_unrelated_question_is_not_answered(sabio: Sabio) -> None:
    stream = sabio.ask("What is the best recipe for a chocolate soufflé?", model="embedded:smollm2")
    assert "".join(stream) == no_answer_text("en")
    assert stream.answer.no_answer and stream.answer.citations == []


def test_a_small_context_drops_passages_and_still_fits(home: Path) -> None:
    with _service(home, context_window=768, answer_tokens=32) as sabio:
        stream = sabio.ask("What were Apple's net sales by category?", model="embedded:smollm2")
        list(stream)  # llama.cpp raises when a prompt exceeds its context: it must not
    answer = stream.answer
    assert answer.stopped in (None, "length"), answer.error
    assert answer.dropped and answer.passages >= 1
    assert answer.prompt_tokens <= answer.budget == 768 - 32


def test_cli_ask_json_resolves_citations(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SABIO_HOME", str(home))
    monkeypatch.setenv("SABIO_TEMPERATURE", "0")
    monkeypatch.setenv("SABIO_ANSWER_TOKENS", "48")
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")  # no Ollama: embedded
    result = CliRunner().invoke(
        app, ["ask", "What was Apple's net income for the quarter?", "--json"]
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["model"] == "embedded:smollm2"  # the default without Ollama
    assert answer["style"] == "extractive"  # and its answers quote the documents
    assert answer["timings"]["first_token_ms"] <= answer["timings"]["total_ms"]
    for citation in answer["citations"]:
        assert Path(citation["document"]).name in {APPLE, "super_bowl_50.txt"}
        assert citation["snippet"]
    assert answer["claims"] and all(c["supported"] and c["quoted"] for c in answer["claims"])
    for claim in answer["claims"]:  # each quote is the document's text at its span
        assert claim["page"] and claim["quote"] in answer["text"]
        assert claim["quote_end"] > claim["quote_start"]


def test_a_file_that_is_not_a_model_is_a_clear_error(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"not a model" * 100)
    settings = Settings(home=tmp_path)
    model = get_chat_model(settings, f"embedded:{fake}")
    with pytest.raises(ModelError, match="could not load"):
        model.count_tokens("hola")
    with pytest.raises(ConfigError, match="does not exist"):
        get_chat_model(settings, f"embedded:{tmp_path / 'missing.gguf'}")


def test_a_model_that_does_not_fit_in_memory_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The operating system's answer is the edge here: pretend 64 MB are free.
    monkeypatch.setattr(llama_backend, "available_memory", lambda: 64 * 1024**2)
    monkeypatch.setattr(llama_backend, "_OPEN", {})
    model = get_chat_model(Settings(home=tmp_path), "embedded:smollm2")
    with pytest.raises(ModelError, match="does not fit in memory"):
        list(model.stream([{"role": "user", "content": "hola"}], ChatOptions()))


def _niceness(thread_id: int) -> int:
    """A thread's nice value, from /proc (field 19 of its stat line)."""
    stat = Path(f"/proc/self/task/{thread_id}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_the_model_runs_at_a_lower_priority_and_stops_when_its_reader_goes() -> None:
    import os
    import threading

    settings = load_settings({"temperature": 0, "context_window": 1024}, environ={})
    model = get_chat_model(settings, "embedded:smollm2")
    options = ChatOptions(max_tokens=200, temperature=0)
    messages = [{"role": "user", "content": "Count from one to one hundred in words."}]
    own = os.getpriority(os.PRIO_PROCESS, 0)
    pieces = iter(model.stream(messages, options))
    next(pieces)
    runners = [t for t in threading.enumerate() if t.name.startswith("sabio-llama-")]
    assert runners and runners[0].native_id is not None
    assert _niceness(runners[0].native_id) == own + llama_backend.BACKGROUND_NICENESS
    tasks = [int(tid) for tid in os.listdir("/proc/self/task")]
    assert _niceness(threading.get_native_id()) == own  # the caller's priority is untouched
    assert sum(_niceness(t) > own for t in tasks) >= 1
    pieces.close()  # the reader goes: the model stops and takes the next request
    again = "".join(model.stream(messages, ChatOptions(max_tokens=8, temperature=0)))
    assert again.strip()


def test_a_cancelled_request_stops_the_model_while_it_reads_the_prompt() -> None:
    import threading

    settings = load_settings({"temperature": 0}, environ={})
    model = get_chat_model(settings, "embedded:smollm2")
    text = need_data("beir_scifact", "corpus.jsonl").read_text(encoding="utf-8")[:7000]
    messages = [{"role": "user", "content": f"Summarize this:\n{text}"}]
    assert model.count_tokens(text) > 10 * llama_backend.UBATCH  # many steps to read it
    cancel = threading.Event()
    pieces = model.stream(messages, ChatOptions(max_tokens=64, temperature=0, cancel=cancel))
    cancel.set()  # before its first word: the prompt is still being read
    with pytest.raises(ModelError, match="llama_decode returned 2"):  # aborted, not finished
        "".join(pieces)
    hello = [{"role": "user", "content": "Say hi."}]
    again = "".join(model.stream(hello, ChatOptions(max_tokens=8, temperature=0)))
    assert again.strip()  # and the model answers the next request

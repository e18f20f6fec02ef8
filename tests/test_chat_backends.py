"""The Ollama and OpenAI-compatible chat backends, model pulling and the model catalog,
against real local HTTP servers (and a live Ollama, only when one answers)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_servers import (
    FakeOllama,
    Raw,
    Request,
    answer_pieces,
    chat_chunk,
    chat_model,
    closed_port,
    embedding_model,
    openai_chunk,
    sse,
)
from typer.testing import CliRunner

from sabio.cli import app
from sabio.config import OpenAIServer, Settings, load_settings
from sabio.errors import ModelError, NotFoundError
from sabio.models import ChatOptions, Message, estimate_tokens, get_chat_model
from sabio.models.catalog import default_chat_model, list_models
from sabio.models.ollama import OllamaClient, find_ollama_chat_model
from sabio.models.openai import OpenAIConnection

LLAMA = chat_model("llama3.2:latest")
QWEN = chat_model("qwen3:4b", family="qwen3", thinking=True, context_length=40960)
NOMIC = embedding_model("nomic-embed-text:latest", dimension=12, family="nomic-bert")
MESSAGES: list[Message] = [
    {"role": "system", "content": "Answer in one short sentence."},
    {"role": "user", "content": "What colour is the sky on a clear day?"},
]


def settings_for(host: str, tmp_path: Path, **kwargs: Any) -> Settings:
    return Settings(home=tmp_path, ollama_host=host, **kwargs)


def chat_bodies(server: FakeOllama, path: str = "/api/chat") -> list[dict[str, Any]]:
    return [r.json for r in server.requests if r.path == path]


def collect(pieces: Iterator[str]) -> tuple[list[str], Exception | None]:
    """The pieces that arrived, and the error that ended the stream (if one did)."""
    got: list[str] = []
    try:
        for piece in pieces:
            got.append(piece)
    except (ModelError, NotFoundError) as exc:
        return got, exc
    return got, None


# --- the same stream test, against the fake and (when one answers) a live Ollama ----------


@pytest.fixture(params=["fake", pytest.param("live", marks=pytest.mark.ollama)])
def ollama_chat(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Settings, str]]:
    """Settings and a chat model name: on the fake server, or on a live Ollama."""
    if request.param == "fake":
        with FakeOllama([NOMIC, LLAMA]) as ollama:
            yield settings_for(ollama.url, tmp_path), "ollama:llama3.2"
        return
    host = os.environ.get("OLLAMA_HOST", "127.0.0.1:11434")
    settings = load_settings({"home": tmp_path}, environ={"OLLAMA_HOST": host})
    name = find_ollama_chat_model(settings)
    if name is None:
        pytest.skip(f"no Ollama with a chat model at {settings.ollama_host}")
    yield settings, name


def test_ollama_streams_an_answer(ollama_chat: tuple[Settings, str]) -> None:
    settings, name = ollama_chat
    model = get_chat_model(settings, name)
    pieces = list(model.stream(MESSAGES, ChatOptions(max_tokens=48, temperature=0.0)))
    assert pieces and all(isinstance(p, str) and p for p in pieces)
    assert "".join(pieces).strip()
    assert 0 < model.context_window <= 8192


# --- Ollama ----------------------------------------------------------------------------


def test_ollama_streams_pieces_in_order_with_every_option(tmp_path: Path) -> None:
    with FakeOllama([LLAMA]) as ollama:
        model = get_chat_model(settings_for(ollama.url, tmp_path), "ollama:llama3.2")
        options = ChatOptions(max_tokens=64, temperature=0.5, stop=("\n\n", "[fin]"))
        pieces = list(model.stream(MESSAGES, options))
        [body] = chat_bodies(ollama)

    assert model.name == "ollama:llama3.2"
    assert pieces == answer_pieces(LLAMA.reply)
    assert body == {
        "model": "llama3.2",
        "messages": [dict(m) for m in MESSAGES],
        "stream": True,
        "options": {
            "num_ctx": 8192,
            "num_predict": 64,
            "temperature": 0.5,
            "stop": ["\n\n", "[fin]"],
        },
    }  # no "think": llama3.2 cannot think, and asking would be a 400


@pytest.mark.parametrize(
    ("setting", "model_length", "expected"),
    [
        (0, 131072, 8192),  # the model's own length, capped
        (0, 4096, 4096),  # a model with a shorter context keeps it
        (0, 0, 8192),  # unknown: the cap
        (16384, 131072, 16384),  # the setting wins, even above the cap
        (2048, 131072, 2048),
    ],
)
def test_num_ctx_is_always_the_context_window(
    tmp_path: Path, setting: int, model_length: int, expected: int
) -> None:
    with FakeOllama([chat_model("llama3.2:latest", context_length=model_length)]) as ollama:
        settings = settings_for(ollama.url, tmp_path, context_window=setting)
        model = get_chat_model(settings, "ollama:llama3.2")
        assert model.context_window == expected
        list(model.stream(MESSAGES, ChatOptions()))
        list(model.stream(MESSAGES, ChatOptions()))
        sent = [body["options"]["num_ctx"] for body in chat_bodies(ollama)]
        shows = ollama.count("POST", "/api/show")

    assert sent == [expected, expected]
    assert shows == 1  # learnt once, kept on the instance


def test_a_thinking_model_is_told_not_to_think(tmp_path: Path) -> None:
    with FakeOllama([QWEN]) as ollama:
        model = get_chat_model(settings_for(ollama.url, tmp_path), "ollama:qwen3:4b")
        pieces = list(model.stream(MESSAGES, ChatOptions()))
        [body] = chat_bodies(ollama)

    assert body["think"] is False
    assert body["options"]["num_ctx"] == 8192
    assert pieces == answer_pieces(QWEN.reply)


def test_thinking_is_left_out_of_the_answer(tmp_path: Path) -> None:
    def thinks_anyway(request: Request) -> tuple[int, Any]:
        lines = [chat_chunk("qwen3:4b", "", thinking="Hmm…"), chat_chunk("qwen3:4b", "Azul.")]
        return 200, iter([*lines, chat_chunk("qwen3:4b", "", done=True)])

    with FakeOllama([QWEN]) as ollama:
        ollama.route("POST", "/api/chat", thinks_anyway)
        model = get_chat_model(settings_for(ollama.url, tmp_path), "ollama:qwen3:4b")
        assert list(model.stream(MESSAGES, ChatOptions())) == ["Azul."]


def test_an_ollama_without_capabilities_gets_no_think(tmp_path: Path) -> None:
    with FakeOllama([LLAMA], capabilities=False) as ollama:
        model = get_chat_model(settings_for(ollama.url, tmp_path), "ollama:llama3.2")
        assert list(model.stream(MESSAGES, ChatOptions()))
        assert "think" not in chat_bodies(ollama)[0]


def test_count_tokens_over_estimates(tmp_path: Path) -> None:
    model = get_chat_model(settings_for("http://127.0.0.1:1", tmp_path), "ollama:llama3.2")
    text = "¿Qué dice el contrato sobre la rescisión?"
    assert model.count_tokens(text) == estimate_tokens(text)


def test_a_model_not_pulled_names_sabio_pull(tmp_path: Path) -> None:
    with FakeOllama([LLAMA]) as ollama:
        model = get_chat_model(settings_for(ollama.url, tmp_path), "ollama:qwen3:4b")
        with pytest.raises(NotFoundError, match="run `sabio pull qwen3:4b`"):
            list(model.stream(MESSAGES, ChatOptions()))
        with (  # /api/chat's own 404, as when the model is removed between show and chat
            OllamaClient(ollama.url) as client,
            pytest.raises(NotFoundError, match=r"'gemma3' is not installed .* `sabio pull gemma3`"),
        ):
            list(client.chat({"model": "gemma3", "messages": [], "stream": True}))


def test_an_error_in_the_middle_of_the_stream_ends_it(tmp_path: Path) -> None:
    def breaks(request: Request) -> tuple[int, Any]:
        lines = [chat_chunk("llama3.2", "El"), chat_chunk("llama3.2", " faro")]
        return 200, iter([*lines, {"error": "an error was encountered while running the model"}])

    with FakeOllama([LLAMA]) as ollama:
        ollama.route("POST", "/api/chat", breaks)
        model = get_chat_model(settings_for(ollama.url, tmp_path), "ollama:llama3.2")
        pieces, error = collect(model.stream(MESSAGES, ChatOptions()))

    assert pieces == ["El", " faro"]  # what came before the error reached the caller
    assert isinstance(error, ModelError)
    assert "stopped in the middle of /api/chat" in str(error)
    assert "an error was encountered while running the model" in str(error)


@pytest.mark.parametrize(
    "ending",
    [
        [b'{"model":"llama3.2","message":{"role":"assis'],  # cut in the middle of a line
        [],  # closed cleanly, but before the done line
    ],
    ids=["cut-line", "no-done"],
)
def test_a_dropped_connection_in_the_middle_is_an_error(
    tmp_path: Path, ending: list[bytes]
) -> None:
    def drops(request: Request) -> tuple[int, Any]:
        return 200, iter([chat_chunk("llama3.2", "El"), *ending])

    with FakeOllama([LLAMA]) as ollama:
        ollama.route("POST", "/api/chat", drops)
        model = get_chat_model(settings_for(ollama.url, tmp_path), "ollama:llama3.2")
        pieces, error = collect(model.stream(MESSAGES, ChatOptions()))

    assert pieces == ["El"]
    assert isinstance(error, ModelError)
    assert "broke off before it was complete" in str(error)


@pytest.mark.parametrize(
    "message",
    [
        "model requires more system memory (10.5 GiB) than is available (3.2 GiB)",
        "llama runner process has terminated: cudaMalloc failed: out of memory",
    ],
)
def test_a_model_too_big_for_memory_suggests_a_smaller_one(tmp_path: Path, message: str) -> None:
    with FakeOllama([LLAMA]) as ollama:
        ollama.route("POST", "/api/chat", lambda r: (500, {"error": message}))
        model = get_chat_model(settings_for(ollama.url, tmp_path), "ollama:llama3.2")
        pieces, error = collect(model.stream(MESSAGES, ChatOptions()))

    assert pieces == []
    assert type(error) is ModelError
    assert "'llama3.2' does not fit in free memory" in str(error)
    assert message in str(error)
    assert "smaller model" in str(error) and "context_window" in str(error)


def test_ollama_not_running_says_how_to_start_it(tmp_path: Path) -> None:
    host = f"http://127.0.0.1:{closed_port()}"
    model = get_chat_model(settings_for(host, tmp_path), "ollama:llama3.2")
    with pytest.raises(ModelError, match=f"not reachable at {host} — start it with `ollama serve`"):
        list(model.stream(MESSAGES, ChatOptions()))


def test_find_prefers_known_chat_families_over_embedders(tmp_path: Path) -> None:
    models = [NOMIC, chat_model("tinyllama:latest"), chat_model("mistral:7b"), QWEN]
    with FakeOllama(models) as ollama:
        assert find_ollama_chat_model(settings_for(ollama.url, tmp_path)) == "ollama:qwen3:4b"
    with FakeOllama(models[:3], capabilities=False) as ollama:
        assert find_ollama_chat_model(settings_for(ollama.url, tmp_path)) == "ollama:mistral:7b"
    with FakeOllama([chat_model("tinyllama:latest"), NOMIC]) as ollama:
        assert find_ollama_chat_model(settings_for(ollama.url, tmp_path)) == "ollama:tinyllama"


def test_find_chat_model_returns_none_without_one(tmp_path: Path) -> None:
    with FakeOllama([NOMIC]) as ollama:
        assert find_ollama_chat_model(settings_for(ollama.url, tmp_path)) is None
    assert (
        find_ollama_chat_model(settings_for(f"http://127.0.0.1:{closed_port()}", tmp_path)) is None
    )


# --- pulling ---------------------------------------------------------------------------


def test_pull_streams_progress_and_installs_the_model(tmp_path: Path) -> None:
    with FakeOllama([NOMIC], library=[QWEN]) as ollama, OllamaClient(ollama.url) as client:
        progress = list(client.pull("qwen3:4b"))
        installed = [m["name"] for m in client.list_models()]
        [body] = chat_bodies(ollama, "/api/pull")

    assert body == {"model": "qwen3:4b", "stream": True}
    assert progress[0] == {"status": "pulling manifest", "digest": "", "total": 0, "completed": 0}
    layers = [p for p in progress if p["digest"]]
    assert {p["total"] for p in layers} == {2_000_000, 1_024}
    assert all(0 <= p["completed"] <= p["total"] for p in layers)
    assert progress[-1]["status"] == "success"
    assert "qwen3:4b" in installed


def test_pulling_an_unknown_model_says_so(tmp_path: Path) -> None:
    with (
        FakeOllama(library=[QWEN]) as ollama,
        OllamaClient(ollama.url) as client,
        pytest.raises(NotFoundError, match=r"knows no model 'qwen9'.*ollama.com/library"),
    ):
        list(client.pull("qwen9"))


# --- OpenAI-compatible servers ----------------------------------------------------------


def openai_settings(url: str, tmp_path: Path, api_key: str = "", **kwargs: Any) -> Settings:
    server = OpenAIServer(base_url=url, api_key=api_key, context_window=32768)
    return Settings(home=tmp_path, openai_servers={"lmstudio": server}, **kwargs)


def test_openai_server_streams_server_sent_events(tmp_path: Path) -> None:
    with FakeOllama([LLAMA], api_key="sk-local") as server:
        settings = openai_settings(f"{server.url}/v1", tmp_path, "sk-local")
        model = get_chat_model(settings, "lmstudio:llama3.2")
        options = ChatOptions(max_tokens=64, temperature=0.3, stop=("\n\n",))
        pieces = list(model.stream(MESSAGES, options))
        [request] = [r for r in server.requests if r.path == "/v1/chat/completions"]

    assert model.name == "lmstudio:llama3.2"
    assert model.context_window == 32768  # from [openai.lmstudio]
    assert model.count_tokens("hola") == estimate_tokens("hola")
    assert pieces == answer_pieces(LLAMA.reply)
    assert request.headers["authorization"] == "Bearer sk-local"
    assert request.json == {
        "model": "llama3.2",
        "messages": [dict(m) for m in MESSAGES],
        "stream": True,
        "max_tokens": 64,
        "temperature": 0.3,
        "stop": ["\n\n"],
    }


def test_openai_context_window_setting_only_lowers_it(tmp_path: Path) -> None:
    lower = openai_settings("http://127.0.0.1:1/v1", tmp_path, context_window=4096)
    higher = openai_settings("http://127.0.0.1:1/v1", tmp_path, context_window=65536)
    assert get_chat_model(lower, "lmstudio:x").context_window == 4096
    assert get_chat_model(higher, "lmstudio:x").context_window == 32768


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        (
            [sse({"error": {"message": "context length exceeded", "type": "server_error"}})],
            "stopped in the middle of the answer: context length exceeded",
        ),
        ([b'data: {"id":"chatcmpl-1","choi'], "broke off before it was complete"),
        ([], "broke off before it was complete"),
    ],
    ids=["error-event", "cut-event", "no-done"],
)
def test_openai_stream_failures_in_the_middle(
    tmp_path: Path, events: list[bytes], expected: str
) -> None:
    def breaks(request: Request) -> tuple[int, Any]:
        return 200, Raw([openai_chunk("llama3.2", "El"), *events])

    with FakeOllama([LLAMA]) as server:
        server.route("POST", "/v1/chat/completions", breaks)
        model = get_chat_model(openai_settings(server.url, tmp_path), "lmstudio:llama3.2")
        pieces, error = collect(model.stream(MESSAGES, ChatOptions()))

    assert pieces == ["El"]
    assert isinstance(error, ModelError)
    assert expected in str(error)


def test_openai_stream_refusals(tmp_path: Path) -> None:
    with FakeOllama([LLAMA], api_key="sk-local") as server:
        wrong_key = openai_settings(server.url, tmp_path, "wrong")
        with pytest.raises(ModelError, match=r"401: Invalid API key.*\[openai.lmstudio\]"):
            list(get_chat_model(wrong_key, "lmstudio:llama3.2").stream(MESSAGES, ChatOptions()))
        settings = openai_settings(server.url, tmp_path, "sk-local")
        with pytest.raises(NotFoundError, match="'nope' is not available on 'lmstudio'"):
            list(get_chat_model(settings, "lmstudio:nope").stream(MESSAGES, ChatOptions()))


def test_openai_server_lists_its_models(tmp_path: Path) -> None:
    with FakeOllama([LLAMA, NOMIC]) as server:
        connection = OpenAIConnection(openai_settings(server.url, tmp_path), "lmstudio")
        with connection:
            assert connection.list_models() == ["llama3.2:latest", "nomic-embed-text:latest"]


# --- the catalog --------------------------------------------------------------------------


def test_catalog_lists_every_backend_and_marks_the_defaults(tmp_path: Path) -> None:
    with FakeOllama([NOMIC, QWEN]) as ollama:
        server = OpenAIServer(base_url=f"{ollama.url}/v1")
        settings = settings_for(ollama.url, tmp_path, openai_servers={"lmstudio": server})
        chat = default_chat_model(settings)
        entries = list_models(
            settings, default_chat=chat, default_embedding="ollama:nomic-embed-text"
        )
    by_name = {e.name: e for e in entries}

    assert chat == "ollama:qwen3:4b"
    assert {"embedded:all-minilm-l6-v2", "embedded:smollm2"} <= set(by_name)
    assert by_name["embedded:smollm2"].kind == "chat"
    assert by_name["embedded:all-minilm-l6-v2"].kind == "embedding"
    qwen, nomic = by_name["ollama:qwen3:4b"], by_name["ollama:nomic-embed-text"]
    assert (qwen.kind, qwen.backend, qwen.available) == ("chat", "ollama", True)
    assert qwen.default == "chat"
    assert qwen.size == 2019393189 and qwen.details["parameter_size"] == "3.2B"
    assert (nomic.kind, nomic.default) == ("embedding", "embedding")
    assert by_name["lmstudio:qwen3:4b"].kind == "model"
    assert [e.name for e in entries if e.default] == ["ollama:nomic-embed-text", "ollama:qwen3:4b"]


def test_catalog_notes_unreachable_backends_and_missing_defaults(tmp_path: Path) -> None:
    host = f"http://127.0.0.1:{closed_port()}"
    server = OpenAIServer(base_url=f"http://127.0.0.1:{closed_port()}/v1")
    settings = settings_for(host, tmp_path, openai_servers={"vllm": server})
    entries = list_models(settings, default_chat="ollama:gemma3", default_embedding="fake:words")
    by_name = {e.name: e for e in entries}

    assert not by_name["ollama:*"].available and "ollama serve" in by_name["ollama:*"].note
    assert not by_name["vllm:*"].available and "[openai.vllm]" in by_name["vllm:*"].note
    gemma = by_name["ollama:gemma3"]
    assert (gemma.available, gemma.default, gemma.kind) == (False, "chat", "chat")
    assert "sabio pull gemma3" in gemma.note
    assert by_name["fake:words"].default == by_name["fake:words"].kind == "embedding"


def test_default_chat_model(tmp_path: Path) -> None:
    absent = f"http://127.0.0.1:{closed_port()}"
    assert default_chat_model(settings_for(absent, tmp_path)) == "embedded:smollm2"
    chosen = settings_for(absent, tmp_path, chat_model="ollama:gemma3")
    assert default_chat_model(chosen) == "ollama:gemma3"
    with FakeOllama([NOMIC]) as ollama:  # Ollama, but no chat model in it
        assert default_chat_model(settings_for(ollama.url, tmp_path)) == "embedded:smollm2"


# --- the CLI ------------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOllama]:
    """``sabio`` pointed at a fake Ollama with a chat and an embedding model."""
    for name in ("SABIO_EMBEDDING_MODEL", "SABIO_CHAT_MODEL", "SABIO_CONFIG", "SABIO_OLLAMA_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SABIO_HOME", str(tmp_path / "home"))
    with FakeOllama([NOMIC, LLAMA], library=[QWEN]) as ollama:
        monkeypatch.setenv("OLLAMA_HOST", ollama.url)
        yield ollama


def test_cli_models_json_marks_the_defaults(cli_env: FakeOllama) -> None:
    result = CliRunner().invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    entries = {e["name"]: e for e in json.loads(result.stdout)}
    assert entries["ollama:llama3.2"]["kind"] == "chat"
    assert entries["ollama:llama3.2"]["default"] == "chat"
    assert entries["ollama:nomic-embed-text"]["default"] == "embedding"
    assert entries["embedded:smollm2"]["default"] == ""
    assert {"name", "kind", "backend", "available", "note", "size", "details"} <= set(
        entries["ollama:llama3.2"]
    )


def test_cli_models_table(cli_env: FakeOllama) -> None:
    result = CliRunner().invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    assert "ollama:llama3.2" in result.output and "embedded:smollm2" in result.output
    assert "default for" in result.output and "embedding" in result.output


def test_cli_pull_shows_progress_and_the_result(cli_env: FakeOllama) -> None:
    result = CliRunner().invoke(app, ["pull", "qwen3:4b"])
    assert result.exit_code == 0, result.output
    assert "pulled qwen3:4b" in result.output
    assert cli_env.find("qwen3:4b") is not None
    models = json.loads(CliRunner().invoke(app, ["models", "--json"]).stdout)
    assert "ollama:qwen3:4b" in {m["name"] for m in models}


def test_cli_pull_errors_are_one_line(cli_env: FakeOllama, monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(app, ["pull", "ollama:qwen9"])
    output = " ".join(result.output.split())  # the console wraps long lines
    assert result.exit_code == 1
    assert "error: Ollama knows no model 'qwen9'" in output
    assert "Traceback" not in output
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    result = CliRunner().invoke(app, ["pull", "qwen3:4b"])
    assert result.exit_code == 1
    assert "start it with `ollama serve`" in " ".join(result.output.split())
    result = CliRunner().invoke(app, ["pull", "embedded:smollm2"])  # Sabio's own model
    assert result.exit_code == 1 and "part of Sabio" in " ".join(result.output.split())

"""Several Ollama hosts: two FakeOllama servers on loopback, one of them stopped or broken."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_servers import (
    FakeOllama,
    Request,
    chat_chunk,
    chat_model,
    embedding_model,
)
from typer.testing import CliRunner

from sabio.cli import app
from sabio.config import Settings, load_settings
from sabio.errors import ModelError
from sabio.models import ChatOptions, Message
from sabio.models.ollama import (
    find_ollama_chat_model,
    find_ollama_embedding_model,
    host_pool,
    list_models,
    ollama_chat_model,
    ollama_embedding_model,
)

MESSAGES: list[Message] = [{"role": "user", "content": "¿Qué dice el contrato?"}]
REPLY = "El contrato dura dos años."


def _settings(first: FakeOllama, second: FakeOllama | str, parallel: int = 0) -> Settings:
    other = second if isinstance(second, str) else second.url
    return Settings(ollama_host=first.url, ollama_hosts=other, ollama_parallel=parallel)


def _chat(settings: Settings) -> str:
    return "".join(ollama_chat_model(settings, "qwen3:4b").stream(MESSAGES, ChatOptions()))


def _ollama(*models: str) -> FakeOllama:
    return FakeOllama(models=[chat_model(name) for name in models])


def test_the_hosts_setting_takes_a_list_or_commas(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('ollama_hosts = ["gpu2", "http://gpu3:8080"]\n')
    settings = load_settings(environ={"SABIO_HOME": str(tmp_path), "OLLAMA_HOST": "gpu1"})
    assert settings.all_ollama_hosts == (
        "http://gpu1:11434",
        "http://gpu2:11434",
        "http://gpu3:8080",
    )
    env = {
        "SABIO_HOME": str(tmp_path),
        "OLLAMA_HOST": "gpu1",
        "SABIO_OLLAMA_HOSTS": "gpu1, gpu4:1234",
    }
    assert load_settings(environ=env).all_ollama_hosts[1:] == ("http://gpu4:1234",)


def test_a_request_goes_to_the_host_that_has_the_model() -> None:
    with _ollama("llama3.2:latest") as first, _ollama("qwen3:4b") as second:
        for model in (*first.models, *second.models):
            model.reply = REPLY
        assert _chat(_settings(first, second)) == REPLY
        assert (first.count("POST", "/api/chat"), second.count("POST", "/api/chat")) == (0, 1)


def test_a_host_that_died_is_skipped_before_the_first_word() -> None:
    with _ollama("qwen3:4b") as second:
        second.models[0].reply = REPLY
        with _ollama("qwen3:4b") as first:
            first.models[0].reply = REPLY
            settings = _settings(first, second)
            model = ollama_chat_model(settings, "qwen3:4b")  # kept, as the service keeps it
            assert "".join(model.stream(MESSAGES, ChatOptions())) == REPLY
            assert first.count("POST", "/api/chat") == 1  # both idle: the first's turn
        # `first` is stopped now, though its list of models is still trusted
        assert "".join(model.stream(MESSAGES, ChatOptions())) == REPLY  # `second`'s turn
        assert "".join(model.stream(MESSAGES, ChatOptions())) == REPLY  # `first`'s: skipped
        assert second.count("POST", "/api/chat") == 2
        assert _chat(settings) == REPLY  # marked down: the next goes straight to `second`
        assert second.count("POST", "/api/chat") == 3
        tags = second.count("GET", "/api/tags")
        assert _chat(settings) == REPLY and second.count("GET", "/api/tags") == tags


def _breaking(after: int) -> Any:
    def handler(request: Request) -> tuple[int, Iterator[dict[str, Any] | bytes]]:
        def lines() -> Iterator[dict[str, Any] | bytes]:
            for word in REPLY.split()[:after]:
                yield chat_chunk("qwen3:4b", word + " ")
            yield b'{"model": "qwen3:4b", "mess'  # the host dies in the middle of a line

        return 200, lines()

    return handler


def test_a_host_that_breaks_off_before_the_first_word_is_replaced() -> None:
    with _ollama("qwen3:4b") as first, _ollama("qwen3:4b") as second:
        second.models[0].reply = REPLY
        first.route("POST", "/api/chat", _breaking(after=0))
        assert _chat(_settings(first, second)) == REPLY
        assert (first.count("POST", "/api/chat"), second.count("POST", "/api/chat")) == (1, 1)


def test_a_host_that_breaks_off_midway_fails_the_answer_instead_of_cutting_it() -> None:
    with _ollama("qwen3:4b") as first, _ollama("qwen3:4b") as second:
        first.route("POST", "/api/chat", _breaking(after=2))
        stream = ollama_chat_model(_settings(first, second), "qwen3:4b").stream(
            MESSAGES, ChatOptions()
        )
        pieces = [next(stream), next(stream)]
        with pytest.raises(ModelError) as failure:
            next(stream)
        assert failure.value.key == "ollama_broke_off"
        assert "".join(pieces) == "El contrato "
        assert second.count("POST", "/api/chat") == 0  # not a second answer after the first


def test_busy_hosts_share_the_work_and_full_ones_make_a_request_wait() -> None:
    with _ollama("qwen3:4b") as first, _ollama("qwen3:4b") as second:
        for server in (first, second):
            server.models[0].reply = REPLY
        settings = _settings(first, second, parallel=1)
        model = ollama_chat_model(settings, "qwen3:4b")
        model.context_window = 4096
        one = model.stream(MESSAGES, ChatOptions())
        two = model.stream(MESSAGES, ChatOptions())
        next(one), next(two)  # both answers under way at once, one on each host

        def chats() -> int:
            return first.count("POST", "/api/chat") + second.count("POST", "/api/chat")

        assert (first.count("POST", "/api/chat"), second.count("POST", "/api/chat")) == (1, 1)
        answers: list[str] = []
        third = threading.Thread(target=lambda: answers.append(_chat(settings)))
        third.start()
        while not any(host.waiting for host in host_pool(settings).hosts):
            third.join(0.01)
            assert third.is_alive(), "the third request did not wait for a place"
        assert chats() == 2
        one.close()  # a place is free: the third request goes on
        third.join()
        two.close()
        assert answers == [REPLY] and chats() == 3


def test_two_requests_at_once_go_to_two_hosts() -> None:
    with _ollama("qwen3:4b") as first, _ollama("qwen3:4b") as second:
        for server in (first, second):
            server.models[0].reply = REPLY
        model = ollama_chat_model(_settings(first, second), "qwen3:4b")  # no limit per host
        model.context_window = 4096
        both = threading.Barrier(2)
        answers: list[str] = []

        def ask() -> None:
            both.wait()
            answers.append("".join(model.stream(MESSAGES, ChatOptions())))

        threads = [threading.Thread(target=ask) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert answers == [REPLY, REPLY]
        assert (first.count("POST", "/api/chat"), second.count("POST", "/api/chat")) == (1, 1)


def test_the_host_with_fewer_requests_in_flight_comes_first_then_they_take_turns() -> None:
    with _ollama("qwen3:4b") as first, _ollama("qwen3:4b") as second:
        for server in (first, second):
            server.models[0].reply = REPLY
        model = ollama_chat_model(_settings(first, second), "qwen3:4b")
        model.context_window = 4096
        held = model.stream(MESSAGES, ChatOptions())
        next(held)  # under way on `first` (its turn)
        for _ in range(2):
            assert "".join(model.stream(MESSAGES, ChatOptions())) == REPLY
        assert (first.count("POST", "/api/chat"), second.count("POST", "/api/chat")) == (1, 2)
        held.close()
        for _ in range(4):  # both idle: one each in turn
            assert "".join(model.stream(MESSAGES, ChatOptions())) == REPLY
        assert (first.count("POST", "/api/chat"), second.count("POST", "/api/chat")) == (3, 4)


def test_embeddings_fail_over_to_a_host_that_answers() -> None:
    with FakeOllama(models=[embedding_model("bge-m3:latest", 8)]) as second:
        with FakeOllama(models=[embedding_model("bge-m3:latest", 8)]) as first:
            settings = _settings(first, second)
            embedder = ollama_embedding_model(settings, "bge-m3")
            before = embedder.embed(["uno", "dos"])
            assert first.count("POST", "/api/embed") == 1
        for _ in range(2):  # `second`'s turn, then `first`'s: it fails over to `second`
            after = embedder.embed(["uno", "dos"])
            assert [list(v) for v in after] == [list(v) for v in before]
        assert second.count("POST", "/api/embed") == 2


def test_doctor_shows_every_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with _ollama("qwen3:4b") as stopped:
        dead = stopped.url
    with _ollama("qwen3:4b", "bge-m3:latest") as alive, _ollama() as primary:
        monkeypatch.setenv("SABIO_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("SABIO_EMBEDDING_MODEL", "fake:words")
        monkeypatch.setenv("OLLAMA_HOST", primary.url)
        monkeypatch.setenv("SABIO_OLLAMA_HOSTS", f"{alive.url},{dead}")
        output = CliRunner().invoke(app, ["doctor"]).output
    alive_lines = [line for line in output.splitlines() if alive.url in line]
    dead_lines = [line for line in output.splitlines() if dead in line]
    assert any("qwen3:4b" in line for line in alive_lines), output
    assert any("not reachable" in line for line in dead_lines), output


def test_auto_finds_models_on_the_other_host_when_the_first_is_down() -> None:
    with _ollama("qwen3:4b") as stopped:
        pass
    with FakeOllama(
        models=[chat_model("llama3.2:latest"), embedding_model("bge-m3:latest")]
    ) as alive:
        settings = Settings(ollama_host=stopped.url, ollama_hosts=alive.url)
        assert find_ollama_chat_model(settings) == "ollama:llama3.2"
        assert find_ollama_embedding_model(settings) == "ollama:bge-m3"
        assert find_ollama_chat_model(Settings(ollama_host=stopped.url)) is None


def test_the_model_list_holds_every_hosts_models_once() -> None:
    with _ollama("qwen3:4b") as stopped:
        pass
    with _ollama("qwen3:4b", "llama3.2:latest") as first, _ollama("qwen3:4b") as second:
        settings = Settings(ollama_host=stopped.url, ollama_hosts=f"{first.url},{second.url}")
        names = [entry.name for entry in list_models(settings)]
        assert sorted(names) == ["ollama:llama3.2", "ollama:qwen3:4b"]
        [alone] = list_models(Settings(ollama_host=stopped.url))
        assert alone.name == "ollama:*" and not alone.available

"""Connections to the model hosts: proxies in the environment are not used, and a name
lookup waits a bounded time. Real local servers; the only double is the name lookup
(the system resolver's place), to play a DNS server that does not answer.
tests/test_privacy.py runs the real resolver against a silent DNS server too."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fake_servers import FakeOllama, FakeServer, chat_model, closed_port
from fastapi.testclient import TestClient

from sabio.config import load_settings
from sabio.connections import (
    BoundedLookupBackend,
    Resolver,
    Unanswered,
    UnresolvedHostError,
    model_client,
    unresolved_host,
)
from sabio.models.ollama import ollama_status
from sabio.server import create_app

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy")


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    """A server named as the proxy in every variable httpx reads; it records requests."""
    with FakeServer() as server:
        for name in PROXY_VARIABLES:
            monkeypatch.setenv(name, server.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        yield server


def test_the_ollama_client_ignores_proxies_from_the_environment(
    proxy: FakeServer, tmp_path: Path
) -> None:
    with FakeOllama([chat_model("llama3.2:latest")]) as ollama:
        status = ollama_status(load_settings({"home": tmp_path, "ollama_host": ollama.url}, {}))
        assert status["reachable"], status["error"]
        assert ollama.count("GET", "/api/version") == 1
    assert proxy.requests == []


def test_the_servers_pass_through_ignores_proxies_too(proxy: FakeServer, tmp_path: Path) -> None:
    with FakeOllama([chat_model("llama3.2:latest")]) as ollama:
        settings = load_settings({"home": tmp_path, "ollama_host": ollama.url}, {})
        app = create_app(settings, environ={}, run_worker=False)
        with TestClient(app, base_url="http://127.0.0.1") as client:
            reply = client.get("/api/tags")
        assert reply.status_code == 200
        assert ollama.count("GET", "/api/tags") >= 1
    assert proxy.requests == []


class SilentDNS:
    """A lookup that does not answer until ``answer`` is called; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self._answered = threading.Event()

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls += 1
        self._answered.wait(30)
        return ["127.0.0.1"]

    def answer(self) -> None:
        self._answered.set()


def test_a_lookup_that_does_not_answer_fails_after_its_deadline_and_only_once() -> None:
    dns = SilentDNS()
    resolver = Resolver(dns)
    try:
        with pytest.raises(UnresolvedHostError, match=r"models\.test did not resolve within"):
            resolver.resolve("models.test", 11434, timeout=0.2)
        # still unanswered: the next connection fails at once, without a second lookup
        with pytest.raises(UnresolvedHostError, match="the DNS server does not answer"):
            resolver.resolve("models.test", 11434, timeout=0.2)
        assert dns.calls == 1
    finally:
        dns.answer()
    assert resolver.resolve("models.test", 11434) == ["127.0.0.1"]  # the late answer is kept
    assert dns.calls == 1


def test_addresses_need_no_lookup() -> None:
    dns = SilentDNS()
    assert Resolver(dns).resolve("127.0.0.1", 11434, timeout=0.1) == ["127.0.0.1"]
    assert Resolver(dns).resolve("::1", 11434, timeout=0.1) == ["::1"]
    assert dns.calls == 0


def test_a_failed_lookup_says_so_through_httpx() -> None:
    def no_such_host(host: str, port: int) -> list[str]:
        raise OSError(-2, "Name or service not known")

    backend = BoundedLookupBackend(Resolver(no_such_host))
    with (
        model_client(base_url="http://models.test:11434", timeout=5, backend=backend) as client,
        pytest.raises(httpx.ConnectError) as caught,
    ):
        client.get("/api/version")
    assert unresolved_host(caught.value) == (
        "the host name models.test does not resolve ([Errno -2] Name or service not known)"
    )


def test_a_resolved_host_is_connected_to_at_its_address() -> None:
    with FakeOllama() as ollama:
        port = int(ollama.url.rsplit(":", 1)[1])
        backend = BoundedLookupBackend(Resolver(lambda host, port: ["127.0.0.1"]))
        url = f"http://ollama.test:{port}"
        with model_client(base_url=url, timeout=5, backend=backend) as client:
            assert client.get("/api/version").json() == {"version": "0.12.3"}
        assert ollama.requests[0].headers["host"] == f"ollama.test:{port}"


def test_doctor_says_which_openai_server_answers_and_which_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from sabio.cli import app

    with FakeOllama([chat_model("llama3.2:latest")]) as server:
        home = tmp_path / "home"
        home.mkdir()
        (home / "config.toml").write_text(
            f'[openai.lab]\nbase_url = "{server.url}/v1"\n\n'
            f'[openai.gone]\nbase_url = "http://127.0.0.1:{closed_port()}/v1"\n'
        )
        monkeypatch.setenv("SABIO_HOME", str(home))
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        doctor = CliRunner().invoke(app, ["doctor"])
    assert f"ok openai server lab: {server.url}/v1, 1 models" in doctor.output
    gone = next(line for line in doctor.output.splitlines() if "openai server gone" in line)
    assert gone.startswith("--") and "is not reachable at http://127.0.0.1:" in gone


def test_an_address_that_let_a_connection_time_out_is_not_waited_for_again_at_once() -> None:
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    filler = socket.create_connection(server.getsockname())  # the queue is full now
    url = f"http://127.0.0.1:{server.getsockname()[1]}"
    backend = BoundedLookupBackend(unanswered=Unanswered())
    try:
        with model_client(base_url=url, timeout=0.3, backend=backend) as probe:
            with pytest.raises(httpx.ConnectTimeout) as first:
                probe.get("/api/version")
            assert "not waiting for it again" not in str(first.value)
            with pytest.raises(httpx.ConnectTimeout, match="not waiting for it again yet"):
                probe.get("/api/version")
        with model_client(base_url=url, timeout=0.6, backend=backend) as patient:
            with pytest.raises(httpx.ConnectTimeout) as tried:
                patient.get("/api/version")  # more patient than the probe: it tries
            assert "not waiting for it again" not in str(tried.value)
    finally:
        filler.close()
        server.close()

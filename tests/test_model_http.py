"""The model backends' one HTTP layer (sabio.models.http) over a real server on loopback:
each way a request fails becomes exactly one Failure, worded by the backend's client,
and nothing from httpx gets through. The backends' own wording is tested in
test_model_backends.py and test_chat_backends.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fake_servers import FakeServer, Raw, Request, closed_port

from sabio.errors import ConfigError, ModelError, SabioError
from sabio.models.http import Failure, ModelHTTP


class ToyClient(ModelHTTP):
    """A backend's client: it only words failures, and keeps them to be looked at."""

    def __init__(self, base: str, timeout: float | httpx.Timeout = 5.0) -> None:
        self.failures: list[Failure] = []
        super().__init__(base, timeout=timeout)

    def words(self, failure: Failure) -> SabioError:
        self.failures.append(failure)
        error = ConfigError if failure.kind in ("bad_scheme", "invalid_url") else ModelError
        return error(f"toy {failure.kind} at {failure.url}: {failure.message}")


def _done(chunk: dict[str, Any]) -> bool:
    return bool(chunk.get("done"))


def _sleepy(request: Request) -> tuple[int, str]:
    time.sleep(1.0)
    return 200, "late"


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        fake.route("GET", "/ok", lambda r: (200, {"answer": 42}))
        fake.route("GET", "/list", lambda r: (200, [1, 2]))
        fake.route("GET", "/text", lambda r: (200, "<html>not an API</html>"))
        fake.route("GET", "/refused", lambda r: (500, {"error": {"message": "GPU on fire"}}))
        fake.route("GET", "/slow", _sleepy)
        fake.route("POST", "/lines", lambda r: (200, iter([{"n": 1}, "skip", {"done": True}])))
        fake.route("POST", "/cut", lambda r: (200, iter([{"n": 1}, b'{"n": 2, "te'])))
        fake.route("POST", "/midway", lambda r: (200, iter([{"n": 1}, {"error": "no memory"}])))
        sse = [
            b": keep-alive\n\n",
            b'data: {"n": 1}\n\n',
            b"data: [DONE]\n\n",
            b'data: {"n": 2}\n\n',
        ]
        fake.route("POST", "/sse", lambda r: (200, Raw(sse)))
        fake.route("POST", "/sse-finished", lambda r: (200, Raw([b'data: {"done": true}\n\n'])))
        fake.route("POST", "/sse-cut", lambda r: (200, Raw([b'data: {"n": 1}\n\n', b"data: {"])))
        yield fake


def _kind(client: ToyClient, call: Any) -> str:
    with pytest.raises(SabioError) as caught:
        call()
    assert not isinstance(caught.value.__cause__, SabioError)
    [failure] = client.failures
    assert str(caught.value).startswith(f"toy {failure.kind} ")
    return failure.kind


def test_a_json_reply_is_read_and_anything_else_is_worded_once(server: FakeServer) -> None:
    with ToyClient(server.url) as client:
        assert client.request("GET", "/ok") == {"answer": 42}
        assert client.request("GET", "/list") == {}  # a JSON value that is not an object
        assert _kind(client, lambda: client.request("GET", "/text")) == "not_json"
    with ToyClient(server.url) as client:
        assert _kind(client, lambda: client.request("GET", "/refused", model="m")) == "refused"
        [refused] = client.failures
        assert (refused.status, refused.message, refused.model) == (500, "GPU on fire", "m")
        assert refused.url == f"{server.url}/refused" and refused.path == "/refused"
    with ToyClient(server.url) as client:
        assert _kind(client, lambda: client.request("GET", "/nowhere")) == "refused"
        assert client.failures[0].message == "404 page not found"  # a body that is not JSON


def test_connection_failures_are_worded_by_kind(server: FakeServer) -> None:
    with ToyClient(f"http://127.0.0.1:{closed_port()}") as client:
        assert _kind(client, lambda: client.request("GET", "/ok")) == "unreachable"
        assert client.failures[0].why is None  # an address: nothing to resolve
    with ToyClient(server.url, timeout=httpx.Timeout(5.0, read=0.2)) as client:
        assert _kind(client, lambda: client.request("GET", "/slow")) == "timeout"
    with ToyClient("ftp://127.0.0.1:21") as client:
        assert _kind(client, lambda: client.request("GET", "/ok")) == "bad_scheme"
    with pytest.raises(ConfigError, match="toy invalid_url"):
        ToyClient("http://[::1")


def test_ndjson_streams_end_where_they_say_and_not_before(server: FakeServer) -> None:
    with ToyClient(server.url) as client:
        chunks = list(client.json_lines("POST", "/lines", {}, finished=_done))
        assert chunks == [{"n": 1}, {"done": True}]  # the string line is not an object
        assert not client.failures
        cut = _kind(client, lambda: list(client.json_lines("POST", "/cut", {}, finished=_done)))
        assert cut == "broke_off"
    with ToyClient(server.url) as client:
        got: list[dict[str, Any]] = []

        def read() -> None:
            got.extend(client.json_lines("POST", "/midway", {}, finished=_done))

        assert _kind(client, read) == "midway"
        assert got == [{"n": 1}] and client.failures[0].message == "no memory"


def test_server_sent_events_end_at_done_or_a_finished_event(server: FakeServer) -> None:
    with ToyClient(server.url) as client:
        assert list(client.events("/sse", {}, finished=_done)) == [{"n": 1}]
        assert list(client.events("/sse-finished", {}, finished=_done)) == [{"done": True}]
        cut = _kind(client, lambda: list(client.events("/sse-cut", {}, finished=_done)))
        assert cut == "broke_off"

"""A long-running server (``sabio serve``) settles its heap when it starts and after a
request that imported modules (:mod:`sabio.server.heap`); an app made for a test does not."""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sabio.config import load_settings
from sabio.server import create_app

LOCAL = "http://127.0.0.1:11435"  # without login the server answers at this computer's names
MARKER = "sabio_test_heap_marker"


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Whatever a test freezes goes back to the collector afterwards."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def _tracked() -> int:
    """The objects a full pass of the collector walks (the frozen ones are skipped)."""
    return sum(len(gc.get_objects(generation)) for generation in range(3))


def _get_after_an_import(client: TestClient, path: str) -> int:
    """``path``'s status, asked while a module is imported that was not before."""
    sys.modules[MARKER] = type(sys)(MARKER)
    try:
        return client.get(path).status_code
    finally:
        del sys.modules[MARKER]


def test_a_long_running_server_settles_its_heap(tmp_path: Path, unfrozen: None) -> None:
    settings = load_settings({"home": tmp_path / "home", "embedding_model": "fake:words"})
    app = create_app(settings, run_worker=False, long_running=True)
    with TestClient(app, base_url=LOCAL) as client:
        assert gc.get_freeze_count() > 10_000  # the modules' functions and classes, the services
        assert _tracked() < gc.get_freeze_count() / 10
        kept = [[n] for n in range(50_000)]  # long-lived objects made after the start
        assert client.get("/api/v1/health").status_code == 200
        assert _tracked() >= len(kept)  # a request that imports nothing settles nothing
        assert _get_after_an_import(client, "/api/v1/health") == 200
        assert _tracked() < len(kept)  # settled again: kept is frozen too
        del kept


def test_an_app_for_tests_leaves_the_collector_alone(tmp_path: Path, unfrozen: None) -> None:
    settings = load_settings({"home": tmp_path / "home", "embedding_model": "fake:words"})
    with TestClient(create_app(settings, run_worker=False), base_url=LOCAL) as client:
        assert _get_after_an_import(client, "/api/v1/health") == 200
    assert gc.get_freeze_count() == 0


def test_a_long_running_server_loads_its_embedded_embedder_when_it_starts(
    tmp_path: Path, unfrozen: None
) -> None:
    """The first question or saved page (the extension's) does not wait for the model."""
    settings = load_settings(
        {"home": tmp_path / "home", "embedding_model": "embedded:all-minilm-l6-v2"}
    )
    app = create_app(settings, run_worker=False, long_running=True)
    with TestClient(app, base_url=LOCAL):
        warming = [t for t in threading.enumerate() if t.name == "sabio-warm-up"]
        for thread in warming:
            thread.join(timeout=300)
        reader = app.state.services.reader
        assert "embedded:all-minilm-l6-v2" in reader._embedders  # loaded, no request made
    with TestClient(create_app(settings, run_worker=False), base_url=LOCAL):
        assert not [t for t in threading.enumerate() if t.name == "sabio-warm-up"]

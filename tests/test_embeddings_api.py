"""Embeddings from Sabio's own embedders through the Ollama and OpenAI APIs, with the real
embedded model (all-MiniLM-L6-v2 on ONNX Runtime), no Ollama, over real HTTP; the
official ``ollama`` and ``openai`` clients where they have the call."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator, Sequence
from contextlib import closing
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np
import ollama
import openai
import pytest
from conftest import running_server
from fake_servers import closed_port

from sabio.config import Settings, load_settings
from sabio.models import get_embedding_model
from sabio.models.embedded import model_file
from sabio.server import create_app
from sabio.server.ollama_api import EMBEDDED_MODEL, EMBEDDER, embedder_installed
from sabio.service import Sabio

pytestmark = pytest.mark.skipif(
    not embedder_installed(), reason="the embedded embedder is not installed (sabio[embedded])"
)
TEXTS = ["The lighthouse guided ships at night.", "Bread is baked in an oven."]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("embeddings") / "home"
    values = {"home": home, "embedding_model": EMBEDDER, "chat_model": "fake:cite"}
    return load_settings({**values, "ollama_host": f"127.0.0.1:{closed_port()}"}, environ={})


@pytest.fixture(scope="module")
def sabio_url(settings: Settings) -> Iterator[str]:
    home = settings.home
    folder = home.parent / "files"
    folder.mkdir()
    (folder / "faro.txt").write_text(TEXTS[0], encoding="utf-8")
    with closing(Sabio(settings)) as sabio:
        sabio.create_kb("docs")
        sabio.add([folder / "faro.txt"], "docs")
    with running_server(create_app(settings)) as url:
        yield url


def _same_as_sabio(settings: Settings, rows: Sequence[Sequence[float]]) -> None:
    """The vectors are the ones the index itself computes for these texts."""
    vectors = np.asarray(rows, dtype=np.float32)
    assert vectors.shape == (len(TEXTS), 384)
    expected = get_embedding_model(settings, EMBEDDER).embed(TEXTS)
    assert np.allclose(vectors, expected, atol=1e-5)
    assert float(vectors[0] @ vectors[1]) < 0.5  # different texts, different vectors


def test_api_embed_batches_with_the_embedded_model(sabio_url: str, settings: Settings) -> None:
    with ollama.Client(host=sabio_url) as client:
        done = client.embed(model=EMBEDDER, input=TEXTS)
        again = client.embed(model=f"{EMBEDDER}:latest", input=TEXTS[1], keep_alive="5m")
    _same_as_sabio(settings, done.embeddings)
    assert done.model == EMBEDDER and (done.prompt_eval_count or 0) > 10
    assert np.allclose(done.embeddings[1], again.embeddings[0], atol=1e-6)  # per text
    assert (done.total_duration or 0) >= (done.load_duration or 0) > 0


def test_a_knowledge_base_embeds_with_its_own_embedder(sabio_url: str) -> None:
    direct = httpx.post(f"{sabio_url}/api/embed", json={"model": EMBEDDER, "input": TEXTS[0]})
    via_kb = httpx.post(f"{sabio_url}/api/embed", json={"model": "kb/docs", "input": TEXTS[0]})
    assert via_kb.status_code == 200, via_kb.text
    assert np.allclose(direct.json()["embeddings"], via_kb.json()["embeddings"], atol=1e-6)
    missing = httpx.post(f"{sabio_url}/api/embed", json={"model": "kb/nope", "input": "x"})
    assert missing.status_code == 404 and "not found" in missing.json()["error"]


def test_truncate_dimensions_and_empty_input(sabio_url: str) -> None:
    long = " ".join(["lighthouse"] * 400)
    cut = httpx.post(f"{sabio_url}/api/embed", json={"model": EMBEDDER, "input": [long]})
    assert cut.status_code == 200 and cut.json()["prompt_eval_count"] == 256
    body = {"model": EMBEDDER, "input": [long], "truncate": False}
    refused = httpx.post(f"{sabio_url}/api/embed", json=body)
    assert refused.status_code == 400 and "context length" in refused.json()["error"]
    body = {"model": EMBEDDER, "input": TEXTS, "dimensions": 16}
    short = np.asarray(httpx.post(f"{sabio_url}/api/embed", json=body).json()["embeddings"])
    assert short.shape == (2, 16) and np.allclose(np.linalg.norm(short, axis=1), 1.0, atol=1e-4)
    empty = httpx.post(f"{sabio_url}/api/embed", json={"model": EMBEDDER, "input": []})
    assert empty.json()["embeddings"] == []
    wrong = httpx.post(f"{sabio_url}/api/embed", json={"model": EMBEDDER, "input": 3})
    assert wrong.status_code == 400 and "invalid input type" in wrong.json()["error"]


def test_legacy_embeddings_route(sabio_url: str) -> None:
    with ollama.Client(host=sabio_url) as client:
        legacy = client.embeddings(model=EMBEDDER, prompt=TEXTS[0])
        batched = client.embed(model=EMBEDDER, input=TEXTS[0])
    assert np.allclose(legacy.embedding, batched.embeddings[0], atol=1e-6)


def test_openai_embeddings_float_and_base64(sabio_url: str, settings: Settings) -> None:
    with openai.OpenAI(base_url=f"{sabio_url}/v1", api_key="-", max_retries=0) as client:
        got = client.embeddings.create(model=EMBEDDER, input=TEXTS)  # base64 by default
        floats = client.embeddings.create(
            model=EMBEDDER, input=TEXTS[0], encoding_format="float", dimensions=384
        )
        assert EMBEDDER in [m.id for m in client.models.list()]
        with pytest.raises(openai.BadRequestError) as raised:
            client.embeddings.create(model=EMBEDDER, input=[[1, 2, 3]])
    assert "token arrays" in str(raised.value)
    _same_as_sabio(settings, [d.embedding for d in got.data])
    assert np.allclose(floats.data[0].embedding, got.data[0].embedding, atol=1e-6)
    assert got.usage.prompt_tokens == got.usage.total_tokens > 0
    raw = httpx.post(
        f"{sabio_url}/v1/embeddings",
        json={"model": EMBEDDER, "input": TEXTS[0], "encoding_format": "base64"},
    ).json()
    decoded = np.frombuffer(base64.b64decode(raw["data"][0]["embedding"]), dtype="<f4")
    assert raw["object"] == "list" and raw["data"][0]["object"] == "embedding"
    assert np.allclose(decoded, floats.data[0].embedding, atol=1e-6)


def test_sabios_own_models_get_true_messages_without_ollama(sabio_url: str) -> None:
    with ollama.Client(host=sabio_url) as client:
        with pytest.raises(ollama.ResponseError) as chat_embed:
            client.embed(model=EMBEDDED_MODEL, input="hola")
        with pytest.raises(ollama.ResponseError) as pull:
            client.pull(EMBEDDED_MODEL)
        with pytest.raises(ollama.ResponseError) as delete:
            client.delete(EMBEDDER)
        with pytest.raises(ollama.ResponseError) as unknown:
            client.embed(model="embedded:nope", input="hola")
    assert chat_embed.value.status_code == 400 and "is a chat model" in chat_embed.value.error
    assert "part of Sabio" in pull.value.error and "pulled" in pull.value.error
    assert "part of Sabio" in delete.value.error and "deleted" in delete.value.error
    assert unknown.value.status_code == 404 and EMBEDDER in unknown.value.error
    for error in (chat_embed, pull, delete, unknown):
        assert "not reachable" not in error.value.error


def test_the_embedder_is_listed_truthfully(sabio_url: str) -> None:
    httpx.post(f"{sabio_url}/api/embed", json={"model": EMBEDDER, "input": "x"})  # converted
    with ollama.Client(host=sabio_url) as client:
        listed = {m.model: m for m in client.list().models}
        shown = client.show(EMBEDDER)
        kb_shown = client.show("kb/docs")
    entry = listed[EMBEDDER]
    assert entry.details is not None and entry.details.families == ["bert"]  # Page Assist
    assert entry.size is not None and entry.size > 10_000_000
    assert shown.capabilities == ["embedding"]
    assert shown.modelinfo is not None and shown.modelinfo["bert.embedding_length"] == 384
    kb = listed["kb/docs:latest"]
    assert kb.modified_at is not None and kb.modified_at == kb_shown.modified_at
    assert abs(kb.modified_at.timestamp() - datetime.now().timestamp()) < 600


def test_the_listed_size_and_time_are_the_model_files(tmp_path: Path) -> None:
    settings = load_settings(
        {"home": tmp_path / "home", "ollama_host": f"127.0.0.1:{closed_port()}"}, environ={}
    )
    with running_server(create_app(settings)) as url:
        entry = next(m for m in httpx.get(f"{url}/api/tags").json()["models"])
    stat = os.stat(model_file(settings))  # not yet converted here: the weights' file
    assert entry["name"] == EMBEDDER and entry["size"] == stat.st_size
    assert datetime.fromisoformat(entry["modified_at"]).timestamp() == pytest.approx(
        stat.st_mtime, abs=1e-3
    )

"""Real clients against a real ``sabio serve`` on loopback, with accounts on and no Ollama:
the official ``ollama`` and ``openai`` Python clients, LangChain's ``ChatOllama`` and
``OllamaEmbeddings``, LlamaIndex's ``Ollama`` and ``OllamaEmbedding``, and the ``ollama``
npm package under node. Chat (whole and streamed, with the Sources list), embeddings
(the real embedded model), errors (an unknown model) and auth (with and without a token).

One server per module, a subprocess: ``python -m sabio serve --auth`` with the fake chat
model of conftest.py registered (the only fake, at the edge; the embedder is the real
all-MiniLM-L6-v2)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import ollama
import openai
import pytest
from fake_servers import closed_port, free_port

from sabio.config import load_settings
from sabio.server.ollama_api import EMBEDDER, embedder_installed
from sabio.service import Sabio

pytestmark = pytest.mark.skipif(
    not embedder_installed(), reason="the embedded embedder is not installed (sabio[embedded])"
)
TESTS = Path(__file__).resolve().parent
FARO = "El faro de Alejandría guiaba a los barcos hacia el puerto durante la noche."
QUESTION = [{"role": "user", "content": "¿Qué guiaba el faro de Alejandría?"}]
NPM_OLLAMA = "ollama@0.6.4"
SERVE = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); import conftest; "  # registers fake:cite
    "from sabio.cli import main; sys.argv[0] = 'sabio'; main()"
)


@dataclass(frozen=True)
class Served:
    url: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("real-clients") / "home"
    environ = {
        "SABIO_EMBEDDING_MODEL": EMBEDDER,
        "SABIO_CHAT_MODEL": "fake:cite",
        "OLLAMA_HOST": f"127.0.0.1:{closed_port()}",  # no Ollama
    }
    settings = load_settings({"home": home}, environ=environ)
    (home.parent / "faro.txt").write_text(FARO, encoding="utf-8")
    with closing(Sabio(settings)) as sabio:
        sabio.create_kb("docs")
        sabio.add([home.parent / "faro.txt"], "docs")
        user = sabio.users.create_user("ana", "a long enough password", admin=True)
        _, token = sabio.users.create_token(user.id, "clients")
    port = free_port()
    env = {**os.environ, **environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-c", SERVE, str(TESTS), "--home", str(home), "serve"]
    log = (home.parent / "serve.log").open("wb")
    process = subprocess.Popen(
        [*command, "--port", str(port), "--auth"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # a bounded wait for the socket
        while time.monotonic() < deadline and process.poll() is None:
            try:
                httpx.head(f"{url}/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert process.poll() is None, (home.parent / "serve.log").read_text()
        yield Served(url, token)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _has_sources(text: str) -> bool:
    return "faro.txt" in text and "[1]" in text


# the official Python clients


def test_ollama_python(served: Served) -> None:
    with ollama.Client(host=served.url, headers=served.headers) as client:
        names = [m.model for m in client.list().models]
        assert names[:2] == ["kb/docs:latest", EMBEDDER]
        whole = client.chat(model="kb/docs", messages=QUESTION)
        assert _has_sources(whole.message.content or "")
        parts = list(client.chat(model="kb/docs:latest", messages=QUESTION, stream=True))
        assert parts[-1].done and _has_sources("".join(p.message.content or "" for p in parts))
        vectors = client.embed(model=EMBEDDER, input=["uno", "dos"]).embeddings
        assert len(vectors) == 2 and len(vectors[0]) == 384
        with pytest.raises(ollama.ResponseError) as unknown:
            client.chat(model="kb/nope", messages=QUESTION)
        assert unknown.value.status_code == 404
    with ollama.Client(host=served.url) as anonymous, pytest.raises(ollama.ResponseError) as no:
        anonymous.embed(model=EMBEDDER, input="uno")
    assert no.value.status_code == 401 and "API token" in no.value.error


def test_openai_python(served: Served) -> None:
    with openai.OpenAI(base_url=f"{served.url}/v1", api_key=served.token, max_retries=0) as client:
        assert {"kb/docs", EMBEDDER} <= {m.id for m in client.models.list()}
        stream = client.chat.completions.create(model="kb/docs", messages=QUESTION, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert _has_sources(text)
        embedded = client.embeddings.create(model=EMBEDDER, input=["uno", "dos"])
        assert [len(d.embedding) for d in embedded.data] == [384, 384]
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="kb/nope", messages=QUESTION)
    with (
        openai.OpenAI(base_url=f"{served.url}/v1", api_key="wrong", max_retries=0) as anonymous,
        pytest.raises(openai.AuthenticationError),
    ):
        anonymous.models.list()


# LangChain and LlamaIndex


def test_langchain_ollama(served: Served) -> None:
    from langchain_ollama import ChatOllama, OllamaEmbeddings

    with httpx.HTTPTransport() as transport:  # LangChain never closes its clients' sockets
        signed = {
            "base_url": served.url,
            "client_kwargs": {"headers": served.headers},
            "sync_client_kwargs": {"transport": transport},
        }
        chat = ChatOllama(model="kb/docs", **signed)
        assert _has_sources(str(chat.invoke("¿Qué guiaba el faro de Alejandría?").content))
        streamed = "".join(str(c.content) for c in chat.stream("¿Qué guiaba el faro?"))
        assert _has_sources(streamed)
        embeddings = OllamaEmbeddings(model=EMBEDDER, **signed)
        documents = embeddings.embed_documents(["uno", "dos"])
        query = embeddings.embed_query("uno")
        assert len(documents) == 2 and np.allclose(documents[0], query, atol=1e-5)
        with pytest.raises(ollama.ResponseError):
            ChatOllama(model="kb/nope", **signed).invoke("hola")
        anonymous = {"base_url": served.url, "sync_client_kwargs": {"transport": transport}}
        with pytest.raises(ollama.ResponseError) as no_token:
            OllamaEmbeddings(model=EMBEDDER, **anonymous).embed_query("uno")
        assert no_token.value.status_code == 401


def test_llama_index_ollama(served: Served) -> None:
    from llama_index.core.llms import ChatMessage
    from llama_index.embeddings.ollama import OllamaEmbedding
    from llama_index.llms.ollama import Ollama

    # LlamaIndex never closes its clients: these are closed here, or their sockets leak
    with (
        ollama.Client(host=served.url, headers=served.headers) as client,
        httpx.HTTPTransport() as transport,
    ):
        llm = Ollama(model="kb/docs", base_url=served.url, client=client, request_timeout=60)
        asked = [ChatMessage(role="user", content=QUESTION[0]["content"])]
        assert _has_sources(str(llm.chat(asked).message.content))
        assert _has_sources("".join(r.delta or "" for r in llm.stream_chat(asked)))
        with pytest.raises(ollama.ResponseError):
            Ollama(model="kb/nope", base_url=served.url, client=client).complete("hola")
        kwargs = {"headers": served.headers, "transport": transport}
        embedder = OllamaEmbedding(model_name=EMBEDDER, base_url=served.url, client_kwargs=kwargs)
        vectors = embedder.get_text_embedding_batch(["uno", "dos"])
        assert [len(v) for v in vectors] == [384, 384]
        assert np.allclose(embedder.get_query_embedding("uno"), vectors[0], atol=1e-5)
        anonymous = OllamaEmbedding(
            model_name=EMBEDDER, base_url=served.url, client_kwargs={"transport": transport}
        )
        with pytest.raises(ollama.ResponseError) as no_token:
            anonymous.get_text_embedding("uno")
        assert no_token.value.status_code == 401


# the ollama npm package

NODE_SCRIPT = r"""
const { Ollama } = require("ollama");
const [url, token] = process.argv.slice(2);
(async () => {
  const out = {};
  const client = new Ollama({ host: url, headers: { Authorization: `Bearer ${token}` } });
  out.models = (await client.list()).models.map((m) => m.name);
  const question = [{ role: "user", content: "¿Qué guiaba el faro de Alejandría?" }];
  out.whole = (await client.chat({ model: "kb/docs", messages: question })).message.content;
  let streamed = "";
  const parts = await client.chat({ model: "kb/docs", messages: question, stream: true });
  for await (const part of parts) streamed += part.message.content;
  out.streamed = streamed;
  out.dimensions = (await client.embed({ model: process.argv[4], input: ["uno", "dos"] }))
    .embeddings.map((e) => e.length);
  try { await client.chat({ model: "kb/nope", messages: question }); }
  catch (e) { out.unknown = e.status_code; }
  try { await new Ollama({ host: url }).list(); } catch (e) { out.anonymous = e.status_code; }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
"""


@pytest.fixture(scope="module")
def ollama_js(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``ollama`` npm package, installed from the registry into a temporary folder."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not installed (Debian: apt-get install nodejs npm)")
    folder = tmp_path_factory.mktemp("ollama-js")
    installed = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--silent", NPM_OLLAMA],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if installed.returncode != 0:
        pytest.skip(f"npm could not install {NPM_OLLAMA}: {installed.stderr[-300:]}")
    (folder / "probe.js").write_text(NODE_SCRIPT, encoding="utf-8")
    return folder


def test_ollama_javascript(served: Served, ollama_js: Path) -> None:
    ran = subprocess.run(
        ["node", "probe.js", served.url, served.token, EMBEDDER],
        cwd=ollama_js,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    out = json.loads(ran.stdout)
    assert out["models"][:2] == ["kb/docs:latest", EMBEDDER]
    assert _has_sources(out["whole"]) and _has_sources(out["streamed"])
    assert out["dimensions"] == [384, 384]
    assert out["unknown"] == 404 and out["anonymous"] == 401

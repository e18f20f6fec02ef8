"""The heavy real clients against ``sabio serve`` with no Ollama: Open WebUI, n8n and Page
Assist (built from its source), each installed outside the repository and driven through
its own API or UI (issue 17). Too slow for every CI run: run it by hand.

    python bench/heavy_clients.py --workdir /work/heavy              # all three
    python bench/heavy_clients.py --workdir /work/heavy --only n8n   # one
    python bench/heavy_clients.py --repeats 5                        # a quick check

1. A data directory under ``--workdir`` (reused): the knowledge base "docs" with four
   real documents from ``../shared/data/documents`` (HTML pages: Mozilla's Wikipedia
   article, a chapter of Google's SRE book, an IETF draft, an LWN article), embedded with
   Sabio's embedded MiniLM.
2. The real server, ``sabio serve`` on a free loopback port, chat model
   ``embedded:smollm2``, ``SABIO_OLLAMA_HOST`` a closed port (no Ollama anywhere).
3. Each client (``--only`` picks some), installed into ``WORKDIR/<client>`` when it is
   not there yet (its own venv or ``node_modules``; the installs take minutes):

   - **openwebui**: ``pip install torch==2.13.0`` (the CPU build: an unpinned torch pulls
     a CUDA build of several GB) then ``open-webui==0.12.4`` in ``WORKDIR/openwebui/venv``.
     Started with auth off, offline, telemetry off, Sabio as its Ollama and as its
     embedding engine (``RAG_EMBEDDING_ENGINE=ollama``, ``embedded:all-minilm-l6-v2``).
     Driven through its REST API: the model list, the question ``--repeats`` times
     through ``/api/chat/completions`` to ``kb/docs`` as its page sends it (a new chat,
     then a turn of that chat, in turn: ``openwebui_ask``), the title, tags and
     follow-ups Open WebUI made itself and saved with each chat, the same tasks through
     ``/api/v1/tasks/*``, a file uploaded and embedded, then searched.
   - **n8n**: ``npm install n8n`` with ``"overrides": {"xlsx": "0.18.5"}`` (n8n's own
     dependency points at a tarball on a CDN, outside the registry). A workflow (Code
     node → Basic LLM Chain with the **Ollama Chat Model** node; Code node → In-Memory
     Vector Store with **Embeddings Ollama** and a Default Data Loader) and its Ollama
     credential are imported with ``n8n import:*`` and run with ``n8n execute``; the
     question goes ``--repeats`` times as that many items. Telemetry off
     (``N8N_DIAGNOSTICS_ENABLED=false``, version notifications and templates off).
   - **pageassist**: its source (github.com/n4ze3m/page-assist, put in
     ``WORKDIR/pageassist/src`` beforehand: ``git clone``), ``"pa-tesseract.js"`` aliased
     to ``"npm:tesseract.js@^5.1.1"`` in its package.json (the original is not on the
     registry), ``bun install && bun run build:chrome`` with bun from npm. Loaded unpacked
     in Chromium (``/usr/bin/chromium``) with Playwright; its side panel asked the question
     ``--repeats`` times with ``kb/docs:latest``, then chat-with-page in embedding mode
     with ``embedded:all-minilm-l6-v2``, then its Knowledge (options page): a text file
     added (embedded through Sabio's ``/api/embed``) and a question only that file
     answers, asked with it selected (a screenshot: ``WORKDIR/pageassist/knowledge-answer.png``).

   A client that cannot be installed or started here is reported with the reason.
4. A table: per client its version, each check (ok / the failure) and how many of the
   answers carry the Sources list (``---`` then ``**Sources**``), also written to ``--json``
   (default bench/results/heavy-clients-*.json). See docs/integrations.md, "The heavy
   clients, tried".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from ingest_search import DATA
from load import CHAT_MODEL, EMBEDDER, _free_port, running_server, write_results

from sabio.config import load_settings
from sabio.service import Sabio

KB = "docs"
MODEL = f"kb/{KB}:latest"
DOCUMENTS = {
    "mozilla.html": "html/wikipedia/source.html",
    "monitoring-distributed-systems.html": "html/google-sre-book-1/source.html",
    "remotestorage-draft.html": "html/ietf-1/source.html",
    "arduino-trademark.html": "html/lwn-1/source.html",
}
QUESTION = "When was Mozilla founded, and by whom?"
FOOTERS = ("\n---\n**Sources**\n", "\n---\n**Fuentes**\n")
OPENWEBUI = "open-webui==0.12.4"
N8N = "2.8.4"  # 2.41.3 needs @n8n/agents@0.26.2, not on the registry here
CLIENTS = ("openwebui", "n8n", "pageassist")


class NotInstalled(Exception):
    """The client could not be installed or started here; the message says why."""


@dataclass
class Report:
    client: str
    version: str = "?"
    status: str = "ok"
    checks: dict[str, str] = field(default_factory=dict)
    answers: int = 0
    with_sources: int = 0

    def check(self, name: str, run: Callable[[], str | None]) -> None:
        """Run one check: ``ok`` (or what it returns) or the error it raised."""
        try:
            self.checks[name] = run() or "ok"
        except Exception as error:  # every failure is a result to report
            self.checks[name] = f"FAILED: {type(error).__name__}: {str(error)[:300]}"

    def count(self, texts: list[str], footers: tuple[str, ...] = FOOTERS) -> str:
        """How many of ``texts`` carry the Sources list."""
        self.answers += len(texts)
        found = sum(any(f in text for f in footers) for text in texts)
        self.with_sources += found
        if found < len(texts):
            bare = next(t for t in texts if not any(f in t for f in footers))
            return f"{found}/{len(texts)} with Sources; one without: {bare[-200:]!r}"
        return f"{found}/{len(texts)} with Sources"


def run(command: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None) -> None:
    """One install step, its output appended to ``log``; NotInstalled when it fails."""
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(command)}\n")
        out.flush()
        done = subprocess.run(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)
    if done.returncode:
        tail = log.read_text(errors="replace").splitlines()[-5:]
        raise NotInstalled(f"{' '.join(command[:3])} failed ({done.returncode}): {tail}")


def wait_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace").splitlines()[-8:]
            raise NotInstalled(f"it exited ({process.returncode}): {tail}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(1)
    raise NotInstalled(f"{url} did not answer in {timeout:.0f} s")


@contextmanager
def started(
    command: list[str], env: dict[str, str], log: Path, cwd: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("w") as out:
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def repeat(answers: list[str], repeats: int, ask: Callable[[], str]) -> str:
    """Ask ``repeats`` times, the answers into ``answers``; the slowest answer's time."""
    slowest = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        answers.append(ask())
        slowest = max(slowest, time.perf_counter() - start)
    return f"ok: {len(answers)} answers, slowest {slowest:.1f} s"


# the knowledge base


def build_home(workdir: Path) -> Path:
    home = workdir / "sabio-home"
    if (home / "built.json").exists():
        return home
    shutil.rmtree(home, ignore_errors=True)
    folder = workdir / "documents"
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in DOCUMENTS.items():
        shutil.copyfile(DATA / "documents" / source, folder / name)
    sabio = Sabio(load_settings({"home": home, "embedding_model": EMBEDDER}))
    sabio.create_kb(KB, EMBEDDER)
    sabio.add([folder / name for name in DOCUMENTS], KB)
    kb = next(kb for kb in sabio.list_kbs() if kb.name == KB)
    sabio.close()
    (home / "built.json").write_text(json.dumps({"documents": kb.documents, "passages": kb.chunks}))
    return home


# Open WebUI


def install_openwebui(folder: Path) -> str:
    venv = folder / "venv"
    python = venv / "bin" / "python"
    if not (venv / "bin" / "open-webui").exists():
        folder.mkdir(parents=True, exist_ok=True)
        log = folder / "install.log"
        run([sys.executable, "-m", "venv", str(venv)], folder, log)
        run([str(python), "-m", "pip", "install", "torch==2.13.0"], folder, log)  # CPU, first
        run([str(python), "-m", "pip", "install", OPENWEBUI], folder, log)
    code = "import importlib.metadata as m; print(m.version('open-webui'))"
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True).stdout.strip()


def openwebui_env(folder: Path, sabio_url: str) -> dict[str, str]:
    """Offline, no accounts, no telemetry; Sabio as its Ollama and its embedding engine."""
    return {
        **os.environ,
        "DATA_DIR": str(folder / "data"),
        "OLLAMA_BASE_URL": sabio_url,
        "ENABLE_OPENAI_API": "False",
        "WEBUI_AUTH": "False",
        "OFFLINE_MODE": "true",
        "HF_HUB_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
        "DO_NOT_TRACK": "true",
        "SCARF_NO_ANALYTICS": "true",
        "ENABLE_VERSION_UPDATE_CHECK": "False",
        "ENABLE_COMMUNITY_SHARING": "False",
        "RAG_EMBEDDING_ENGINE": "ollama",
        "RAG_OLLAMA_BASE_URL": sabio_url,
        "RAG_EMBEDDING_MODEL": EMBEDDER,
        "ENABLE_WEB_SEARCH": "False",
        "WEBUI_SECRET_KEY": "heavy-clients-bench",
    }


TASKS = {"title_generation": True, "tags_generation": True, "follow_up_generation": True}


@dataclass
class OpenWebUIChat:
    """A chat as Open WebUI keeps it: its id, the last answer's message id and text."""

    id: str
    reply: str
    text: str


def openwebui_ask(client: httpx.Client, previous: OpenWebUIChat | None) -> OpenWebUIChat:
    """One question sent as Open WebUI 0.12.4's page sends it: the user's message and
    the reply's ids it makes (``user_message``, ``id``), ``parent_id`` (None: a new chat,
    which Open WebUI creates and titles at once, concurrently with the answer; else the
    last answer's id, with ``chat_id``: a turn of that chat) and the background tasks
    (tags and follow-ups after the answer). Without those ids a ``chat_id`` is refused
    with 409 ("Message already exists or has an invalid ID", ``Chats.insert_chat_turn``:
    the 409 an earlier run of this script saw, the script's own fault). With a chat id and
    a reply id Open WebUI reads the whole answer itself and saves it into the chat, where
    it is read back."""
    user_id, reply_id = str(uuid.uuid4()), str(uuid.uuid4())
    parent = previous.reply if previous else None
    earlier = (
        [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": previous.text}]
        if previous
        else []
    )
    user_message = {
        "id": user_id,
        "parentId": parent,
        "childrenIds": [],
        "role": "user",
        "content": QUESTION,
        "models": [MODEL],
        "timestamp": int(time.time()),
    }
    body: dict[str, Any] = {
        "model": MODEL,
        "stream": True,
        "messages": [*earlier, {"role": "user", "content": QUESTION}],
        "parent_id": parent,
        "user_message": user_message,
        "id": reply_id,
        "background_tasks": TASKS,
    }
    if previous:
        body["chat_id"] = previous.id
    reply = client.post("/api/chat/completions", json=body, timeout=600)
    reply.raise_for_status()
    chat_id = previous.id if previous else _chat_holding(client, reply_id)
    message = _chat(client, chat_id)["history"]["messages"][reply_id]
    text = str(message.get("content") or "") or _output_text(message.get("output"))
    if message.get("error"):
        raise ValueError(f"Open WebUI saved an error: {message['error']}")
    return OpenWebUIChat(chat_id, reply_id, text)


def _chat(client: httpx.Client, chat_id: str) -> dict[str, Any]:
    found = client.get(f"/api/v1/chats/{chat_id}")
    found.raise_for_status()
    return dict(found.json()["chat"])


def _chat_holding(client: httpx.Client, message_id: str) -> str:
    """The id of the chat Open WebUI made for a new chat's message ``message_id``."""
    listed = client.get("/api/v1/chats/", params={"page": 1})
    listed.raise_for_status()
    for chat in listed.json()[:5]:
        if message_id in _chat(client, chat["id"])["history"]["messages"]:
            return str(chat["id"])
    raise ValueError(f"no chat holds the message {message_id}")


def _output_text(output: object) -> str:
    """The text of Open WebUI's ``output`` items (``utils.misc.get_output_text``)."""
    items = output if isinstance(output, list) else []
    return "".join(
        str(part.get("text") or "")
        for item in items
        if isinstance(item, dict) and item.get("type") == "message"
        for part in item.get("content") or []
        if isinstance(part, dict)
    )


def openwebui_chats(
    client: httpx.Client, repeats: int, answers: list[str]
) -> tuple[list[str], float]:
    """``repeats`` questions: a new chat, then a turn of it, in turn (both ways a page
    asks); the ids of the chats made, and the slowest question's seconds last."""
    chats: list[str] = []
    previous: OpenWebUIChat | None = None
    slowest = 0.0
    for n in range(repeats):
        start = time.perf_counter()
        previous = openwebui_ask(client, previous if n % 2 else None)
        slowest = max(slowest, time.perf_counter() - start)
        answers.append(previous.text)
        if previous.id not in chats:
            chats.append(previous.id)
    return chats, slowest


def openwebui_saved_tasks(client: httpx.Client, chats: list[str]) -> str:
    """What Open WebUI itself made of its title, tags and follow-up tasks, as saved with
    each chat: a title that is no placeholder, tags, follow-ups on the last answer."""
    titled, tagged, followed, seen = 0, 0, 0, []
    for chat_id in chats:
        chat = _chat(client, chat_id)
        title = str(chat.get("title") or "")
        titled += title not in ("", "New Chat", "Your concise title here")
        tags = [t.get("name") for t in client.get(f"/api/v1/chats/{chat_id}/tags").json()]
        tagged += bool(tags) and tags != ["tag1", "tag2"]
        follow_ups = chat["history"]["messages"][chat["history"]["currentId"]].get("followUps")
        followed += bool(follow_ups)
        seen.append(f"title {title!r}, tags {tags}, follow-ups {json.dumps(follow_ups)[:120]}")
    n = len(chats)
    counts = f"{titled}/{n} titled, {tagged}/{n} tagged, {followed}/{n} with follow-ups"
    if min(titled, tagged, followed) < n:
        raise ValueError(f"{counts}; the first: {seen[:1]}")
    return f"ok: {counts}; the first: {seen[0]}"


def openwebui_task(client: httpx.Client, task: str, answer: str) -> str:
    """One of the tasks Open WebUI's page asks for after an answer, and what it got."""
    messages = [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": answer},
    ]
    body = {"model": MODEL, "messages": messages, "stream": False}
    reply = client.post(f"/api/v1/tasks/{task}/completions", json=body, timeout=300)
    reply.raise_for_status()
    content = str(reply.json()["choices"][0]["message"]["content"])
    start, end = content.find("{"), content.rfind("}") + 1
    try:
        parsed = json.loads(content[start:end])  # what Open WebUI's page does with it
    except ValueError as error:
        raise ValueError(f"{error} in {content!r}") from None
    key = {"title": "title", "tags": "tags", "follow_up": "follow_ups"}[task]
    value = parsed[key]
    if not value or value in ("Your concise title here", ["tag1", "tag2"]):
        raise ValueError(f"a placeholder or nothing: {content!r}")
    return f"ok: {json.dumps(value, ensure_ascii=False)[:120]}"


def openwebui_file(client: httpx.Client, document: Path) -> str:
    """Upload a document: Open WebUI embeds it through Sabio; then search it."""
    with document.open("rb") as handle:
        reply = client.post("/api/v1/files/", files={"file": (document.name, handle)}, timeout=600)
    reply.raise_for_status()
    file_id = reply.json()["id"]
    deadline = time.monotonic() + 300
    status = "pending"
    while status in ("pending", "processing") and time.monotonic() < deadline:
        time.sleep(2)
        data = client.get(f"/api/v1/files/{file_id}").json().get("data") or {}
        status = data.get("status", "completed")
    if status != "completed":
        raise ValueError(f"file status {status}: {data.get('error')}")
    body = {"collection_name": f"file-{file_id}", "query": QUESTION, "k": 2}
    found = client.post("/api/v1/retrieval/query/doc", json=body, timeout=300)
    found.raise_for_status()
    documents = found.json()["documents"][0]
    if not documents:
        raise ValueError("the search found nothing")
    return f"ok: embedded, search found {len(documents)} passages"


def drive_openwebui(report: Report, folder: Path, sabio_url: str, repeats: int) -> None:
    port = _free_port()
    log = folder / "serve.log"
    command = [str(folder / "venv" / "bin" / "open-webui"), "serve", "--host", "127.0.0.1"]
    shutil.rmtree(folder / "data", ignore_errors=True)  # it keeps the last run's Ollama URL
    env = openwebui_env(folder, sabio_url)
    with started([*command, "--port", str(port)], env, log, folder) as process:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/health", process, log, 900)
        with httpx.Client(base_url=url, timeout=60) as client:
            token = client.post("/api/v1/auths/signin", json={"email": "", "password": ""})
            token.raise_for_status()
            client.headers["Authorization"] = f"Bearer {token.json()['token']}"
            models = [m["id"] for m in client.get("/api/models").json()["data"]]
            report.checks["models listed"] = "ok" if MODEL in models else f"FAILED: {models}"
            answers: list[str] = []
            chats: list[str] = []

            def ask() -> str:
                made, slowest = openwebui_chats(client, repeats, answers)
                chats.extend(made)
                return f"ok: {len(answers)} answers in {len(made)} chats, slowest {slowest:.1f} s"

            report.check("chats (new, then a turn of each; streamed)", ask)
            report.checks["sources"] = report.count(answers)
            report.check(
                "its own title, tags, follow-ups (saved)",
                lambda: openwebui_saved_tasks(client, chats),
            )
            last = answers[-1] if answers else ""
            for task in ("title", "tags", "follow_up"):
                report.check(f"task {task}", lambda t=task: openwebui_task(client, t, last))
            document = folder.parent / "documents" / "mozilla.html"
            report.check(
                "embeddings (file upload, search)", lambda: openwebui_file(client, document)
            )


# n8n


def install_n8n(folder: Path) -> str:
    binary = folder / "node_modules" / ".bin" / "n8n"
    if not binary.exists():
        folder.mkdir(parents=True, exist_ok=True)
        package = {
            "name": "heavy-n8n",
            "private": True,
            "dependencies": {"n8n": N8N},
            # n8n's xlsx dependency is a tarball on cdn.sheetjs.com, outside the registry
            "overrides": {"xlsx": "0.18.5"},
        }
        (folder / "package.json").write_text(json.dumps(package, indent=2))
        run(["npm", "install", "--no-audit", "--no-fund"], folder, folder / "install.log")
    manifest = folder / "node_modules" / "n8n" / "package.json"
    return str(json.loads(manifest.read_text())["version"])


def n8n_env(folder: Path) -> dict[str, str]:
    """A scratch user folder; telemetry, version checks, templates and banners off."""
    return {
        **os.environ,
        "N8N_USER_FOLDER": str(folder / "user"),
        "N8N_ENCRYPTION_KEY": "heavy-clients-bench",
        "N8N_DIAGNOSTICS_ENABLED": "false",
        "N8N_DIAGNOSTICS_CONFIG_FRONTEND": "",
        "N8N_DIAGNOSTICS_CONFIG_BACKEND": "",
        "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
        "N8N_TEMPLATES_ENABLED": "false",
        "N8N_PERSONALIZATION_ENABLED": "false",
        "N8N_HIRING_BANNER_ENABLED": "false",
        "EXTERNAL_FRONTEND_HOOKS_URLS": "",
        "N8N_LOG_LEVEL": "info",  # `n8n execute` prints its result at level info
    }


def _node(name: str, kind: str, version: float, x: int, **parameters: Any) -> dict[str, Any]:
    return {
        "id": name.lower().replace(" ", "-"),
        "name": name,
        "type": kind,
        "typeVersion": version,
        "position": [x, 0],
        "parameters": parameters,
    }


def n8n_workflow(repeats: int) -> dict[str, Any]:
    """Questions → Basic LLM Chain (Ollama Chat Model, kb/docs); a document → In-Memory
    Vector Store (Embeddings Ollama, embedded MiniLM) → a search in it."""
    lc = "@n8n/n8n-nodes-langchain."
    questions = f"return Array.from({{length: {repeats}}}, () => ({{json: {{q: {QUESTION!r}}}}}));"
    text = "Mozilla is a free-software community, created in 1998 by members of Netscape."
    document = f"return [{{json: {{text: {text!r}}}}}];"
    credential = {"ollamaApi": {"id": "sabio0000000001", "name": "Sabio"}}
    nodes = [
        _node("Start", "n8n-nodes-base.manualTrigger", 1, 0),
        _node("Questions", "n8n-nodes-base.code", 2, 200, jsCode=questions),
        _node("Chain", lc + "chainLlm", 1.5, 400, promptType="define", text="={{ $json.q }}"),
        _node("Ollama Chat Model", lc + "lmChatOllama", 1, 400, model=MODEL, options={}),
        _node("Document", "n8n-nodes-base.code", 2, 200, jsCode=document),
        _node("Store", lc + "vectorStoreInMemory", 1, 400, mode="insert", memoryKey="heavy"),
        _node("Embeddings Ollama", lc + "embeddingsOllama", 1, 400, model=EMBEDDER),
        _node("Loader", lc + "documentDefaultDataLoader", 1, 400),
        _node("Splitter", lc + "textSplitterCharacterTextSplitter", 1, 400),
        _node(
            "Search",
            lc + "vectorStoreInMemory",
            1,
            600,
            mode="load",
            memoryKey="heavy",
            prompt=QUESTION,
            topK=1,
        ),
    ]
    for node in nodes:
        if node["name"] in ("Ollama Chat Model", "Embeddings Ollama"):
            node["credentials"] = credential

    def main(*targets: str) -> dict[str, Any]:
        return {"main": [[{"node": t, "type": "main", "index": 0} for t in targets]]}

    def sub(kind: str, *targets: str) -> dict[str, Any]:
        return {kind: [[{"node": t, "type": kind, "index": 0} for t in targets]]}

    connections = {
        "Start": main("Questions", "Document"),
        "Questions": main("Chain"),
        "Document": main("Store"),
        "Store": main("Search"),
        "Ollama Chat Model": sub("ai_languageModel", "Chain"),
        "Embeddings Ollama": sub("ai_embedding", "Store", "Search"),
        "Loader": sub("ai_document", "Store"),
        "Splitter": sub("ai_textSplitter", "Loader"),
    }
    return {
        "id": "heavyclients0001",
        "name": "Sabio heavy clients",
        "active": False,
        "nodes": nodes,
        "connections": connections,
        "settings": {"executionOrder": "v1"},
    }


def _items(run_data: dict[str, Any], node: str) -> list[dict[str, Any]]:
    if node not in run_data:
        raise ValueError(f"{node} did not run")
    step = run_data[node][0]
    if step.get("error"):
        raise ValueError(f"{node}: {step['error'].get('message')}")
    return [item["json"] for item in step["data"]["main"][0]]


def drive_n8n(report: Report, folder: Path, sabio_url: str, repeats: int) -> None:
    n8n = str(folder / "node_modules" / ".bin" / "n8n")
    env = n8n_env(folder)
    credential = [
        {
            "id": "sabio0000000001",
            "name": "Sabio",
            "type": "ollamaApi",
            "data": {"baseUrl": sabio_url},
        }
    ]
    (folder / "credential.json").write_text(json.dumps(credential))
    (folder / "workflow.json").write_text(json.dumps([n8n_workflow(repeats)]))
    log = folder / "run.log"
    log.write_text("")
    run([n8n, "import:credentials", "--input", str(folder / "credential.json")], folder, log, env)
    run([n8n, "import:workflow", "--input", str(folder / "workflow.json")], folder, log, env)
    start = time.perf_counter()
    command = [n8n, "execute", "--id", "heavyclients0001", "--rawOutput"]
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    (folder / "execute.log").write_text(done.stdout + "\n--- stderr\n" + done.stderr)
    if "{" not in done.stdout:
        raise NotInstalled(f"n8n execute gave no result ({done.returncode}): {done.stderr[-300:]}")
    result = json.loads(done.stdout[done.stdout.index("{") :])
    run_data = result.get("data", result).get("resultData", {}).get("runData", {})
    answers: list[str] = []

    def chain() -> str:
        answers.extend(str(item.get("text", "")) for item in _items(run_data, "Chain"))
        return f"ok: {len(answers)} answers in one execution of {seconds:.0f} s"

    def search() -> str:
        found = _items(run_data, "Search")
        if not found:
            raise ValueError("the search found nothing")
        return f"ok: inserted, search found {len(found)}"

    report.check("Ollama Chat Model (Basic LLM Chain)", chain)
    report.checks["sources"] = report.count(answers)
    report.check("Embeddings Ollama (vector store insert, search)", search)


# Page Assist


def install_pageassist(folder: Path) -> str:
    source = folder / "src"
    build = source / "build" / "chrome-mv3"
    if not (source / "package.json").exists():
        raise NotInstalled(
            f"no source in {source}: git clone https://github.com/n4ze3m/page-assist {source}"
        )
    if not (build / "manifest.json").exists():
        package = source / "package.json"
        text = package.read_text()
        # the original pa-tesseract.js is not on the registry: tesseract.js is
        package.write_text(
            text.replace(
                '"pa-tesseract.js": "^5.1.1"', '"pa-tesseract.js": "npm:tesseract.js@^5.1.1"'
            )
        )
        tools = folder / "tools"
        tools.mkdir(exist_ok=True)
        (tools / "package.json").write_text('{"private": true}')
        log = folder / "install.log"
        run(["npm", "install", "--no-audit", "--no-fund", "bun"], tools, log)
        bun = str(tools / "node_modules" / ".bin" / "bun")
        run([bun, "install"], source, log)
        run([bun, "run", "build:chrome"], source, log)
    return str(json.loads((build / "manifest.json").read_text())["version"])


def _answer(page: Any, timeout: float = 600.0) -> str:
    """Press Enter in the side panel's box, then the page's text once the answer is done
    (Page Assist shows a ``▋`` while it waits and streams)."""
    before = page.inner_text("body")
    page.keyboard.press("Enter")
    deadline = time.monotonic() + timeout
    text, still = before, 0
    while time.monotonic() < deadline and still < 3:
        time.sleep(1)
        now = page.inner_text("body")
        done = now != before and "▋" not in now
        still = still + 1 if done and now == text else 0
        text = now
    return str(text)


def pageassist_ask(page: Any, extension: str, question: str) -> str:
    page.goto(f"chrome-extension://{extension}/sidepanel.html")
    box = page.locator("textarea").first
    box.wait_for(timeout=60_000)
    box.fill(question)
    return _answer(page)


def drive_pageassist(report: Report, folder: Path, sabio_url: str, repeats: int) -> None:
    from playwright.sync_api import sync_playwright

    build = folder / "src" / "build" / "chrome-mv3"
    flags = [
        f"--disable-extensions-except={build}",
        f"--load-extension={build}",
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
    ]
    profile = folder / "profile"
    shutil.rmtree(profile, ignore_errors=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path="/usr/bin/chromium", headless=False, args=flags
        )
        try:
            worker = context.service_workers[0] if context.service_workers else None
            worker = worker or context.wait_for_event("serviceworker", timeout=60_000)
            extension = worker.url.split("/")[2]
            settings = {
                "ollamaURL": sabio_url,
                "selectedModel": MODEL,
                "defaultEmbeddingModel": EMBEDDER,
                "askForModelSelectionEveryTime": False,
            }
            stored = {key: json.dumps(value) for key, value in settings.items()}
            worker.evaluate("s => chrome.storage.sync.set(s)", stored)
            page = context.new_page()
            answers: list[str] = []
            report.check(
                "side panel chat",
                lambda: repeat(answers, repeats, lambda: pageassist_ask(page, extension, QUESTION)),
            )
            report.checks["sources"] = report.count(answers, ("\nSources", "\nFuentes"))
            documents = folder.parent / "documents"
            report.check(
                "chat with page (embedding mode)",
                lambda: _with_page(context, worker, extension, documents),
            )
            report.check(
                "Knowledge (a document added, chat with it selected)",
                lambda: _with_knowledge(context, extension, folder),
            )
        finally:
            context.close()


def _with_page(context: Any, worker: Any, extension: str, documents: Path) -> str:
    """Chat with a web page (served on loopback) in embedding mode: Page Assist splits the
    page and embeds it through Sabio's /api/embed, then asks the model with its passages."""
    settings = {"chatWithWebsiteEmbedding": True, "defaultChatWithWebsite": True}
    worker.evaluate(
        "s => chrome.storage.sync.set(s)", {k: json.dumps(v) for k, v in settings.items()}
    )
    with static_site(documents) as site:
        web = context.new_page()
        web.goto(f"{site}/mozilla.html")
        panel = context.new_page()
        panel.goto(f"chrome-extension://{extension}/sidepanel.html")
        box = panel.locator("textarea").first
        box.wait_for(timeout=60_000)
        box.fill(QUESTION)
        web.bring_to_front()  # the page Page Assist reads is the window's active tab
        text = _answer(panel)
    answer = text.split(QUESTION, 1)[-1].strip()
    if len(answer) < 20 or "failed" in answer.lower():
        raise ValueError(f"no answer: {answer[-300:]!r}")
    return f"ok: {answer[:100]!r}"


KNOWLEDGE_DOCUMENT = "html/bbc-1/expected.html"
"""A BBC article, not in the knowledge base: an answer that uses it used Page Assist's."""
KNOWLEDGE_QUESTION = "What is the greatest frustration of Obama's presidency?"
KNOWLEDGE_WORDS = ("gun",)


def knowledge_file(folder: Path) -> Path:
    """The article's paragraphs as a text file, what a user would add to Page Assist."""
    import html
    import re

    page = (DATA / "documents" / KNOWLEDGE_DOCUMENT).read_text()
    paragraphs = [re.sub(r"<[^>]+>", "", p) for p in re.findall(r"<p>(.*?)</p>", page, re.S)]
    text = "\n\n".join(" ".join(html.unescape(p).split()) for p in paragraphs if p.strip())
    path = folder / "knowledge" / "obama-bbc.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("Obama admits US gun laws are his 'biggest frustration'\n\n" + text)
    return path


def _with_knowledge(context: Any, extension: str, folder: Path) -> str:
    """Page Assist's Knowledge, driven as a user does on its options page: a text file
    added (Page Assist splits it and embeds the passages through Sabio's /api/embed with
    the default embedding model), then, in its chat with that knowledge selected and
    ``kb/docs`` as the model, a question only the file answers. Page Assist retrieves
    the passages itself and sends them in its prompt (sabio.server.client_context)."""
    document = knowledge_file(folder)
    page = context.new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"chrome-extension://{extension}/options.html")  # a MemoryRouter: clicks only
    page.locator('a[href="/settings"]').first.click(timeout=60_000)
    page.locator('a[href="/settings/knowledge"]').first.click()
    page.get_by_text("Add New Knowledge").click()
    page.locator(".ant-modal input[type=file]").set_input_files(str(document))
    page.locator(".ant-modal button[type=submit]").click()
    deadline = time.monotonic() + 600
    status = ""
    while time.monotonic() < deadline and status not in ("Finished", "Failed"):
        time.sleep(2)
        row = page.locator("tr", has_text=document.name).first
        text = row.inner_text() if row.count() else ""
        status = next((s for s in ("Finished", "Failed", "Processing") if s in text), "")
    if status != "Finished":
        raise ValueError(f"the knowledge is {status or 'not listed'} after embedding")
    started = time.perf_counter()
    page.goto(f"chrome-extension://{extension}/options.html")  # its chat
    page.locator("button:has(svg.lucide-blocks)").first.click(timeout=60_000)
    page.locator(".ant-dropdown-menu-item", has_text=document.name).first.click()
    box = page.locator("textarea").first
    box.fill(KNOWLEDGE_QUESTION)
    text = _answer(page)
    seconds = time.perf_counter() - started
    page.screenshot(path=str(folder / "knowledge-answer.png"), full_page=True)
    answer = text.split(KNOWLEDGE_QUESTION)[-1]
    if not any(word in answer.lower() for word in KNOWLEDGE_WORDS):
        raise ValueError(f"the answer does not use the document: {answer[-400:]!r}")
    if not any(f in answer for f in ("\nSources", "\nFuentes")):
        raise ValueError(f"no Sources list: {answer[-400:]!r}")
    quoted = " ".join(answer.split())[:160]
    return f"ok: embedded ({document.name}), answered in {seconds:.0f} s: {quoted!r}"


@contextmanager
def static_site(folder: Path) -> Iterator[str]:
    """``folder`` served over HTTP on a loopback port, for the browser to open."""
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# the run

INSTALL = {"openwebui": install_openwebui, "n8n": install_n8n, "pageassist": install_pageassist}
DRIVE = {"openwebui": drive_openwebui, "n8n": drive_n8n, "pageassist": drive_pageassist}


def try_client(name: str, workdir: Path, sabio_url: str, repeats: int) -> Report:
    report = Report(name)
    folder = workdir / name
    try:
        report.version = INSTALL[name](folder)
    except (NotInstalled, OSError) as error:
        report.status = f"not installed: {error}"
        return report
    try:
        DRIVE[name](report, folder, sabio_url, repeats)
    except Exception as error:  # reported, then the next client
        report.status = f"failed: {type(error).__name__}: {str(error)[:400]}"
    return report


def print_table(reports: list[Report]) -> None:
    for report in reports:
        sources = f"{report.with_sources}/{report.answers}" if report.answers else "-"
        print(f"\n{report.client} {report.version}: {report.status}; Sources on {sources} answers")
        for check, outcome in report.checks.items():
            print(f"  {check:<48} {outcome}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path.home() / ".cache" / "sabio-heavy")
    parser.add_argument("--only", action="append", choices=CLIENTS, help="repeatable")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    home = build_home(workdir)
    settings = {
        "SABIO_CHAT_MODEL": CHAT_MODEL,
        "SABIO_EMBEDDING_MODEL": EMBEDDER,
        "SABIO_OLLAMA_HOST": f"http://127.0.0.1:{_free_port()}",  # closed: no Ollama
    }
    reports = []
    with running_server(home, workdir / "sabio-serve.log", settings) as server:
        for name in args.only or CLIENTS:
            print(f"{name}: installing (if needed) and driving…", flush=True)
            reports.append(try_client(name, workdir, server.url, args.repeats))
    print_table(reports)
    out = {"repeats": args.repeats, "question": QUESTION, "clients": [asdict(r) for r in reports]}
    write_results(out, "heavy-clients", args.json)


if __name__ == "__main__":
    main()

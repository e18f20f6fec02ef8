"""Several Sabio processes on one PostgreSQL, for real (issue 27): ``sabio serve`` and
``sabio worker`` started as processes on loopback ports, over one data directory (the
shared folder of docs/deploy.md) and two stand-in Ollama hosts (FakeOllama, whose
embeddings take ``embed_delay`` seconds a request, so that work lasts long enough to be
killed in the middle). Used by tests/test_processes.py and bench/processes.py.

What it checks afterwards reads the database directly: every document once, indexed,
with all its passages; every job done."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fake_servers import Body, FakeOllama, Request, chat_model, embedding_model

SRC = Path(__file__).resolve().parent.parent / "src"
EMBEDDING, CHAT = "bge-m3", "qwen3:4b"
REPLY = "The document answers it [1]."


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def stand_in_ollama(embed_delay: float) -> FakeOllama:
    """An Ollama host with an embedding and a chat model; each embedding request waits
    ``embed_delay`` s first (a GPU's time, without a GPU)."""
    ollama = FakeOllama(models=[embedding_model(f"{EMBEDDING}:latest", 16), chat_model(CHAT)])
    ollama.models[1].reply = REPLY
    embed = ollama._embed

    def slow_embed(request: Request) -> tuple[int, Body]:
        time.sleep(embed_delay)
        return embed(request)

    ollama.route("POST", "/api/embed", slow_embed)
    return ollama


@dataclass
class Cluster:
    """The processes of one deployment: their shared settings (``SABIO_*``) and logs."""

    home: Path
    database_url: str
    ollama: tuple[str, ...]
    workers_per_process: int = 1
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    _logs: list[Any] = field(default_factory=list)

    @property
    def environ(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("SABIO_", "OLLAMA"))}
        return {
            **keep,
            "PYTHONPATH": str(SRC),
            "SABIO_HOME": str(self.home),
            "SABIO_DATABASE_URL": self.database_url,
            "SABIO_OLLAMA_HOST": self.ollama[0],
            "SABIO_OLLAMA_HOSTS": ",".join(self.ollama[1:]),
            "SABIO_EMBEDDING_MODEL": f"ollama:{EMBEDDING}",
            "SABIO_CHAT_MODEL": f"ollama:{CHAT}",
            "SABIO_WORKERS": str(self.workers_per_process),
            "SABIO_EMBED_BATCH_SIZE": "4",
            "SABIO_OCR_PROGRAM": "",
        }

    def _start(self, name: str, *arguments: str) -> subprocess.Popen[bytes]:
        log = (self.home.parent / f"{name}.log").open("wb")
        self._logs.append(log)
        process = subprocess.Popen(
            [sys.executable, "-m", "sabio", *arguments],
            env=self.environ,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.processes[name] = process
        return process

    def serve(self, name: str) -> str:
        """``sabio serve`` on a free loopback port: its URL once it answers."""
        port = free_port()
        process = self._start(name, "serve", "--port", str(port))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120  # a bound for a loaded machine, not a target
        while time.monotonic() < deadline:
            assert process.poll() is None, f"{name} exited: {self.log(name)}"
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                    self.urls[name] = url
                    return url
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"{name} did not answer: {self.log(name)}")

    def worker(self, name: str) -> subprocess.Popen[bytes]:
        return self._start(name, "worker")

    def start(self, workers: Sequence[str], servers: Sequence[str]) -> None:
        """The ``workers``, then the ``servers`` started side by side (each takes seconds to
        import and open the database); returns once every server answers."""
        for name in workers:
            self.worker(name)
        threads = [threading.Thread(target=self.serve, args=(name,)) for name in servers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def kill(self, name: str) -> None:
        """``kill -9``: no chance to clean up."""
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait()

    def pid(self, name: str) -> int:
        return self.processes[name].pid

    def log(self, name: str) -> str:
        path = self.home.parent / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self._logs:
            log.close()


@contextmanager
def cluster(home: Path, database_url: str, ollama: tuple[str, ...], **kw: Any) -> Iterator[Cluster]:
    running = Cluster(home, database_url, ollama, **kw)
    try:
        yield running
    finally:
        running.stop()


def sql(database_url: str, query: str, *parameters: Any) -> list[tuple[Any, ...]]:
    """A query on a connection of its own (the checks see what every process committed)."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as db:
        return [tuple(row) for row in db.execute(query, parameters).fetchall()]


def running_job_of(database_url: str, pid: int) -> int | None:
    """The job the process ``pid`` (of this machine) is running, if any."""
    rows = sql(
        database_url, "SELECT id FROM job WHERE status = 'running' AND owner LIKE %s", f"%:{pid}"
    )
    return int(rows[0][0]) if rows else None


def wait_for(what: str, test: Any, timeout: float = 120.0, every: float = 0.1) -> Any:
    """``test()`` once it is truthy; an AssertionError naming ``what`` after ``timeout``
    (a bound for a loaded machine, not a measure)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := test():
            return result
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def documents_problems(database_url: str, kb: str, expected: set[str]) -> list[str]:
    """What is wrong with knowledge base ``kb``'s documents: one each of ``expected``
    (their paths), indexed, every passage there once, in order."""
    rows = sql(
        database_url,
        """SELECT d.source, d.status, d.chunk_count, count(c.id), count(DISTINCT c.ord),
                  coalesce(max(c.ord), -1)
           FROM document d JOIN kb k ON k.id = d.kb_id LEFT JOIN chunk c ON c.document_id = d.id
           WHERE k.name = %s GROUP BY d.id, d.source, d.status, d.chunk_count""",
        kb,
    )
    problems = []
    sources = [str(r[0]) for r in rows]
    if sorted(sources) != sorted(expected):
        missing, extra = expected - set(sources), set(sources) - expected
        problems.append(f"documents: missing {sorted(missing)}, unexpected {sorted(extra)}")
    if len(sources) != len(set(sources)):
        problems.append("a document is there twice")
    for source, status, count, chunks, ords, last in rows:
        if status != "indexed" or not count or count != chunks or ords != chunks:
            problems.append(f"{source}: {status}, {chunks} passages of {count}, {ords} places")
        elif last != count - 1:
            problems.append(f"{source}: passages numbered up to {last} of {count}")
    return problems


def copy_documents(sources: list[Path], folders: int, into: Path) -> dict[Path, list[Path]]:
    """The documents spread over ``folders`` folders under ``into`` (one source each)."""
    spread: dict[Path, list[Path]] = {}
    for i, source in enumerate(sources):
        folder = into / f"folder-{i % folders}"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{i:03d}-{source.parent.name}-{source.name}"
        shutil.copyfile(source, target)
        spread.setdefault(folder, []).append(target)
    return spread


def ask(url: str, kb: str, question: str) -> dict[str, Any]:
    """The ``done`` event of an answer through ``url``'s ``/kbs/{kb}/ask``, with its text."""
    text: list[str] = []
    done = None
    body = {"question": question, "style": "generative"}
    with httpx.stream("POST", f"{url}/api/v1/kbs/{kb}/ask", json=body, timeout=60) as response:
        assert response.status_code == 200, response.read()
        event = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "token":
                text.append(json.loads(line[6:])["text"])
            elif line.startswith("data: ") and event == "done":
                done = json.loads(line[6:])
    assert done is not None, "the answer ended without its done event"
    return {**done, "text": "".join(text)}

"""The server under load: search and ask clients at once against ``sabio serve`` on loopback.

    python bench/load.py                           # 20 search + 5 ask clients, 60 s a phase
    python bench/load.py --duration 20 --docs 500  # a quick check

1. A data directory under ``--workdir`` (reused when already built): the first ``--docs``
   SciFact abstracts, one ``.txt`` each, added with ``Sabio.add`` into the knowledge base
   "scifact" with the embedded MiniLM.
2. The real server, ``sabio --home DIR serve --port PORT``, as a subprocess (chat model
   ``embedded:smollm2``), stopped at the end; its log goes to ``WORKDIR/server.log``.
3. A warm-up (one search, one answer; not counted), then two phases of ``--duration``
   seconds each: the search clients alone, then the same search clients with the ask
   clients. Each simulated user is one ``httpx.AsyncClient`` (one keep-alive connection)
   that loops without pausing: a search ``GET /kbs/scifact/search?q=...&k=8`` with the next
   SciFact claim, or an answer ``POST /kbs/scifact/ask`` read to the end of its event
   stream (claims whose gold abstract is in the knowledge base, so most reach the model).

Errors: a non-2xx status, a timeout, any exception, an ``event: error``, a ``done`` with
``complete: false`` or a stream without ``done``. Answers still streaming when a phase
ends are abandoned and counted apart ("cut off"). Results are printed and written to
``--json`` (default bench/results/load-*.json). See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from ingest_search import DATA, RESULTS

from sabio.config import load_settings
from sabio.service import Sabio

SCIFACT = DATA / "beir_scifact"
EMBEDDER = "embedded:all-minilm-l6-v2"
CHAT_MODEL = "embedded:smollm2"
KB = "scifact"


class RequestFailed(Exception):
    """A request that came back, but wrong (status, error event, incomplete answer)."""


# the data directory


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def build_home(workdir: Path, docs: int) -> tuple[Path, dict[str, Any]]:
    """A data directory holding the first ``docs`` abstracts in the knowledge base "scifact";
    ``built.json`` marks a finished one, which later runs reuse."""
    home = workdir / f"home-{docs}"
    marker = home / "built.json"
    if marker.exists():
        return home, json.loads(marker.read_text())
    shutil.rmtree(home, ignore_errors=True)
    folder = workdir / f"scifact-{docs}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for row in _jsonl(SCIFACT / "corpus.jsonl")[:docs]:
        text = f"{row['title']}\n\n{row['text']}"
        (folder / f"{row['_id']}.txt").write_text(text, encoding="utf-8")
    start = time.perf_counter()
    sabio = Sabio(load_settings({"home": home, "embedding_model": EMBEDDER}))
    sabio.create_kb(KB, EMBEDDER)
    sabio.add([folder], KB)
    kb = next(kb for kb in sabio.list_kbs() if kb.name == KB)
    sabio.close()
    info = {
        "documents": kb.documents,
        "passages": kb.chunks,
        "build_s": round(time.perf_counter() - start, 1),
    }
    marker.write_text(json.dumps(info))
    return home, info


def load_questions(docs: int) -> tuple[list[str], list[str]]:
    """(search queries: every SciFact claim; questions: the claims whose gold abstract is
    among the first ``docs``), each in a fixed shuffled order."""
    ids = {row["_id"] for row in _jsonl(SCIFACT / "corpus.jsonl")[:docs]}
    answerable = set()
    for line in (SCIFACT / "qrels" / "train.tsv").read_text().splitlines()[1:]:
        query, doc, _ = line.split("\t")
        if doc in ids:
            answerable.add(query)
    claims = _jsonl(SCIFACT / "queries.jsonl")
    queries = [c["text"] for c in claims]
    questions = [c["text"] for c in claims if c["_id"] in answerable] or queries
    random.Random(0).shuffle(queries)
    random.Random(1).shuffle(questions)
    return queries, questions


# the server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _sabio_command() -> list[str]:
    script = Path(sys.executable).with_name("sabio")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sabio"]


def write_results(out: dict[str, Any], name: str, path: Path | None = None) -> Path:
    """Save a benchmark's results as JSON: ``path``, else ``bench/results/NAME-<time>.json``."""
    path = path or RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, ensure_ascii=False))
    print(f"written to {path}")
    return path


@contextmanager
def running_server(home: Path, log: Path, settings: dict[str, str]) -> Iterator[Server]:
    """``sabio serve`` over ``home`` on a free port, with ``settings`` as ``SABIO_*``
    variables; stopped when the block ends."""
    port = _free_port()
    env = {**os.environ, **settings}
    command = [*_sabio_command(), "--home", str(home), "serve", "--port", str(port)]
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"the server exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=1).is_success:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        sys.exit(f"the server did not answer /api/v1/health in {timeout:.0f} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (Linux; NaN elsewhere)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return math.nan
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


# the clients


@dataclass
class Samples:
    """What the clients of one kind saw in one phase (times in seconds)."""

    clients: int
    latencies: list[float] = field(default_factory=list)
    first_tokens: list[float] = field(default_factory=list)
    server_first_tokens: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    refused: int = 0  # answers the relevance gate gave without calling the model
    cut_off: int = 0  # answers still streaming when the phase ended

    def failed(self, exc: BaseException) -> None:
        if isinstance(exc, RequestFailed):
            self.errors[str(exc)[:200]] += 1
        else:
            self.errors[f"{type(exc).__name__}: {exc}"[:200]] += 1


async def search_once(client: httpx.AsyncClient, query: str, k: int) -> None:
    response = await client.get(f"/api/v1/kbs/{KB}/search", params={"q": query, "k": k})
    if not response.is_success:
        raise RequestFailed(f"HTTP {response.status_code}: {response.text[:150]}")
    if "hits" not in response.json():
        raise RequestFailed("a search answer without hits")


async def ask_once(client: httpx.AsyncClient, question: str) -> tuple[float, dict[str, Any]]:
    """Time to the first ``token`` event and the ``done`` event's answer."""
    start = time.perf_counter()
    first: float | None = None
    done: dict[str, Any] | None = None
    event = ""
    async with client.stream("POST", f"/api/v1/kbs/{KB}/ask", json={"question": question}) as r:
        if not r.is_success:
            body = (await r.aread()).decode(errors="replace")
            raise RequestFailed(f"HTTP {r.status_code}: {body[:150]}")
        async for line in r.aiter_lines():
            if line.startswith("event:"):
                event = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                data = json.loads(line.removeprefix("data:"))
                if event == "token" and first is None:
                    first = time.perf_counter() - start
                elif event == "error":
                    raise RequestFailed(f"event: error {data['error']['message']}")
                elif event == "done":
                    done = data
    if done is None:
        raise RequestFailed("the stream ended without a done event")
    if not done["complete"]:
        raise RequestFailed(f"done with complete: false ({done['error']})")
    return first if first is not None else time.perf_counter() - start, done


async def search_client(
    url: str, queries: Iterator[str], k: int, timeout: float, until: float, samples: Samples
) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=timeout) as client:
        while time.monotonic() < until:
            start = time.perf_counter()
            try:
                await search_once(client, next(queries), k)
            except Exception as exc:
                samples.failed(exc)
            else:
                samples.latencies.append(time.perf_counter() - start)


async def ask_client(
    url: str, questions: Iterator[str], timeout: float, until: float, samples: Samples
) -> None:
    """Asks until the phase ends; the answer then in flight is abandoned (cut off)."""
    limits = httpx.Timeout(10.0, read=timeout)
    async with httpx.AsyncClient(base_url=url, timeout=limits) as client:
        while time.monotonic() < until:
            start = time.perf_counter()
            try:
                first, done = await asyncio.wait_for(
                    ask_once(client, next(questions)), until - time.monotonic()
                )
            except TimeoutError:
                samples.cut_off += 1
                return
            except Exception as exc:
                samples.failed(exc)
                continue
            samples.latencies.append(time.perf_counter() - start)
            samples.first_tokens.append(first)
            samples.server_first_tokens.append(done["timings"].get("first_token_ms", 0) / 1000)
            samples.refused += done["passages"] == 0


async def loop_lag(until: float, lags: list[float]) -> None:
    """How late a 10 ms sleep wakes: the load generator's own delay, part of every latency."""
    while time.monotonic() < until:
        start = time.perf_counter()
        await asyncio.sleep(0.01)
        lags.append(time.perf_counter() - start - 0.01)


async def run_phase(
    server: Server,
    args: argparse.Namespace,
    queries: Iterator[str],
    questions: Iterator[str] | None,
) -> dict[str, Any]:
    searches = Samples(args.search_clients)
    asks = Samples(args.ask_clients if questions else 0)
    lags: list[float] = []
    cpu_server, cpu_client = server.cpu_seconds(), time.process_time()
    start = time.monotonic()
    until = start + args.duration
    tasks = [loop_lag(until, lags)]
    tasks += [
        search_client(server.url, queries, args.k, args.timeout, until, searches)
        for _ in range(args.search_clients)
    ]
    if questions is not None:
        tasks += [
            ask_client(server.url, questions, args.ask_timeout, until, asks)
            for _ in range(args.ask_clients)
        ]
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - start
    result = {
        "seconds": round(elapsed, 1),
        "search": summarize(searches, args.duration),
        "cpu_s": {
            "server": round(server.cpu_seconds() - cpu_server, 1),
            "load_generator": round(time.process_time() - cpu_client, 1),
            "available": round(elapsed * (os.cpu_count() or 1), 1),
        },
        "loop_lag_ms": _percentiles(lags),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    if questions is not None:
        result["ask"] = summarize(asks, args.duration, answers=True)
    return result


async def warm_up(server: Server, query: str, question: str) -> float:
    """One search and one answer (loads the embedder and the chat model); not counted."""
    start = time.perf_counter()
    async with httpx.AsyncClient(base_url=server.url, timeout=httpx.Timeout(10, read=600)) as c:
        try:
            await search_once(c, query, 8)
            await ask_once(c, question)
        except (RequestFailed, httpx.HTTPError) as exc:
            sys.exit(f"warm-up failed: {exc}\n{server.log_tail()}")
    return time.perf_counter() - start


# results


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _percentiles(seconds: list[float]) -> dict[str, float | None]:
    """p50, p95 and max in milliseconds (nearest rank); None without samples."""
    if not seconds:
        return {"p50": None, "p95": None, "max": None}
    ordered = sorted(seconds)
    return {
        "p50": round(_percentile(ordered, 0.5) * 1000, 1),
        "p95": round(_percentile(ordered, 0.95) * 1000, 1),
        "max": round(ordered[-1] * 1000, 1),
    }


def _ms(value: float | None, width: int = 8) -> str:
    return f"{value:>{width}.1f}" if value is not None else f"{'-':>{width}}"


def summarize(samples: Samples, duration: float, *, answers: bool = False) -> dict[str, Any]:
    """Latency percentiles over the successful requests; errors counted apart."""
    errors = sum(samples.errors.values())
    summary: dict[str, Any] = {
        "clients": samples.clients,
        "requests": len(samples.latencies) + errors,
        "errors": errors,
        "latency_ms": _percentiles(samples.latencies),
        "per_s": round(len(samples.latencies) / duration, 2),
        "error_samples": dict(samples.errors.most_common(5)),
    }
    if answers:
        summary |= {
            "first_token_ms": _percentiles(samples.first_tokens),
            "server_first_token_ms": _percentiles(samples.server_first_tokens),
            "refused_by_gate": samples.refused,
            "cut_off": samples.cut_off,
        }
    return summary


def print_table(phases: dict[str, dict[str, Any]]) -> None:
    print(
        f"\n{'phase':13} {'kind':6} {'clients':>7} {'requests':>8} {'errors':>6} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'req/s':>7}  first token p50 / p95 ms"
    )
    for phase, result in phases.items():
        for kind in ("search", "ask"):
            if kind not in result:
                continue
            row = result[kind]
            ms = row["latency_ms"]
            first = row.get("first_token_ms")
            extra = f"  {_ms(first['p50'], 0)} / {_ms(first['p95'], 0)}" if first else ""
            print(
                f"{phase:13} {kind:6} {row['clients']:>7} {row['requests']:>8} "
                f"{row['errors']:>6} {_ms(ms['p50'])} {_ms(ms['p95'])} {_ms(ms['max'])} "
                f"{row['per_s']:>7.2f}{extra}"
            )
    for phase, result in phases.items():
        cpu, lag = result["cpu_s"], result["loop_lag_ms"]
        ask = result.get("ask")
        notes = (
            f", {ask['cut_off']} cut off, {ask['refused_by_gate']} refused by gate" if ask else ""
        )
        print(
            f"{phase}: CPU s server {cpu['server']}, load generator {cpu['load_generator']} "
            f"of {cpu['available']}; client loop lag p50/p95 {lag['p50']}/{lag['p95']} ms{notes}"
        )
        for kind in ("search", "ask"):
            for message, count in result.get(kind, {}).get("error_samples", {}).items():
                print(f"  {kind} error x{count}: {message}")
    alone, loaded = phases["search only"]["search"], phases["search + ask"]["search"]
    if alone["latency_ms"]["p95"] and loaded["latency_ms"]["p95"]:
        p50, p95 = (loaded["latency_ms"][q] / alone["latency_ms"][q] for q in ("p50", "p95"))
        print(f"search with asks / alone: p50 x{p50:.2f}, p95 x{p95:.2f}")


async def measure(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    search_queries, ask_questions = load_questions(args.docs)
    queries, questions = itertools.cycle(search_queries), itertools.cycle(ask_questions)
    out: dict[str, Any] = {"answerable_questions": len(ask_questions)}
    out["warm_up_s"] = round(await warm_up(server, next(queries), next(questions)), 1)
    print(f"warm-up (one search, one answer): {out['warm_up_s']} s", flush=True)
    phases: dict[str, dict[str, Any]] = {}
    phases["search only"] = await run_phase(server, args, queries, None)
    print(f"search only: {json.dumps(phases['search only']['search'])}", flush=True)
    phases["search + ask"] = await run_phase(server, args, queries, questions)
    print(f"search + ask: {json.dumps(phases['search + ask']['search'])}", flush=True)
    out["phases"] = phases
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=2000, help="SciFact abstracts indexed")
    parser.add_argument("--search-clients", type=int, default=20)
    parser.add_argument("--ask-clients", type=int, default=5)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per phase")
    parser.add_argument("--k", type=int, default=8, help="passages per search")
    parser.add_argument(
        "--answer-tokens", type=int, help="the server's answer_tokens (default: its own, 1024)"
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per search")
    parser.add_argument(
        "--ask-timeout", type=float, default=600.0, help="seconds an answer may wait for a byte"
    )
    parser.add_argument("--workdir", default="/tmp/sabio-load-work", help="reused between runs")
    parser.add_argument("--json", type=Path, help="default: bench/results/load-<time>.json")
    args = parser.parse_args()
    if not SCIFACT.exists():
        sys.exit(f"{SCIFACT} is missing: the benchmark reads ../shared/data")
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    home, built = build_home(workdir, args.docs)
    print(f"data directory {home}: {json.dumps(built)}", flush=True)
    out: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "kb": built}
    out["cpu_count"] = os.cpu_count()
    out["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    settings = {"SABIO_CHAT_MODEL": CHAT_MODEL}
    if args.answer_tokens is not None:
        settings["SABIO_ANSWER_TOKENS"] = str(args.answer_tokens)
    with running_server(home, workdir / "server.log", settings) as server:
        out |= asyncio.run(measure(server, args))
    out["wall_s"] = round(time.perf_counter() - started, 1)
    print_table(out["phases"])
    print(f"wall time {out['wall_s']} s (load average before: {out['load_average_before']})")
    write_results(out, "load", args.json)


if __name__ == "__main__":
    main()

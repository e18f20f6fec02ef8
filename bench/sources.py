"""A watched folder of many small files: first sync, change → searchable, idle CPU.

    python bench/sources.py                                     # 10,000 files, 20 changes
    python bench/sources.py --files 1000 --changes 6 --idle 20  # a quick check

1. A folder of ``--files`` small text files in 100 subfolders under ``--workdir``: SciFact
   abstracts (title and text), one a file, cycled when there are more files than abstracts
   (each file starts with its own number, so no two are the same). It is written afresh
   every run: the run changes it, and the first sync must start from nothing.
2. **First sync.** The baseline first: ``sabio --home HOME-CLI add FOLDER``, timed from the
   command's start to its end (model loading included). Then the real server,
   ``sabio --home HOME serve --port PORT``, as a subprocess (its log in
   ``WORKDIR/server-sources.log``), and ``POST /api/v1/sources {"kind": "folder", ...}``,
   timed from the request to its job's ``done`` (``GET /api/v1/sources`` every 0.5 s: the
   same ``job`` as ``GET /api/v1/sources/{id}``, without the list of 10,000 items). Both
   with the embedded MiniLM (``SABIO_EMBEDDING_MODEL=embedded:all-minilm-l6-v2``), each
   into a fresh data directory; with ``--repeat N`` the pair runs N times, alternating.
3. **Change → searchable**, with the server running over the synced folder: ``--changes``
   changes one at a time, ``--gap`` seconds apart, in the order edit, new file, rename,
   delete. An edit rewrites an original file with a unique made-up word added ("zqx" and
   eight random letters); a new file is an abstract with such a word; a rename renames the
   file made by the last "new" within its subfolder; a delete removes the file edited last.
   Each is timed from the moment the write, rename or unlink returns to when
   ``GET /api/v1/kbs/default/search?q=WORD`` (every 50 ms) first returns a passage with the
   word (for a rename: whose ``document`` is the new name; for a delete: until no passage
   has it). The job that did it (``GET /api/v1/jobs``) splits the time: event to job queued
   (the watcher's grouping), queued to started, the job's run, its end to searchable.
4. **Idle CPU**: once no job is queued or running, the server's CPU time (utime + stime of
   every thread, ``/proc/PID/stat``, plus any child processes) over ``--idle`` seconds with
   nothing changing, in windows of ``--window`` seconds; its RSS. Baseline: the same server
   command on HOME-CLI (the same documents, added by ``sabio add``: no source), measured
   the same way right after.

Printed as a table and written to ``--json`` (default bench/results/sources-*.json).
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import resource
import shutil
import statistics
import string
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from load import (
    SCIFACT,
    Server,
    _jsonl,
    _percentile,
    _sabio_command,
    running_server,
    write_results,
)

from sabio.config import load_settings
from sabio.service import Sabio

EMBEDDER = "embedded:all-minilm-l6-v2"
SETTINGS = {"SABIO_EMBEDDING_MODEL": EMBEDDER}  # the server's, as for `sabio add`
KB = "default"
SUBFOLDERS = 100
TARGET_S = 5.0
TARGET_IDLE_PERCENT = 1.0
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


# the folder


def build_folder(workdir: Path, files: int) -> Path:
    """``files`` text files in :data:`SUBFOLDERS` subfolders, written afresh."""
    folder = workdir / f"folder-{files}"
    shutil.rmtree(folder, ignore_errors=True)
    rows = _jsonl(SCIFACT / "corpus.jsonl")
    for n, row in zip(range(files), itertools.cycle(rows), strict=False):
        sub = folder / f"part-{n % SUBFOLDERS:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        text = f"Note {n}: {row['title']}\n\n{row['text']}\n"
        (sub / f"{n:05d}.txt").write_text(text, encoding="utf-8")
    return folder


def made_up_word(rng: random.Random) -> str:
    return "zqx" + "".join(rng.choices(string.ascii_lowercase, k=8))


# processes: CPU and memory from /proc (Linux)


def _stat_fields(path: str) -> list[str]:
    with open(path) as f:
        return f.read().rsplit(")", 1)[1].split()


def _family(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(_stat_fields(f"/proc/{entry}/stat")[1])
            except (OSError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    family, todo = [], [pid]
    while todo:
        family.append(p := todo.pop())
        todo += children.get(p, [])
    return family


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (all its threads, living and ended) and of its living
    descendants, and cutime + cstime (its children that ended: reader processes)."""
    total = 0
    for p in _family(pid):
        try:
            fields = _stat_fields(f"/proc/{p}/stat")
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
        if p == pid:
            total += int(fields[13]) + int(fields[14])
    return total / CLOCK_TICK


def rss_mib(pid: int) -> float:
    total = 0
    for p in _family(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of each living thread, keyed "name/tid"."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            fields = _stat_fields(f"/proc/{pid}/task/{tid}/stat")
            name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
        except OSError:
            continue
        out[f"{name}/{tid}"] = (int(fields[11]) + int(fields[12])) / CLOCK_TICK
    return out


# the server


def _get(client: httpx.Client, path: str, **params: Any) -> Any:
    response = client.get(path, params=params)
    response.raise_for_status()
    return response.json()


def wait_jobs_done(client: httpx.Client, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = _get(client, "/api/v1/jobs")
        if not any(j["status"] in ("queued", "running") for j in jobs):
            return
        time.sleep(0.5)
    sys.exit(f"jobs still running after {timeout:.0f} s")


# 1. the first sync


def cli_add(folder: Path, home: Path, log: Path) -> dict[str, Any]:
    """The baseline: ``sabio add FOLDER`` into a fresh data directory."""
    shutil.rmtree(home, ignore_errors=True)
    env = {**os.environ, **SETTINGS}
    command = [*_sabio_command(), "--home", str(home), "add", str(folder)]
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if done.returncode != 0:
        sys.exit(f"`{' '.join(command)}` failed ({done.returncode}); see {log}")
    sabio = Sabio(load_settings({"home": home}))
    kb = next(kb for kb in sabio.list_kbs() if kb.name == KB)
    sabio.close()
    return {
        "seconds": round(seconds, 1),
        "documents": kb.documents,
        "passages": kb.chunks,
        "cpu_s": round(cpu, 1),
        "load_average_before": round(load, 2),
    }


def server_sync(client: httpx.Client, folder: Path, pid: int) -> dict[str, Any]:
    """Add the folder as a source; time until its first job is done."""
    load = os.getloadavg()[0]
    cpu = cpu_seconds(pid)
    start = time.perf_counter()
    response = client.post("/api/v1/sources", json={"kind": "folder", "location": str(folder)})
    response.raise_for_status()
    source_id = response.json()["id"]
    shown = start
    while True:
        sources = _get(client, "/api/v1/sources")
        job = next(s for s in sources if s["id"] == source_id)["job"]
        if job and job["status"] in ("done", "failed"):
            break
        if time.perf_counter() - shown >= 15 and job:
            shown = time.perf_counter()
            print(f"  {shown - start:.0f} s: {job['done']}/{job['total']} {job['message']}")
        time.sleep(0.5)
    seconds = time.perf_counter() - start
    if job["status"] != "done":
        sys.exit(f"the first sync failed: {job['error']}")
    kb = _get(client, f"/api/v1/kbs/{KB}")
    return {
        "source_id": source_id,
        "seconds": round(seconds, 1),
        "job_seconds": round(job["finished_at"] - job["created_at"], 1),
        "job_message": job["message"],
        "documents": kb["documents"],
        "passages": kb["passages"],
        "cpu_s": round(cpu_seconds(pid) - cpu, 1),
        "load_average_before": round(load, 2),
    }


def detail_cost(client: httpx.Client, source_id: int, repeat: int = 3) -> dict[str, Any]:
    """What one ``GET /api/v1/sources/{id}`` costs once the source has its items."""
    times, size = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(f"/api/v1/sources/{source_id}")
        times.append(time.perf_counter() - start)
        response.raise_for_status()
        size = len(response.content)
    return {
        "ms": [round(t * 1000) for t in times],
        "bytes": size,
        "items": len(response.json()["items"]),
    }


# 2. change → searchable


@dataclass
class Change:
    kind: str  # edit | new | rename | delete
    path: Path
    word: str
    wrote_at: float  # time.time() when the write returned
    seconds: float | None = None  # until searchable; None: not within the timeout
    job: dict[str, Any] | None = None


def _visible(client: httpx.Client, change: Change) -> bool:
    hits = _get(client, f"/api/v1/kbs/{KB}/search", q=change.word, k=5)["hits"]
    mine = [h for h in hits if change.word in h["text"]]
    if change.kind == "delete":
        return not mine
    if change.kind == "rename":
        return any(h["document"] == change.path.name for h in mine)
    return bool(mine)


def _job_split(client: httpx.Client, source_id: int, change: Change) -> dict[str, Any] | None:
    """The job that synced the change: the first one queued after it was made."""
    jobs = _get(client, "/api/v1/jobs", source_id=source_id)
    after = [j for j in jobs if j["created_at"] >= change.wrote_at - 0.01 and j["finished_at"]]
    if not after:
        return None
    job = min(after, key=lambda j: j["created_at"])
    visible = change.wrote_at + (change.seconds or 0)
    return {
        "event_to_queued": round(job["created_at"] - change.wrote_at, 3),
        "queued_to_started": round(job["started_at"] - job["created_at"], 3),
        "run": round(job["finished_at"] - job["started_at"], 3),
        "finished_to_searchable": round(visible - job["finished_at"], 3),
        "message": job["message"],
    }


def make_change(kind: str, folder: Path, rng: random.Random, state: dict[str, Any]) -> Change:
    """Make one change of ``kind``; ``state`` remembers the last edited and new files."""
    word = made_up_word(rng)
    if kind == "edit":
        path = rng.choice(state["originals"])
        state["originals"].remove(path)
        text = path.read_text(encoding="utf-8") + f"\nEdited: {word}.\n"
        path.write_text(text, encoding="utf-8")
        state["edited"] = (path, word)
    elif kind == "new":
        row = rng.choice(state["rows"])
        path = folder / f"part-{rng.randrange(SUBFOLDERS):03d}" / f"new-{word}.txt"
        path.write_text(f"{row['title']} {word}\n\n{row['text']}\n", encoding="utf-8")
        state["new"] = (path, word)
    elif kind == "rename":
        old, word = state.pop("new")
        path = old.with_name(f"renamed-{made_up_word(rng)}.txt")
        old.rename(path)
    else:
        path, word = state.pop("edited")
        path.unlink()
    return Change(kind, path, word, time.time())


def measure_changes(
    client: httpx.Client, folder: Path, source_id: int, args: argparse.Namespace
) -> list[Change]:
    rng = random.Random(7)
    state: dict[str, Any] = {
        "originals": sorted(folder.rglob("*.txt")),
        "rows": _jsonl(SCIFACT / "corpus.jsonl"),
    }
    kinds = itertools.cycle(("edit", "new", "rename", "delete"))
    changes = []
    for number in range(args.changes):
        kind = next(kinds)  # a rename follows a new file, a delete an edit
        change = make_change(kind, folder, rng, state)
        start = time.monotonic() - (time.time() - change.wrote_at)
        while time.monotonic() - start < args.change_timeout:
            if _visible(client, change):
                change.seconds = time.monotonic() - start
                break
            time.sleep(0.05)
        wait_jobs_done(client)
        change.job = _job_split(client, source_id, change)
        changes.append(change)
        shown = f"{change.seconds:.2f} s" if change.seconds is not None else "TIMEOUT"
        print(f"  change {number + 1} {kind:6} {change.path.name}: {shown}", flush=True)
        time.sleep(args.gap)
    return changes


def summarize_changes(changes: list[Change]) -> dict[str, Any]:
    out = {}
    groups = {k: [c for c in changes if c.kind == k] for k in ("edit", "new", "rename", "delete")}
    for kind, group in [*groups.items(), ("all", changes)]:
        if not group:
            continue
        seconds = sorted(c.seconds for c in group if c.seconds is not None)
        row: dict[str, Any] = {"n": len(group), "timed_out": len(group) - len(seconds)}
        if seconds:
            row |= {
                "p50_s": round(_percentile(seconds, 0.5), 2),
                "p95_s": round(_percentile(seconds, 0.95), 2),
                "max_s": round(seconds[-1], 2),
                "within_target": sum(s <= TARGET_S for s in seconds),
            }
        parts = [c.job for c in group if c.job]
        for part in ("event_to_queued", "queued_to_started", "run", "finished_to_searchable"):
            values = sorted(p[part] for p in parts)
            if values:
                row[f"{part}_p50_s"] = round(_percentile(values, 0.5), 2)
        out[kind] = row
    return out


# 3. idle CPU


def measure_idle(server: Server, seconds: float, window: float) -> dict[str, Any]:
    """CPU over ``seconds`` of nothing changing, in windows; the threads that used it."""
    pid = server.process.pid
    threads_before = thread_cpu(pid)
    total_before = cpu_seconds(pid)
    windows = []
    start = time.monotonic()
    while (left := start + seconds - time.monotonic()) > 0.5:
        length = min(window, left)
        before, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(length)
        windows.append((cpu_seconds(pid) - before) / (time.monotonic() - t0) * 100)
    elapsed = time.monotonic() - start
    used = cpu_seconds(pid) - total_before
    threads_after = thread_cpu(pid)
    busy = {
        name: round(cpu - threads_before.get(name, 0.0), 2)
        for name, cpu in threads_after.items()
        if cpu - threads_before.get(name, 0.0) > 0
    }
    return {
        "seconds": round(elapsed, 1),
        "cpu_s": round(used, 2),
        "percent_of_one_core": round(used / elapsed * 100, 2),
        "window_percent": [round(w, 2) for w in windows],
        "rss_mib": round(rss_mib(pid), 1),
        "processes": len(_family(pid)),
        "threads": len(threads_after),
        "busy_threads_cpu_s": dict(sorted(busy.items(), key=lambda kv: -kv[1])[:8]),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


# results


def _median(values: list[float]) -> float:
    return statistics.median(values)


def print_table(out: dict[str, Any]) -> None:
    files = out["files"]
    cli, srv = out["sync"]["cli_add"], out["sync"]["server_source"]
    print(f"\nfirst sync of {files:,} files ({len(cli)} runs each, alternating; median, min-max)")
    print(f"  {'':24} {'seconds':>7} {'min-max':>13} {'files/s':>8} {'CPU s':>6} {'passages':>9}")
    for label, runs in (("sabio add (baseline)", cli), ("server, folder source", srv)):
        seconds = [r["seconds"] for r in runs]
        low, high = min(seconds), max(seconds)
        print(
            f"  {label:24} {_median(seconds):>7.1f} {f'{low:.1f}-{high:.1f}':>13} "
            f"{files / _median(seconds):>8.1f} {_median([r['cpu_s'] for r in runs]):>6.1f} "
            f"{runs[-1]['passages']:>9}"
        )
    ratios = [s["seconds"] / c["seconds"] for c, s in zip(cli, srv, strict=True)]
    cpu = _median([s["cpu_s"] for s in srv]) / _median([c["cpu_s"] for c in cli])
    shown = ", ".join(f"x{r:.2f}" for r in ratios)
    print(f"  server / baseline: time {shown} (each pair); CPU x{cpu:.2f}")
    print(f"\nchange → searchable (target ≤ {TARGET_S:.0f} s)")
    print(
        f"  {'kind':7} {'n':>3} {'p50 s':>6} {'p95 s':>6} {'max s':>6} {'≤ 5 s':>6}   "
        "p50 split: to queued / waiting / job / to searchable"
    )
    for kind, row in out["changes"]["summary"].items():
        split = " / ".join(
            f"{row.get(f'{p}_p50_s', float('nan')):.2f}"
            for p in ("event_to_queued", "queued_to_started", "run", "finished_to_searchable")
        )
        print(
            f"  {kind:7} {row['n']:>3} {row.get('p50_s', float('nan')):>6.2f} "
            f"{row.get('p95_s', float('nan')):>6.2f} {row.get('max_s', float('nan')):>6.2f} "
            f"{row.get('within_target', 0):>3}/{row['n']:<2}   {split}"
        )
    idle = out["idle"]
    print(f"\nidle CPU over {idle['with_source']['seconds']:.0f} s (target < 1% of one core)")
    print(f"  {'':34} {'% core':>7} {'windows min-max':>16} {'RSS MiB':>8} {'threads':>7}")
    for label, key in (("server watching the folder", "with_source"), ("same, no source", "none")):
        row = idle[key]
        spread = f"{min(row['window_percent']):.2f}-{max(row['window_percent']):.2f}"
        print(
            f"  {label:34} {row['percent_of_one_core']:>7.2f} {spread:>16} "
            f"{row['rss_mib']:>8.0f} {row['threads']:>7}"
        )
    base = idle["none"]["percent_of_one_core"]
    ratio = idle["with_source"]["percent_of_one_core"] / base if base else float("inf")
    print(f"  watching / no source: x{ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--files", type=int, default=10_000, help="files in the folder")
    parser.add_argument("--changes", type=int, default=20, help="changes, one at a time")
    parser.add_argument("--gap", type=float, default=3.0, help="seconds between changes")
    parser.add_argument(
        "--change-timeout", type=float, default=60.0, help="seconds a change may take"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="first syncs of each kind, alternating"
    )
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idle measured")
    parser.add_argument("--window", type=float, default=10.0, help="seconds per idle window")
    parser.add_argument("--workdir", default="/tmp/sabio-sources-work", help="folder and homes")
    parser.add_argument("--json", type=Path, help="default: bench/results/sources-<time>.json")
    args = parser.parse_args()
    if not SCIFACT.exists():
        sys.exit(f"{SCIFACT} is missing: the benchmark reads ../shared/data")
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    folder = build_folder(workdir, args.files)
    print(f"folder {folder}: {args.files} files", flush=True)
    out: dict[str, Any] = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "files": args.files,
        "cpu_count": os.cpu_count(),
        "sync": {},
        "idle": {},
    }
    home_cli, home = workdir / "home-cli", workdir / "home-sources"
    cli_runs: list[dict[str, Any]] = []
    server_runs: list[dict[str, Any]] = []
    out["sync"] = {"cli_add": cli_runs, "server_source": server_runs}
    for attempt in range(args.repeat):  # pairs, side by side; the last server goes on
        print(f"sabio add (baseline), run {attempt + 1}…", flush=True)
        cli_runs.append(cli_add(folder, home_cli, workdir / "cli-add.log"))
        print(f"  {json.dumps(cli_runs[-1])}", flush=True)
        shutil.rmtree(home, ignore_errors=True)
        with (
            running_server(home, workdir / "server-sources.log", SETTINGS) as server,
            httpx.Client(base_url=server.url, timeout=60) as client,
        ):
            print(f"server: adding the folder as a source, run {attempt + 1}…", flush=True)
            sync = server_sync(client, folder, server.process.pid)
            server_runs.append(sync)
            print(f"  {json.dumps(sync)}", flush=True)
            if attempt < args.repeat - 1:
                continue
            out["sync"]["detail_request"] = detail_cost(client, sync["source_id"])
            print(f"  GET /sources/{{id}}: {json.dumps(out['sync']['detail_request'])}")
            print(f"{args.changes} changes…", flush=True)
            changes = measure_changes(client, folder, sync["source_id"], args)
            out["changes"] = {
                "summary": summarize_changes(changes),
                "each": [
                    {
                        "kind": c.kind,
                        "file": str(c.path.relative_to(folder)),
                        "seconds": round(c.seconds, 3) if c.seconds is not None else None,
                        "job": c.job,
                    }
                    for c in changes
                ],
            }
            wait_jobs_done(client)
            time.sleep(3)
            print(f"idle, watching the folder, {args.idle:.0f} s…", flush=True)
            out["idle"]["with_source"] = measure_idle(server, args.idle, args.window)
            print(f"  {json.dumps(out['idle']['with_source'])}", flush=True)
    with running_server(home_cli, workdir / "server-none.log", SETTINGS) as server:
        client = httpx.Client(base_url=server.url, timeout=60)
        _get(client, f"/api/v1/kbs/{KB}/search", q="warm up", k=5)  # as the other one did
        wait_jobs_done(client)
        time.sleep(3)
        print(f"idle, no source, {args.idle:.0f} s…", flush=True)
        out["idle"]["none"] = measure_idle(server, args.idle, args.window)
        print(f"  {json.dumps(out['idle']['none'])}", flush=True)
        client.close()
    out["wall_s"] = round(time.perf_counter() - started, 1)
    print_table(out)
    print(f"wall time {out['wall_s']} s")
    write_results(out, "sources", args.json)


if __name__ == "__main__":
    main()

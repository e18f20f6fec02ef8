"""What chat clients get from ``sabio serve`` on the embedded models, with no Ollama: a
sources footer on every knowledge-base answer, and their own tasks (a chat title) answered
without delaying the user's question (issue 17).

    python bench/client_tasks.py                  # 20 repeats, 200 SciFact abstracts
    python bench/client_tasks.py --repeats 5      # a quick check
    python bench/client_tasks.py --styles '' --task-runs 150 --latency-runs 0   # the task tail
    python bench/client_tasks.py --styles '' --latency-runs 0 --baseline-src ../main/src

1. A data directory under ``--workdir`` (reused): the first ``--docs`` SciFact abstracts in
   the knowledge base "scifact" with the embedded MiniLM (``load.build_home``).
2. For each answer style, the default (``auto``: extractive on the embedded model) and
   ``generative`` (SmolLM2 writes the answer), the real server as a subprocess
   (``SABIO_ANSWER_STYLE``; chat model ``embedded:smollm2``; ``SABIO_OLLAMA_HOST`` a closed
   port, so no Ollama), and the same question ``--repeats`` times, in English (a SciFact
   claim whose abstract is indexed), in Spanish, and off the abstracts' topic, taking
   turns over ``/api/chat`` streamed, ``/api/chat`` whole, ``/api/generate`` and
   ``/v1/chat/completions`` streamed: how many answers end with the sources footer
   (``---`` then ``**Sources**`` or ``**Fuentes**``), and of those how many cite ``[n]``.
3. Latency, generative style at temperature 0 (the same answer every run): the user's
   question (streamed ``/api/chat``: to its first text and to its done line) alone, then
   with Open WebUI's title task (its real template, tests/client_templates.py) sent 10 ms
   before it, then, for comparison, with a request of the same size that does use the
   embedded model (what a title task cost when it went to the model); the three in turn,
   ``--latency-runs`` times. Medians, the ratios to the question alone, and the title
   task's own time. Before that, the tasks alone (``--task-runs`` runs): Open WebUI's
   title, tags and follow-up tasks on the warm-up answer, side by side with
   ``GET /api/version`` (a round trip that does nothing: the machine's floor), the four
   in turn; median, 95th percentile, slowest, how many within 50 ms, and from Linux's
   scheduler counters the server's CPU time on each run and, on the slowest, how long
   the server waited for a CPU (on a loaded machine the slowest runs are mostly that
   wait, which the floor shows too). ``--baseline-src``: a second server of the same
   data directory from another tree's ``src`` (main's), all of it asked of both in turn.

Results are printed and written to ``--json`` (default bench/results/client-tasks-*.json).
See docs/benchmarks.md, "Clients: sources footer and their own tasks".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from load import CHAT_MODEL, KB, _free_port, build_home, load_questions, running_server
from load import write_results as save

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import client_templates

SPANISH = "¿Qué relación hay entre la vitamina D y el riesgo de fracturas óseas?"
OFF_TOPIC = "Who painted the Mona Lisa, and in which museum does it hang?"
"""A question the SciFact abstracts do not answer: where an answer cites nothing."""
WAYS = ("chat-stream", "chat-whole", "generate", "openai-stream")
FOOTERS = ("\n---\n**Sources**\n", "\n---\n**Fuentes**\n")
MODEL = f"kb/{KB}"


def ask(url: str, way: str, question: str, timeout: float = 300.0) -> str:
    """The whole text of one answer asked ``way``."""
    messages = [{"role": "user", "content": question}]
    if way == "chat-whole":
        body = {"model": MODEL, "messages": messages, "stream": False}
        reply = httpx.post(f"{url}/api/chat", json=body, timeout=timeout)
        reply.raise_for_status()
        return str(reply.json()["message"]["content"])
    if way == "generate":
        body = {"model": MODEL, "prompt": question, "stream": False}
        reply = httpx.post(f"{url}/api/generate", json=body, timeout=timeout)
        reply.raise_for_status()
        return str(reply.json()["response"])
    if way == "openai-stream":
        body = {"model": MODEL, "messages": messages, "stream": True}
        parts = []
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=timeout) as r:
            r.raise_for_status()
            for line in r.iter_lines():
                if line.startswith("data: {"):
                    for choice in json.loads(line[6:]).get("choices", []):
                        parts.append(choice.get("delta", {}).get("content") or "")
        return "".join(parts)
    return chat_streamed(url, MODEL, question, timeout)[0]


def chat_streamed(
    url: str, model: str, content: str, timeout: float = 300.0, client: httpx.Client | None = None
) -> tuple[str, float, float]:
    """A streamed ``/api/chat``: its text, the seconds to its first text and to its done
    line (on ``client``'s kept-alive connection when given: a new ``httpx.Client`` alone
    costs about 50 ms)."""
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    own = client is None
    client = client or httpx.Client()
    try:
        start = time.perf_counter()
        first = 0.0
        parts = []
        with client.stream("POST", f"{url}/api/chat", json=body, timeout=timeout) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if line:
                    parts.append(json.loads(line).get("message", {}).get("content", ""))
                    first = first or (time.perf_counter() - start if parts[-1] else 0.0)
        total = time.perf_counter() - start
        return "".join(parts), first or total, total
    finally:
        if own:
            client.close()


def footers(url: str, question: str, repeats: int) -> dict[str, Any]:
    with_footer = cited = 0
    per_way: dict[str, int] = {}
    missing: list[str] = []
    for i in range(repeats):
        way = WAYS[i % len(WAYS)]
        text = ask(url, way, question)
        footer = next((text[text.index(f) :] for f in FOOTERS if f in text), None)
        if footer is None:
            missing.append(text[-200:])
        else:
            with_footer += 1
            per_way[way] = per_way.get(way, 0) + 1
            cited += "- [" in footer
    return {
        "question": question,
        "answers": repeats,
        "with_footer": with_footer,
        "citing": cited,
        "per_way": per_way,
        "missing_tails": missing[:3],
    }


def latency(url: str, question: str, runs: int) -> dict[str, Any]:
    """The user's question alone, with a concurrent title task, with a concurrent model
    request of the same size (module docstring); the three taken in turn ``runs`` times,
    so that the machine's other load falls on all of them alike."""
    title_prompt = client_templates.open_webui(
        client_templates.OPEN_WEBUI_TITLE, [("user", question)]
    )
    same_size = "Summarise in one line: " + question + "\n" * 3 + "x " * 200
    kinds: dict[str, tuple[str, str] | None] = {
        "alone": None,
        "with_title_task": (MODEL, title_prompt),
        "with_model_request": (CHAT_MODEL, same_size),
    }
    results: dict[str, list[tuple[float, float, float | None, str]]] = {n: [] for n in kinds}
    with httpx.Client() as mine, httpx.Client() as theirs:
        for name in [name for _ in range(runs) for name in kinds]:
            concurrent = kinds[name]
            other: dict[str, Any] = {}

            def background(concurrent: tuple[str, str], other: dict[str, Any] = other) -> None:
                other["text"], _, other["s"] = chat_streamed(url, *concurrent, client=theirs)

            thread = None
            if concurrent:
                thread = threading.Thread(target=background, args=(concurrent,))
                thread.start()
                time.sleep(0.01)
            _, first, seconds = chat_streamed(url, MODEL, question, client=mine)
            if thread:
                thread.join()
            results[name].append((first, seconds, other.get("s"), str(other.get("text", ""))))
    phases: dict[str, Any] = {}
    for name, runs_of in results.items():
        phases[name] = {
            "first_text_s": round(statistics.median(r[0] for r in runs_of), 3),
            "question_s": round(statistics.median(r[1] for r in runs_of), 3),
            "first_text_runs_s": [round(r[0], 3) for r in runs_of],
            "question_runs_s": [round(r[1], 3) for r in runs_of],
        }
        others = [r[2] for r in runs_of if r[2] is not None]
        if others:
            phases[name]["concurrent_s"] = round(statistics.median(others), 4)
            phases[name]["concurrent_sample"] = runs_of[0][3][:120]
    for name in ("with_title_task", "with_model_request"):
        for key in ("first_text_s", "question_s"):
            ratio = phases[name][key] / phases["alone"][key]
            phases[name][key.replace("_s", "_ratio")] = round(ratio, 3)
    return phases


def server_schedule(pid: int | None) -> tuple[int, int]:
    """The nanoseconds the server's threads have run on a CPU and waited for one, so far
    (Linux's ``/proc/PID/task/*/schedstat``; zeros elsewhere): on a loaded machine a
    request's slowest runs are mostly waits for a CPU, which says nothing of Sabio."""
    ran = waited = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat") if pid else ():
        try:
            fields = stat.read_text().split()
        except OSError:  # a thread that ended meanwhile
            continue
        ran, waited = ran + int(fields[0]), waited + int(fields[1])
    return ran, waited


def task_prompts(question: str, answer: str) -> dict[str, str]:
    """Open WebUI's three tasks after an answer (its 0.12.4 templates), as it fills them."""
    conversation = [("user", question), ("assistant", answer)]
    t = client_templates
    return {
        "title": t.open_webui(t.OPEN_WEBUI_TITLE, conversation[:1]),
        "tags": t.open_webui(t.OPEN_WEBUI_TAGS, conversation),
        "follow_ups": t.open_webui(t.OPEN_WEBUI_0_12_4_FOLLOW_UPS, conversation),
    }


def _version(url: str, client: httpx.Client) -> tuple[str, float, float]:
    start = time.perf_counter()
    client.get(f"{url}/api/version").raise_for_status()
    seconds = time.perf_counter() - start
    return "", seconds, seconds


def tasks_alone(
    servers: dict[str, tuple[str, int | None]], question: str, answer: str, runs: int
) -> dict[str, Any]:
    """The title, tags and follow-up tasks on their own, on a kept-alive connection as
    clients hold one, side by side with ``GET /api/version`` (the floor: a round trip to
    the same server doing nothing); with two ``servers`` (name: url and pid), the same on
    each. All of them in turn ``runs`` times, so that the machine's load falls on each
    alike. Per server and kind: median, 95th percentile and slowest, how many within 50
    ms, the ratio of its median to the floor's; with the server's pid, the CPU time it
    spent on each run and, on the slowest, its wait for a CPU."""
    prompts = task_prompts(question, answer)
    kinds = ["version", *prompts]
    order = [(name, kind) for _ in range(runs) for name in servers for kind in kinds]
    times: dict[tuple[str, str], list[float]] = {key: [] for key in order}
    cpu: dict[tuple[str, str], list[float]] = {key: [] for key in order}
    waits: dict[tuple[str, str], list[float]] = {key: [] for key in order}
    texts: dict[tuple[str, str], str] = {}
    clients = {name: httpx.Client() for name in servers}
    try:
        for name, kind in order:
            url, pid = servers[name]
            ran, waited = server_schedule(pid)
            if kind == "version":
                text, _, seconds = _version(url, clients[name])
            else:
                text, _, seconds = chat_streamed(url, MODEL, prompts[kind], client=clients[name])
            ran_after, waited_after = server_schedule(pid)
            times[name, kind].append(seconds)
            cpu[name, kind].append((ran_after - ran) / 1e6)
            waits[name, kind].append((waited_after - waited) / 1e6)
            texts[name, kind] = text
    finally:
        for client in clients.values():
            client.close()
    out: dict[str, Any] = {"runs": runs}
    for name, (_, pid) in servers.items():
        floor = statistics.median(times[name, "version"])
        out[name] = {}
        for kind in kinds:
            taken = sorted(times[name, kind])
            row: dict[str, Any] = {
                "median_ms": round(1000 * statistics.median(taken), 1),
                "p95_ms": round(1000 * taken[max(0, round(0.95 * len(taken)) - 1)], 1),
                "max_ms": round(1000 * taken[-1], 1),
                "within_50ms": sum(t <= 0.05 for t in taken),
                "median_ratio_to_version": round(statistics.median(taken) / floor, 2),
                "answer": texts[name, kind][:200],
            }
            if pid:
                spent = cpu[name, kind]
                slowest = max(range(runs), key=times[name, kind].__getitem__)
                row |= {
                    "server_cpu_median_ms": round(statistics.median(spent), 1),
                    "server_cpu_max_ms": round(max(spent), 1),
                    "slowest_run_cpu_ms": round(spent[slowest], 1),
                    "slowest_run_cpu_wait_ms": round(waits[name, kind][slowest], 1),
                }
            out[name][kind] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=200, help="SciFact abstracts indexed")
    parser.add_argument("--repeats", type=int, default=20, help="answers per question")
    parser.add_argument("--latency-runs", type=int, default=5)
    parser.add_argument("--styles", default="auto,generative", help="answer styles, in turn")
    parser.add_argument("--no-latency", action="store_true", help="only count the footers")
    parser.add_argument("--task-runs", type=int, default=20, help="runs of each task alone")
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="another tree's src/ (e.g. main's): its server's tasks measured side by side",
    )
    parser.add_argument("--workdir", default="/tmp/sabio-client-tasks", help="reused")
    parser.add_argument("--json", type=Path, help="default: bench/results/client-tasks-*.json")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    home, built = build_home(workdir, args.docs)
    english = load_questions(args.docs)[1][0]
    out: dict[str, Any] = {"docs": built, "chat_model": CHAT_MODEL, "styles": {}}
    base = {
        "SABIO_CHAT_MODEL": CHAT_MODEL,
        "SABIO_OLLAMA_HOST": f"http://127.0.0.1:{_free_port()}",  # closed: no Ollama
        "HF_HUB_OFFLINE": "1",
    }
    for style in filter(None, args.styles.split(",")):  # --styles '': the tasks only
        settings = base | {"SABIO_ANSWER_STYLE": style}
        with running_server(home, workdir / f"server-{style}.log", settings) as server:
            ask(server.url, "chat-whole", english)  # warm-up: models loaded, not counted
            result: dict[str, Any] = {
                "english": footers(server.url, english, args.repeats),
                "spanish": footers(server.url, SPANISH, args.repeats),
                "off_topic": footers(server.url, OFF_TOPIC, args.repeats),
            }
        out["styles"][style] = result
        print(json.dumps({style: result}, indent=2, ensure_ascii=False))
    if not args.no_latency:  # temperature 0: the same answer every run, comparable times
        settings = base | {"SABIO_ANSWER_STYLE": "generative", "SABIO_TEMPERATURE": "0"}
        with contextlib.ExitStack() as stack:
            server = stack.enter_context(
                running_server(home, workdir / "server-latency.log", settings)
            )
            servers = {"this": (server.url, server.process.pid)}
            if args.baseline_src:  # the same server from another tree's src, side by side
                baseline = settings | {"PYTHONPATH": str(args.baseline_src.resolve())}
                other = stack.enter_context(
                    running_server(home, workdir / "server-baseline.log", baseline)
                )
                servers["baseline"] = (other.url, other.process.pid)
                chat_streamed(other.url, MODEL, english)  # warm-up
            answer = chat_streamed(server.url, MODEL, english)[0]  # warm-up
            out["tasks"] = tasks_alone(servers, english, answer, args.task_runs)
            print(json.dumps({"tasks": out["tasks"]}, indent=2, ensure_ascii=False), flush=True)
            if args.latency_runs:
                out["latency"] = latency(server.url, english, args.latency_runs)
                print(json.dumps({"latency": out["latency"]}, indent=2))
    save(out, "client-tasks", args.json)


if __name__ == "__main__":
    main()

"""Whole-document tasks on a 100-page document, with the embedded model (or ``--model``).

    python bench/tasks.py summary [--pages 100] [--model embedded:smollm2] [--generative]
    python bench/tasks.py jobs [--pages 100] [--wait 0]
    python bench/tasks.py cancel [--rounds 5] [--wait 1]

The document: pages of the Docugami 10-Qs in ``../shared/data/rag_qa/docugami_sec10q/docs``
(2022 Q3 MSFT, then 2023 Q1 AAPL…) read with pypdfium2, joined into one document of
``--pages`` pages numbered 1…N.

``summary``: :func:`summarize_document` (extractive, as Sabio does for the embedded model,
or ``--generative``: map over parts, then combine): seconds, seconds per page, peak memory
(ru_maxrss), model calls, route; of the summary's sentences, the share that cites a page
of the document ("page refs kept"), and the share its page supports (the support check);
the share of the document's tenths (by page) that a sentence cites.

``jobs``: the same document stored (embedded embedder) and summarized generatively as a
task job by a real worker thread (:mod:`sabio.tasks.jobs`): seconds from queueing to the
job shown running, to its first "part 1 of N", and, cancelled ``--wait`` seconds after
that, from the cancel to the worker free again (a second, model-free job queued at the
cancel is done) and to the model stopped (its runner idle: no prompt being read, no word
being written).

``cancel``: one long part's prompt (about 1,500 tokens of the document) sent through
the task's :class:`~sabio.tasks.budget.StoppableModel` to each backend in turn,
``--rounds`` times: the embedded model, and Ollama and an OpenAI-compatible server
stood in for by tests/fake_servers.py's FakeOllama, whose chat routes wait before their
first token (a server still reading the prompt) and note when their client leaves. Each
is cancelled ``--wait`` seconds after its request started; measured: from the cancel
to the task free (TaskCancelled raised) and to the model stopped (the embedded runner
idle; the HTTP server seeing its client leave, after which Ollama stops computing).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sabio.config import load_settings
from sabio.errors import SabioError
from sabio.models import ChatModel, ChatOptions, Message, get_chat_model
from sabio.service import Sabio
from sabio.tasks.jobs import task_payload
from sabio.tasks.summarize import summarize_document
from sabio.worker import Worker

FOLDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "rag_qa" / "docugami_sec10q"
ORDER = ("2022 Q3 MSFT", "2023 Q1 AAPL", "2023 Q2 AMZN", "2023 Q3 INTC")
Page = tuple[int | None, str]


def document(pages: int) -> list[Page]:
    import pypdfium2 as pdfium

    texts: list[str] = []
    for name in ORDER:
        pdf = pdfium.PdfDocument(FOLDER / "docs" / f"{name}.pdf")
        try:
            texts += [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]
        finally:
            pdf.close()
        if len(texts) >= pages:
            break
    return [(n + 1, text) for n, text in enumerate(texts[:pages])]


def summary(args: argparse.Namespace) -> dict[str, object]:
    pages = document(args.pages)
    model = get_chat_model(load_settings({}, environ={}), args.model)
    notes: list[str] = []
    started = time.perf_counter()

    def note(text: str) -> None:
        notes.append(text)
        print(f"{time.perf_counter() - started:7.1f} s  {text}", file=sys.stderr, flush=True)

    found = summarize_document(
        model, pages, length="page", progress=note, extractive=not args.generative
    )
    seconds = time.perf_counter() - started
    cited = [int(n) for n in re.findall(r"\[(\d+)\]", found.text)]
    existing = [n for n in cited if 1 <= n <= len(pages)]
    tenths = {min(9, (n - 1) * 10 // len(pages)) for n in existing}
    claims = found.claims
    return {
        "task": "summary",
        "model": args.model,
        "style": "generative" if args.generative else "extractive",
        "pages": len(pages),
        "seconds": round(seconds, 1),
        "seconds_per_page": round(seconds / len(pages), 3),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "calls": found.calls,
        "route": found.route.describe(),
        "progress_notes": len(notes),
        "sentences": len(claims),
        "page_refs_kept": round(len(existing) / max(1, len(claims)), 3),
        "supported": round(sum(c.supported for c in claims) / max(1, len(claims)), 3),
        "tenths_cited": len(tenths),
        "text": found.text,
    }


def jobs(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as home:
        source = Path(home) / "report.md"
        source.write_text(
            "\n\n".join(f"# Page {n}\n\n{text}" for n, text in document(args.pages)),
            encoding="utf-8",
        )
        settings = load_settings(
            {"home": Path(home) / "data", "answer_style": "generative", "chat_model": args.model},
            environ={},
        )
        sabio = Sabio(settings)
        sabio.add([source])
        worker = Worker(sabio, watch=False)
        worker.start()
        try:
            return _follow(sabio, worker, args)
        finally:
            worker.stop()
            sabio.close()


def _follow(sabio: Sabio, worker: Worker, args: argparse.Namespace) -> dict[str, object]:
    queue = sabio.jobs
    payload = task_payload(sabio, None, "summarize", ["report.md"], {})
    times: dict[str, float] = {}
    started = time.perf_counter()
    job = queue.enqueue_task(payload)
    worker.wake()
    while "part" not in times:
        seen = queue.get(job.id)
        if seen.status == "running":
            times.setdefault("running", time.perf_counter() - started)
        if seen.total:
            times["part"] = time.perf_counter() - started
        time.sleep(0.01)
    time.sleep(args.wait)  # the model busy with its part's prompt, or writing
    cancelled = time.perf_counter()
    queue.cancel(job.id)
    model_free = task_payload(sabio, None, "compare", ["report.md", "report.md"], {})
    after = queue.enqueue_task(model_free)
    worker.wake()
    free = stopped = None
    while free is None or stopped is None:
        if free is None and queue.get(after.id).status == "done":
            free = time.perf_counter() - cancelled
        if stopped is None and not _model_busy():
            stopped = time.perf_counter() - cancelled
        time.sleep(0.01)
    return {
        "task": "jobs",
        "waited_before_cancel_s": args.wait,
        "to_running_s": round(times["running"], 2),
        "to_first_part_s": round(times["part"], 2),
        "cancel_to_free_s": round(free, 2),
        "cancel_to_model_stopped_s": round(stopped, 2),
        "threads": threading.active_count(),
    }


def _model_busy() -> bool:
    """Whether the embedded model is still computing (its runner holds ``busy`` while a
    request runs, prompt included): what "cancel stops the model" is about, beyond the
    worker being free."""
    from sabio.models import llama

    return any(runner.busy.locked() for runner in llama._RUNNERS.values())


class StandIn:
    """What the stand-in server's chat routes saw: a request arrived; when its client left."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.left: list[float | None] = []

    def reads_a_long_prompt(self, request: Any) -> tuple[int, object]:
        from fake_servers import Raw, chat_chunk, openai_chunk, sse

        self.arrived.set()
        self.left.append(request.client_left(within=120))
        if request.path == "/api/chat":
            return 200, iter(
                [chat_chunk("llama3.2", "Hola"), chat_chunk("llama3.2", "", done=True)]
            )
        return 200, Raw([openai_chunk("llama3.2", "Hola", "stop"), sse("[DONE]")])


def cancels(args: argparse.Namespace) -> dict[str, object]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from fake_servers import FakeOllama, chat_model

    from sabio.config import OpenAIServer, Settings

    seen = StandIn()
    with (
        FakeOllama([chat_model("llama3.2:latest")]) as server,
        tempfile.TemporaryDirectory() as home,
    ):
        server.route("POST", "/api/chat", seen.reads_a_long_prompt)
        server.route("POST", "/v1/chat/completions", seen.reads_a_long_prompt)
        lmstudio = OpenAIServer(base_url=f"{server.url}/v1", context_window=4096)
        settings = Settings(
            home=Path(home), ollama_host=server.url, openai_servers={"lmstudio": lmstudio}
        )
        names = (args.model, "ollama:llama3.2", "lmstudio:llama3.2")
        models = {name: get_chat_model(settings, name) for name in names}
        text = "\n\n".join(t for _, t in document(4))
        while models[args.model].count_tokens(text) > 1500:  # one long part of a task
            text = text[: len(text) * 9 // 10]
        messages = [{"role": "user", "content": f"Summarize this:\n{text}"}]
        seconds: dict[str, dict[str, list[float]]] = {n: {"free": [], "stopped": []} for n in names}
        for _ in range(args.rounds):
            for name, model in models.items():  # in turn: the same load for each
                free, stopped = _cancel_once(
                    model, messages, seen if name != args.model else None, args.wait
                )
                seconds[name]["free"].append(round(free, 2))
                seconds[name]["stopped"].append(round(stopped, 2))
    return {"task": "cancel", "waited_before_cancel_s": args.wait, "rounds": args.rounds, **seconds}


def _cancel_once(
    model: ChatModel, messages: list[Message], http: StandIn | None, wait: float
) -> tuple[float, float]:
    """Seconds from the cancel to the task free, and to the model stopped."""
    from sabio.tasks.budget import StoppableModel

    if http is not None:
        http.arrived.clear()
        http.left.clear()
    stop, ended = threading.Event(), threading.Event()
    pieces = StoppableModel(model, stop).stream(messages, ChatOptions(max_tokens=64))
    threading.Thread(target=_read, args=(pieces, ended), daemon=True).start()
    while not (http.arrived.is_set() if http else _model_busy()):
        time.sleep(0.005)
    time.sleep(wait)  # the prompt being read
    cancelled = time.monotonic()
    stop.set()
    ended.wait(120)
    free = time.monotonic() - cancelled
    while (not http.left) if http else _model_busy():
        time.sleep(0.005)
    gone = (http.left[0] or float("nan")) if http else time.monotonic()
    return free, gone - cancelled


def _read(pieces: Iterator[str], ended: threading.Event) -> None:
    with contextlib.suppress(SabioError):  # TaskCancelled, once cancelled
        for _ in pieces:
            pass
    ended.set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("summary", "jobs", "cancel"))
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--model", default="embedded:smollm2")
    parser.add_argument("--generative", action="store_true")
    parser.add_argument("--wait", type=float, default=0.0, help="jobs, cancel: seconds before it")
    parser.add_argument("--rounds", type=int, default=5, help="cancel: of each backend")
    args = parser.parse_args()
    run = {"summary": summary, "jobs": jobs, "cancel": cancels}[args.what]
    result = run(args)
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()

"""The passthrough's overhead: a streamed ``/api/chat`` through Sabio against the same
request sent straight to the upstream.

    python bench/proxy.py                  # 400 requests each way, interleaved
    python bench/proxy.py --requests 100   # a quick check

1. The upstream: a minimal Ollama stand-in, this script run with ``--upstream PORT`` as a
   process of its own (uvicorn, one ASGI function), that answers every ``POST /api/chat``
   with ``--lines`` NDJSON chat lines, the first at once and the next ``--delay-ms``
   apart, as a model streams. Not a real model: a model's own time varies by far more
   than the few milliseconds measured here, and would hide them.
2. The real server, ``sabio --home DIR serve`` as a subprocess, with ``OLLAMA_HOST`` at
   the upstream; the model asked for is no knowledge base, so Sabio passes it through.
3. A warm-up (not counted), then ``--requests`` rounds, each one request straight to the
   upstream and one through Sabio, in alternating order; each way has one keep-alive
   client (``httpx.Client``), read to the end. Time to first byte (the first body bytes)
   and total, p50 and p95, and what Sabio adds at p50 (target: 5 ms at most).

Results are printed and written to ``--json`` (default bench/results/proxy-*.json). See
docs/benchmarks.md, "Passthrough overhead".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from ingest_search import RESULTS
from load import Server, _free_port, _percentile, _sabio_command

MODEL = "bench-model:latest"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "hola"}]}


# the upstream


def serve_upstream(port: int, lines: int, delay: float) -> None:
    import uvicorn

    def line(text: str, done: bool) -> bytes:
        chunk = {
            "model": MODEL,
            "created_at": "2025-07-07T20:22:19.18Z",
            "message": {"role": "assistant", "content": text},
            "done": done,
        }
        return json.dumps(chunk).encode() + b"\n"

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        headers = [(b"content-type", b"application/x-ndjson")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for number in range(lines):
            if number:
                await asyncio.sleep(delay)
            body = line(f" word{number}", False)
            await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": line("", True)})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


@contextmanager
def running(command: list[str], url: str, env: dict[str, str], log: Path) -> Iterator[Server]:
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(process, url, log)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                sys.exit(f"{command[0]} exited:\n{server.log_tail()}")
            try:
                httpx.get(f"{url}/api/version", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield server
    finally:
        server.stop()


# the measure


def one_chat(client: httpx.Client, url: str) -> tuple[float, float]:
    """(time to first byte, total) of one streamed chat, in seconds."""
    started = time.perf_counter()
    first = 0.0
    with client.stream("POST", f"{url}/api/chat", json=BODY) as response:
        response.raise_for_status()
        for chunk in response.iter_raw():
            if chunk and not first:
                first = time.perf_counter() - started
    return first, time.perf_counter() - started


def _ms(ordered: list[float], q: float) -> float:
    return round(_percentile(ordered, q) * 1000, 2)


def measure(direct: str, proxied: str, requests: int) -> dict[str, Any]:
    samples: dict[str, list[tuple[float, float]]] = {"direct": [], "sabio": []}
    with httpx.Client(timeout=30) as to_upstream, httpx.Client(timeout=30) as to_sabio:
        ways = {"direct": (to_upstream, direct), "sabio": (to_sabio, proxied)}
        for _ in range(20):  # warm-up: connections, imports, caches
            for client, url in ways.values():
                one_chat(client, url)
        for number in range(requests):
            order = ["direct", "sabio"] if number % 2 == 0 else ["sabio", "direct"]
            for way in order:
                samples[way].append(one_chat(*ways[way]))
    report: dict[str, Any] = {}
    for way, pairs in samples.items():
        first = sorted(p[0] for p in pairs)
        total = sorted(p[1] for p in pairs)
        report[way] = {
            "first_byte_ms": {"p50": _ms(first, 0.5), "p95": _ms(first, 0.95)},
            "total_ms": {"p50": _ms(total, 0.5), "p95": _ms(total, 0.95)},
        }
    report["added_ms"] = {
        metric: {
            q: round(report["sabio"][metric][q] - report["direct"][metric][q], 2)
            for q in ("p50", "p95")
        }
        for metric in ("first_byte_ms", "total_ms")
    }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--lines", type=int, default=10, help="NDJSON lines per answer")
    parser.add_argument("--delay-ms", type=float, default=2.0, help="between two lines")
    parser.add_argument("--upstream", type=int, help=argparse.SUPPRESS)  # the upstream's port
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.upstream:
        serve_upstream(args.upstream, args.lines, args.delay_ms / 1000)
        return
    with tempfile.TemporaryDirectory(prefix="sabio-proxy-") as work:
        folder = Path(work)
        up_port, sabio_port = _free_port(), _free_port()
        upstream = f"http://127.0.0.1:{up_port}"
        own = [sys.executable, __file__, "--upstream", str(up_port), "--lines", str(args.lines)]
        own += ["--delay-ms", str(args.delay_ms)]
        sabio = [*_sabio_command(), "--home", str(folder / "home"), "serve"]
        sabio += ["--port", str(sabio_port)]
        env = {**os.environ, "OLLAMA_HOST": upstream}
        with (
            running(own, upstream, dict(os.environ), folder / "upstream.log"),
            running(sabio, f"http://127.0.0.1:{sabio_port}", env, folder / "sabio.log"),
        ):
            report = measure(upstream, f"http://127.0.0.1:{sabio_port}", args.requests)
    report["settings"] = {k: getattr(args, k) for k in ("requests", "lines", "delay_ms")}
    print(json.dumps(report, indent=2))
    path = args.json or RESULTS / f"proxy-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {path}")


if __name__ == "__main__":
    main()

"""The extension's first saved page on a fresh ``sabio serve`` (issue 24: searchable within
3 s of the click): the time from the save to the first search hit, on a new data directory
each time, the save made the instant ``/health`` first answers and again after a wait (the
embedded embedder loads in the background when the server starts).

    python bench/extension_cold.py [--waits 0 20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

API = "/api/v1"
PAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "documents" / "html"


def first_save(html: bytes, wait: float, port: int) -> float:
    home = tempfile.mkdtemp(prefix="sabio-cold-")
    env = dict(os.environ, SABIO_EMBEDDING_MODEL="embedded:all-minilm-l6-v2")
    command = [sys.executable, "-m", "sabio", "--home", home, "serve", "--port", str(port)]
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}{API}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        time.sleep(wait)
        with httpx.Client(base_url=base, timeout=120) as client:
            started = time.perf_counter()
            client.post(
                f"{API}/extension/kbs/default/pages",
                params={"url": "https://news.example/a", "title": "a"},
                content=html,
                headers={"Content-Type": "text/html"},
            ).raise_for_status()
            while not client.get(f"{API}/kbs/default/search", params={"q": "the"}).json()["hits"]:
                time.sleep(0.05)
            return time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--waits", type=float, nargs="+", default=[0.0, 20.0])
    args = parser.parse_args()
    page = next(p for p in sorted(PAGES.rglob("*.html")) if p.stat().st_size > 20_000)
    for i, wait in enumerate(args.waits):
        seconds = first_save(page.read_bytes(), wait, 18461 + i)
        print(f"saved {wait:>4.0f} s after /health first answered: searchable in {seconds:.2f} s")


if __name__ == "__main__":
    main()

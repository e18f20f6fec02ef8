"""The browser extension's two targets (issue 24), over HTTP against a real server:

- *click to first token*: the page's text sent (``POST /extension/pages``, embedded there)
  and the question asked (``/extension/pages/{id}/ask``) until the first ``token`` event;
  then a second question on the same page (its text is not sent again). The chat model is
  a zero-time one registered at the edge (``bench:instant``), so what is measured is
  Sabio's own overhead; the baseline, in the same run, is the knowledge-base answer
  (``POST /kbs/{name}/ask``) with the same model over the same page saved as a document.
- *save to searchable*: ``POST /extension/kbs/{name}/pages`` with a news page's HTML, then
  ``GET /kbs/{name}/search`` until a hit is that page; the baseline is uploading the same
  HTML as a file (``POST /kbs/{name}/documents``) and searching the same way.

    python bench/extension.py [--rounds 3] [--embedder embedded:all-minilm-l6-v2]

The pages are the real news pages of ../shared/data/documents/html (source.html). Results
are printed and written to bench/results/extension.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from ingest_search import DATA, RESULTS

from sabio.config import Settings, load_settings
from sabio.loaders import Blob
from sabio.loaders.html import decode_html, html_to_text, load_html
from sabio.models import ChatOptions, Message, register_chat_backend
from sabio.server import create_app

API = "/api/v1"
PAGES = ("la-nacion", "bbc-1", "lemonde-1", "folha", "heise")


class InstantChat:
    """A chat model that answers at once: what remains is Sabio's time."""

    context_window = 8192

    def __init__(self, name: str) -> None:
        self.name = f"bench:{name}"

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 1

    def stream(
        self, messages: Sequence[Message], options: ChatOptions
    ) -> Generator[str, None, str | None]:
        yield "The page says so [1]."
        return "stop"


@register_chat_backend("bench")
def _instant(settings: Settings, model: str) -> InstantChat:
    return InstantChat(model)


@contextmanager
def serving(home: Path, embedder: str) -> Iterator[str]:
    settings = load_settings(
        {
            "home": home,
            "embedding_model": embedder,
            "chat_model": "bench:instant",
            "answer_style": "generative",
        },
        environ={},
    )
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()


def first_token(client: httpx.Client, path: str, body: dict[str, Any]) -> float:
    """Seconds from the request to the first ``token`` event."""
    started = time.perf_counter()
    with client.stream("POST", path, json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line == "event: token":
                return time.perf_counter() - started
    raise RuntimeError(f"no token from {path}")


def until_found(client: httpx.Client, kb: str, query: str, url_part: str) -> None:
    for _ in range(600):
        hits = client.get(f"{API}/kbs/{kb}/search", params={"q": query}).json()["hits"]
        if any(url_part in f"{h.get('file_url')} {h.get('document')}" for h in hits):
            return
        time.sleep(0.005)
    raise RuntimeError(f"{url_part} never became searchable")


def measure(
    base: str, name: str, html: bytes, text: str, question: str, query: str
) -> dict[str, float]:
    url = f"https://news.example/{name}"
    with httpx.Client(base_url=base, timeout=120) as client:
        # click to first token: the page sent once, then asked twice
        started = time.perf_counter()
        opened = client.post(
            f"{API}/extension/pages", json={"url": url, "title": name, "text": text}
        ).json()
        sent = time.perf_counter() - started
        ask = f"{API}/extension/pages/{opened['page_id']}/ask"
        first = sent + first_token(client, ask, {"question": question})
        again = first_token(client, ask, {"question": question})
        # save to searchable, and the upload of the same HTML as a file
        client.post(f"{API}/kbs", json={"name": f"pages-{name}"}).raise_for_status()
        started = time.perf_counter()
        client.post(
            f"{API}/extension/kbs/pages-{name}/pages",
            params={"url": url, "title": name},
            content=html,
            headers={"Content-Type": "text/html"},
        ).raise_for_status()
        until_found(client, f"pages-{name}", query, url)
        saved = time.perf_counter() - started
        client.post(f"{API}/kbs", json={"name": f"files-{name}"}).raise_for_status()
        started = time.perf_counter()
        client.post(
            f"{API}/kbs/files-{name}/documents", files={"files": (f"{name}.html", html)}
        ).raise_for_status()
        until_found(client, f"files-{name}", query, f"{name}.html")
        uploaded = time.perf_counter() - started
        kb_first = first_token(client, f"{API}/kbs/pages-{name}/ask", {"question": question})
    return {
        "page_first_token_s": first,
        "page_sent_s": sent,
        "page_second_token_s": again,
        "kb_first_token_s": kb_first,
        "save_searchable_s": saved,
        "upload_searchable_s": uploaded,
        "chars": len(text),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--embedder", default="embedded:all-minilm-l6-v2")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as home, serving(Path(home), args.embedder) as base:
        for round_ in range(args.rounds):
            for name in PAGES:
                source = DATA / "documents" / "html" / name / "source.html"
                if not source.exists():
                    continue
                html = source.read_bytes()
                loaded = load_html(Blob(name="page.html", data=html))
                text = html_to_text(decode_html(html))  # all of it, as innerText gives it
                query = " ".join(loaded.sections[len(loaded.sections) // 2].text.split()[:8])
                question = f"What is {loaded.title} about?"
                row = measure(base, f"{name}-{round_}", html, text, question, query)
                rows.append({"page": name, "round": round_, **row})
                print(json.dumps(rows[-1]))
    keys = [k for k in rows[0] if k.endswith("_s")]
    summary = {k: statistics.median(r[k] for r in rows) for k in keys}
    summary["first_token_vs_kb"] = summary["page_first_token_s"] / summary["kb_first_token_s"]
    summary["save_vs_upload"] = summary["save_searchable_s"] / summary["upload_searchable_s"]
    print(json.dumps({"median": summary}, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "extension.json").write_text(json.dumps({"rows": rows, "median": summary}, indent=2))


if __name__ == "__main__":
    main()

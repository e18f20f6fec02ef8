"""Several processes for real (issue 27): a real PostgreSQL, two ``sabio serve`` and two
``sabio worker`` processes on loopback ports, two stand-in Ollama hosts. Real documents
(../shared/data/documents) are synced from folders; one worker and one server are killed
with ``kill -9`` while each runs a job, and an upload to the killed server is sent again
to the other. Afterwards every document is there exactly once with all its passages,
every job is done (the killed ones' jobs claimed again), both Ollama hosts did work, and
the surviving server finds each document and answers questions about it.

The bigger run, with its timings, is ``python bench/processes.py``."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
from cluster import (
    ask,
    cluster,
    copy_documents,
    documents_problems,
    running_job_of,
    sql,
    stand_in_ollama,
    wait_for,
)
from conftest import need_data
from pg_server import new_database, postgres_server

__all__ = ["postgres_server"]

PAGES = ("bbc-1", "heise", "la-nacion", "lemonde-1", "lwn-1", "folha", "aktualne", "ietf-1")


def _upload(url: str, path: Path) -> httpx.Response:
    with path.open("rb") as file:
        return httpx.post(
            f"{url}/api/v1/kbs/docs/documents",
            files={"files": (path.name, file, "text/html")},
            timeout=120,
        )


def test_killed_workers_and_servers_leave_every_document_once(
    postgres_server: Any, tmp_path: Path
) -> None:
    pages = [need_data("documents", "html", page, "source.html") for page in PAGES]
    url = new_database(postgres_server)
    spread = copy_documents(pages[:6], 4, tmp_path / "shared")
    extra = tmp_path / "upload" / "uploaded-page.html"
    extra.parent.mkdir()
    extra.write_bytes(pages[6].read_bytes())
    with (
        stand_in_ollama(0.15) as first,
        stand_in_ollama(0.15) as second,
        cluster(tmp_path / "home", url, (first.url, second.url)) as deployment,
    ):
        deployment.start(workers=("w1", "w2"), servers=("a", "b"))
        a, b = deployment.urls["a"], deployment.urls["b"]
        created = httpx.post(f"{a}/api/v1/kbs", json={"name": "docs"}, timeout=60)
        assert created.status_code == 201, created.text
        for folder in spread:
            body = {"kind": "folder", "location": str(folder), "kb": "docs"}
            added = httpx.post(f"{a}/api/v1/sources", json=body, timeout=60)
            assert added.status_code == 201, added.text

        # each victim mid-job: kill -9, no chance to clean up
        w1_job = wait_for("w1 to run a job", lambda: running_job_of(url, deployment.pid("w1")))
        deployment.kill("w1")
        uploads: list[httpx.Response | Exception] = []

        def upload_to_b() -> None:
            try:
                uploads.append(_upload(b, extra))
            except httpx.TransportError as exc:
                uploads.append(exc)

        uploading = threading.Thread(target=upload_to_b)
        uploading.start()
        b_job = wait_for("b to run a job", lambda: running_job_of(url, deployment.pid("b")))
        deployment.kill("b")
        uploading.join()
        if not isinstance(uploads[0], httpx.Response) or uploads[0].status_code != 200:
            again = _upload(a, extra)  # the client tries the other server
            assert again.status_code == 200, again.text

        def all_done() -> bool:
            jobs = sql(url, "SELECT status FROM job")
            return bool(jobs) and {s for (s,) in jobs} == {"done"}

        wait_for("every job to be done", all_done)
        jobs = dict(sql(url, "SELECT id, attempts FROM job"))
        synced = {s for (s,) in sql(url, "SELECT DISTINCT source_id FROM job")}
        assert len(synced) == len(spread)  # and the watchers' catching up: unchanged
        assert jobs[w1_job] >= 2 and jobs[b_job] >= 2  # claimed again, run to the end

        uploaded = {str(s) for (s,) in sql(url, "SELECT source FROM document")} - {
            str(p) for files in spread.values() for p in files
        }
        assert len(uploaded) == 1 and next(iter(uploaded)).endswith("uploaded-page.html")
        expected = {str(p) for files in spread.values() for p in files} | uploaded
        assert documents_problems(url, "docs", expected) == []
        embedded = first.count("POST", "/api/embed") + second.count("POST", "/api/embed")
        assert embedded  # the second host serves when the first is busy with a process's
        # own requests (each process counts only its own: docs/deploy.md)

        # the surviving server finds each document and answers about it
        for chunk_id, text in sql(
            url,
            "SELECT DISTINCT ON (document_id) id, text FROM chunk"
            " ORDER BY document_id, length(text) DESC",  # its longest passage: prose
        ):
            words = " ".join(str(text).split()[:12])
            found = httpx.get(
                f"{a}/api/v1/kbs/docs/search", params={"q": words, "k": 10}, timeout=60
            ).json()
            assert chunk_id in {h["chunk_id"] for h in found["hits"]}, words
            answer = ask(a, "docs", f"What does this say: {words}?")
            assert answer["complete"] and answer["text"].startswith("The document answers")
            assert answer["citations"], answer

"""Symbolic links that lead out of a folder: skipped with the reason unless asked for, in
`sabio add`, in a folder source's full syncs and in its watched changes; and the file
route, which serves a linked file only while it is the file that was indexed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from conftest import running_server
from fake_servers import closed_port

from sabio.config import Settings, load_settings
from sabio.ingest import LINK_OUTSIDE
from sabio.server import create_app
from sabio.service import Sabio
from sabio.worker import Worker

API = "/api/v1"
SECRET = "the admin's token is sabio_0123456789"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder with a note, a link to the note (inside) and a link to a secret outside."""
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "token.txt").write_text(SECRET, encoding="utf-8")
    folder = tmp_path / "watched"
    folder.mkdir()
    (folder / "note.txt").write_text("A lighthouse guides the ships.", encoding="utf-8")
    (folder / "same-note.txt").symlink_to(folder / "note.txt")
    (folder / "passwd.txt").symlink_to(outside / "token.txt")
    return folder


def _statuses(sabio: Sabio, kb: str | None = None) -> dict[str, tuple[str, str]]:
    return {Path(d.source).name: (d.status, d.error) for d in sabio.documents(kb)}


def test_sabio_add_skips_links_out_of_the_folder(sabio: Sabio, folder: Path) -> None:
    report = sabio.add([folder])
    results = {Path(r.source).name: r for r in report.results}
    assert results["passwd.txt"].status == "skipped"
    assert results["passwd.txt"].reason == LINK_OUTSIDE
    assert results["same-note.txt"].status == results["note.txt"].status == "indexed"
    assert _statuses(sabio)["passwd.txt"] == ("skipped", LINK_OUTSIDE)
    assert not any("sabio_0123456789" in h.text for h in sabio.search("admin token").hits)
    again = sabio.add([folder])
    assert (again.count("unchanged"), again.count("skipped")) == (2, 1)


def test_following_links_is_asked_for_and_undone(sabio: Sabio, folder: Path) -> None:
    sabio.add([folder], follow_links=True)
    assert _statuses(sabio)["passwd.txt"][0] == "indexed"
    sabio.add([folder])  # without: the link's document leaves the index
    assert _statuses(sabio)["passwd.txt"] == ("skipped", LINK_OUTSIDE)
    assert not any("sabio_0123456789" in h.text for h in sabio.search("admin token").hits)


@pytest.mark.parametrize("follow", [False, True])
def test_a_folder_source_skips_them_unless_its_option_says(
    sabio: Sabio, folder: Path, follow: bool
) -> None:
    options = {"follow_links": True} if follow else {}
    source, _ = sabio.add_source("folder", str(folder), options=options)
    worker = Worker(sabio, watch=False)
    try:
        worker.run_pending()  # the first, full sync
        (folder / "later.txt").symlink_to(folder.parent / "private" / "token.txt")
        sabio.jobs.enqueue_sync(source.id, [str(folder / "later.txt")])  # as the watcher does
        worker.run_pending()
    finally:
        worker.stop()
    items = {i.key.rsplit("/", 1)[-1]: i for i in sabio.source_items(source.id)}
    for name in ("passwd.txt", "later.txt"):
        assert items[name].status == ("indexed" if follow else "skipped"), items[name]
        assert items[name].reason == ("" if follow else LINK_OUTSIDE)
    assert items["same-note.txt"].status == "indexed"


def _settings(tmp_path: Path) -> Settings:
    values = {
        "home": tmp_path / "home",
        "embedding_model": "fake:words",
        "ollama_host": f"127.0.0.1:{closed_port()}",
    }
    return load_settings(values, environ={})


@pytest.fixture
def served(tmp_path: Path, folder: Path) -> Iterator[tuple[str, dict[str, int]]]:
    """A running server over ``folder`` added with its links followed; its URL and the
    document ids by file name."""
    settings = _settings(tmp_path)
    (folder / "big.txt").write_bytes(b"lighthouse " * 400_000)  # 4.4 MB
    with closing(Sabio(settings)) as sabio:
        sabio.add([folder], follow_links=True)
        ids = {Path(d.source).name: d.id for d in sabio.documents()}
    with running_server(create_app(settings, run_worker=False)) as url:
        yield url, ids


def test_the_file_route_serves_a_link_only_while_it_leads_to_the_indexed_file(
    served: tuple[str, dict[str, int]], folder: Path, tmp_path: Path
) -> None:
    url, ids = served
    route = f"{url}{API}/kbs/default/documents/{ids['passwd.txt']}/file"
    assert httpx.get(route).text == SECRET  # followed on purpose, and unchanged
    other = tmp_path / "private" / "other.txt"
    other.write_text("someone else's file", encoding="utf-8")
    (folder / "passwd.txt").unlink()
    (folder / "passwd.txt").symlink_to(other)  # repointed after indexing
    refused = httpx.get(route)
    assert refused.status_code == 404
    assert "no longer leads to the file that was indexed" in refused.json()["error"]["message"]
    assert "someone else" not in refused.text


def test_a_file_deleted_while_it_is_served_still_arrives_whole(
    served: tuple[str, dict[str, int]], folder: Path
) -> None:
    url, ids = served
    route = f"{url}{API}/kbs/default/documents/{ids['big.txt']}/file"
    expected = (folder / "big.txt").read_bytes()
    with httpx.stream("GET", route) as response:
        assert response.headers["content-length"] == str(len(expected))
        stream = response.iter_bytes()
        first = next(stream)
        os.unlink(folder / "big.txt")
        body = first + b"".join(stream)
    assert body == expected
    assert httpx.get(route).status_code == 404  # and afterwards it is gone

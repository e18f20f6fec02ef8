"""Plugins added the way docs/architecture.md says, one file each (here, under tests/),
used through the real CLI and the real REST API: a kind of source (tests/toy_source.py)
and a loader (tests/toy_loader.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import toy_loader  # noqa: F401  (registers the loader of .toy files)
import toy_source  # noqa: F401  (registers the "lines" kind of source)
from fastapi.testclient import TestClient
from test_server import API, LOCAL, _error, _files_by_name, _upload
from test_web import DESKTOP, Page, browser, expectation, local  # noqa: F401  (fixtures)
from typer.testing import CliRunner

from sabio.cli import app
from sabio.config import Settings, load_settings
from sabio.loaders.formats import extension_for, format_of
from sabio.server import create_app

TOY = b"TOY1\nA toy story\nWoody the cowboy rides again.\n\nBuzz flies to infinity."
LINES = "Alpacas graze in the high Andes.\nok\nBeavers build dams across rivers.\n"


def _settings(tmp_path: Path) -> Settings:
    return load_settings(
        {"home": tmp_path / "home", "embedding_model": "fake:words", "workers": 2}, environ={}
    )


def eventually(check: Callable[[], Any], seconds: float = 20.0) -> Any:
    """A bounded wait for the worker thread (not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    raise AssertionError(f"never true within {seconds} s")


@pytest.fixture
def lines_file(tmp_path: Path) -> Path:
    path = tmp_path / "animals.txt"
    path.write_text(LINES, encoding="utf-8")
    return path


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(tmp_path)), base_url=LOCAL) as test_client:
        yield test_client


def test_a_kind_of_source_of_ones_own_through_the_cli(tmp_path: Path, lines_file: Path) -> None:
    runner = CliRunner()
    env = {"SABIO_HOME": str(tmp_path / "home"), "SABIO_EMBEDDING_MODEL": "fake:words"}
    kinds = runner.invoke(app, ["source", "kinds"], env=env)
    assert "lines FILE — every line of a text file" in kinds.output
    assert "--min-length" in kinds.output and "--title-prefix" in kinds.output
    wrong = runner.invoke(app, ["source", "add", "lines", str(lines_file), "--host", "x"], env=env)
    assert wrong.exit_code == 1 and "--host is not an option of a lines source" in wrong.output
    bad = runner.invoke(
        app, ["source", "add", "lines", str(lines_file), "--min-length", "0"], env=env
    )
    assert bad.exit_code == 1 and "bad options for a lines source: min_length" in bad.output
    missing = runner.invoke(app, ["source", "add", "lines"], env=env)
    assert missing.exit_code == 1 and "a lines source needs its location" in missing.output

    args = ["source", "add", "lines", str(lines_file), "--min-length", "5"]
    added = runner.invoke(app, [*args, "--title-prefix", "Line: "], env=env)
    assert added.exit_code == 0, added.output
    assert f"Added source 1: lines {lines_file}" in added.output
    synced = runner.invoke(app, ["source", "sync", "1"], env=env)
    assert synced.exit_code == 0 and "2 added" in synced.output, synced.output
    listed = json.loads(runner.invoke(app, ["source", "list", "--json"], env=env).output)
    assert listed[0]["options"] == {"min_length": 5, "title_prefix": "Line: "}
    assert [(i["key"], i["status"]) for i in listed[0]["items"]] == [
        ("line 1", "indexed"),
        ("line 3", "indexed"),
    ]
    assert listed[0]["items"][1]["title"] == "Line: Beavers build dams across rivers."
    found = runner.invoke(app, ["search", "beavers", "--json"], env=env)
    assert "Beavers build dams" in found.output


def test_a_kind_of_source_of_ones_own_over_rest(client: TestClient, lines_file: Path) -> None:
    kinds = {k["kind"]: k for k in client.get(f"{API}/source-kinds").json()}
    assert list(kinds)[:6] == ["folder", "imap", "url", "feed", "sitemap", "webhook"]
    lines = kinds["lines"]
    assert (lines["location"], lines["watchable"], lines["scheduled"]) == ("file", False, False)
    # its own options, and what every kind may do with its new items (sabio.sources.automation)
    assert set(lines["options"]["properties"]) == {"min_length", "title_prefix", "on_new"}
    assert lines["options"]["additionalProperties"] is False
    assert kinds["imap"]["password"] and kinds["folder"]["watchable"]
    assert kinds["feed"]["scheduled"] and not kinds["webhook"]["fetches"]

    body = {"kind": "lines", "location": str(lines_file)}
    message = _error(
        client.post(f"{API}/sources", json={**body, "options": {"colour": "red"}}),
        422,
        "validation_error",
    )
    assert "colour is not one of its options" in message
    _error(
        client.post(f"{API}/sources", json={**body, "options": {"min_length": 0}}),
        422,
        "validation_error",
    )
    added = client.post(f"{API}/sources", json={**body, "options": {"min_length": 5}})
    assert added.status_code == 201, added.text
    source = added.json()
    assert source["kind"] == "lines" and source["options"]["min_length"] == 5
    url = f"{API}/sources/{source['id']}"
    detail = eventually(lambda: (d := client.get(url).json())["items_total"] == 2 and d)
    assert {i["name"] for i in detail["items"]} == {"line 1", "line 3"}
    hits = client.get(f"{API}/kbs/default/search", params={"q": "alpacas"}).json()["hits"]
    assert any("Alpacas graze" in h["text"] for h in hits)


def test_the_schema_names_the_kinds_route(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "get" in schema["paths"][f"{API}/source-kinds"]
    assert "SourceKindOut" in schema["components"]["schemas"]


def test_a_kind_of_source_of_ones_own_in_the_web_app(
    browser: Any,  # noqa: F811
    local: str,  # noqa: F811
    lines_file: Path,
) -> None:
    """The form is drawn from the kind's declaration: its location as a file, its options
    as fields (the server's English where the catalogue has no words for them)."""
    tab = Page(browser, local, "plugin-source", viewport=DESKTOP, locale="en-US")
    page = tab.page
    expect = expectation()
    page.goto(local + "#/kbs")
    page.fill("input[name=kb-name]", "lines")
    page.get_by_role("button", name="Create").click()
    page.get_by_role("link", name="Sources", exact=True).click()
    form = page.locator(".kb-source-form")
    form.get_by_label("Kind of source").select_option("lines")
    expect(form).to_contain_text("every line of a text file, as a document")
    expect(form.get_by_label("Min Length")).to_have_attribute("type", "number")
    expect(form.get_by_label("Password")).to_be_hidden()
    form.get_by_label("File on the server").fill(str(lines_file))
    form.get_by_label("Min Length").fill("5")
    form.get_by_label("Title Prefix").fill("Line: ")
    tab.shot("form")
    form.get_by_role("button", name="Add source").click()
    card = page.locator(".kb-source")
    expect(card.locator(".kb-source-counts")).to_have_text("2 indexed")
    expect(card.get_by_role("button", name="Sync now")).to_be_visible()
    tab.shot("added")
    tab.close()


def test_a_loader_of_ones_own_through_sabio_add(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"SABIO_HOME": str(tmp_path / "home"), "SABIO_EMBEDDING_MODEL": "fake:words"}
    toys = tmp_path / "toys"
    toys.mkdir()
    (toys / "story.toy").write_bytes(TOY)
    (toys / "fake.toy").write_bytes(b"%PDF-1.4 not a toy")
    added = runner.invoke(app, ["add", str(toys / "story.toy"), "--json"], env=env)
    assert added.exit_code == 0, added.output
    docs = {
        Path(d["source"]).name: d
        for d in json.loads(runner.invoke(app, ["docs", "--json"], env=env).output)
    }
    assert docs["story.toy"]["status"] == "indexed" and docs["story.toy"]["title"] == "A toy story"
    both = runner.invoke(app, ["add", str(toys), "--json"], env=env)
    assert both.exit_code == 1, both.output  # one file failed
    docs = {
        Path(d["source"]).name: d
        for d in json.loads(runner.invoke(app, ["docs", "--json"], env=env).output)
    }
    assert docs["fake.toy"]["status"] == "failed" and "not a toy file" in docs["fake.toy"]["error"]
    found = runner.invoke(app, ["search", "infinity", "--json"], env=env)
    assert "Buzz flies to infinity" in found.output


def test_a_loader_of_ones_own_through_an_upload(client: TestClient) -> None:
    """The server's readers are spawned (it has threads): they import the loader first."""
    assert client.post(f"{API}/kbs", json={"name": "toys"}).status_code == 201
    files = [("story.toy", TOY), ("fake.toy", b"\x89PNG\r\n\x1a\n" + bytes(64))]
    result = _files_by_name(_upload(client, "toys", files))
    assert result["story.toy"]["status"] == "indexed", result
    assert result["fake.toy"]["status"] == "rejected"
    assert result["fake.toy"]["reason"] == "not a toy file (it looks like a PNG image)"
    hits = client.get(f"{API}/kbs/toys/search", params={"q": "cowboy"}).json()["hits"]
    assert [h["document"] for h in hits] == ["story.toy"]
    document = client.get(f"{API}/kbs/toys/documents").json()[0]
    original = client.get(f"{API}/kbs/toys/documents/{document['id']}/file")
    assert original.headers["content-type"] == "application/x-toy" and original.content == TOY
    unsupported = _files_by_name(_upload(client, "toys", [("a.xyz", b"x")]))["a.xyz"]
    assert ".toy" in unsupported["reason"]  # among the extensions Sabio reads


def test_a_loader_declares_its_format_once() -> None:
    fmt = format_of("Story.TOY")
    assert fmt is not None and fmt.module == "toy_loader"
    assert extension_for("application/x-toy") == ".toy"
    assert extension_for("text/html") == ".html" and format_of("x.pdf") is not None
    assert fmt.problem(TOY[:64], ".toy") is None
    assert fmt.problem(b"%PDF-1.7", ".toy") == "not a toy file (it looks like a PDF)"

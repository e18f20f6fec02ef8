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
import toy_source  # noqa: F401  (registers the "lines" kind of source)
from fastapi.testclient import TestClient
from test_server import API, LOCAL, _error
from test_web import DESKTOP, Page, browser, expectation, local  # noqa: F401  (fixtures)
from typer.testing import CliRunner

from sabio.cli import app
from sabio.config import Settings, load_settings
from sabio.server import create_app

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
    assert set(lines["options"]["properties"]) == {"min_length", "title_prefix"}
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

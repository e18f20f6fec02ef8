"""The web app's "Your data" card and the question on deleting a knowledge base, in a real
browser (Playwright driving the system's Chromium) against a real server on loopback:
everything exported and downloaded, deleted, imported back; a knowledge base deleted
with its chats kept. Screenshots go to ``test-artifacts/web/``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_web import DESKTOP, Page, browser, expectation, serve

__all__ = ["browser"]  # the fixture, shared with test_web.py

API = "/api/v1"


@pytest.fixture
def local(tmp_path: Path) -> Iterator[str]:
    yield from serve(tmp_path)


def _notes_with_a_chat(base: str) -> int:
    with httpx.Client(base_url=base, timeout=60) as client:
        assert client.post(f"{API}/kbs", json={"name": "notes"}).status_code == 201
        files = [
            ("files", ("faro.txt", b"El faro de Alejandria guiaba a los barcos.")),
            ("files", ("etna.txt", b"Mount Etna erupted in 2021 and covered Catania in ash.")),
        ]
        assert client.post(f"{API}/kbs/notes/documents", files=files).status_code == 200
        chat = client.post(f"{API}/chats", json={"kb": "notes"}).json()
        asked = client.post(f"{API}/chats/{chat['id']}/messages", json={"question": "Etna?"})
        assert asked.status_code == 200
        return int(chat["id"])


def test_everything_is_exported_deleted_and_imported_from_the_settings(
    browser: Any, local: str, tmp_path: Path
) -> None:
    chat_id = _notes_with_a_chat(local)
    tab = Page(
        browser, local, "privacy-en", viewport=DESKTOP, locale="en-US", accept_downloads=True
    )
    page = tab.page
    expect = expectation()
    page.goto(f"{local}/#/settings")
    card = page.locator(".data-card")
    expect(card.get_by_role("heading", name="Your data")).to_be_visible()
    expect(card).to_contain_text(
        "It now keeps: 1 knowledge base, 2 documents, 1 chat, 2 uploaded files."
    )
    card.scroll_into_view_if_needed()
    tab.shot("your-data")

    with page.expect_download() as downloading:
        card.get_by_role("button", name="Export everything").click()
    archive = tmp_path / "downloaded.tar"
    downloading.value.save_as(archive)
    assert downloading.value.suggested_filename.startswith("sabio-export-")
    expect(card).to_contain_text("Archive ready: sabio-export-")

    card.get_by_role("button", name="Delete everything…").click()
    sure = page.locator("dialog.dialog")
    expect(sure).to_contain_text("1 knowledge base, 2 documents")  # says what goes
    sure.get_by_role("button", name="Delete everything…").click()
    page.wait_for_url(f"{local}/")
    expect(page.get_by_role("heading", name="New chat")).to_be_visible()
    page.goto(f"{local}/#/settings")
    expect(page.locator(".data-card")).to_contain_text("It now keeps: nothing yet.")
    assert httpx.get(f"{local}{API}/kbs").json() == []

    card = page.locator(".data-card")
    card.locator("input[name=archive]").set_input_files(archive)
    with page.expect_navigation():  # reloaded with what was imported
        card.get_by_role("button", name="Import").click()
    expect(page.locator(".chat-list")).to_contain_text("Etna?")
    assert [kb["name"] for kb in httpx.get(f"{local}{API}/kbs").json()] == ["notes"]
    tab.shot("imported")

    # deleting the knowledge base asks whether to keep its chats
    page.goto(f"{local}/#/kbs/notes")
    main = page.locator("#main")
    expect(main.get_by_role("heading", name="notes")).to_be_visible()
    main.get_by_role("button", name="Delete", exact=True).click()
    dialog = page.locator("dialog.dialog")
    expect(dialog).to_contain_text("Delete the knowledge base “notes”")
    dialog.get_by_label("Keep its chats").check()
    tab.shot("delete-kb")
    dialog.get_by_role("button", name="Delete", exact=True).click()
    page.wait_for_url(f"{local}/#/kbs")
    assert httpx.get(f"{local}{API}/kbs").json() == []
    kept = httpx.get(f"{local}{API}/chats/{chat_id}").json()
    assert kept["kb_available"] is False and len(kept["messages"]) == 2
    tab.close()


def test_every_text_of_your_data_is_in_spanish_and_in_english() -> None:
    static = Path(__file__).resolve().parents[1] / "src" / "sabio" / "web" / "static"
    source = (static / "i18n.js").read_text(encoding="utf-8")
    spanish, english = source.split("\n  en: {\n")
    key = re.compile(r'^    "?([\w.]+)"?: ', re.MULTILINE)
    es, en = set(key.findall(spanish)), set(key.findall(english))
    script = (static / "views" / "data.js").read_text(encoding="utf-8")
    used = set(re.findall(r'\bt\("([\w.]+)"', script))
    counts = re.search(r"const COUNTS = \[(.*?)\];", script)
    assert counts is not None
    used |= {f"data.{name}" for name in re.findall(r'"(\w+)"', counts[1])}
    assert used - es == set() and used - en == set()

"""The chat's "only these documents" picker, in a real browser (Playwright and the system's
Chromium) against a real server, over two real look-alike quarterly reports (10-Q PDFs
from ../shared/data): chosen with the keyboard alone, sent with the question, shown on
the chat, and undone; in English and in Spanish.

Screenshots go to ``test-artifacts/web/`` (look at them)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import need_data
from fake_servers import closed_port
from test_web import (
    DESKTOP,
    PHONE,
    Page,
    browser,  # noqa: F401  (the fixture)
    expectation,
    serve,
)
from test_web_chat import _ask, _kb_with

from sabio.config import load_settings
from sabio.ingest import LoadedSource
from sabio.loaders import LoadedDocument, Section
from sabio.service import Sabio

REPORTS = ("2023 Q1 AAPL.pdf", "2023 Q1 NVDA.pdf")
QUESTION = "What were the total net sales revenue for the quarter?"


@pytest.fixture
def cited(tmp_path: Path) -> Any:
    yield from serve(tmp_path, chat_model="fake:cite")


def _upload_reports(page: Any, base: str, kb: str) -> None:
    folder = need_data("rag_qa", "docugami_sec10q", "docs")
    _kb_with(page, base, kb, [str(folder / name) for name in REPORTS])


def _cited(answer: Any) -> set[str]:
    return set(answer.locator(".source-chip .source-name").all_inner_texts())


def test_only_these_documents_by_keyboard_sent_shown_and_undone(
    browser: Any,  # noqa: F811
    cited: str,
) -> None:
    tab = Page(browser, cited, "chat-only", viewport=DESKTOP, locale="en-US")
    page = tab.page
    expect = expectation()
    _upload_reports(page, cited, "reports")
    page.get_by_role("link", name="New chat").click()
    expect(page.get_by_label("Knowledge base")).to_have_value(re.compile("reports"))

    # without a choice, the best passage (the one fake:cite cites) is Apple's
    unfiltered = _ask(page, QUESTION)
    assert _cited(unfiltered) == {"2023 Q1 AAPL"}

    # open the picker from the keyboard, find a report by name, tick it, close with Esc
    toggle = page.get_by_role("button", name="Only these documents")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    panel = page.get_by_role("group", name="Only these documents")
    find = panel.get_by_label("Find a document")
    expect(find).to_be_focused()
    expect(panel.get_by_role("checkbox")).to_have_count(2)
    page.keyboard.type("nvda")
    expect(panel.get_by_role("checkbox")).to_have_count(1)
    page.keyboard.press("Tab")
    nvda = panel.get_by_role("checkbox", name="2023 Q1 NVDA.pdf")
    expect(nvda).to_be_focused()
    page.keyboard.press("Space")
    expect(nvda).to_be_checked()
    tab.shot("picker-en")
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(page.get_by_role("button", name="Only these documents")).to_be_focused()
    chosen = page.locator(".only-chosen")
    expect(chosen).to_contain_text("Only in: 2023 Q1 NVDA.pdf")

    # the question goes with the choice: the answer cites that report only, and says so
    only = _ask(page, QUESTION)
    assert _cited(only) == {"2023 Q1 NVDA"}
    question = page.locator(".message.user").last
    expect(question.locator(".only-note")).to_have_text("Only in: 2023 Q1 NVDA.pdf")
    expect(page.locator(".message.user").first.locator(".only-note")).to_have_count(0)
    tab.shot("restricted-en")
    page.reload()
    expect(page.locator(".message.user").last.locator(".only-note")).to_have_text(
        "Only in: 2023 Q1 NVDA.pdf"
    )

    # the choice is kept for the chat: an answer made again keeps to it, and says so
    page.locator(".message.assistant").last.get_by_role("button", name="Answer again").click()
    again = page.locator(".message.assistant").last
    expect(again.locator(".versions")).to_contain_text("2/2")
    expect(again.locator(".only-note")).to_have_text("Answered only from: 2023 Q1 NVDA.pdf")
    assert _cited(again) == {"2023 Q1 NVDA"}
    page.get_by_role("button", name="Only these documents").click()
    panel = page.get_by_role("group", name="Only these documents")
    expect(panel.get_by_role("checkbox", name="2023 Q1 NVDA.pdf")).to_be_checked()
    panel.get_by_role("button", name="Done").click()

    # back to every document
    chosen.get_by_role("button", name="Use all documents").click()
    expect(chosen).to_have_count(0)
    expect(page.locator("#question")).to_be_focused()
    everything = _ask(page, QUESTION)
    assert _cited(everything) == {"2023 Q1 AAPL"}
    expect(page.locator(".message.user").last.locator(".only-note")).to_have_count(0)
    tab.close()

    # in Spanish, on a phone
    phone = {"viewport": PHONE, "is_mobile": True, "has_touch": True}
    tab = Page(browser, cited, "chat-only-es", locale="es-ES", **phone)
    page = tab.page
    page.goto(cited + "#/new")
    toggle = page.get_by_role("button", name="Solo estos documentos")
    toggle.click()
    panel = page.get_by_role("group", name="Solo estos documentos")
    panel.get_by_label("Buscar un documento").fill("nvda")
    panel.get_by_role("checkbox", name="2023 Q1 NVDA.pdf").check()
    expect(page.locator(".only-chosen")).to_contain_text("Solo en: 2023 Q1 NVDA.pdf")
    tab.shot("picker-es")
    panel.get_by_role("button", name="Hecho").click()
    answer = _ask(page, "¿Cuáles fueron las ventas netas totales del trimestre?")
    assert _cited(answer) == {"2023 Q1 NVDA"}
    expect(page.locator(".message.user").last.locator(".only-note")).to_have_text(
        "Solo en: 2023 Q1 NVDA.pdf"
    )
    tab.shot("restricted-es")
    tab.close()


def test_a_large_knowledge_base_is_found_by_name(browser: Any, tmp_path: Path) -> None:  # noqa: F811
    """Past 200 documents the picker shows the first 200 and says how to find the rest."""
    home = {"home": tmp_path / "home", "embedding_model": "fake:words"}
    sabio = Sabio(load_settings(home | {"ollama_host": f"127.0.0.1:{closed_port()}"}, environ={}))
    try:
        sabio.store.create_kb("notas", "fake:words", 64)
        notes = [
            LoadedSource(
                f"note://{i:03d}",
                str(i),
                f"nota {i:03d}",
                LoadedDocument([Section(f"La nota {i} habla del faro.")], f"nota {i:03d}"),
            )
            for i in range(205)
        ]
        assert sabio.add_loaded(notes, "notas").count("added") == 205
    finally:
        sabio.close()
    expect = expectation()
    for base in serve(tmp_path):
        tab = Page(browser, base, "chat-only-many", viewport=DESKTOP, locale="en-US")
        page = tab.page
        page.goto(base + "#/new")
        page.get_by_label("Knowledge base").select_option(label="notas")
        page.get_by_role("button", name="Only these documents").click()
        panel = page.get_by_role("group", name="Only these documents")
        expect(panel.get_by_role("checkbox")).to_have_count(200)
        expect(panel.get_by_role("status")).to_have_text(
            "Showing 200 of 205: type part of a name to find the others."
        )
        panel.get_by_label("Find a document").fill("204")
        expect(panel.get_by_role("checkbox")).to_have_count(1)
        expect(panel.get_by_role("status")).to_be_hidden()
        panel.get_by_role("checkbox").check()
        answer = _ask(page, "¿De qué habla la nota?")
        assert _cited(answer) == {"nota 204"}
        tab.close()

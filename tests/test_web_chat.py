"""The chat as a person uses it every day, in a real browser (Playwright and the system's
Chromium) against a real server: copy an answer and a code block, answer again and browse
the versions, edit a question and send it again, change the knowledge base and the model
mid-chat, attach a file in the chat box, export, rename and delete in dialogs, keyboard
shortcuts, and Stop, which stops the model on the server and marks the answer.

Screenshots go to ``test-artifacts/web/`` (look at them)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from test_web import (
    DESKTOP,
    Page,
    browser,  # noqa: F401  (the fixture)
    expectation,
    serve,
)

FARO = "# El faro\n\nEl faro de Alejandría guiaba a los barcos.\n\n```py\nprint('faro')\n```\n"


@pytest.fixture
def cited(tmp_path: Path) -> Any:
    yield from serve(tmp_path, chat_model="fake:cite")


@pytest.fixture
def slow(tmp_path: Path) -> Any:
    yield from serve(tmp_path, chat_model="fake:long")


def _kb_with(page: Any, base: str, name: str, files: list[str] | list[dict[str, Any]]) -> None:
    expect = expectation()
    page.goto(base + "#/kbs")
    page.fill("input[name=kb-name]", name)
    page.get_by_role("button", name="Create").click()
    page.set_input_files("input[type=file]", files)
    for i in range(len(files)):
        expect(page.locator(".upload-queue li").nth(i)).to_have_attribute("data-status", "indexed")


def _ask(page: Any, question: str) -> Any:
    expect = expectation()
    page.fill("#question", question)
    page.keyboard.press("Enter")
    answer = page.locator(".message.assistant").last
    expect(answer).not_to_have_class(re.compile("streaming"))
    expect(answer.locator(".message-actions button").first).to_be_enabled()  # saved: has ids
    return answer


def test_copy_regenerate_edit_switch_attach_export_and_dialogs(
    browser: Any,  # noqa: F811
    cited: str,
) -> None:
    tab = Page(
        browser,
        cited,
        "chat-daily",
        viewport=DESKTOP,
        locale="en-US",
        permissions=["clipboard-read", "clipboard-write"],
    )
    page = tab.page
    expect = expectation()
    _kb_with(
        page,
        cited,
        "faros",
        [{"name": "faro.md", "mimeType": "text/markdown", "buffer": FARO.encode()}],
    )
    page.get_by_role("link", name="New chat").click()
    expect(page.get_by_role("combobox", name="Knowledge base")).to_have_value("faros")
    answer = _ask(page, "What guided the ships?")
    expect(answer.locator("button.cite")).to_have_count(1)

    # copy the answer, and a code block of it
    answer.get_by_role("button", name="Copy the answer").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "El faro de Alejandría" in copied and "[1]" in copied
    tab.shot("answer")

    # answer again: a second version, and the arrows to go back to the first
    first_text = answer.locator(".answer-text").inner_text()
    answer.get_by_role("button", name="Answer again").click()
    again = page.locator(".message.assistant").last
    expect(again.locator(".versions")).to_contain_text("2/2")
    again.get_by_role("button", name="Previous version").click()
    expect(page.locator(".message.assistant").last.locator(".versions")).to_contain_text("1/2")
    assert (
        page.locator(".message.assistant").last.locator(".answer-text").inner_text() == first_text
    )
    tab.shot("versions")

    # edit the question and send it again: a new branch, the old one kept
    page.get_by_role("button", name="Edit the question").click()
    page.locator(".edit-question textarea").fill("Which lighthouse guided the ships?")
    page.locator(".edit-question").get_by_role("button", name="Send").click()
    question = page.locator(".message.user").first
    expect(question.locator(".bubble")).to_have_text("Which lighthouse guided the ships?")
    expect(question.locator(".versions")).to_contain_text("2/2")
    expect(page.locator(".message.assistant")).to_have_count(1)
    question.get_by_role("button", name="Previous version").click()
    expect(page.locator(".message.user").first.locator(".bubble")).to_have_text(
        "What guided the ships?"
    )
    tab.shot("branches")

    # the knowledge base changes mid-chat: the next answer is the model's alone
    page.get_by_label("Knowledge base").select_option("")
    expect(page.locator("#question")).to_have_attribute("placeholder", re.compile("no documents"))
    alone = _ask(page, "And without documents?")
    expect(alone.locator("button.cite")).to_have_count(0)
    page.reload()
    expect(page.get_by_label("Knowledge base")).to_have_value("")  # kept by the server

    # a file attached in the chat box goes into the chat's knowledge base
    page.get_by_label("Knowledge base").select_option("faros")
    page.set_input_files(
        ".composer input[type=file]",
        [
            {
                "name": "etna.md",
                "mimeType": "text/markdown",
                "buffer": b"# Etna\n\nEtna erupted in 2021.",
            }
        ],
    )
    expect(page.locator(".attachments li")).to_have_attribute("data-status", "indexed")
    expect(page.locator(".attachments")).to_contain_text("faros")
    cites_etna = _ask(page, "When did Etna erupt?")
    expect(cites_etna.locator(".source-chip")).to_contain_text("Etna")
    tab.shot("attached")

    # a code block's own copy button
    code = page.locator(".message.assistant pre")
    if code.count():
        code.first.get_by_role("button", name="Copy the code").click()
        assert page.evaluate("navigator.clipboard.readText()").strip()

    # export: Markdown with its sources, and JSON
    page.get_by_role("button", name="Download").click()
    with page.expect_download() as markdown:
        page.get_by_role("link", name="Download as Markdown (with sources)").click()
    text = Path(markdown.value.path()).read_text(encoding="utf-8")
    assert "## You" in text and "**Sources**" in text and "[1] Etna" in text
    with page.expect_download() as raw:
        page.get_by_role("button", name="Download").click()
        page.get_by_role("link", name="Download as JSON").click()
    exported = json.loads(Path(raw.value.path()).read_text(encoding="utf-8"))
    assert len(exported["tree"]) > len(exported["messages"])  # every branch is in it

    # rename and delete through real dialogs (a prompt() or confirm() would fail the test)
    page.on("dialog", lambda d: pytest.fail(f"a browser dialog: {d.message}"))
    page.get_by_role("button", name="Rename", exact=True).click()
    dialog = page.get_by_role("dialog", name="Rename the chat")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Title").fill("Faros y volcanes")
    dialog.get_by_role("button", name="Rename").click()
    expect(page.locator("#page-title")).to_have_text("Faros y volcanes")
    expect(page.locator(".chat-item")).to_contain_text("Faros y volcanes")
    page.get_by_role("button", name="Delete the chat").click()
    confirm = page.get_by_role("dialog", name="Delete the chat")
    tab.shot("delete-dialog")
    confirm.get_by_role("button", name="Cancel").click()
    expect(page.locator(".chat-item")).to_have_count(1)
    page.get_by_role("button", name="Delete the chat").click()
    page.get_by_role("dialog", name="Delete the chat").get_by_role("button", name="Delete").click()
    expect(page.locator(".chat-item")).to_have_count(0)
    expect(page.locator("#page-title")).to_have_text("New chat")
    tab.close()


def test_keyboard_shortcuts_and_stop_that_stops_the_model(
    browser: Any,  # noqa: F811
    slow: str,
) -> None:
    tab = Page(
        browser,
        slow,
        "chat-keys",
        viewport=DESKTOP,
        locale="es-ES",
        permissions=["clipboard-read", "clipboard-write"],
    )
    page = tab.page
    expect = expectation()
    page.goto(slow)
    expect(page.get_by_role("heading", name="Nueva conversación")).to_be_visible()

    # the list on "?"
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("Shift+?")
    shortcuts = page.get_by_role("dialog", name="Atajos de teclado")
    expect(shortcuts).to_be_visible()
    expect(shortcuts).to_contain_text("Copiar la última respuesta")
    tab.shot("shortcuts")
    page.keyboard.press("Escape")
    expect(shortcuts).to_have_count(0)

    # Stop: the server stops the model; what was shown is what is kept, marked stopped
    page.fill("#question", "Habla sin parar")
    page.keyboard.press("Enter")
    answer = page.locator(".message.assistant").last
    expect(answer.locator(".answer-text")).to_contain_text("palabra5")
    page.keyboard.press("Escape")  # Esc stops the answer
    expect(answer).not_to_have_class(re.compile("streaming"))
    expect(page.locator(".message.assistant").last.locator(".answer-status")).to_contain_text(
        "Detenida"
    )
    shown = page.locator(".message.assistant").last.locator(".answer-text").inner_text()
    assert "palabra199" not in shown
    tab.shot("stopped")
    page.reload()
    kept = page.locator(".message.assistant").last
    expect(kept.locator(".answer-status")).to_contain_text("Detenida")
    assert kept.locator(".answer-text").inner_text() == shown  # the server kept no more

    # copy the last answer; a new chat; the question box
    page.keyboard.press("Control+Shift+KeyC")
    assert page.evaluate("navigator.clipboard.readText()").strip() == shown.strip()
    page.keyboard.press("Control+Shift+KeyO")
    expect(page.get_by_role("heading", name="Nueva conversación")).to_be_visible()
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("Shift+Escape")
    assert page.evaluate("document.activeElement.id") == "question"
    tab.close()

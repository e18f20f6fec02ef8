"""Feedback in the web app (issue 26), in a real browser against a real server: thumbs
on an answer, a correction typed in its dialog, and the same question asked again in
Spanish, answered with the correction first and cited by its author and date.

Screenshots go to ``test-artifacts/web/`` (look at them)."""

from __future__ import annotations

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
from test_web_chat import _ask, _kb_with

CONTRACT = (
    "The notice period for ending the service contract is 30 days, as clause 12 says.\n\n"
    "Payments are due on the first day of every month, by bank transfer."
)
FIX = "The notice period is 60 days since the 2026 amendment of clause 12."


@pytest.fixture
def cited(tmp_path: Path) -> Any:
    yield from serve(tmp_path, chat_model="fake:cite", answer_style="extractive")


def test_an_answer_is_rated_and_corrected_and_the_correction_is_cited(
    browser: Any,  # noqa: F811
    cited: str,
) -> None:
    tab = Page(browser, cited, "feedback", viewport=DESKTOP, locale="en-US")
    page = tab.page
    expect = expectation()
    contract = {"name": "contract.txt", "mimeType": "text/plain", "buffer": CONTRACT.encode()}
    _kb_with(page, cited, "legal", [contract])
    page.get_by_role("link", name="New chat").click()
    answer = _ask(page, "What is the notice period for ending the contract?")
    expect(answer.locator(".answer-text")).to_contain_text("30 days")

    good = answer.get_by_role("button", name="Good answer")
    good.click()
    expect(good).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".toast")).to_contain_text("Thanks")
    bad = answer.get_by_role("button", name="Bad answer")
    bad.click()
    expect(bad).to_have_attribute("aria-pressed", "true")
    expect(good).to_have_attribute("aria-pressed", "false")

    answer.get_by_role("button", name="Correct").click()
    dialog = page.get_by_role("dialog", name="Correct this answer")
    dialog.get_by_label("What is right").fill(FIX)
    tab.shot("correcting")
    dialog.get_by_role("button", name="Save the correction").click()
    expect(page.locator(".toast").last).to_contain_text("Correction saved")

    again = _ask(page, "¿Cuál es el plazo de preaviso para terminar el contrato?")
    expect(again.locator(".answer-text")).to_contain_text(FIX)
    chip = again.locator(".source-chip").first
    expect(chip).to_contain_text(re.compile(r"Corrección de \S+, \d{4}-\d\d-\d\d"))
    chip.click()
    expect(page.locator("#source")).to_contain_text(FIX)
    tab.shot("corrected")

    pin = again.get_by_role("button", name="Pin the answer")
    pin.click()
    expect(pin).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".toast").last).to_contain_text("Answer pinned")

    # the knowledge base's Guide and notes tab: the note, the pinned answer, the guide
    page.goto(cited + "#/kbs/legal/guide")
    notes = page.locator(".note-list").first
    expect(notes.locator(".note")).to_have_count(1)
    expect(notes).to_contain_text(FIX)
    expect(page.locator(".note-list").nth(1).locator(".note")).to_have_count(1)
    page.get_by_label("Instruction").fill("Answer formally and give the clause number.")
    page.get_by_label("Glossary").fill("notice period = plazo de preaviso")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".toast").last).to_contain_text("Guide saved")
    tab.shot("guide")
    page.reload()
    expect(page.get_by_label("Glossary")).to_have_value("notice period = plazo de preaviso")

    # the judged set those two make, measured on demand, in English and Spanish
    judged = page.locator(".judged-set")
    expect(judged.locator("tbody tr")).to_have_count(2)
    expect(judged.locator("tbody tr").first).to_contain_text("corrected")
    expect(judged.locator("tbody tr").first).to_contain_text("its correction")
    expect(judged.locator("tbody tr").nth(1)).to_contain_text("pinned")
    expect(judged.locator("tbody tr").nth(1)).to_contain_text("contract.txt")
    judged.get_by_role("button", name="Measure now").click()
    metrics = judged.locator(".judged-metrics")
    expect(metrics).to_contain_text("mrr@10")
    expect(metrics.locator("tbody td").first).to_have_text("2")
    expect(judged.locator("td.rank").first).to_have_text("1")
    tab.shot("judged")
    page.evaluate("localStorage.setItem('sabio.lang', 'es')")
    page.reload()
    expect(judged).to_contain_text("Preguntas valoradas")
    judged.get_by_role("button", name="Medir ahora").click()
    expect(judged.locator("td.rank").nth(1)).to_have_text(re.compile(r"^\d+$"))
    expect(judged.locator("tbody tr").first).to_contain_text("su corrección")
    tab.shot("judged-es")
    page.evaluate("localStorage.setItem('sabio.lang', 'en')")
    page.reload()

    # the note removed, the pinned answer is what a similar question gets
    notes.get_by_role("button", name="Remove").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    expect(notes).to_contain_text("No corrections yet")
    page.goto(cited + "#/chat/1")
    served = _ask(page, "What is the notice period to end the contract?")
    expect(served.locator(".answer-notes")).to_contain_text("Pinned answer")
    expect(served.locator(".answer-notes")).to_contain_text("pinned answer to “¿Cuál es")
    expect(served.locator(".answer-text")).to_contain_text(FIX)  # the pinned text, kept
    tab.shot("pinned")
    tab.close()

"""A recording uploaded in the real web app (Playwright driving the system's Chromium
against a real ``sabio`` server on loopback, its worker running): transcribed by a
background job, cited "at 0:00", played from there, its transcript downloaded.

Screenshots go to ``test-artifacts/web/`` (look at them)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_audio import ENGLISH, speak
from test_web import (
    DESKTOP,
    Page,
    browser,  # noqa: F401  (the fixture)
    expectation,
    serve,
)


@pytest.fixture
def listening(tmp_path: Path) -> Iterator[str]:
    yield from serve(tmp_path)


@pytest.mark.slow
def test_a_recording_is_transcribed_in_the_background_cited_and_its_transcript_downloaded(
    browser: Any,  # noqa: F811
    listening: str,
    tmp_path: Path,
) -> None:
    diary = speak(tmp_path / "diary.wav", ENGLISH, "en")
    expect = expectation()
    tab = Page(browser, listening, "audio", viewport=DESKTOP, locale="en-US")
    page = tab.page
    page.goto(listening + "#/kbs")
    page.fill("input[name=kb-name]", "diarios")
    page.get_by_role("button", name="Create").click()
    page.set_input_files("input[type=file]", [str(diary)])
    expect(page.locator(".upload-queue li")).to_have_attribute("data-status", "transcribing")
    row = page.locator(".documents tbody tr").filter(has_text="diary.wav")
    expect(row).to_have_attribute("data-status", "indexed")  # the list reads itself again
    tab.shot("transcribed")

    page.get_by_role("link", name="New chat").click()
    page.get_by_label("Knowledge base").select_option("diarios")
    page.fill("#question", "What did the storm break, according to the lighthouse keeper?")
    page.keyboard.press("Enter")
    answer = page.locator(".message.assistant").last
    expect(answer).not_to_have_class(re.compile("streaming"))
    expect(answer.locator(".source-chip")).to_contain_text("at 0:00")
    answer.locator(".source-chip").first.click()
    panel = page.locator("#source")
    expect(panel.locator("audio.source-player")).to_have_count(1)
    links = panel.locator(".source-transcript a")
    expect(links).to_have_text(["TXT", "SRT", "VTT"])
    tab.shot("source")
    assert "null" not in panel.inner_text()  # a passage without a heading
    href = links.nth(1).get_attribute("href")
    assert href and href.endswith("format=srt")
    srt = page.request.get(listening + href)
    assert srt.ok and srt.headers["content-disposition"].endswith("diary.srt")
    assert srt.text().startswith("1\n00:00:00,000 --> ") and "storm" in srt.text().lower()
    tab.close()

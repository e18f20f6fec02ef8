"""Document tasks in the web app (views/tasks.js): real Chromium against a real server on
loopback, its worker running the tasks as jobs; a real PDF from ../shared/data; the chat
model scripted at the edge (test_extract's ``scripted:`` backend), so what the page shows
can be checked exactly. Screenshots go to ``test-artifacts/web/`` (look at them)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import need_data, running_server
from test_extract import Scripted
from test_task_jobs import LEASE_2023, LEASE_2024
from test_web import DESKTOP, JUDGMENT, PHONE, Page, browser, expectation  # noqa: F401 (fixture)

from sabio.config import load_settings
from sabio.server import create_app
from sabio.service import Sabio

SUMMARY = "The Supreme Court heard the case of Jamie Sinnott against the Minister [1]."


def _serve(tmp_path: Path, chat: str) -> Iterator[str]:
    settings = load_settings(
        {
            "home": tmp_path / "home",
            "embedding_model": "fake:words",
            "chat_model": chat,
            "workers": 1,
        },
        environ={},
    )
    for name, text in (("lease-2023.txt", LEASE_2023), ("lease-2024.txt", LEASE_2024)):
        (tmp_path / name).write_text(text, encoding="utf-8")
    sabio = Sabio(settings)
    sabio.add([need_data("documents", *JUDGMENT), tmp_path / "lease-2023.txt"])
    sabio.add([tmp_path / "lease-2024.txt"])
    sabio.close()
    with running_server(create_app(settings)) as url:
        yield url


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    yield from _serve(tmp_path, "scripted:100000")


@pytest.fixture
def slow(tmp_path: Path) -> Iterator[str]:
    """A chat model that takes seconds to write (conftest's ``fake:long``)."""
    yield from _serve(tmp_path, "fake:long")


def test_summarize_and_compare_from_the_documents_table(
    browser: Any,  # noqa: F811
    served: str,
) -> None:
    Scripted.replies = [SUMMARY]
    tab = Page(browser, served, "tasks-en", viewport=DESKTOP, locale="en-US")
    page = tab.page
    expect = expectation()
    page.goto(f"{served}/#/kbs/default")
    summarize = page.get_by_role("button", name="Summarize")
    expect(summarize).to_be_disabled()  # nothing chosen yet
    page.get_by_label("Choose issue11913.pdf").check()
    expect(page.locator(".task-selection")).to_contain_text("1 document chosen: issue11913.pdf")
    expect(page.get_by_role("button", name="Compare")).to_be_disabled()
    summarize.click()
    task = page.locator(".task").first
    expect(task).to_have_attribute("data-status", "done")
    expect(task).to_contain_text("Summary")
    result = task.locator(".task-result")  # a task started here opens its result
    expect(result).to_contain_text("Jamie Sinnott against the Minister")
    chip = result.locator("a.page-cite")
    expect(chip).to_have_text("p. 1")
    href = chip.get_attribute("href")
    assert href and re.search(r"/documents/\d+/file#page=1$", href)
    expect(result.locator(".task-route")).to_contain_text("How: Summary · whole document: ")
    download = task.get_by_role("link", name="Word")
    assert "format=docx" in (download.get_attribute("href") or "")
    docx = page.request.get(served + (download.get_attribute("href") or ""))
    assert docx.ok and docx.body()[:2] == b"PK"  # a Word file (a zip)
    result.scroll_into_view_if_needed()
    tab.shot("summary")
    task.get_by_role("button", name="Hide the result").click()
    expect(result).to_be_empty()

    page.get_by_label("Choose issue11913.pdf").uncheck()
    page.get_by_label("Choose lease-2023.txt").check()
    page.get_by_label("Choose lease-2024.txt").check()
    page.get_by_role("button", name="Compare").click()
    comparison = page.locator(".task").first
    expect(comparison).to_have_attribute("data-status", "done")
    expect(comparison).to_contain_text("lease-2023.txt → lease-2024.txt")
    changes = comparison.locator(".task-changes li")
    expect(changes).to_have_count(2)
    expect(changes.nth(0).locator("del")).to_have_text("900")
    expect(changes.nth(0).locator("ins")).to_have_text("950")
    expect(changes.nth(1)).to_contain_text("Pets are allowed.")
    changes.nth(1).scroll_into_view_if_needed()
    tab.shot("compare")
    tab.close()


def test_a_phone_in_spanish_translates_and_sees_a_bad_choice_explained(
    browser: Any,  # noqa: F811
    served: str,
) -> None:
    tab = Page(browser, served, "tasks-phone-es", viewport=PHONE, locale="es-ES")
    page = tab.page
    expect = expectation()
    page.goto(f"{served}/#/kbs/default")
    page.get_by_label("Elegir lease-2023.txt").check()
    Scripted.replies = ["1. The tenant pays 900 euros a month. The lease ends in 2025."]
    page.get_by_role("button", name="Traducir").click()
    task = page.locator(".task").first
    expect(task).to_have_attribute("data-status", "done")
    expect(task).to_contain_text("Traducción")
    expect(task.locator(".task-result")).to_contain_text("The tenant pays 900 euros a month.")
    expect(task.locator(".task-result .status-help")).to_have_count(0)  # every figure kept
    task.scroll_into_view_if_needed()
    tab.shot("translation")
    # a document removed meanwhile: the server's reason, in Spanish
    page.route(
        "**/api/v1/kbs/default/tasks",
        lambda route: (
            route.continue_(post_data='{"kind": "summarize", "documents": [999]}')
            if route.request.method == "POST"
            else route.continue_()
        ),
    )
    page.get_by_role("button", name="Resumir").click()
    expect(page.locator(".tasks .form-error")).to_contain_text("No se encuentra el documento")
    page.locator(".tasks .form-error").scroll_into_view_if_needed()
    tab.shot("error")
    tab.close()


def test_a_running_task_shows_its_progress_and_is_cancelled(
    browser: Any,  # noqa: F811
    slow: str,
) -> None:
    tab = Page(browser, slow, "tasks-cancel", viewport=DESKTOP, locale="en-US")
    page = tab.page
    expect = expectation()
    page.goto(f"{slow}/#/kbs/default")
    page.get_by_label("Choose issue11913.pdf").check()
    page.get_by_role("button", name="Summarize").click()
    task = page.locator(".task").first
    expect(task).to_have_attribute("data-status", "running")
    expect(task.locator(".badge.task-status")).to_have_text("running")
    tab.shot("running")
    task.get_by_role("button", name="Cancel").click()
    expect(task).to_have_attribute("data-status", "cancelled")
    expect(page.locator(".task").first).to_have_attribute("data-status", "cancelled")
    expect(page.locator(".task").first.get_by_role("button", name="Cancel")).to_have_count(0)
    expect(page.locator(".task").first.get_by_role("link", name="Word")).to_have_count(0)
    tab.shot("cancelled")
    tab.close()


def test_the_chat_says_how_each_answer_was_made_and_keeps_it(
    browser: Any,  # noqa: F811
    served: str,
) -> None:
    tab = Page(browser, served, "chat-route-en", viewport=DESKTOP, locale="en-US")
    page = tab.page
    expect = expectation()
    page.goto(f"{served}/#/")
    Scripted.replies = ["The Supreme Court heard the case of Jamie Sinnott [1]."]
    page.fill("#question", "Who brought the case against the Minister for Education?")
    page.keyboard.press("Enter")
    saved_answers = page.locator(".message.assistant[data-id]")  # drawn again once saved
    expect(saved_answers).to_have_count(1)
    question = saved_answers.last
    passages = re.compile(
        r"How it was answered: the top-k passages: \d+ in [\d,]+ of [\d,]+ prompt tokens"
    )
    expect(question.locator(".answer-route")).to_have_text(passages)
    Scripted.replies = [SUMMARY]
    page.fill("#question", "Summarize issue11913.pdf")
    page.keyboard.press("Enter")
    expect(saved_answers).to_have_count(2)
    summary = saved_answers.last
    whole = re.compile(
        r"How it was answered: Summary · whole document: [\d,]+ tokens, fit in [\d,]+"
    )
    expect(summary.locator(".answer-route")).to_have_text(whole)
    summary.scroll_into_view_if_needed()
    tab.shot("routes")
    # kept with the messages: the REST API returns it, and the chat read back shows it
    chat = page.request.get(f"{served}/api/v1/chats").json()[0]
    saved = page.request.get(f"{served}/api/v1/chats/{chat['id']}").json()["messages"]
    routes = [m["route"] for m in saved if m["role"] == "assistant"]
    assert [(r["kind"], r["task"]) for r in routes] == [("passages", ""), ("document", "summarize")]
    assert 0 < routes[1]["tokens"] <= routes[1]["budget"] and routes[0]["passages"] > 0
    page.reload()
    expect(page.locator(".message.assistant .answer-route")).to_have_count(2)
    expect(page.locator(".message.assistant .answer-route").last).to_have_text(whole)
    tab.close()


@pytest.fixture
def small(tmp_path: Path) -> Iterator[str]:
    """A chat model whose context holds about a page of the judgment."""
    yield from _serve(tmp_path, "scripted:1200")


def test_a_summary_too_long_for_the_model_says_map_reduce_in_spanish(
    browser: Any,  # noqa: F811
    small: str,
) -> None:
    tab = Page(browser, small, "chat-route-es", viewport=PHONE, locale="es-ES")
    page = tab.page
    expect = expectation()
    page.goto(f"{small}/#/")
    Scripted.replies = [SUMMARY] * 60  # a part's summary each, then the combined one
    page.fill("#question", "Resume issue11913.pdf")
    page.keyboard.press("Enter")
    saved_answers = page.locator(".message.assistant[data-id]")  # drawn again once saved
    expect(saved_answers).to_have_count(1)
    answer = saved_answers.last
    parts = re.compile(
        r"Cómo se respondió: Resumen · por partes \(map-reduce\): (\d+) partes de hasta"
        r" [\d.]+ tokens \([\d.]+ contados\), 1 ronda de combinación"
    )
    expect(answer.locator(".answer-route")).to_have_text(parts)
    answer.scroll_into_view_if_needed()
    tab.shot("map-reduce")
    chat = page.request.get(f"{small}/api/v1/chats").json()[0]
    saved = page.request.get(f"{small}/api/v1/chats/{chat['id']}").json()["messages"][-1]
    route = saved["route"]
    assert route["kind"] == "map-reduce" and route["parts"] > 1
    assert route["tokens"] > route["budget"]  # why: the counted tokens did not fit one call
    assert len(Scripted.replies) == 60 - route["parts"] - route["rounds"]  # a call a part, then one
    Scripted.replies = []
    tab.close()

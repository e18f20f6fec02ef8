"""The Ollama hosts' state in the web app (issue 27): two FakeOllama servers on loopback,
one of them stopped; Settings shows, for each, whether it answers, its models, this
server's requests on it against ``ollama_parallel`` and its latest error, in English and
in Spanish. Playwright drives the system's Chromium against a real server.

Screenshots go to ``test-artifacts/web/`` (look at them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_servers import FakeOllama, chat_model, embedding_model
from test_web import (
    DESKTOP,
    Page,
    browser,  # noqa: F401  (the fixture)
    expectation,
    serve,
)

from sabio.config import Settings
from sabio.models import ChatOptions, Message
from sabio.models.ollama import ollama_chat_model

MESSAGES: list[Message] = [{"role": "user", "content": "¿Qué dice el contrato?"}]


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[tuple[str, FakeOllama, str]]:
    """A server whose first Ollama host answers (two models) and whose second is stopped."""
    with FakeOllama() as gone:
        stopped = gone.url
    models = [chat_model("qwen3:4b"), embedding_model("bge-m3:latest", 8)]
    with FakeOllama(models=models) as first:
        first.models[0].reply = "El contrato dura dos años."
        overrides = {"ollama_host": first.url, "ollama_hosts": stopped, "ollama_parallel": 2}
        for url in serve(tmp_path, **overrides):
            yield url, first, stopped


def test_the_api_tells_each_hosts_state(hosts: tuple[str, FakeOllama, str]) -> None:
    url, first, stopped = hosts
    states = httpx.get(f"{url}/api/v1/models/hosts").json()
    assert [s["url"] for s in states] == [first.url, stopped]
    up, down = states
    assert up["reachable"] and up["models"] == ["bge-m3", "qwen3:4b"]
    assert (up["busy"], up["waiting"], up["limit"], up["last_error"]) == (0, 0, 2, "")
    assert not down["reachable"] and down["models"] == []
    assert "not reachable" in down["last_error"] and down["failed_at"] > 0
    assert down["error_key"] == "ollama_unreachable" and stopped in down["error_args"]["host"]


def test_settings_shows_the_hosts_one_busy_and_one_stopped(
    browser: Any,  # noqa: F811
    hosts: tuple[str, FakeOllama, str],
) -> None:
    url, first, stopped = hosts
    expect = expectation()
    settings = Settings(ollama_host=first.url, ollama_hosts=stopped, ollama_parallel=2)
    model = ollama_chat_model(settings, "qwen3:4b")
    model.context_window = 4096
    answer = model.stream(MESSAGES, ChatOptions())
    next(answer)  # an answer under way on the first host (this process's pool, the server's)
    try:
        for locale, words in (
            (
                "en-US",
                (
                    "Ollama hosts",
                    "Reachable",
                    "1 of 2",
                    "Not reachable",
                    "none",
                    "does not answer at",
                ),
            ),
            (
                "es-ES",
                (
                    "Servidores de Ollama",
                    "Responde",
                    "1 de 2",
                    "No responde",
                    "ninguno",
                    "no responde en",
                ),
            ),
        ):
            title, up, busy, down, no_error, unreachable = words
            tab = Page(browser, url, f"hosts-{locale}", viewport=DESKTOP, locale=locale)
            tab.page.goto(url + "#/settings")
            section = tab.page.locator("section.hosts")
            expect(section.get_by_role("heading", name=title)).to_be_visible()
            rows = section.locator("tbody tr")
            expect(rows).to_have_count(2)
            expect(rows.nth(0).locator("th")).to_have_text(first.url)
            expect(rows.nth(0).locator("td").nth(0)).to_have_text(up)
            expect(rows.nth(0).locator("td").nth(1)).to_have_text("bge-m3, qwen3:4b")
            expect(rows.nth(0).locator("td").nth(2)).to_have_text(busy)
            expect(rows.nth(0).locator("td").nth(3)).to_have_text(no_error)
            expect(rows.nth(1).locator("th")).to_have_text(stopped)
            expect(rows.nth(1).locator("td").nth(0)).to_have_text(down)
            error = rows.nth(1).locator("td").nth(3)
            expect(error).to_contain_text(f"Ollama {unreachable} {stopped}")
            section.scroll_into_view_if_needed()
            tab.shot("hosts")
            tab.close()
    finally:
        answer.close()
    tab = Page(browser, url, "hosts-free", viewport=DESKTOP, locale="en-US")
    tab.page.goto(url + "#/settings")
    rows = tab.page.locator("section.hosts tbody tr")
    expect(rows.nth(0).locator("td").nth(2)).to_have_text("0 of 2")  # the answer ended
    tab.close()


def test_settings_says_in_words_that_ollamas_models_are_not_there(
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """With no Ollama anywhere the model list holds one "ollama:*" entry; Settings names
    the backend instead of showing that pattern."""
    with FakeOllama() as gone:
        stopped = gone.url
    expect = expectation()
    for url in serve(tmp_path, ollama_host=stopped):
        for locale, sentence in (
            ("en-US", "Ollama's models are not available."),
            ("es-ES", "Los modelos de Ollama no están disponibles."),
        ):
            tab = Page(browser, url, f"no-ollama-{locale}", viewport=DESKTOP, locale=locale)
            tab.page.goto(url + "#/settings")
            notes = tab.page.locator(".backend-note")
            expect(notes.filter(has_text=sentence)).to_have_count(1)
            expect(notes.filter(has_text="ollama:*")).to_have_count(0)
            tab.close()

"""The web app's marks on unsupported statements and its answer-style picker, in a real
browser against a real server (see test_web.py). The chat model is the scripted
``fake:invent`` of conftest.py: it quotes passage 1, cites it, then states a made-up
figure, so exactly one statement must be marked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import running_server
from fake_servers import closed_port
from test_web import DESKTOP, PHONE, Page, browser, expectation  # noqa: F401 (fixture)

from sabio.config import load_settings
from sabio.server import create_app
from sabio.service import Sabio

ETNA = "Mount Etna erupted in March 2021 and covered Catania in ash for three days."


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    settings = load_settings(
        {
            "home": tmp_path / "home",
            "embedding_model": "fake:words",
            "chat_model": "fake:invent",
            "workers": 1,
            "ollama_host": f"127.0.0.1:{closed_port()}",
        },
        environ={},
    )
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "etna.txt").write_text(ETNA, encoding="utf-8")
    sabio = Sabio(settings)
    sabio.add([folder])
    sabio.close()
    with running_server(create_app(settings)) as url:
        yield url


def _ask(page: Any, question: str) -> Any:
    page.fill("#question", question)
    page.keyboard.press("Enter")
    answer = page.locator(".message.assistant").last
    expectation()(answer).not_to_have_class(re.compile("streaming"))
    return answer


def test_an_unsupported_statement_is_marked_with_its_reason(browser: Any, served: str) -> None:  # noqa: F811
    tab = Page(browser, served, "support-en", viewport=DESKTOP, locale="en-US")
    page = tab.page
    expect = expectation()
    page.goto(served)
    expect(page.get_by_role("heading", name="New chat")).to_be_visible()
    answer = _ask(page, "When did Mount Etna erupt?")
    mark = answer.locator("button.claim-mark")
    expect(mark).to_have_count(1)  # the quote is supported, the invented cost is not
    expect(mark).to_have_attribute("title", re.compile("987,654"))
    expect(answer.locator(".support-note")).to_have_text(
        "1 of 2 statements is not supported by your documents."
    )
    mark.click()  # a tap shows the reason (phones have no hover)
    expect(answer.locator(".claim-why")).to_contain_text("No passage says this")
    tab.shot("marked")

    # quotes from the documents: the sentence itself, cited, nothing to mark
    assert _label_fits(page.get_by_label("Answer style")), "Answer: automatic is cut"
    page.get_by_label("Answer style").select_option("extractive")
    quoted = _ask(page, "When did Mount Etna erupt?")
    expect(quoted.locator("blockquote")).to_contain_text("Mount Etna erupted in March 2021")
    expect(quoted.locator("button.cite")).to_have_count(1)
    expect(quoted.locator("button.claim-mark")).to_have_count(0)
    tab.shot("extractive")
    tab.close()


def test_the_marks_speak_spanish_on_a_phone(browser: Any, served: str) -> None:  # noqa: F811
    tab = Page(browser, served, "support-es", viewport=PHONE, locale="es-ES")
    page = tab.page
    expect = expectation()
    page.goto(served)
    answer = _ask(page, "¿Cuándo entró en erupción el Etna?")
    expect(answer.locator("button.claim-mark")).to_have_count(1)
    expect(answer.locator(".support-note")).to_have_text(
        "1 de 2 afirmaciones no está respaldada por tus documentos."
    )
    answer.locator("button.claim-mark").click()
    expect(answer.locator(".claim-why")).to_contain_text("Ningún pasaje dice esto")
    tab.shot("marked")
    assert _label_fits(page.get_by_label("Estilo de respuesta")), "Respuesta: automática is cut"
    tab.close()


def _label_fits(select: Any) -> bool:
    """Whether the chosen option's text fits inside the select beside its arrow (a
    select does not scroll, so its text is measured with its own font)."""
    return bool(
        select.evaluate(
            """s => {
              const style = getComputedStyle(s);
              const canvas = document.createElement("canvas").getContext("2d");
              canvas.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
              const text = canvas.measureText(s.options[s.selectedIndex].text).width;
              const padding = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
              return text + padding + 20 <= s.clientWidth;
            }"""
        )
    )

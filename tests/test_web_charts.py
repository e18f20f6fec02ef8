"""An answer computed over a table shows its chart in the web app, in a real browser
(Playwright and the system's Chromium) against a real server: drawn when the answer
arrives, still there once the chat is read back, saved as SVG and as PNG.

Screenshots go to ``test-artifacts/web/`` (look at them)."""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from test_web import (
    ARTIFACTS,
    DESKTOP,
    Page,
    browser,  # noqa: F401  (the fixture)
    expectation,
    serve,
)
from test_web_axe import AXE, RUN_AXE

from sabio.config import Settings
from sabio.models import ChatOptions, Message, register_chat_backend

SALES = "provincia;importe\nMadrid;1.234,50\nSevilla;980,00\nMadrid;12,50\nJaén;100\n"
BY_PROVINCE = "SELECT provincia, sum(importe) AS total FROM ventas GROUP BY 1 ORDER BY 1"


class OneQuery:
    """A chat model that writes the same query whatever it is asked."""

    name = "charts:sql"
    context_window = 8192

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 1

    def stream(
        self, messages: Sequence[Message], options: ChatOptions
    ) -> Generator[str, None, str | None]:
        yield f"```sql\n{BY_PROVINCE}\n```"
        return "stop"


@register_chat_backend("charts")
def _one_query(settings: Settings, model: str) -> OneQuery:
    return OneQuery()


@pytest.fixture
def computing(tmp_path: Path) -> Iterator[str]:
    yield from serve(tmp_path, chat_model="charts:sql")


def test_a_computed_answer_shows_its_chart_and_saves_it(
    browser: Any,  # noqa: F811
    computing: str,
) -> None:
    tab = Page(
        browser, computing, "chart-es", viewport=DESKTOP, locale="es-ES", accept_downloads=True
    )
    page = tab.page
    expect = expectation()
    page.goto(computing + "#/kbs")
    page.fill("input[name=kb-name]", "cuentas")
    page.get_by_role("button", name="Crear").click()
    page.set_input_files(
        "input[type=file]",
        [{"name": "ventas.csv", "mimeType": "text/csv", "buffer": SALES.encode()}],
    )
    expect(page.locator(".upload-queue li").first).to_have_attribute("data-status", "indexed")
    with page.expect_popup() as opened:  # the report over the tables, in a tab of its own
        page.get_by_role("link", name=re.compile("Informe de las tablas")).click()
    report = opened.value
    expect(
        report.get_by_role("heading", name="Informe sobre las tablas de cuentas")
    ).to_be_visible()
    expect(report.locator("body")).to_contain_text("total_importe")
    expect(report.locator("body")).to_contain_text("2327")  # 1234.50 + 980 + 12.50 + 100
    report.screenshot(path=ARTIFACTS / "chart-es-00-report.png")
    report.close()
    page.get_by_role("link", name="Nueva conversación").click()
    page.fill("#question", "¿Cuál es el total de importe por provincia?")
    page.keyboard.press("Enter")
    answer = page.locator(".message.assistant").last
    expect(answer).not_to_have_class(re.compile("streaming"))
    image = answer.locator("img.chart-image")
    expect(image).to_have_attribute("alt", "Gráfico circular: total por provincia (3)")
    expect(answer.locator(".answer-text table")).to_contain_text("1247.00")
    assert page.evaluate("(img) => img.complete && img.naturalWidth", image.element_handle()) == 720
    tab.shot("answer")
    page.evaluate(AXE.read_text(encoding="utf-8"))  # not a script tag: the page's CSP holds
    # the chart, its caption and its buttons are accessible
    serious = [v for v in page.evaluate(RUN_AXE) if v["impact"] in ("serious", "critical")]
    assert serious == [], serious

    with page.expect_download() as svg:
        answer.get_by_role("link", name="Guardar SVG").click()
    saved = Path(svg.value.path()).read_text(encoding="utf-8")
    assert saved.startswith("<svg") and "Madrid: 1.247 (53,6 %)" in saved
    with page.expect_download() as png:
        answer.get_by_role("button", name="Guardar PNG").click()
    assert png.value.suggested_filename == "grafico.png"
    assert Path(png.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    page.reload()  # the chat read back from the server keeps the chart
    again = page.locator(".message.assistant").last.locator("img.chart-image")
    expect(again).to_have_attribute("alt", "Gráfico circular: total por provincia (3)")
    tab.shot("reloaded")
    tab.close()

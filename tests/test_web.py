"""The web app in a real browser: Playwright driving the system's Chromium against a real
``sabio`` server on loopback, with a real PDF from ../shared/data. The chat model is the
scripted ``fake:cite`` of conftest.py (it quotes passage 1 and cites it), so what the
page shows can be checked exactly; the real models are tested in test_embedded_chat.py.

Screenshots of every step go to ``test-artifacts/web/`` (look at them)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import need_data, running_server
from fake_servers import closed_port

from sabio.config import load_settings
from sabio.server import create_app
from sabio.server.api_messages import MESSAGES as API_MESSAGES

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
STATIC = Path(__file__).resolve().parent.parent / "src" / "sabio" / "web" / "static"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "web"
JUDGMENT = ("pdf", "pdfjs", "issue11913.pdf")  # text PDF: an Irish Supreme Court judgment
SCAN = ("pdf", "ocrmypdf_scans", "skew.pdf")  # one scanned page, no text layer
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TIMEOUT = 60_000  # ms: bounds on waits, not timing assertions


def serve(tmp_path: Path, **overrides: Any) -> Iterator[str]:
    settings = load_settings(
        {
            "home": tmp_path / "home",
            "embedding_model": "fake:words",
            "chat_model": "fake:cite",
            "workers": 1,
            "ollama_host": f"127.0.0.1:{closed_port()}",
            "ocr_program": "",  # the scan stays "needs OCR" (tests/test_ocr.py reads scans)
            **overrides,
        },
        environ={},
    )
    with running_server(create_app(settings)) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("no system Chromium (apt-get install chromium; scripts/test.sh does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        try:
            yield chromium
        finally:
            chromium.close()


class Page:
    """A browser tab on the app that fails the test on any script error and saves
    numbered screenshots."""

    def __init__(self, browser: Any, base: str, name: str, **context: Any) -> None:
        self.context = browser.new_context(**context)
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.base = base
        self.name = name
        self.shots = 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def shot(self, what: str) -> None:
        self.shots += 1
        self.page.screenshot(path=ARTIFACTS / f"{self.name}-{self.shots:02d}-{what}.png")

    def close(self) -> None:
        self.context.close()
        assert self.errors == [], f"script errors in the page: {self.errors}"


def expectation() -> Any:
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT)  # a busy CI machine is slow; a bound, not a target
    return expect


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[str]:
    yield from serve(tmp_path, auth=True)


@pytest.fixture
def local(tmp_path: Path) -> Iterator[str]:
    yield from serve(tmp_path)


def test_a_new_user_sets_up_uploads_a_pdf_asks_and_follows_the_citation(
    browser: Any, secured: str
) -> None:
    judgment, scan = need_data("documents", *JUDGMENT), need_data("documents", *SCAN)
    tab = Page(browser, secured, "desktop-en", viewport=DESKTOP, locale="en-US")
    page = tab.page
    expect = expectation()

    # first run: the administrator account, then signing out and in again
    page.goto(secured)
    expect(page.get_by_role("heading", name="Set up Sabio")).to_be_visible()
    tab.shot("setup")
    page.fill("input[name=name]", "ana")
    page.fill("input[name=password]", "correct horse battery")
    page.fill("input[name=confirm]", "correct horse battery")
    page.get_by_role("button", name="Create administrator").click()
    expect(page.get_by_role("heading", name="New chat")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.fill("input[name=name]", "ana")
    page.fill("input[name=password]", "wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".form-error")).not_to_be_empty()
    tab.shot("wrong-password")
    page.fill("input[name=password]", "correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="New chat")).to_be_visible()

    # a knowledge base, and two files dropped in: one indexed, one a scan
    page.get_by_role("link", name="Knowledge bases").click()
    page.fill("input[name=kb-name]", "casos")
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".dropzone")).to_be_visible()
    page.set_input_files("input[type=file]", [str(judgment), str(scan)])
    queue = page.locator(".upload-queue li")
    expect(queue.nth(0)).to_have_attribute("data-status", "indexed")
    expect(queue.nth(1)).to_have_attribute("data-status", "needs_ocr")
    expect(queue.nth(1)).to_contain_text("no usable text layer")
    expect(queue.nth(1)).to_contain_text("install Tesseract")
    rows = page.locator(".documents tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="issue11913.pdf")).to_contain_text("indexed")
    expect(page.locator(".kb-card")).to_contain_text(re.compile(r"2 documents · \d+ passages"))
    tab.shot("uploaded")

    # a question in a new chat over that knowledge base: a streamed answer citing the PDF
    page.get_by_role("link", name="New chat").click()
    page.get_by_label("Knowledge base").select_option("casos")
    page.fill("#question", "Who is the plaintiff in the Supreme Court case of Sinnott?")
    page.keyboard.press("Enter")
    answer = page.locator(".message.assistant").last
    expect(answer).not_to_have_class(re.compile("streaming"))
    chip = answer.locator("button.cite")
    expect(chip).to_have_count(1)  # the made-up [9] was removed
    expect(answer.locator(".source-chip")).to_contain_text("p. 1")
    expect(page.locator(".chat-item")).to_have_count(1)
    tab.shot("answer")

    # the citation opens the passage, highlighted, and a link to the PDF at its page
    chip.click()
    panel = page.locator("#source")
    expect(panel).to_be_visible()
    expect(panel.locator("mark")).to_contain_text("SINNOTT")
    original = panel.get_by_role("link", name="Open the original at page 1")
    href = original.get_attribute("href")
    assert href and href.endswith("#page=1")
    pdf = page.request.get(secured + href.split("#")[0])
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body()[:5] == b"%PDF-"
    tab.shot("source")

    # the chat is kept: after a reload it is in the sidebar with its answer
    page.reload()
    expect(page.locator(".message.assistant")).to_have_count(1)
    expect(page.locator(".chat-item")).to_contain_text("Who is the plaintiff")
    tab.close()


def test_a_phone_in_spanish_and_dark_mode_without_login_on_this_computer(
    browser: Any, local: str
) -> None:
    tab = Page(
        browser,
        local,
        "phone-es",
        viewport=PHONE,
        locale="es-ES",
        color_scheme="dark",
        is_mobile=True,
        has_touch=True,
    )
    page = tab.page
    expect = expectation()
    page.goto(local)
    expect(page.get_by_role("heading", name="Nueva conversación")).to_be_visible()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    sidebar = page.locator("#sidebar")
    assert sidebar.bounding_box()["x"] < 0  # off screen until the menu opens it
    page.get_by_role("button", name="Menú").click()
    expect(sidebar).to_contain_text("Modo de un solo usuario")
    tab.shot("menu")
    page.get_by_role("link", name="Bases de conocimiento").click()
    page.fill("input[name=kb-name]", "notas")
    page.get_by_role("button", name="Crear").click()
    page.set_input_files(
        "input[type=file]",
        [
            {
                "name": "faro.md",
                "mimeType": "text/markdown",
                "buffer": "# El faro\n\nEl faro de Alejandría guiaba a los barcos.".encode(),
            },
            {"name": "falso.pdf", "mimeType": "application/pdf", "buffer": b"no soy un PDF"},
        ],
    )
    queue = page.locator(".upload-queue li")
    expect(queue.nth(0)).to_have_attribute("data-status", "indexed")
    expect(queue.nth(1)).to_have_attribute("data-status", "rejected")
    expect(queue.nth(1)).to_contain_text("rechazado")
    expect(queue.nth(1)).to_contain_text("No se ha guardado nada")  # what it means, in Spanish
    expect(queue.nth(1)).to_contain_text("not a PDF")  # and the server's exact reason
    tab.shot("uploads")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the page scrolls sideways on a phone"

    page.get_by_role("button", name="Menú").click()
    page.get_by_role("link", name="Nueva conversación").click()
    page.fill("#question", "¿Qué guiaba el faro de Alejandría?")
    page.get_by_role("button", name="Enviar").click()
    answer = page.locator(".message.assistant").last
    expect(answer).not_to_have_class(re.compile("streaming"))
    expect(answer.locator(".sources-label")).to_have_text("Fuentes")
    answer.locator("button.cite").first.click()
    expect(page.locator("#source mark")).to_contain_text("faro")
    tab.shot("source")
    page.get_by_role("button", name="Cerrar").last.click()

    # switching the interface to English
    page.get_by_role("button", name="Menú").click()
    page.get_by_role("link", name="Ajustes").click()
    page.get_by_label("Idioma").select_option("en")
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()
    assert page.evaluate("document.documentElement.lang") == "en"
    tab.shot("settings-en")
    tab.close()


def test_every_interface_text_is_in_spanish_and_in_english() -> None:
    source = (STATIC / "i18n.js").read_text(encoding="utf-8")
    spanish, english = source.split("\n  en: {\n")
    key = re.compile(r'^    "?([\w.]+)"?: ', re.MULTILINE)
    es, en = set(key.findall(spanish)), set(key.findall(english))
    assert es == en, f"only in one language: {sorted(es ^ en)}"
    used = set()
    for module in STATIC.rglob("*.js"):
        if "vendor" not in module.parts:
            used |= set(re.findall(r'\bt\("([\w.]+)"', module.read_text(encoding="utf-8")))
    assert used - en == set(), "texts the page uses but neither language has"
    assert {f"status.{s}" for s in ("indexed", "skipped", "needs_ocr", "failed", "rejected")} <= en
    # every message the server names by its key is in the catalogue; the Ollama and
    # OpenAI APIs' own messages are said by the server itself, in both languages
    # (sabio.server.api_messages, checked by tests/test_api_messages.py)
    keys = set()
    for module in (STATIC.parent.parent).rglob("*.py"):
        keys |= set(re.findall(r'key="(\w+)"', module.read_text(encoding="utf-8")))
    keys -= set(API_MESSAGES)
    assert keys and {f"error.{k}" for k in keys} - en == set(), "server keys without a text"


MARKDOWN = """async (source) => {
    const { renderMarkdown } = await import("/static/markdown.js");
    const cite = (n) => (n === 1 ? '<button class="cite">1</button>' : null);
    return renderMarkdown(source, cite);
}"""


def test_answers_render_as_markdown_and_never_as_html(browser: Any, local: str) -> None:
    tab = Page(browser, local, "markdown", viewport=DESKTOP)
    tab.page.goto(local + "/static/index.html")

    def render(source: str) -> str:
        html: str = tab.page.evaluate(MARKDOWN, source)
        return html.replace("\n", "")

    html = render(
        "# Title\n**bold** and `<b>code</b>` [1] [7]\n\n- one\n- two\n\n"
        "```py\nprint('<x>')\n```\n<img src=x onerror=alert(1)> "
        "[a](javascript:alert(1)) [b](https://example.org) ![i](https://example.org/i.png)"
    )
    assert "<strong>bold</strong>" in html and "<code>&lt;b&gt;code&lt;/b&gt;</code>" in html
    assert '<button class="cite">1</button>' in html and "[7]" in html
    assert "<ul><li>one</li><li>two</li></ul>" in html
    assert '<pre data-lang="py"><code>print(&#39;&lt;x&gt;&#39;)</code></pre>' in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "javascript:" not in html.replace("[a](javascript:alert(1))", "")
    assert '<a href="https://example.org" target="_blank" rel="noopener noreferrer">b</a>' in html

    # what the hand-written renderer got wrong
    assert render("\u00011\u0001 and \u00010\u0001") == "<p>\u00011\u0001 and \u00010\u0001</p>"
    assert render("x \u00007\u0000 y") == "<p>x \ufffd7\ufffd y</p>"  # never "undefined"
    assert render("a\u0000b") == "<p>a\ufffdb</p>"
    nested = render("**bo *ital** x*")  # CommonMark's reading, tags properly nested
    assert nested == "<p><em><em>bo <em>ital</em></em> x</em></p>"
    assert render("**bo *ital* x**") == "<p><strong>bo <em>ital</em> x</strong></p>"
    wiki = render("[Foo](https://en.wikipedia.org/wiki/Foo_(bar)) [1, 1]")
    assert 'href="https://en.wikipedia.org/wiki/Foo_(bar)"' in wiki
    assert wiki.count('<button class="cite">1</button>') == 2  # [1, 1]: two chips
    tab.close()

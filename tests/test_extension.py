"""Sabio's browser extension (``extension/``) in a real Chromium: Playwright launches the
system's Chromium (headless, which loads unpacked extensions) with the extension, against
a real ``sabio`` server on loopback and pages served by a local HTTP server (a Spanish
news page, an English article, a PDF). The side panel is opened as a tab of its own
(``panel.html?tab=N`` names the tab it works on, as the side panel's is the active one).

The chat model is conftest.py's scripted ``fake:cite`` and answers are extractive (the
quotes are Sabio's own), so what the panel shows can be checked exactly. Every request
the browser makes is logged: only the Sabio server and the test pages may appear.
Screenshots go to ``test-artifacts/extension/`` (look at them)."""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import DATA, running_server
from test_web import CHROMIUM, TIMEOUT, expectation, serve

from sabio.config import load_settings
from sabio.server import create_app

EXTENSION = Path(__file__).resolve().parent.parent / "extension"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "extension"
API = "/api/v1"
SPANISH = """<!doctype html><html lang="es"><head><meta charset="utf-8">
<title>El faro de Alejandría vuelve a brillar</title></head><body>
<header><nav>Portada · Cultura · Ciencia · Iniciar sesión</nav></header>
<article><h1>El faro de Alejandría vuelve a brillar</h1>
<p>El faro de Alejandría guiaba a los barcos hacia el puerto durante la noche, con un fuego
que ardía en lo alto de la torre y un espejo de bronce que reflejaba la luz del sol.</p>
<p>Un equipo de arqueólogos ha reconstruido en 3D la torre, que medía más de cien metros,
a partir de los bloques hallados en el fondo del mar.</p>
<p>Un terremoto derribó la torre en el siglo XIV.</p></article>
<footer>Aviso de cookies · Publicidad</footer></body></html>"""
ENGLISH = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>The tides of Brest</title></head><body><nav>Home · Weather · Sign in</nav>
<article><h1>The tides of Brest</h1>
<p>In Brest the spring tides reach 8 metres, among the largest in Europe, and the
harbour was built around them in the seventeenth century.</p>
<p>Fishermen read the tide tables every morning before they leave the harbour.</p>
</article><footer>Cookie settings</footer></body></html>"""

FORMATTED = """<!doctype html><html lang="es"><head><meta charset="utf-8">
<title>Cómo instalar Sabio</title></head><body><article>
<h1>Cómo instalar <em>Sabio</em></h1>
<p>Lee <a href="/guia.html"
title="La guía">la <em>guía</em> completa</a> y ejecuta <code>sabio serve</code>.</p>
<p><strong>Importante:</strong> escucha en el puerto 11435.<br
>Ciérralo con <kbd>Ctrl</kbd>+<kbd>C</kbd>.</p>
<p>La marca <span translate="no">Sabio</span> no se traduce, <b>pero <i>esto</i> sí</b>.</p>
</article></body></html>"""
UPPER_BUT_CODE = """() => {
  const copy = document.body.cloneNode(true);
  const walker = document.createTreeWalker(copy, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode())
    if (!node.parentElement.closest("code,kbd,[translate=no]")) node.data = node.data.toUpperCase();
  return copy.innerHTML;
}"""


@pytest.fixture
def pages(tmp_path: Path) -> Iterator[str]:
    """The test pages, served from a folder by a local HTTP server: its URL."""
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "es.html").write_text(SPANISH, encoding="utf-8")
    (folder / "en.html").write_text(ENGLISH, encoding="utf-8")
    (folder / "formatted.html").write_text(FORMATTED, encoding="utf-8")
    judgment = DATA / "documents" / "pdf" / "pdfjs" / "issue11913.pdf"
    if judgment.exists():  # else the PDF's part of a test is skipped
        shutil.copy(judgment, folder / "judgment.pdf")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


class Browser:
    """Chromium with the unpacked extension, its request log, and screenshots."""

    def __init__(self, playwright: Any, profile: Path, name: str) -> None:
        self.context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            locale="es-ES",
            args=[
                "--headless=new",
                "--lang=es",  # the extension's _locales/es
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
                f"--disable-extensions-except={EXTENSION}",
                f"--load-extension={EXTENSION}",
            ],
        )
        self.context.set_default_timeout(TIMEOUT)
        self.requests: list[str] = []
        self.sent: list[tuple[str, str | None]] = []  # (url, body) of each POST
        self.context.on("request", self._log)
        self.errors: list[str] = []
        workers = self.context.service_workers
        self.worker = workers[0] if workers else self.context.wait_for_event("serviceworker")
        self.id = urlsplit(self.worker.url).hostname
        self.name, self.shots = name, 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def _log(self, request: Any) -> None:
        self.requests.append(request.url)
        if request.method == "POST":
            self.sent.append((request.url, request.post_data))

    def tab(self, url: str) -> tuple[Any, int]:
        """A tab on ``url`` and its tab id."""
        page = self.context.new_page()
        page.goto(url)
        found = self.worker.evaluate(
            "async (u) => (await chrome.tabs.query({url: u}))[0].id", url.split("#")[0]
        )
        return page, int(found)

    def panel(self, tab_id: int, server: str) -> Any:
        """The side panel's page, working on tab ``tab_id``, with Sabio at ``server``."""
        self.worker.evaluate("async (s) => chrome.storage.local.set({server: s})", server)
        panel = self.context.new_page()
        panel.on("pageerror", lambda e: self.errors.append(str(e)))
        panel.goto(f"chrome-extension://{self.id}/panel.html?tab={tab_id}")
        return panel

    def shot(self, page: Any, what: str) -> None:
        self.shots += 1
        page.screenshot(path=ARTIFACTS / f"{self.name}-{self.shots:02d}-{what}.png")

    def close(self) -> None:
        self.context.close()
        assert self.errors == [], f"script errors in the panel: {self.errors}"

    def foreign_requests(self, *allowed: str) -> list[str]:
        """Requests over the network to anything but the ``allowed`` origins (the
        browser's own pages, chrome:// and the extension's files, are no network)."""
        origins = {urlsplit(a).netloc for a in allowed}
        return [
            url
            for url in self.requests
            if urlsplit(url).scheme in ("http", "https", "ws", "wss")
            and urlsplit(url).netloc not in origins
        ]


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("no system Chromium (apt-get install chromium; scripts/test.sh does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        yield playwright


@pytest.fixture
def local(tmp_path: Path) -> Iterator[str]:
    yield from serve(tmp_path, answer_style="extractive")


def test_ask_about_a_page_alone_and_with_a_knowledge_base_then_save_and_find_it(
    chromium: Any, local: str, pages: str, tmp_path: Path
) -> None:
    expect = expectation()
    browser = Browser(chromium, tmp_path / "profile", "local")
    try:
        _english, english_tab = browser.tab(f"{pages}/en.html")
        panel = browser.panel(english_tab, local)
        expect(panel.locator("#work")).to_be_visible()
        expect(panel.locator("#status")).to_contain_text(local)
        expect(panel.locator("#save")).to_have_text("Guardar en Sabio")  # the browser's Spanish
        expect(panel.locator("#about-link")).to_be_hidden()  # no link chosen: no such choice
        browser.shot(panel, "connected")
        panel.click("#save")
        expect(panel.locator("#saved")).to_have_attribute("data-status", "indexed")
        expect(panel.locator("#saved")).to_contain_text("ya se puede buscar")
        browser.shot(panel, "saved")
        found = httpx.get(f"{local}{API}/kbs/default/search", params={"q": "spring tides"}).json()
        assert found["hits"][0]["file_url"] == f"{pages}/en.html"
        assert "8 metres" in found["hits"][0]["text"]
        assert "Cookie settings" not in " ".join(h["text"] for h in found["hits"])
        panel.close()

        spanish, spanish_tab = browser.tab(f"{pages}/es.html")
        panel = browser.panel(spanish_tab, local)
        expect(panel.locator("#kb option")).to_have_count(2)  # the page only, or "default"
        panel.fill("#question", "¿Qué guiaba el faro de Alejandría?")
        panel.press("#question", "Enter")
        expect(panel.locator("body")).to_have_attribute("data-answered", "true")
        expect(panel.locator("#answer")).to_contain_text("guiaba a los barcos")
        cited = panel.locator("#citations li[data-origin=page]")
        expect(cited.first).to_contain_text("En esta página")
        assert panel.locator("#citations li[data-origin=kb]").count() == 0
        browser.shot(panel, "asked-page")
        cited.first.locator("button.show-on-page").click()
        spanish.wait_for_function("() => String(getSelection()).includes('guiaba a los barcos')")
        assert "Portada" not in spanish.evaluate("() => String(getSelection())")  # the sentence
        assert spanish.evaluate("() => CSS.highlights.has('sabio')")
        browser.shot(spanish, "passage-shown")

        panel.evaluate("() => { delete document.body.dataset.answered }")
        panel.click("#summarize")  # Sabio's summary of a document, of the page
        expect(panel.locator("body")).to_have_attribute("data-answered", "true")
        expect(panel.locator("#answer")).to_contain_text("faro")
        assert "Aviso de cookies" not in panel.locator("#answer").inner_text()
        browser.shot(panel, "summarized")

        panel.evaluate("() => { delete document.body.dataset.answered }")
        panel.select_option("#kb", "default")
        panel.fill("#question", "When was the harbour of Brest built?")
        panel.click("#ask")
        expect(panel.locator("body")).to_have_attribute("data-answered", "true")
        from_kb = panel.locator("#citations li[data-origin=kb]")
        expect(from_kb.first).to_contain_text("«default»")
        expect(from_kb.first.locator("a")).to_have_attribute("href", f"{pages}/en.html")
        expect(panel.locator("#answer")).to_contain_text("seventeenth century")
        # the answer's quotes of the documents shown as quotes, not as Markdown's "> "
        expect(panel.locator("#answer blockquote").first).to_contain_text("seventeenth century")
        assert not panel.locator("#answer").inner_text().startswith(">")
        browser.shot(panel, "asked-page-and-kb")
        opened = [b for u, b in browser.sent if u.endswith("/api/v1/extension/pages")]
        assert len(opened) == 1, opened  # the page sent once, for both questions
        sent = json.loads(opened[0] or "{}")["text"]  # its main content: the <article>
        assert sent.startswith("El faro de Alejandría vuelve a brillar\n")
        assert sent.endswith("en el siglo XIV.")
        assert "Portada" not in sent and "Aviso de cookies" not in sent
        assert browser.foreign_requests(local, pages) == []
    finally:
        browser.close()


def test_the_page_is_translated_in_place_and_put_back_exactly(
    chromium: Any, pages: str, tmp_path: Path
) -> None:
    """``fake:upper`` translates into capitals: what replaces each block is what the
    server returned for it, and the original comes back node for node."""
    expect = expectation()
    server = serve(tmp_path, chat_model="fake:upper", answer_style="extractive")
    browser = Browser(chromium, tmp_path / "profile", "in-place")
    try:
        sabio = next(server)
        spanish, tab = browser.tab(f"{pages}/es.html")
        original = spanish.evaluate("() => document.body.innerHTML")
        shown = spanish.evaluate("() => document.body.innerText")
        panel = browser.panel(tab, sabio)
        expect(panel.locator("#translate-here")).to_have_text("Traducir en la página")
        panel.click("#translate-here")
        expect(panel.locator("body")).to_have_attribute("data-in-place", "translated")
        expect(panel.locator("#translate-here")).to_have_text("Ver el original")
        expect(panel.locator("#translate-here")).to_have_attribute("aria-pressed", "true")
        assert spanish.inner_text("h1") == "EL FARO DE ALEJANDRÍA VUELVE A BRILLAR"
        assert spanish.inner_text("article p:nth-of-type(3)") == (
            "UN TERREMOTO DERRIBÓ LA TORRE EN EL SIGLO XIV."
        )
        assert spanish.locator("article p").count() == 3  # block by block: the same blocks
        translated = spanish.evaluate("() => document.body.innerText")
        assert translated == shown.upper()  # every block replaced, nothing else
        assert spanish.title() == "El faro de Alejandría vuelve a brillar"
        browser.shot(spanish, "translated-in-place")

        panel.click("#translate-here")
        expect(panel.locator("body")).to_have_attribute("data-in-place", "original")
        expect(panel.locator("#translate-here")).to_have_text("Traducir en la página")
        assert spanish.evaluate("() => document.body.innerHTML") == original
        panel.click("#translate-here")  # again: the translation kept, not asked for twice
        expect(panel.locator("body")).to_have_attribute("data-in-place", "translated")
        assert spanish.evaluate("() => document.body.innerText") == translated
        asked = [u for u in browser.requests if u.endswith("/translate")]
        assert len(asked) == 1, asked

        formatted, tab = browser.tab(f"{pages}/formatted.html")
        original = formatted.evaluate("() => document.body.innerHTML")
        expected = formatted.evaluate(UPPER_BUT_CODE)
        formatted.evaluate("() => { window.link = document.querySelector('a'); }")
        panel = browser.panel(tab, sabio)
        panel.click("#translate-here")
        expect(panel.locator("body")).to_have_attribute("data-in-place", "translated")
        # the same elements, attributes and line break; only words in capitals; code and
        # keys and translate="no" kept as they were
        assert formatted.evaluate("() => document.body.innerHTML") == expected
        assert formatted.inner_text("article p >> nth=0") == (
            "LEE LA GUÍA COMPLETA Y EJECUTA sabio serve."
        )
        assert formatted.get_attribute("a em >> xpath=..", "href") == "/guia.html"
        browser.shot(formatted, "formatting-kept-in-place")
        panel.click("#translate-here")
        expect(panel.locator("body")).to_have_attribute("data-in-place", "original")
        assert formatted.evaluate("() => document.body.innerHTML") == original
        assert formatted.evaluate("() => document.querySelector('a') === window.link")
        assert browser.foreign_requests(sabio, pages) == []
    finally:
        browser.close()
        server.close()


def test_a_translation_that_lost_the_formatting_is_shown_as_plain_words_and_said(
    chromium: Any, pages: str, tmp_path: Path
) -> None:
    """``fake:untagged`` drops the tags: the blocks with links or bold are plain words
    (asked again alone first), code and line breaks are still there, the panel says how
    many, and the original comes back."""
    expect = expectation()
    server = serve(tmp_path, chat_model="fake:untagged", answer_style="extractive")
    browser = Browser(chromium, tmp_path / "profile", "in-place-lost")
    try:
        sabio = next(server)
        formatted, tab = browser.tab(f"{pages}/formatted.html")
        original = formatted.evaluate("() => document.body.innerHTML")
        panel = browser.panel(tab, sabio)
        panel.click("#translate-here")
        expect(panel.locator("body")).to_have_attribute("data-in-place", "translated")
        expect(panel.locator("#progress")).to_have_text(
            "4 bloques se muestran sin su formato (enlaces, negritas): la traducción lo perdió."
        )
        assert formatted.locator("article a, article em, article strong, article b").count() == 0
        assert (
            formatted.inner_text("article p >> nth=0")
            == "LEE LA GUÍA COMPLETA Y EJECUTA . sabio serve"
        )
        assert formatted.locator("article code, article br").count() == 2
        panel.click("#translate-here")
        expect(panel.locator("body")).to_have_attribute("data-in-place", "original")
        expect(panel.locator("#progress")).to_have_text("")
        assert formatted.evaluate("() => document.body.innerHTML") == original
    finally:
        browser.close()
        server.close()


def test_a_selection_is_saved_and_a_pdf_asked_about_and_saved(
    chromium: Any, local: str, pages: str, tmp_path: Path
) -> None:
    expect = expectation()
    browser = Browser(chromium, tmp_path / "profile", "save")
    try:
        spanish, tab = browser.tab(f"{pages}/es.html")
        spanish.evaluate(
            """() => { const p = document.querySelectorAll('article p')[1];
            getSelection().selectAllChildren(p); }"""
        )
        panel = browser.panel(tab, local)
        expect(panel.locator("#work")).to_be_visible()
        panel.check("input[name=about][value=selection]")
        panel.click("#save")
        expect(panel.locator("#saved")).to_have_attribute("data-status", "indexed")
        hits = httpx.get(f"{local}{API}/kbs/default/search", params={"q": "arqueólogos 3D"})
        first = hits.json()["hits"][0]
        assert first["text"].startswith("Un equipo de arqueólogos")
        assert "#selection-" in first["file_url"]
        if not (tmp_path / "site" / "judgment.pdf").exists():
            pytest.skip("no PDF to save (../shared/data is absent)")
        _pdf, pdf_tab = browser.tab(f"{pages}/judgment.pdf")
        panel = browser.panel(pdf_tab, local)
        expect(panel.locator("#work")).to_be_visible()
        panel.fill("#question", "What did the Supreme Court decide?")
        panel.click("#ask")
        expect(panel.locator("body")).to_have_attribute("data-answered", "true")
        on_page = panel.locator("#citations li[data-origin=page]").first
        expect(on_page).to_contain_text(re.compile(r"En esta página, p\. \d+"))
        browser.shot(panel, "pdf-asked")
        panel.click("#save")
        expect(panel.locator("#saved")).to_have_attribute("data-status", "indexed")
        browser.shot(panel, "pdf-saved")
        documents = httpx.get(f"{local}{API}/kbs/default/documents").json()
        assert {d["name"] for d in documents} >= {"judgment.pdf"}
        assert browser.foreign_requests(local, pages) == []
    finally:
        browser.close()


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[str]:
    yield from serve(tmp_path, auth=True, answer_style="extractive")


def test_pairing_with_accounts_and_revoking_the_token(
    chromium: Any, secured: str, pages: str, tmp_path: Path
) -> None:
    expect = expectation()
    web = httpx.Client(base_url=secured)
    made = web.post(f"{API}/auth/setup", json={"name": "ana", "password": "correct horse"})
    web.headers["X-CSRF-Token"] = made.json()["csrf_token"]
    browser = Browser(chromium, tmp_path / "profile", "pairing")
    try:
        _spanish, tab = browser.tab(f"{pages}/es.html")
        panel = browser.panel(tab, secured)
        expect(panel.locator("#pairing")).to_be_visible()
        browser.shot(panel, "pairing")
        panel.fill("#code", "AAAA-BBBB")
        panel.click("#pair-form button")
        expect(panel.locator("#pair-error")).to_contain_text("incorrecto o caducado")
        app = browser.context.new_page()  # the web app, signed in as ana, shows a code
        session = web.cookies.get("sabio_session")
        browser.context.add_cookies([{"name": "sabio_session", "value": session, "url": secured}])
        app.goto(f"{secured}/#/settings")
        app.click("button[data-pair]")
        code = app.locator(".pairing-code").inner_text()
        assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}", code), code
        browser.shot(app, "web-app-code")
        panel.fill("#code", code)
        panel.click("#pair-form button")
        expect(panel.locator("#work")).to_be_visible()
        expect(panel.locator("#status")).to_contain_text("ana")
        browser.shot(panel, "paired")
        token = browser.worker.evaluate(
            "async () => (await chrome.storage.local.get('token')).token"
        )
        assert token.startswith("sabio_")
        panel.fill("#question", "¿Qué guiaba el faro de Alejandría?")
        panel.click("#ask")
        expect(panel.locator("#answer")).to_contain_text("guiaba a los barcos")
        listed = web.get(f"{API}/auth/tokens").json()
        assert [t["name"] for t in listed] == ["browser extension (Chromium)"]
        assert web.delete(f"{API}/auth/tokens/{listed[0]['id']}").status_code == 204
        panel.reload()
        expect(panel.locator("#pairing")).to_be_visible()  # revoked: pair again
        assert [u for u in browser.requests if token in u] == []  # in a header to Sabio only
        assert browser.foreign_requests(secured, pages) == []
    finally:
        browser.close()
        web.close()


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_the_extension_finds_sabio_on_this_computer_by_itself(
    chromium: Any, pages: str, tmp_path: Path
) -> None:
    if not _port_is_free(11435):
        pytest.skip("something already listens on 127.0.0.1:11435")
    expect = expectation()
    settings = load_settings(
        {"home": tmp_path / "home", "embedding_model": "fake:words", "chat_model": "fake:cite"},
        environ={},
    )
    with running_server(create_app(settings), port=11435) as url:
        browser = Browser(chromium, tmp_path / "profile", "finds")
        try:
            _page, tab = browser.tab(f"{pages}/en.html")
            panel = browser.context.new_page()
            panel.goto(f"chrome-extension://{browser.id}/panel.html?tab={tab}")
            expect(panel.locator("#work")).to_be_visible()
            expect(panel.locator("#status")).to_contain_text("http://127.0.0.1:11435")
            browser.shot(panel, "found")
            assert browser.foreign_requests(url, pages) == []
        finally:
            browser.close()


def test_every_text_of_the_extension_is_in_spanish_and_in_english() -> None:
    spanish, english = (
        json.loads((EXTENSION / "_locales" / lang / "messages.json").read_text(encoding="utf-8"))
        for lang in ("es", "en")
    )
    assert set(spanish) == set(english)
    code = "".join(p.read_text(encoding="utf-8") for p in EXTENSION.glob("*.js"))
    page = (EXTENSION / "panel.html").read_text(encoding="utf-8")
    manifest = (EXTENSION / "manifest.json").read_text(encoding="utf-8")
    used = set(re.findall(r'data-i18n(?:-placeholder)?="(\w+)"', page))
    used |= set(re.findall(r'msg\("(\w+)"', code)) | set(re.findall(r"title: \"(menu\w+)\"", code))
    used |= set(re.findall(r"__MSG_(\w+)__", manifest))
    assert used and used - set(english) == set(), "texts without a message"
    server_keys = {k for k in english if k.startswith("error_")}
    assert server_keys and all(spanish[k]["message"] != english[k]["message"] for k in server_keys)


def test_the_manifest_passes_firefox_lint() -> None:
    """Mozilla's web-ext (npm), when it is installed: no errors, and only the warnings a
    manifest for both Chromium and Firefox must have (Chromium's sidePanel permission and
    service worker, which Firefox ignores for its sidebar_action and background scripts)."""
    web_ext = shutil.which("web-ext") or os.environ.get("WEB_EXT_BIN")
    if not web_ext:
        pytest.skip("web-ext is not installed (npm install web-ext; or set WEB_EXT_BIN)")
    done = subprocess.run(
        [web_ext, "lint", "--source-dir", str(EXTENSION), "--output", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(done.stdout[done.stdout.index("{") :])
    assert report["errors"] == []
    codes = {w["code"] for w in report["warnings"]}
    assert codes <= {"MANIFEST_PERMISSIONS", "BACKGROUND_SERVICE_WORKER_IGNORED"}, codes


AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
RUN_AXE = """async () => (await axe.run(document, { resultTypes: ["violations"] }))
    .violations.filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`)"""


def test_the_panel_passes_axe_and_works_from_the_keyboard(
    chromium: Any, local: str, pages: str, tmp_path: Path
) -> None:
    """axe-core (tests/vendor, as for the web app) on the panel with an answer and its
    sources: no serious or critical violation; Tab reaches the question, Enter asks."""
    expect = expectation()
    browser = Browser(chromium, tmp_path / "profile", "axe")
    try:
        _spanish, tab = browser.tab(f"{pages}/es.html")
        panel = browser.panel(tab, local)
        expect(panel.locator("#work")).to_be_visible()
        panel.focus("#kb")
        panel.keyboard.press("Tab")
        assert panel.evaluate("() => document.activeElement.id") == "question"
        panel.keyboard.type("¿Qué guiaba el faro de Alejandría?")
        panel.keyboard.press("Enter")
        expect(panel.locator("#citations li")).not_to_have_count(0)
        panel.evaluate(AXE.read_text(encoding="utf-8"))
        assert panel.evaluate("() => typeof axe.run") == "function"
        assert panel.evaluate(RUN_AXE) == []
        browser.shot(panel, "answered-for-axe")
    finally:
        browser.close()


def test_a_context_menu_entry_is_carried_out_when_the_panel_opens(
    chromium: Any, local: str, pages: str, tmp_path: Path
) -> None:
    """What background.js leaves in session storage for a menu entry ("Save this page to
    Sabio") is done by the panel as it opens."""
    expect = expectation()
    browser = Browser(chromium, tmp_path / "profile", "menu")
    try:
        _english, tab = browser.tab(f"{pages}/en.html")
        browser.worker.evaluate(
            "async (t) => chrome.storage.session.set({pending: {action: 'save-page', tabId: t}})",
            tab,
        )
        panel = browser.panel(tab, local)
        expect(panel.locator("#saved")).to_have_attribute("data-status", "indexed")
        left = "async () => (await chrome.storage.session.get('pending')).pending ?? null"
        assert browser.worker.evaluate(left) is None  # done once
        found = httpx.get(f"{local}{API}/kbs/default/search", params={"q": "tide tables"})
        assert found.json()["hits"][0]["file_url"] == f"{pages}/en.html"
    finally:
        browser.close()


def test_a_linked_page_is_read_by_the_extension_then_asked_about_and_saved(
    chromium: Any, local: str, pages: str, tmp_path: Path
) -> None:
    """The link's menu entries ("Ask Sabio about the linked page", "Save the linked page
    to Sabio"): the extension reads the linked page and sends it; Sabio fetches nothing."""
    expect = expectation()
    browser = Browser(chromium, tmp_path / "profile", "link")
    try:
        spanish, tab = browser.tab(f"{pages}/es.html")
        linked = f"{pages}/en.html"
        pending = (
            "async ([t, l]) => chrome.storage.session.set("
            "{pending: {action: 'ask-link', tabId: t, link: l}})"
        )
        browser.worker.evaluate(pending, [tab, linked])
        panel = browser.panel(tab, local)
        expect(panel.locator("#about-link")).to_be_visible()
        expect(panel.locator("#about-link")).to_contain_text(
            "la página enlazada: The tides of Brest"
        )
        expect(panel.locator("input[name=about][value=link]")).to_be_checked()
        panel.fill("#question", "How high are the spring tides in Brest?")
        panel.press("#question", "Enter")
        expect(panel.locator("body")).to_have_attribute("data-answered", "true")
        expect(panel.locator("#answer")).to_contain_text("spring tides")
        expect(panel.locator("#citations li[data-origin=page]").first).to_be_visible()
        assert "faro" not in panel.locator("#answer").inner_text()  # not the tab's page
        browser.shot(panel, "asked-link")
        panel.click("#save")
        expect(panel.locator("#saved")).to_have_attribute("data-status", "indexed")
        found = httpx.get(f"{local}{API}/kbs/default/search", params={"q": "tide tables"})
        assert found.json()["hits"][0]["file_url"] == linked
        assert spanish.url == f"{pages}/es.html"  # the tab stayed where it was
        opens = ("/extension/pages", "/extension/pages/file")
        sent = [u for u in browser.requests if u.split("?")[0].endswith(opens)]
        assert len(sent) == 1 and "/pages/file?" in sent[0], sent  # the link's HTML, once
        assert browser.foreign_requests(local, pages) == []
    finally:
        browser.close()

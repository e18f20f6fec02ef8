"""The Sources tab of the web app in a real browser: Playwright driving the system's
Chromium against a real ``sabio`` server on loopback whose worker syncs a real folder
on disk (watched through the filesystem's own events) and receives a real webhook.

Screenshots go to ``test-artifacts/web/`` (look at them)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from test_web import (
    DESKTOP,
    PHONE,
    STATIC,
    Page,
    browser,  # noqa: F401  (the fixture)
    expectation,
    local,  # noqa: F401  (the fixture)
)

KINDS = ("folder", "imap", "url", "feed", "sitemap", "webhook")
ITEM_STATUSES = ("indexed", "unchanged", "skipped", "needs_ocr", "failed", "encrypted", "removed")


def _docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "alpacas.txt").write_text("Alpacas graze in the Andes.", encoding="utf-8")
    (folder / "beavers.txt").write_text("Beavers build dams on rivers.", encoding="utf-8")
    (folder / "plan.dwg").write_bytes(b"AC1032")
    return folder


def _sources_tab(page: Any, base: str, kb: str, create: str, tab: str) -> None:
    """A new knowledge base ``kb``, then its Sources tab."""
    page.goto(base + "#/kbs")
    page.fill("input[name=kb-name]", kb)
    page.get_by_role("button", name=create).click()
    page.get_by_role("link", name=tab, exact=True).click()


def test_folder_and_webhook_sources_are_added_synced_and_removed(
    browser: Any,  # noqa: F811
    local: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    folder = _docs(tmp_path)
    tab = Page(browser, local, "sources-en", viewport=DESKTOP, locale="en-US")
    page = tab.page
    expect = expectation()
    _sources_tab(page, local, "notes", "Create", "Sources")
    expect(page.get_by_text("This knowledge base has no sources yet.")).to_be_visible()

    # a folder that does not exist: the server's message, next to the form
    form = page.locator(".kb-source-form")
    expect(form.get_by_label("Kind of source")).to_have_value("folder")
    form.get_by_label("Folder on the server").fill(str(tmp_path / "missing"))
    form.get_by_role("button", name="Add source").click()
    expect(form.locator(".form-error")).to_contain_text("does not exist")
    tab.shot("missing-folder")

    # the real folder: two texts indexed, the PNG skipped with its reason
    form.get_by_label("Folder on the server").fill(str(folder))
    form.get_by_role("button", name="Add source").click()
    expect(form.locator(".form-error")).to_be_empty()
    card = page.locator(".kb-source[data-kind=folder]")
    expect(card.locator(".kb-source-counts")).to_have_text(re.compile(r"2 indexed\s*1 skipped"))
    expect(card.locator(".kb-source-location")).to_have_text(str(folder))
    expect(card).to_contain_text("synced")
    card.locator("summary").click()
    items = card.locator(".kb-source-item-list li")
    expect(items).to_have_count(3)
    expect(items.first).to_have_attribute("data-status", "skipped")  # what needs a look first
    expect(items.first).to_contain_text("plan.dwg")
    expect(items.first).to_contain_text("unsupported type (.dwg)")  # the server's reason
    expect(items.first).to_contain_text("Unsupported file type")  # what it means
    expect(page.locator(".kb-card")).to_contain_text("3 documents")  # the drawing: listed, skipped
    tab.shot("folder")

    # a file saved into the folder shows up after the automatic sync, without a click
    (folder / "condors.txt").write_text("Condors soar over the Andes.", encoding="utf-8")
    expect(card.locator(".kb-source-counts")).to_have_text(re.compile(r"3 indexed\s*1 skipped"))
    expect(items).to_have_count(4)
    expect(card.locator(".kb-source-item-list")).to_contain_text("condors.txt")

    # "Sync now": a job runs and its closing message is shown
    card.get_by_role("button", name="Sync now").click()
    expect(card.locator(".kb-source-job")).to_contain_text("4 unchanged")
    expect(card.get_by_role("button", name="Sync now")).to_be_enabled()
    expect(card.locator(".kb-source-jobs li").first).to_contain_text("4 unchanged")

    # a webhook: its token is shown this once, and it works
    form.get_by_label("Kind of source").select_option("webhook")
    expect(form.get_by_label("Folder on the server")).to_have_count(0)
    expect(
        form.get_by_label("Allow addresses on this computer or the local network")
    ).to_be_visible()
    form.get_by_label("Name (optional)").fill("n8n")
    form.get_by_role("button", name="Add source").click()
    shown = page.locator(".kb-source-token")
    expect(shown).to_contain_text("this is the only time it is shown")
    token = shown.locator("code.token").first.inner_text()
    assert token.startswith("sabio_hook_")
    hook = page.locator(".kb-source[data-kind=webhook]")
    expect(hook).to_contain_text("n8n")
    address = shown.locator("code.token").nth(1).inner_text()
    assert address == hook.locator(".kb-source-hook code").inner_text()
    expect(hook.get_by_role("button", name="Sync now")).to_have_count(0)  # nothing to fetch
    expect(page.locator(".toast")).to_have_count(0)  # out of the picture
    shown.scroll_into_view_if_needed()
    tab.shot("webhook-token")
    posted = page.request.post(
        address,
        data={"text": "Vicuñas live high in the Andes.", "title": "vicunas"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert posted.ok, posted.text()
    expect(hook.locator(".kb-source-counts")).to_have_text("1 indexed")
    shown.get_by_role("button", name="I have copied it").click()
    expect(shown).to_be_hidden()
    assert token not in page.content()
    page.reload()
    expect(hook.locator(".kb-source-counts")).to_have_text("1 indexed")
    assert token not in page.content()

    # removing the folder source, and the documents it brought
    card.get_by_role("button", name="Remove", exact=True).click()
    confirm = card.locator(".kb-source-confirm")
    expect(confirm.get_by_role("checkbox")).to_be_checked()
    tab.shot("remove")
    confirm.get_by_role("button", name="Remove source").click()
    expect(card).to_have_count(0)
    expect(page.locator(".kb-source")).to_have_count(1)
    expect(page.locator(".kb-card")).to_contain_text("1 document · 1 passage")

    # leaving the view stops the polling
    page.get_by_role("link", name="Documents", exact=True).click()
    expect(page.locator(".dropzone")).to_be_visible()
    with page.expect_request(re.compile(r"/api/v1/sources\?"), timeout=12_000) as request:
        page.get_by_role("link", name="Sources", exact=True).click()
    assert request.value
    page.get_by_role("link", name="Documents", exact=True).click()
    calls: list[str] = []
    page.on("request", lambda r: calls.append(r.url) if "/api/v1/sources" in r.url else None)
    page.wait_for_timeout(11_000)  # longer than the idle poll: nothing may come
    assert calls == []
    tab.close()


def test_a_phone_in_spanish_shows_a_folder_source_without_sideways_scrolling(
    browser: Any,  # noqa: F811
    local: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    folder = _docs(tmp_path)
    tab = Page(browser, local, "sources-phone-es", viewport=PHONE, locale="es-ES", is_mobile=True)
    page = tab.page
    expect = expectation()
    _sources_tab(page, local, "notas", "Crear", "Fuentes")
    form = page.locator(".kb-source-form")
    form.get_by_label("Tipo de fuente").select_option("imap")
    expect(form.get_by_label("Servidor IMAP")).to_be_visible()
    expect(form.get_by_label("Contraseña")).to_have_attribute("type", "password")
    tab.shot("form-imap")
    form.get_by_label("Tipo de fuente").select_option("folder")
    form.get_by_label("Carpeta en el servidor").fill(str(folder))
    form.get_by_role("button", name="Añadir fuente").click()
    card = page.locator(".kb-source")
    expect(card.locator(".kb-source-counts")).to_have_text(re.compile(r"2 indexados\s*1 omitido"))
    expect(card).to_contain_text(re.compile(r"sincronizada (ahora|hace)"))
    card.locator("summary").click()
    skipped = card.locator(".kb-source-item-list li").first
    expect(skipped).to_contain_text("omitido")
    expect(skipped).to_contain_text("Tipo de archivo no admitido")  # in Spanish
    expect(skipped).to_contain_text("unsupported type (.dwg)")  # and the server's words
    expect(page.locator(".toast")).to_have_count(0)  # out of the picture
    card.scroll_into_view_if_needed()
    tab.shot("folder")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], (
        "the sources tab scrolls sideways on a phone"
    )
    card.get_by_role("button", name="Quitar", exact=True).click()
    confirm = card.locator(".kb-source-confirm")
    expect(confirm).to_contain_text("Quitar también de la base")
    confirm.scroll_into_view_if_needed()
    tab.shot("remove")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    tab.close()


def test_every_text_of_the_sources_tab_is_in_spanish_and_in_english() -> None:
    source = (STATIC / "i18n.js").read_text(encoding="utf-8")
    spanish, english = source.split("\n  en: {\n")
    key = re.compile(r'^    "?([\w.]+)"?: ', re.MULTILINE)
    es, en = set(key.findall(spanish)), set(key.findall(english))
    assert es == en, f"only in one language: {sorted(es ^ en)}"
    used: set[str] = set()
    for module in ("app.js", "views/sources.js", "ui.js"):
        code = (STATIC / module).read_text(encoding="utf-8")
        used |= set(re.findall(r'\bt\("([\w.]+)"', code))
    assert used - en == set(), "texts the page uses but neither language has"
    # the texts named at run time: per kind of source, per status of an item
    for kind in KINDS:
        for prefix in ("kind", "kindHelp", "location", "locationHelp", "placeholder"):
            assert f"{prefix}.{kind}" in en
    for status in ITEM_STATUSES:
        assert f"status.{status}" in en
    for status in ("skipped", "needs_ocr", "failed", "encrypted", "removed"):
        assert {f"count.{status}", f"sourceHelp.{status}"} <= en

"""The Security tab of a knowledge base in the real web app (Playwright driving the
system's Chromium against a real ``sabio`` server on loopback): findings by document,
masked, filtered by kind, a false positive dismissed for good, in English and Spanish.

Screenshots go to ``test-artifacts/web/`` (look at them)."""

from __future__ import annotations

from collections.abc import Iterator
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

PASSWORD = "Tr0ub4dor&3x-9"
IBAN = "ES9121000418450200051332"


@pytest.fixture
def reviewing(tmp_path: Path) -> Iterator[str]:
    yield from serve(tmp_path)


def _files(tmp_path: Path) -> list[str]:
    vpn = tmp_path / "vpn.txt"
    vpn.write_text(f"Acceso VPN\nusuario: ana\npassword: {PASSWORD}\n", encoding="utf-8")
    pay = tmp_path / "nominas.txt"
    pay.write_text(f"Nóminas de marzo\nIBAN {IBAN}\nDNI 12345678Z\n", encoding="utf-8")
    return [str(vpn), str(pay)]


def test_the_security_tab_lists_masked_findings_filters_and_dismisses_for_good(
    browser: Any,  # noqa: F811
    reviewing: str,
    tmp_path: Path,
) -> None:
    expect = expectation()
    tab = Page(browser, reviewing, "security", viewport=DESKTOP, locale="en-US")
    page = tab.page
    page.goto(reviewing + "#/kbs")
    page.fill("input[name=kb-name]", "caja")
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".dropzone")).to_be_visible()
    page.set_input_files("input[type=file]", _files(tmp_path))
    queue = page.locator(".upload-queue li")
    expect(queue.nth(0)).to_have_attribute("data-status", "indexed")
    expect(queue.nth(1)).to_have_attribute("data-status", "indexed")
    page.get_by_role("link", name="Security").click()
    documents = page.locator(".review-document")
    expect(documents).to_have_count(2)
    vpn = documents.filter(has_text="vpn.txt")
    expect(vpn.locator(".finding[data-kind=password] .evidence")).to_have_text("Tr0****")
    expect(vpn.locator(".finding[data-kind=password]")).to_contain_text("Change it")
    assert PASSWORD not in page.content() and IBAN not in page.content()
    tab.shot("findings")
    page.get_by_role("button", name="Summarise").click()
    told = page.locator(".review-summary")
    expect(told).to_contain_text("3 findings in 2 of 2 documents: 1 high, 2 medium, 0 low.")
    expect(told).to_contain_text("the model's summary mentioned something that is not a finding")
    assert PASSWORD not in page.content()
    tab.shot("summary")
    page.select_option("select[name=finding-kind]", "iban")
    expect(page.locator(".finding")).to_have_count(1)
    expect(page.locator(".finding")).to_contain_text("IBAN")
    page.locator(".finding[data-kind=iban]").get_by_role("button", name="Dismiss").click()
    expect(page.locator(".review-documents")).to_contain_text("No finding of that kind.")
    page.reload()  # stays dismissed
    expect(page.locator(".review-document")).to_have_count(2)
    expect(page.locator(".finding[data-kind=iban]")).to_have_count(0)
    page.check("input[name=show-dismissed]")
    expect(page.locator(".finding[data-dismissed=yes]")).to_have_count(1)
    tab.shot("dismissed")
    url = page.url
    tab.close()

    tab = Page(browser, reviewing, "security-es", viewport=DESKTOP, locale="es-ES")
    page = tab.page
    page.goto(url)
    expect(page.get_by_role("link", name="Seguridad")).to_have_attribute("aria-current", "page")
    password = page.locator(".finding[data-kind=password]")
    expect(password).to_contain_text("Contraseña")
    expect(password).to_contain_text("Cámbiala")
    expect(page.locator(".kb-security")).to_contain_text("1 descartados")
    page.check("input[name=show-dismissed]")
    restore = page.locator(".finding[data-kind=iban]").get_by_role("button", name="Recuperar")
    restore.click()
    expect(page.locator(".finding[data-kind=iban]")).not_to_have_attribute("data-dismissed", "yes")
    tab.shot("spanish")
    tab.close()


def test_a_folder_source_that_reviews_arrivals_raises_an_alert_in_the_security_tab(
    browser: Any,  # noqa: F811
    reviewing: str,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "compartido"
    folder.mkdir()
    (folder / "vpn.txt").write_text(f"VPN\npassword: {PASSWORD}\n", encoding="utf-8")
    expect = expectation()
    tab = Page(browser, reviewing, "security-alert", viewport=DESKTOP, locale="en-US")
    page = tab.page
    page.goto(reviewing + "#/kbs")
    page.fill("input[name=kb-name]", "compartido")
    page.get_by_role("button", name="Create").click()
    page.get_by_role("link", name="Sources", exact=True).click()
    form = page.locator(".kb-source-form")
    form.get_by_label("Folder on the server").fill(str(folder))
    form.get_by_label("Review the security of what arrives").check()
    form.get_by_role("button", name="Add source").click()
    expect(page.locator(".tab .badge.alerts")).to_have_text("1")  # the live counts tell it
    page.get_by_role("link", name="Security").click()
    alert = page.locator(".review-alert")
    expect(alert).to_contain_text("New: 1 document that just arrived has findings")
    expect(alert).to_contain_text("vpn.txt: 1 \u00d7 Password")
    tab.shot("alert")
    alert.get_by_role("button", name="Mark as seen").click()
    expect(page.locator(".review-alert")).to_have_count(0)
    expect(page.locator(".tab .badge.alerts")).to_be_hidden()
    tab.close()


def test_a_finding_opens_the_source_panel_highlighted_and_a_secret_is_dropped(
    browser: Any,  # noqa: F811
    reviewing: str,
    tmp_path: Path,
) -> None:
    from sabio.review.findings import mask_in_place

    expect = expectation()
    tab = Page(browser, reviewing, "security-evidence", viewport=DESKTOP, locale="en-US")
    page = tab.page
    page.goto(reviewing + "#/kbs")
    page.fill("input[name=kb-name]", "llaves")
    page.get_by_role("button", name="Create").click()
    page.set_input_files("input[type=file]", _files(tmp_path))
    expect(page.locator(".upload-queue li").nth(1)).to_have_attribute("data-status", "indexed")
    page.get_by_role("link", name="Security").click()
    password = page.locator(".finding[data-kind=password]")
    password.get_by_role("button", name="Show in the document").click()
    panel = page.locator("#source")
    expect(panel).to_be_visible()
    expect(panel.locator("h2")).to_have_text("vpn.txt")
    expect(panel.locator(".source-where")).to_contain_text("line 3")
    expect(panel.locator("mark")).to_have_text(mask_in_place(PASSWORD))
    expect(panel.locator(".passage")).to_contain_text("usuario: ana")
    expect(panel).to_contain_text("The value is shown masked.")
    assert PASSWORD not in page.content()
    tab.shot("evidence")
    iban = page.locator(".finding[data-kind=iban]")
    iban.get_by_role("button", name="Show in the document").click()
    expect(panel.locator("h2")).to_have_text("nominas.txt")
    expect(panel.locator("mark")).to_have_text(mask_in_place(IBAN))
    expect(panel.locator(".passage")).to_contain_text(f"DNI {mask_in_place('12345678Z')}")
    expect(page.locator(".finding-head button.active")).to_have_count(1)
    panel.get_by_role("button", name="Close").click()
    expect(panel).to_be_hidden()

    password.get_by_role("button", name="Drop from the index").click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("The original file on disk is not changed")
    tab.shot("drop-confirm")
    dialog.get_by_role("button", name="Drop from the index").click()
    expect(page.locator(".kb-security > p[role=status]")).to_contain_text(
        "Secret dropped from the index in 1 document."
    )
    expect(page.locator(".finding[data-kind=password]")).to_have_count(0)
    expect(page.locator(".finding[data-kind=iban]")).to_have_count(1)
    tab.shot("dropped")
    tab.close()


def test_uploads_into_a_knowledge_base_whose_review_is_on_raise_an_alert(
    browser: Any,  # noqa: F811
    reviewing: str,
    tmp_path: Path,
) -> None:
    expect = expectation()
    tab = Page(browser, reviewing, "security-uploads", viewport=DESKTOP, locale="es-ES")
    page = tab.page
    page.goto(reviewing + "#/kbs")
    page.fill("input[name=kb-name]", "subidas")
    page.get_by_role("button", name="Crear").click()
    page.get_by_role("link", name="Seguridad").click()
    box = page.get_by_label("Revisar lo que se sube, al llegar")
    expect(box).not_to_be_checked()
    box.check()
    expect(box).to_be_checked()
    page.reload()  # kept
    expect(page.get_by_label("Revisar lo que se sube, al llegar")).to_be_checked()
    page.get_by_role("link", name="Documentos", exact=True).click()
    page.set_input_files("input[type=file]", _files(tmp_path))
    expect(page.locator(".upload-queue li").nth(1)).to_have_attribute("data-status", "indexed")
    expect(page.locator(".tab .badge.alerts")).to_have_text("2")  # the live counts tell it
    page.get_by_role("link", name="Seguridad").click()
    alert = page.locator(".review-alert")
    expect(alert).to_contain_text("vpn.txt")
    expect(alert).to_contain_text("nominas.txt")
    tab.shot("alert")
    tab.close()

"""Accessibility: axe-core (tests/vendor/axe.min.js, MPL-2.0, vendored by
scripts/vendor-web.sh; never served by Sabio) scans every screen of the web app in a real
browser, in Spanish and English, light and dark, desktop and phone: the first-run setup,
sign-in, a new chat, a chat with its answer and the source panel, a dialog, the keyboard
shortcuts, the knowledge bases with their documents (refused and encrypted uploads), a
source, the members, the settings, and on a phone the open menu. No serious or critical
violation may remain; the others are listed in ``test-artifacts/web/axe-*.txt``.

Each combination is one browser context walking every screen (one page load each), so
the eight of them cost a few seconds each."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import need_data
from test_web import (
    ARTIFACTS,
    DESKTOP,
    PHONE,
    Page,
    browser,  # noqa: F401  (the fixture)
    expectation,
    serve,
)

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
PASSWORD = "correct horse battery"
FARO = b"# El faro\n\nEl faro de Alejandria guiaba a los barcos.\n\n```py\nprint(1)\n```\n"
RUN_AXE = """async () => {
    const result = await axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help,
        targets: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
    }));
}"""
COMBINATIONS = list(itertools.product(("es", "en"), ("light", "dark"), ("desktop", "phone")))
TEXTS = {
    "es": {
        "kbs": "Bases de conocimiento",
        "settings": "Ajustes",
        "menu": "Menú",
        "rename": "Renombrar",
        "only": "Solo estos documentos",
    },
    "en": {
        "kbs": "Knowledge bases",
        "settings": "Settings",
        "menu": "Menu",
        "rename": "Rename",
        "only": "Only these documents",
    },
}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server with accounts on, an admin "ana", a member "bea" who may read, a knowledge
    base with an indexed, a refused and an encrypted file, and a webhook source."""
    for base in serve(tmp_path_factory.mktemp("axe"), auth=True):
        with httpx.Client(base_url=f"{base}/api/v1") as api:
            made = api.post("/auth/setup", json={"name": "ana", "password": PASSWORD})
            assert made.status_code == 201, made.text
            api.headers["X-CSRF-Token"] = made.json()["csrf_token"]
            assert api.post("/kbs", json={"name": "Informes año 2024"}).status_code == 201
            protected = need_data("documents", "docx", "bug53475-password-is-pass.docx")
            files = [
                ("faro.md", FARO),
                ("datos.zip", b"PK\x03\x04zip"),
                (protected.name, protected.read_bytes()),
            ]
            for name, body in files:
                sent = api.post("/kbs/informes-ano-2024/documents", files={"files": (name, body)})
                assert sent.status_code == 200, sent.text
            hook = {"kind": "webhook", "location": "n8n", "kb": "informes-ano-2024"}
            assert api.post("/sources", json=hook).status_code == 201
            bea = api.post("/auth/users", json={"name": "bea", "password": PASSWORD}).json()
            given = api.put(f"/kbs/informes-ano-2024/members/{bea['id']}", json={"access": "read"})
            assert given.status_code == 200, given.text
        yield base


def _scan(tab: Page, screen: str, found: dict[str, list[dict[str, Any]]]) -> None:
    page = tab.page
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    found[screen] = page.evaluate(RUN_AXE)


def _sign_in(page: Any, base: str) -> None:
    expect = expectation()
    page.goto(base)
    page.fill("input[name=name]", "ana")
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").click()
    expect(page.locator("#app")).to_be_visible()


@pytest.mark.parametrize(("lang", "theme", "device"), COMBINATIONS)
def test_no_serious_or_critical_accessibility_violation_on_any_screen(
    browser: Any,  # noqa: F811
    data: str,
    tmp_path: Path,
    lang: str,
    theme: str,
    device: str,
) -> None:
    words = TEXTS[lang]
    found: dict[str, list[dict[str, Any]]] = {}
    context: dict[str, Any] = {
        "viewport": DESKTOP if device == "desktop" else PHONE,
        "locale": "es-ES" if lang == "es" else "en-US",
        "color_scheme": theme,
        "bypass_csp": True,  # to inject axe; Sabio's own scripts are 'self' anyway
    }
    if device == "phone":
        context |= {"is_mobile": True, "has_touch": True}
    expect = expectation()

    # the first-run setup, on a server of its own (it shows until an admin exists)
    for fresh in serve(tmp_path, auth=True):
        tab = Page(browser, fresh, f"axe-{lang}-{theme}-{device}-setup", **context)
        tab.page.goto(fresh)
        expect(tab.page.locator("input[name=confirm]")).to_be_visible()
        _scan(tab, "setup", found)
        # the scan can fail: a button without a name is found
        tab.page.evaluate("document.body.append(document.createElement('button'))")
        probe: dict[str, list[dict[str, Any]]] = {}
        _scan(tab, "probe", probe)
        assert [v["id"] for v in probe["probe"]] == ["button-name"]
        tab.close()

    tab = Page(browser, data, f"axe-{lang}-{theme}-{device}", **context)
    page = tab.page
    page.goto(data)
    expect(page.locator("input[name=password]")).to_be_visible()
    _scan(tab, "sign-in", found)
    _sign_in(page, data)
    expect(page.locator("#question")).to_be_visible()
    _scan(tab, "new chat", found)

    page.fill("#question", "¿Qué guiaba el faro de Alejandria?")
    page.keyboard.press("Enter")
    answer = page.locator(".message.assistant").last
    expect(answer).not_to_have_class(re.compile("streaming"))
    expect(answer.locator(".message-actions button").first).to_be_enabled()
    _scan(tab, "chat", found)
    page.get_by_role("button", name=words["only"]).click()
    page.get_by_role("group", name=words["only"]).get_by_role("checkbox").first.check()
    expect(page.locator(".only-chosen")).to_be_visible()
    _scan(tab, "only these documents", found)
    page.keyboard.press("Escape")
    answer.locator("button.cite").first.click()
    expect(page.locator("#source mark")).to_be_visible()
    _scan(tab, "source panel", found)
    page.keyboard.press("Escape")
    page.get_by_role("button", name=words["rename"], exact=True).click()
    expect(page.locator("dialog[open]")).to_be_visible()
    _scan(tab, "rename dialog", found)
    page.keyboard.press("Escape")
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("Shift+?")
    expect(page.locator("dialog[open]")).to_be_visible()
    _scan(tab, "shortcuts", found)
    page.keyboard.press("Escape")

    page.goto(data + "#/kbs/informes-ano-2024")
    expect(page.locator(".documents tbody tr")).to_have_count(2)
    page.set_input_files(
        "input[type=file]",
        [{"name": "otro.zip", "mimeType": "application/zip", "buffer": b"PK\x03\x04zip"}],
    )
    expect(page.locator(".upload-queue li")).to_have_attribute("data-status", "rejected")
    _scan(tab, "documents", found)
    page.goto(data + "#/kbs/informes-ano-2024/sources")
    page.locator(".kb-source summary").first.click()
    expect(page.locator(".kb-source-items")).to_be_visible()
    _scan(tab, "sources", found)
    page.goto(data + "#/kbs/informes-ano-2024/members")
    expect(page.locator(".kb-members")).to_be_visible()
    _scan(tab, "members", found)
    page.goto(data + "#/settings")
    expect(page.locator(".token-list").first).to_be_visible()
    _scan(tab, "settings", found)
    if device == "phone":
        page.get_by_role("button", name=words["menu"]).click()
        expect(page.locator("#sidebar")).to_be_in_viewport()
        _scan(tab, "menu", found)
    tab.close()

    report = [
        f"{screen}: {v['impact']} {v['id']} ({v['help']}) at {', '.join(v['targets'])}"
        for screen, violations in found.items()
        for v in violations
    ]
    (ARTIFACTS / f"axe-{lang}-{theme}-{device}.txt").write_text("\n".join(report) + "\n")
    serious = [line for line in report if re.search(r": (serious|critical) ", line)]
    assert len(found) >= 12 if device == "phone" else len(found) >= 11
    assert serious == [], "\n".join(serious)

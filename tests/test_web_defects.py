"""The small defects seen in issue 18, each held by a browser test (Playwright and the
system's Chromium against a real server whose worker syncs a real folder):

- the word "null" under a source's item list;
- the document counts in a knowledge base's header going stale while its sources sync;
- a name with a space or an accent ("Informes año 2024") refused by the browser;
- a new chat inheriting "No documents (model only)" while its box says "Ask your documents…";
- Esc from the source panel dropping the focus to the page instead of the citation;
- the model's name cut off in the phone's header;
- the upload progress bars not lined up.

(Stop, which the server now obeys and marks, is in test_web_chat.py.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from test_web import (
    DESKTOP,
    PHONE,
    Page,
    browser,  # noqa: F401  (the fixture)
    expectation,
    local,  # noqa: F401  (the fixture)
)


def test_the_small_defects_stay_fixed(
    browser: Any,  # noqa: F811
    local: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    folder = tmp_path / "informes"
    folder.mkdir()
    (folder / "uno.txt").write_text("El faro de Alejandría guiaba a los barcos.", encoding="utf-8")
    (folder / "dos.txt").write_text("Los castores construyen presas.", encoding="utf-8")
    tab = Page(browser, local, "defects", viewport=DESKTOP, locale="en-US")
    page = tab.page
    expect = expectation()

    # a name with a space and an accent: created, with an identifier in the URL
    page.goto(local + "#/kbs")
    page.fill("input[name=kb-name]", "Informes año 2024")
    page.get_by_role("button", name="Create").click()
    expect(page).to_have_url(re.compile(r"#/kbs/informes-ano-2024$"))
    detail = page.locator(".kb-detail")
    expect(detail.get_by_role("heading", name="Informes año 2024")).to_be_visible()

    # upload bars: one column, whatever the names and sizes
    page.set_input_files(
        "input[type=file]",
        [
            {"name": "a.md", "mimeType": "text/markdown", "buffer": b"# A\n\nAlpacas."},
            {
                "name": "un nombre de archivo bastante largo.md",
                "mimeType": "text/markdown",
                "buffer": b"# B\n\n" + b"Beavers. " * 2000,
            },
            {"name": "c.zip", "mimeType": "application/zip", "buffer": b"PK\x03\x04zip"},
        ],
    )
    rows = page.locator(".upload-queue li")
    expect(rows.nth(2)).to_have_attribute("data-status", "rejected")
    expect(rows.nth(1)).to_have_attribute("data-status", "indexed")
    boxes = [rows.nth(i).locator("progress").bounding_box() for i in range(3)]
    assert len({round(b["x"]) for b in boxes}) == 1 and len({round(b["width"]) for b in boxes}) == 1
    tab.shot("aligned-bars")

    # the header's counts follow a source's syncs, without a reload
    counts = detail.locator(".kb-counts")
    expect(counts).to_contain_text("2 documents")
    page.get_by_role("link", name="Sources", exact=True).click()
    form = page.locator(".kb-source-form")
    form.get_by_label("Folder on the server").fill(str(folder))
    form.get_by_role("button", name="Add source").click()
    card = page.locator(".kb-source[data-kind=folder]")
    expect(card.locator(".kb-source-counts")).to_have_text(re.compile(r"2 indexed"))
    expect(page.locator(".kb-detail .kb-counts")).to_contain_text("4 documents")
    (folder / "tres.txt").write_text("Tres documentos ya.", encoding="utf-8")
    expect(page.locator(".kb-detail .kb-counts")).to_contain_text("5 documents")
    expect(page.locator(".kb-card")).to_contain_text("5 documents")

    # no "null" under the item list
    card.locator("summary").click()
    items = card.locator(".kb-source-items")
    expect(items.locator(".kb-source-item-list li")).to_have_count(3)
    assert "null" not in items.inner_text()
    tab.shot("items")

    # a chat without documents, then a new chat: back on the knowledge base, and says so
    page.get_by_role("link", name="New chat").click()
    page.get_by_role("combobox", name="Knowledge base").select_option("")
    expect(page.locator("#question")).to_have_attribute("placeholder", re.compile("no documents"))
    page.fill("#question", "Hello?")
    page.keyboard.press("Enter")
    expect(page.locator(".message.assistant")).not_to_have_class(re.compile("streaming"))
    page.get_by_role("link", name="New chat").click()
    expect(page.get_by_role("combobox", name="Knowledge base")).to_have_value("informes-ano-2024")
    expect(page.locator("#question")).to_have_attribute("placeholder", "Ask your documents…")

    # Esc from the source panel gives the focus back to the citation
    page.fill("#question", "¿Qué guiaba el faro de Alejandría?")
    page.keyboard.press("Enter")
    answer = page.locator(".message.assistant").last
    expect(answer).not_to_have_class(re.compile("streaming"))
    chip = answer.locator("button.cite").first
    chip.click()
    panel = page.locator("#source")
    expect(panel.locator("mark")).to_contain_text("faro")
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    assert page.evaluate("document.activeElement.classList.contains('cite')")
    tab.close()

    # the phone's header shows the whole model name
    phone = Page(
        browser,
        local,
        "defects-phone",
        viewport=PHONE,
        locale="en-US",
        is_mobile=True,
        has_touch=True,
    )
    phone.page.goto(local)
    picker = phone.page.get_by_label("Model")
    expect(picker).to_be_visible()
    fits = phone.page.evaluate(
        """(select) => {
            const text = select.options[select.selectedIndex].text;
            const probe = document.createElement("span");
            probe.style.font = getComputedStyle(select).font;
            probe.style.position = "absolute";
            probe.textContent = text;
            document.body.append(probe);
            const needed = probe.offsetWidth + 40; // the padding and the arrow
            probe.remove();
            return [text, needed, select.clientWidth];
        }""",
        picker.element_handle(),
    )
    assert fits[1] <= fits[2], f"{fits[0]!r} needs {fits[1]} px, has {fits[2]}"
    assert phone.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.shot("header")
    phone.close()

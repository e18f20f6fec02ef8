"""Roles as the web app shows them, in a real browser against a real server with
accounts on: an admin gives a member read access in a knowledge base's Members tab, the
member sees that knowledge base read-only (no re-index, delete, upload or remove, no
source form) and can ask it; given write access, the member may upload, also in the chat
box. The API refuses the same things (test_roles.py); here, nobody is offered them.

Screenshots go to ``test-artifacts/web/`` (look at them)."""

from __future__ import annotations

import re
from typing import Any

from test_web import (
    DESKTOP,
    Page,
    browser,  # noqa: F401  (the fixture)
    expectation,
    secured,  # noqa: F401  (the fixture)
)

PASSWORD = "correct horse battery"


def _sign_in(page: Any, base: str, name: str) -> None:
    page.goto(base)
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").click()
    expectation()(page.locator("#question")).to_be_visible()


def test_a_member_is_offered_only_what_they_may_do(
    browser: Any,  # noqa: F811
    secured: str,  # noqa: F811
) -> None:
    expect = expectation()
    admin = Page(browser, secured, "roles-admin", viewport=DESKTOP, locale="en-US")
    page = admin.page
    page.goto(secured)
    page.fill("input[name=name]", "ana")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=confirm]", PASSWORD)
    page.get_by_role("button", name="Create administrator").click()
    expect(page.locator("#question")).to_be_visible()
    page.get_by_role("link", name="Settings").click()
    users = page.locator("section", has=page.get_by_role("heading", name="Users"))
    users.get_by_label("User name").fill("bea")
    users.get_by_label("Password").fill(PASSWORD)
    users.get_by_role("button", name="Add user").click()
    expect(users).to_contain_text("bea")
    page.get_by_role("link", name="Knowledge bases").click()
    page.fill("input[name=kb-name]", "Casos")
    page.get_by_role("button", name="Create").click()
    page.set_input_files(
        "input[type=file]",
        [
            {
                "name": "faro.md",
                "mimeType": "text/markdown",
                "buffer": b"# Faro\n\nEl faro de Alejandria guiaba a los barcos.",
            }
        ],
    )
    expect(page.locator(".upload-queue li")).to_have_attribute("data-status", "indexed")
    page.get_by_role("link", name="Members").click()
    members = page.locator(".kb-members")
    expect(members).to_contain_text("No one but the admins.")
    members.get_by_label("Access", exact=True).select_option("read")
    members.get_by_role("button", name="Give access").click()
    expect(members.locator(".member-list li")).to_contain_text("bea")
    admin.shot("members")

    member = Page(browser, secured, "roles-member", viewport=DESKTOP, locale="en-US")
    bea = member.page
    _sign_in(bea, secured, "bea")
    bea.get_by_role("link", name="Knowledge bases").click()
    expect(bea.locator(".kb-card")).to_contain_text("Read only")
    expect(bea.locator("input[name=kb-name]")).to_have_count(0)  # no new knowledge base
    bea.locator(".kb-card").click()
    detail = bea.locator(".kb-detail")
    expect(detail.locator(".documents tbody tr")).to_have_count(1)
    for refused in ("Re-index", "Delete", "Remove faro.md"):
        expect(detail.get_by_role("button", name=refused, exact=True)).to_have_count(0)
    expect(detail.locator(".dropzone")).to_have_count(0)
    expect(detail.get_by_role("link", name="Members")).to_have_count(0)
    bea.get_by_role("link", name="Sources", exact=True).click()
    expect(bea.locator(".kb-source-note")).to_be_visible()  # only admins add sources
    expect(bea.locator(".kb-source-form")).to_have_count(0)
    member.shot("read-only")
    bea.get_by_role("link", name="New chat").click()
    expect(bea.locator(".attach")).to_have_count(0)  # no files into a read-only base
    bea.fill("#question", "¿Qué guiaba el faro?")
    bea.keyboard.press("Enter")
    answer = bea.locator(".message.assistant").last
    expect(answer).not_to_have_class(re.compile("streaming"))
    expect(answer.locator("button.cite")).to_have_count(1)

    # write access: the member may upload, on the page and in the chat box
    members.get_by_label("Access: bea").select_option("write")
    expect(members.get_by_label("Access: bea")).to_have_value("write")
    bea.reload()
    expect(bea.locator(".attach")).to_be_visible()
    bea.goto(secured + "#/kbs/Casos")
    expect(bea.locator(".dropzone")).to_be_visible()
    expect(bea.get_by_role("button", name="Remove faro.md")).to_be_visible()
    expect(bea.get_by_role("button", name="Delete", exact=True)).to_have_count(0)  # no admin
    member.shot("writer")
    member.close()
    admin.close()

"""Errors a person understands, walked in the Spanish interface of a real browser against a
real server with accounts on: every message is Spanish, the server's English words only
behind "Detalles", never a raw exception; and the server stopped mid-answer and started
again: one banner that retries by itself, the text kept in the box, the page back.

Screenshots go to ``test-artifacts/web/`` (look at them)."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from conftest import need_data
from fake_servers import closed_port
from test_web import (
    DESKTOP,
    Page,
    browser,  # noqa: F401  (the fixture)
    expectation,
)

from sabio.config import Settings, load_settings
from sabio.server import create_app

PASSWORD = "caballo correcto"
ENGLISH = re.compile(
    r"\b(the|is|not|and|of|to|wrong|failed|error|cannot|unsupported|please|sign in|typeerror|"
    r"fetch|unexpected|invalid)\b",
    re.IGNORECASE,
)
SHOWN = ".toast, .form-error, #connection, .status-help, .answer-status, .main-header, .page > p"


def _settings(home: Path, port: int) -> Settings:
    values = {
        "home": home,
        "embedding_model": "fake:words",
        "chat_model": "fake:long",
        "workers": 1,
        "auth": True,
        "max_upload_mb": 1,
        "ollama_host": f"127.0.0.1:{port}",
    }
    return load_settings(values, environ={})


@contextlib.contextmanager
def _serve(settings: Settings, port: int) -> Iterator[uvicorn.Server]:
    """The app on ``port`` (the same one again after a restart), until the block ends or
    the test stops it (``should_exit``, ``force_exit``: as if the process were killed
    while it answers)."""
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(600):  # a bound on the wait for the socket, not a timing assertion
        if server.started:
            break
        thread.join(0.05)
    assert server.started
    try:
        yield server
    finally:
        server.should_exit = server.force_exit = True
        thread.join(30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _spanish_only(page: Any) -> None:
    """No English words in what the page shows of its messages (Details stay closed)."""
    for element in page.locator(SHOWN).all():
        if element.is_visible():
            text = element.inner_text()
            assert not ENGLISH.search(text), f"English shown in the Spanish interface: {text!r}"


def test_every_error_path_speaks_spanish_and_the_server_can_go_away(
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    protected = need_data("documents", "docx", "bug53475-password-is-pass.docx")
    port, ollama = _free_port(), closed_port()
    settings = _settings(tmp_path / "home", ollama)
    base = f"http://127.0.0.1:{port}"
    expect = expectation()
    with _serve(settings, port) as server:
        tab = Page(browser, base, "errors-es", viewport=DESKTOP, locale="es-ES")
        page = tab.page
        page.goto(base)

        # first run: the passwords differ, then the administrator
        page.fill("input[name=name]", "ana")
        page.fill("input[name=password]", PASSWORD)
        page.fill("input[name=confirm]", "otra cosa")
        page.get_by_role("button", name="Crear administrador").click()
        expect(page.locator(".form-error")).to_have_text("Las contraseñas no coinciden.")
        page.fill("input[name=confirm]", PASSWORD)
        page.get_by_role("button", name="Crear administrador").click()
        expect(page.get_by_role("heading", name="Nueva conversación")).to_be_visible()

        # a wrong password
        page.get_by_role("button", name="Cerrar sesión").click()
        page.fill("input[name=name]", "ana")
        page.fill("input[name=password]", "no es esta")
        page.get_by_role("button", name="Entrar").click()
        error = page.locator(".form-error")
        expect(error).to_contain_text("Usuario o contraseña incorrectos.")
        expect(error.get_by_text("wrong user name or password")).to_be_hidden()  # in Details
        _spanish_only(page)
        tab.shot("wrong-password")
        page.fill("input[name=password]", PASSWORD)
        page.get_by_role("button", name="Entrar").click()
        expect(page.get_by_role("heading", name="Nueva conversación")).to_be_visible()

        # a chat that is not there: said in Spanish, and gone on the next page
        page.goto(base + "#/chat/999")
        expect(page.locator(".toast")).to_contain_text("Esa conversación ya no existe.")
        expect(page.get_by_role("heading", name="No se encuentra")).to_be_visible()
        _spanish_only(page)
        tab.shot("no-chat")
        page.get_by_role("link", name="Bases de conocimiento").click()
        expect(page.locator(".toast")).to_have_count(0)

        # a knowledge base twice; files refused, too big, with a password
        page.fill("input[name=kb-name]", "casos")
        page.get_by_role("button", name="Crear").click()
        expect(page.locator(".dropzone")).to_be_visible()
        page.fill("input[name=kb-name]", "casos")
        page.get_by_role("button", name="Crear").click()
        expect(page.locator(".kb-create .form-error")).to_contain_text("Ya hay una base")
        _spanish_only(page)
        page.set_input_files(
            "input[type=file]",
            [
                {"name": "datos.zip", "mimeType": "application/zip", "buffer": b"PK\x03\x04zip"},
                {"name": "enorme.txt", "mimeType": "text/plain", "buffer": b"a" * (2 * 2**20)},
                {
                    "name": protected.name,
                    "mimeType": "application/octet-stream",
                    "buffer": protected.read_bytes(),
                },
            ],
        )
        rows = page.locator(".upload-queue li")
        expect(rows.nth(0)).to_contain_text("Sabio no lee este tipo de archivo (.zip)")
        expect(rows.nth(1)).to_contain_text("supera el tamaño máximo")
        expect(rows.nth(2)).to_have_attribute("data-status", "encrypted")
        _spanish_only(page)
        tab.shot("refused")
        rows.nth(2).get_by_role("button", name="Escribir la contraseña").click()
        dialog = page.get_by_role("dialog", name="Archivo con contraseña")
        dialog.get_by_label("Contraseña").fill("mala")
        dialog.get_by_role("button", name="Abrir").click()
        expect(dialog.locator(".form-error")).to_have_text(
            "Esa no es la contraseña. Prueba otra vez."
        )
        tab.shot("file-password")
        dialog.get_by_label("Contraseña").fill("pass")
        dialog.get_by_role("button", name="Abrir").click()
        expect(dialog).to_have_count(0)
        expect(rows.nth(2)).to_have_attribute("data-status", "indexed")

        # Ollama is not there: a model pull says so in Spanish
        page.get_by_role("link", name="Ajustes").click()
        page.get_by_label("Nombre del modelo").fill("qwen3:4b")
        page.get_by_role("button", name="Descargar", exact=True).click()
        expect(page.locator(".pull-progress")).to_contain_text("Ollama no responde en")
        _spanish_only(page)
        tab.shot("ollama-down")

        # a member: a short password first; then what a member may not open
        users = page.locator("section", has=page.get_by_role("heading", name="Usuarios"))
        users.get_by_label("Usuario").fill("bea")
        users.get_by_label("Contraseña").fill("corta")
        users.evaluate("s => s.querySelector('form').noValidate = true")
        users.get_by_role("button", name="Añadir usuario").click()
        expect(users.locator(".form-error")).to_contain_text("al menos 8 caracteres")
        users.get_by_label("Contraseña").fill(PASSWORD)
        users.get_by_role("button", name="Añadir usuario").click()
        expect(users).to_contain_text("bea")
        member = Page(browser, base, "errors-member", viewport=DESKTOP, locale="es-ES")
        member.page.goto(base)
        member.page.fill("input[name=name]", "bea")
        member.page.fill("input[name=password]", PASSWORD)
        member.page.get_by_role("button", name="Entrar").click()
        member.page.goto(base + "#/kbs/casos")
        expect(member.page.locator(".toast")).to_contain_text("No tienes acceso a la base «casos»")
        expect(member.page.get_by_text("Aún no tienes acceso a ninguna base")).to_have_count(0)
        _spanish_only(member.page)
        member.shot("forbidden")
        member.close()

        # the server goes away while it answers
        page.get_by_role("link", name="Nueva conversación").click()
        page.get_by_label("Base de conocimiento").select_option("")
        page.fill("#question", "Habla sin parar")
        page.keyboard.press("Enter")
        expect(page.locator(".message.assistant .answer-text")).to_contain_text("palabra3")
        server.should_exit = server.force_exit = True
    banner = page.locator("#connection")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Sabio no responde.")
    expect(page.locator("#question")).to_have_value("Habla sin parar")  # back in the box
    page.fill("#question", "Mi siguiente pregunta")
    page.get_by_role("link", name="Bases de conocimiento").click()  # no old page left on screen
    expect(page.get_by_role("heading", name="Sabio no responde.")).to_be_visible()
    _spanish_only(page)
    tab.shot("offline")
    page.go_back()
    with _serve(settings, port):
        expect(banner).to_contain_text("Sabio vuelve a responder.")
        expect(banner).to_be_hidden()
        expect(page.locator("#question")).to_have_value("Mi siguiente pregunta")
        expect(page.locator("#page-title")).not_to_have_text("Sabio no responde.")
        _spanish_only(page)
        tab.shot("back")
        tab.close()

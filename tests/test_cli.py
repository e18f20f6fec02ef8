"""The `sabio` command through Typer's runner, in-process, over a real data directory."""

from __future__ import annotations

import importlib
import json
import os
import pty
import re
import string
import subprocess
import sys
from pathlib import Path

import pytest
from fake_servers import closed_port
from typer.testing import CliRunner

from sabio.cli import app
from sabio.terminal import in_language, in_language_counted


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SABIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SABIO_EMBEDDING_MODEL", "fake:words")
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    monkeypatch.setenv("LANG", "C.UTF-8")  # English, whatever the machine's locale
    monkeypatch.delenv("SABIO_LANGUAGE", raising=False)
    return CliRunner()


@pytest.fixture
def files(tmp_path: Path) -> Path:
    root = tmp_path / "files"
    root.mkdir()
    (root / "faro.txt").write_text("El faro de Alejandría guiaba a los barcos.", encoding="utf-8")
    (root / "bad.docx").write_bytes(b"PK\x03\x04 truncated")
    return root


def test_add_prints_a_per_file_summary_and_exit_code(cli: CliRunner, files: Path) -> None:
    result = cli.invoke(app, ["add", str(files)])
    assert result.exit_code == 1, result.output
    assert "added" in result.output and "faro.txt" in result.output
    assert "failed" in result.output and "bad.docx" in result.output
    assert "2 files: 1 added, 1 not indexed." in result.output
    again = cli.invoke(app, ["add", str(files / "faro.txt")])
    assert again.exit_code == 0
    assert "1 file: 1 unchanged." in again.output


@pytest.mark.parametrize(
    ("env", "first", "again", "problems", "listed"),
    [
        (
            {"SABIO_LANGUAGE": "es"},
            "2 archivos: 1 añadido, 1 sin indexar.",
            "1 archivo: 1 sin cambios.",
            "No se pueden buscar: 1 fallido (en la lista de arriba).",
            ("añadido", "fallido", "(1 pasaje)"),
        ),
        (
            {"LANG": "es_ES.UTF-8"},
            "2 archivos: 1 añadido, 1 sin indexar.",
            "1 archivo: 1 sin cambios.",
            "No se pueden buscar: 1 fallido (en la lista de arriba).",
            ("añadido", "fallido", "(1 pasaje)"),
        ),
        (
            {"SABIO_LANGUAGE": "en", "LANG": "es_ES.UTF-8"},
            "2 files: 1 added, 1 not indexed.",
            "1 file: 1 unchanged.",
            "Not searchable: 1 failed (listed above).",
            ("added", "failed", "(1 passage)"),
        ),
    ],
)
def test_add_speaks_the_language_asked_for(
    cli: CliRunner,
    files: Path,
    env: dict[str, str],
    first: str,
    again: str,
    problems: str,
    listed: tuple[str, ...],
) -> None:
    """`sabio add` printed its summary in English under LANG=es ("1 files: 1 added.")."""
    result = cli.invoke(app, ["add", str(files)], env=env)
    assert first in result.output and problems in result.output, result.output
    lines = result.output.splitlines()
    assert all(any(line.lstrip().startswith(word) for line in lines) for word in listed[:2])
    assert listed[2] in result.output
    assert again in cli.invoke(app, ["add", str(files / "faro.txt")], env=env).output


def _on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[str, str]:
    """``sabio ARGS`` with its stderr on a pseudo-terminal, where its progress is drawn:
    (what the terminal showed, without its escape codes; stdout)."""
    terminal, its_end = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sabio", *args], env=env, stdout=subprocess.PIPE, stderr=its_end
    )
    os.close(its_end)
    shown = []
    while True:
        try:
            data = os.read(terminal, 65536)
        except OSError:  # the process is gone
            break
        if not data:
            break
        shown.append(data)
    os.close(terminal)
    stdout, _ = proc.communicate(timeout=300)
    text = b"".join(shown).decode("utf-8", errors="replace")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text), stdout.decode()


@pytest.mark.slow
def test_add_shows_its_progress_in_spanish_on_a_terminal(files: Path, tmp_path: Path) -> None:
    """The progress lines were ingestion's English notes whatever the language."""
    env = {
        **os.environ,
        "SABIO_HOME": str(tmp_path / "home"),
        "SABIO_EMBEDDING_MODEL": "embedded:all-minilm-l6-v2",
        "SABIO_LANGUAGE": "es",
        "COLUMNS": "120",
    }
    env.pop("OLLAMA_HOST", None)
    shown, stdout = _on_a_terminal(["add", str(files)], env)
    assert "leyendo los archivos" in shown and "leyendo faro.txt" in shown, shown
    assert "calculando los embeddings" in shown
    assert "actualizando el índice de búsqueda" in shown
    assert not re.search(r"reading|indexing|embedding passages|updating", shown), shown
    assert "2 archivos: 1 añadido, 1 sin indexar." in stdout


def test_add_json_is_the_same_in_spanish(cli: CliRunner, files: Path) -> None:
    english = json.loads(cli.invoke(app, ["add", str(files), "--json"]).stdout)
    spanish = cli.invoke(app, ["add", str(files), "--json"], env={"SABIO_LANGUAGE": "es"})
    again = json.loads(spanish.stdout)
    assert sorted(r["outcome"] for r in english) == ["added", "not_indexed"]
    assert [sorted(r) for r in again] == [sorted(r) for r in english]
    assert {r["outcome"] for r in again} == {"unchanged"}
    assert sorted(r["status"] for r in again) == ["failed", "indexed"]


def test_add_json(cli: CliRunner, files: Path) -> None:
    result = cli.invoke(app, ["add", str(files / "faro.txt"), "--json"])
    assert result.exit_code == 0
    [entry] = json.loads(result.stdout)
    assert entry["outcome"] == "added" and entry["chunks"] == 1


def test_search_json_has_the_documented_fields(cli: CliRunner, files: Path) -> None:
    cli.invoke(app, ["add", str(files)])
    result = cli.invoke(app, ["search", "faro alejandria", "--json", "-k", "3"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert hits[0]["document"] == str(files / "faro.txt")
    assert {"document", "title", "page", "text", "score"} <= set(hits[0])
    assert hits[0]["page"] is None
    assert hits[0]["title"] == "faro"


def test_search_text_output(cli: CliRunner, files: Path) -> None:
    cli.invoke(app, ["add", str(files)])
    result = cli.invoke(app, ["search", "barcos"])
    assert "faro.txt" in result.output and "barcos" in result.output


def test_ask_docs_and_search_speak_spanish(cli: CliRunner, files: Path) -> None:
    """`sabio ask` headed its citations "Sources" under LANG=es."""
    cli.invoke(app, ["add", str(files)])
    question = ["ask", "¿Qué guiaba el faro de Alejandría?", "--style", "extractive"]
    spanish = cli.invoke(app, question, env={"SABIO_LANGUAGE": "es"})
    assert "\nFuentes\n" in spanish.output and "Sources" not in spanish.output, spanish.output
    assert "[1] faro" in spanish.output
    english = cli.invoke(app, question)
    assert "\nSources\n" in english.output and "Fuentes" not in english.output
    told = cli.invoke(app, [*question, "-v"], env={"SABIO_LANGUAGE": "es"})
    said = " ".join(told.stderr.split())  # the console wraps its lines
    assert told.exit_code == 0 and " 1 pasaje en el prompt" in said, told.output
    said = " ".join(cli.invoke(app, [*question, "-v"]).stderr.split())
    assert " 1 passage in the prompt" in said and "pasaje" not in said
    docs = cli.invoke(app, ["docs"], env={"LANG": "es_ES.UTF-8"}).output
    assert "estado" in docs and "indexado" in docs and "fallido" in docs
    found = cli.invoke(app, ["search", "barcos"], env={"SABIO_LANGUAGE": "es"}).output
    assert "puntuación" in found and "score" not in found


def test_kb_and_user_commands_speak_spanish(cli: CliRunner, files: Path) -> None:
    es = {"SABIO_LANGUAGE": "es"}
    made = cli.invoke(app, ["kb", "create", "Legal 2024"], env=es).output
    assert "Creada la base de conocimiento Legal 2024 (identificador legal-2024) con" in made
    listed = cli.invoke(app, ["kb", "list"], env=es).output
    assert "nombre" in listed and "identificador" in listed and "name" not in listed
    cli.invoke(app, ["add", str(files / "faro.txt"), "--kb", "Legal 2024"])
    refused = cli.invoke(app, ["kb", "delete", "Legal 2024"], env=es, input="n\n")
    assert refused.exit_code == 1 and "¿Borrar 'Legal 2024', su documento?" in refused.output
    gone = cli.invoke(app, ["kb", "delete", "Legal 2024", "-y"], env=es).output
    assert "Borrada la base de conocimiento Legal 2024, su documento (tus propios" in gone
    password = "una frase larga y secreta\n"
    user = cli.invoke(
        app, ["user", "add", "ana", "--admin", "--password-stdin"], env=es, input=password
    )
    assert "Creado el administrador ana." in user.output, user.output
    users = cli.invoke(app, ["user", "list"], env=es).output
    assert "administrador" in users and "todas" in users
    english = cli.invoke(app, ["user", "list"]).output
    assert "admin" in english and "all" in english and "todas" not in english


def test_docs_and_rm(cli: CliRunner, files: Path) -> None:
    cli.invoke(app, ["add", str(files)])
    listing = cli.invoke(app, ["docs"])
    assert "indexed" in listing.output and "failed" in listing.output
    docs = json.loads(cli.invoke(app, ["docs", "--json"]).stdout)
    bad = next(d for d in docs if d["source"].endswith("bad.docx"))
    assert bad["status"] == "failed" and bad["error"]
    assert cli.invoke(app, ["rm", str(bad["id"])]).exit_code == 0
    assert len(json.loads(cli.invoke(app, ["docs", "--json"]).stdout)) == 1


def test_kb_lifecycle(cli: CliRunner, files: Path) -> None:
    assert cli.invoke(app, ["kb", "create", "legal"]).exit_code == 0
    dup = cli.invoke(app, ["kb", "create", "legal"])
    assert dup.exit_code == 1 and "already exists" in dup.output
    assert "Traceback" not in dup.output
    cli.invoke(app, ["add", str(files / "faro.txt"), "--kb", "legal"])
    kbs = json.loads(cli.invoke(app, ["kb", "list", "--json"]).stdout)
    assert [(k["name"], k["documents"]) for k in kbs] == [("legal", 1)]
    assert cli.invoke(app, ["kb", "delete", "legal", "--yes"]).exit_code == 0
    assert json.loads(cli.invoke(app, ["kb", "list", "--json"]).stdout) == []


def test_user_errors_are_one_line_without_traceback(cli: CliRunner) -> None:
    result = cli.invoke(app, ["search", "x", "--kb", "missing"])
    assert result.exit_code == 1
    assert "no knowledge base called 'missing'" in result.output
    assert "sabio kb create missing" in result.output
    bad_name = cli.invoke(app, ["kb", "create", "../.."])
    assert bad_name.exit_code == 1 and "not a knowledge base name" in bad_name.output


def test_doctor_names_fixes(cli: CliRunner, files: Path) -> None:
    result = cli.invoke(app, ["doctor"])
    assert "embedded embeddings" in result.output
    assert "ollama" in result.output
    assert "ollama serve" in result.output  # nothing listens at the default host in tests
    assert "fake:words" in result.output
    assert "\n     fix: " in result.output
    cli.invoke(app, ["add", str(files / "faro.txt")])
    counted = cli.invoke(app, ["doctor"], env={"SABIO_LANGUAGE": "es"}).output
    assert "(1 knowledge base)" in counted and "fake:words, 1 passage" in counted, counted
    assert "\n     solución: " in counted


def test_a_new_user_sees_hints_not_errors(cli: CliRunner) -> None:
    docs = cli.invoke(app, ["docs"])
    assert docs.exit_code == 0
    assert "sabio add PATH" in docs.output
    found = cli.invoke(app, ["search", "anything"])
    assert found.exit_code == 1
    assert "nothing indexed yet" in found.output


def test_home_option_beats_the_environment(cli: CliRunner, files: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    result = cli.invoke(app, ["--home", str(other), "add", str(files / "faro.txt")])
    assert result.exit_code == 0
    assert (other / "sabio.db").exists()
    assert cli.invoke(app, ["docs"]).output.count("faro.txt") == 0


CLI_MODULES = ("cli", "cli_data", "cli_notes", "cli_review", "cli_sources", "cli_tables")
CATALOGUES = [
    (module, name)
    for module in (*CLI_MODULES, "cli_tasks")
    for name in ("_TEXTS", "_STATES", "_COUNTED")
    if hasattr(importlib.import_module(f"sabio.{module}"), name)
]


def _fields(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


@pytest.mark.parametrize(("module", "name"), CATALOGUES)
def test_every_message_names_the_same_values_in_both_languages(module: str, name: str) -> None:
    """A Spanish text that forgot a value, or named one the English does not, would print
    wrong or fail only when someone reads it in that language."""
    texts = getattr(importlib.import_module(f"sabio.{module}"), name)
    assert texts
    for key, (english, spanish) in texts.items():
        assert english.strip() and spanish.strip(), key
        assert _fields(english) == _fields(spanish), key
        many = texts.get(key.removesuffix("_one"), ("", ""))[0]
        if key.endswith("_one") and "count" in _fields(many):  # "1 file", its count written out
            assert _fields(english) <= _fields(many) - {"count"}, key


def test_a_message_may_name_any_value() -> None:
    """`sabio ask -v` failed: its "{language}" was taken for in_language's own parameter."""
    texts = {"said": ("{key} in {language}", "{key} en {language}")}
    assert in_language(texts, "said", "es", key="k", language="fr") == "k en fr"
    many = {"files": ("{count} files of {key}", "{count} archivos de {key}")}
    assert in_language_counted(many, "files", 2, "en", key="k") == "2 files of k"

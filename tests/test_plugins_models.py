"""A model backend added the way docs/architecture.md says ("Adding a model backend"): one
module that registers its factory and its listing, nothing else touched. The toy backend,
``canned:``, answers with the text of a file: each ``<home>/canned/NAME.txt`` is a model
``canned:NAME``. Where no such folder exists (every other test) it lists nothing."""

from __future__ import annotations

import json
from collections.abc import Generator, Sequence
from pathlib import Path

import pytest
from fake_servers import closed_port
from typer.testing import CliRunner

from sabio.cli import app
from sabio.config import Settings
from sabio.errors import ConfigError
from sabio.models import (
    ChatOptions,
    Message,
    ModelEntry,
    estimate_tokens,
    get_chat_model,
    register_chat_backend,
    register_model_listing,
    register_unlisted_model,
)
from sabio.models.catalog import list_models
from sabio.service import Sabio


class CannedChat:
    """A chat model whose answer is a file's text, streamed word by word."""

    context_window = 4096

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"canned:{path.stem}"

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def stream(
        self, messages: Sequence[Message], options: ChatOptions
    ) -> Generator[str, None, str | None]:
        words = self.path.read_text(encoding="utf-8").split(" ")
        for i, word in enumerate(words):
            yield word if i == 0 else f" {word}"
        return "stop"


def _folder(settings: Settings) -> Path:
    return settings.home / "canned"


@register_chat_backend("canned")
def canned_chat_model(settings: Settings, model: str) -> CannedChat:
    path = _folder(settings) / f"{model}.txt"
    if not path.is_file():
        raise ConfigError(f"no canned answer {model!r}: write it to {path}")
    return CannedChat(path)


@register_model_listing
def list_canned_models(settings: Settings) -> list[ModelEntry]:
    folder = _folder(settings)
    paths = sorted(folder.glob("*.txt")) if folder.is_dir() else []
    return [
        ModelEntry(f"canned:{p.stem}", "chat", "canned", True, "a canned answer") for p in paths
    ]


@register_unlisted_model("canned")
def canned_unlisted(settings: Settings, model: str) -> tuple[bool, str]:
    return False, f"no canned answer yet: write it to {_folder(settings) / model}.txt"


ANSWER = "Mount Etna erupted in 2021 and covered Catania in ash [1]."


@pytest.fixture
def canned(sabio: Sabio, tmp_path: Path) -> Sabio:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "volcano.md").write_text(
        "# Volcanoes\n\nMount Etna erupted in 2021 and covered Catania in ash.", encoding="utf-8"
    )
    sabio.add([folder])
    _folder(sabio.settings).mkdir()
    (_folder(sabio.settings) / "etna.txt").write_text(ANSWER, encoding="utf-8")
    return sabio


def test_the_catalog_lists_a_backend_that_registered_its_listing(canned: Sabio) -> None:
    entries = list_models(canned.settings, default_chat="canned:etna")
    [etna] = [e for e in entries if e.backend == "canned"]
    assert (etna.name, etna.kind, etna.available, etna.default) == (
        "canned:etna",
        "chat",
        True,
        "chat",
    )
    assert entries.index(etna) > [e.backend for e in entries].index("embedded")  # Sabio's first


def test_a_default_it_does_not_list_gets_the_backends_own_note(canned: Sabio) -> None:
    entries = list_models(canned.settings, default_chat="canned:vesuvius")
    [vesuvius] = [e for e in entries if e.name == "canned:vesuvius"]
    assert (vesuvius.available, vesuvius.default) == (False, "chat")
    assert (
        vesuvius.note
        == f"no canned answer yet: write it to {_folder(canned.settings)}/vesuvius.txt"
    )


def test_an_answer_comes_from_the_new_backend_through_the_registry(canned: Sabio) -> None:
    assert isinstance(get_chat_model(canned.settings, "canned:etna"), CannedChat)
    stream = canned.ask("When did Mount Etna erupt?", model="canned:etna")
    text = "".join(stream)
    answer = stream.answer
    assert text.strip() == answer.text == ANSWER
    assert answer.model == "canned:etna" and answer.complete
    [citation] = answer.citations
    assert citation.document.endswith("volcano.md") and not citation.inferred
    assert [claim.supported for claim in answer.claims] == [True]


def test_the_cli_lists_and_uses_the_new_backend(
    canned: Sabio, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SABIO_HOME", str(canned.settings.home))
    monkeypatch.setenv("SABIO_EMBEDDING_MODEL", "fake:words")
    monkeypatch.setenv("SABIO_CHAT_MODEL", "canned:etna")
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    canned.close()
    runner = CliRunner()
    listed = json.loads(runner.invoke(app, ["models", "--json"]).stdout)
    assert {"name": "canned:etna", "default": "chat"}.items() <= next(
        m for m in listed if m["backend"] == "canned"
    ).items()
    result = runner.invoke(app, ["ask", "When did Mount Etna erupt?"])
    assert result.exit_code == 0, result.output
    assert ANSWER in result.stdout and "volcano.md" in result.stdout


def test_a_missing_canned_answer_is_a_config_error(canned: Sabio) -> None:
    with pytest.raises(ConfigError, match="no canned answer 'vesuvius'"):
        get_chat_model(canned.settings, "canned:vesuvius")

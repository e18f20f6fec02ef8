from __future__ import annotations

from pathlib import Path

import pytest

from sabio.chunking import CHUNK_OVERLAP, CHUNK_SIZE
from sabio.config import load_settings
from sabio.errors import ConfigError


def test_precedence_defaults_toml_env_flags(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("chunk_size = 700\nsearch_k = 3\ntimeout = 5\n")
    env = {"SABIO_HOME": str(tmp_path), "SABIO_SEARCH_K": "4"}
    settings = load_settings({"timeout": 9.5}, environ=env)
    assert settings.home == tmp_path
    assert settings.chunk_overlap == 150  # default
    assert settings.chunk_size == 700  # config.toml
    assert settings.search_k == 4  # environment beats the file
    assert settings.timeout == 9.5  # the flag beats everything
    defaults = load_settings(environ={"SABIO_HOME": str(tmp_path / "none")})
    assert (defaults.chunk_size, defaults.chunk_overlap) == (CHUNK_SIZE, CHUNK_OVERLAP)


def test_the_command_line_language_is_not_a_setting(tmp_path: Path) -> None:
    """SABIO_LANGUAGE is what the translated commands speak; it failed every command with
    "unknown setting 'language'" while the commands' help named it."""
    settings = load_settings(environ={"SABIO_HOME": str(tmp_path), "SABIO_LANGUAGE": "es"})
    assert settings.home == tmp_path


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("0.0.0.0", "http://127.0.0.1:11434"),
        ("myhost:8080", "http://myhost:8080"),
        ("https://ollama.lan", "https://ollama.lan:11434"),
        ("http://127.0.0.1:11434/", "http://127.0.0.1:11434"),
    ],
)
def test_ollama_host_is_read_as_ollama_reads_it(value: str, url: str, tmp_path: Path) -> None:
    env = {"SABIO_HOME": str(tmp_path), "OLLAMA_HOST": value}
    assert load_settings(environ=env).ollama_host == url


def test_openai_servers_from_toml(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[openai.lmstudio]\nbase_url = "http://127.0.0.1:1234/v1/"\napi_key_env = "K"\n'
    )
    settings = load_settings(environ={"SABIO_HOME": str(tmp_path), "K": "secret"})
    server = settings.openai_servers["lmstudio"]
    assert server.base_url == "http://127.0.0.1:1234/v1"
    assert server.api_key == "secret"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("chunk_size = [", "not valid TOML"),
        ("chunksize = 3", "unknown setting 'chunksize'"),
        ('chunk_size = "big"', "not a valid int"),
        ("[openai.x]\nurl = 1", "needs base_url"),
    ],
)
def test_bad_config_says_what_is_wrong(tmp_path: Path, toml: str, message: str) -> None:
    (tmp_path / "config.toml").write_text(toml)
    with pytest.raises(ConfigError, match=message):
        load_settings(environ={"SABIO_HOME": str(tmp_path)})

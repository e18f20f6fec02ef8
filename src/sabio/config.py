"""One settings object: defaults < config.toml < SABIO_* environment < CLI flags.

Every setting is declared once in :class:`Settings` with its default and a help line
(``field(metadata={"help": ...})``); ``docs/configuration.md`` lists them all and a test
keeps the two in step. Settings are passed explicitly; nothing reads them from a global.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import tomllib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from sabio.errors import ConfigError


def _default_home() -> Path:
    return Path(platformdirs.user_data_dir("sabio", appauthor=False))


@dataclass(frozen=True, slots=True)
class OpenAIServer:
    """An OpenAI-compatible server (vLLM, LM Studio, llama.cpp server), from [openai.NAME]."""

    base_url: str
    api_key: str = ""
    context_window: int = 8192


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True, slots=True)
class Settings:
    home: Path = field(
        default_factory=_default_home,
        metadata={"help": "Data directory: the database and config.toml live here."},
    )
    database_url: str = _setting(
        "",
        "Where Sabio keeps its data: '' is the SQLite file sabio.db in the data directory; "
        "'postgresql://user:password@host/dbname' a PostgreSQL database with pgvector, which "
        "several servers and workers can share (pip install 'sabio[postgres]').",
    )
    database_pool_size: int = _setting(
        10,
        "Most connections one Sabio process (a server, a worker) opens to a PostgreSQL "
        "database_url at once; more statements wait for a free one. Keep their sum over "
        "every process below PostgreSQL's max_connections (100 unless changed).",
    )
    ollama_host: str = _setting(
        "http://127.0.0.1:11434", "Ollama's address (OLLAMA_HOST is honoured too)."
    )
    ollama_hosts: str = _setting(
        "",
        "More Ollama hosts beside ollama_host, comma-separated (in config.toml a list too): "
        "each request goes to a host that answers and has the model, the one with the "
        "fewest requests in flight first, in turns when they tie, and to the next when one "
        "fails before the answer's first word.",
    )
    ollama_parallel: int = _setting(
        0,
        "Most requests Sabio sends to one Ollama host at once (set it to the host's "
        "OLLAMA_NUM_PARALLEL); more wait for a free place on a host. 0: no limit.",
    )
    embedding_model: str = _setting(
        "auto",
        "Embedding model for new knowledge bases, as 'backend:model'; 'auto' picks an Ollama "
        "embedding model when Ollama answers and has one, else the embedded pair "
        "(MiniLM within English, USE multilingual for other languages and across them).",
    )
    chat_model: str = _setting(
        "auto",
        "Chat model for answers, as 'backend:model' (e.g. 'ollama:qwen3:4b', 'embedded:smollm2', "
        "'embedded:/path/to/model.gguf'); 'auto' picks an Ollama chat model when Ollama "
        "answers and has one, else the embedded SmolLM2.",
    )
    context_window: int = _setting(
        0,
        "Tokens of context a chat model gets (sent to Ollama as num_ctx); 0: the model's own "
        "context length, at most 8192 (2048 for the embedded model, which reads on the CPU).",
    )
    answer_tokens: int = _setting(1024, "Most tokens an answer may take (kept free in the prompt).")
    temperature: float = _setting(0.2, "Sampling temperature for answers.")
    answer_style: str = _setting(
        "auto",
        "How answers are made: 'extractive' (Sabio quotes the sentences of your documents "
        "that answer, no model), 'generative' (the chat model writes the answer, every "
        "claim checked against the passages), 'both' (the quotes, then the model's answer); "
        "'auto': extractive with the embedded model, generative with any other.",
    )
    review_notes: bool = _setting(
        False,
        "Corrections users give answers wait for an admin's approval (`sabio notes approve`) "
        "before answers use them; off: a correction is used at once.",
    )
    default_kb: str = _setting("default", "Knowledge base used when a command names none.")
    chunk_size: int = _setting(
        1200,
        "Target chunk length in characters (a section's short tail may take a chunk to 1.25 "
        "times that).",
    )
    chunk_overlap: int = _setting(150, "Characters repeated between consecutive chunks.")
    search_k: int = _setting(8, "Passages returned by a search.")
    embed_batch_size: int = _setting(32, "Texts sent to the embedding model at once.")
    workers: int = _setting(0, "Processes that read files in parallel (0: one per core).")
    reader_timeout: float = _setting(
        120.0,
        "Seconds one file may take to be read and split into passages; a file that takes "
        'longer fails ("took longer than N s") and the others go on.',
    )
    reader_memory_mb: int = _setting(
        1024,
        "Memory, in MB, a reader process may take to read one file (on Linux); a file that "
        'needs more fails ("needed more than N MB") and the others go on.',
    )
    ocr_program: str = _setting(
        "tesseract",
        "The Tesseract program that reads scanned pages and images (OCR); '' turns OCR off "
        "and such files stay 'needs OCR'.",
    )
    ocr_languages: str = _setting(
        "",
        "Tesseract language packs OCR reads with, as 'spa+eng'; '': English, Spanish and "
        "the other packs installed (at most three). A knowledge base's own (`sabio kb set "
        "NAME --ocr-languages`) comes first.",
    )
    max_text_mb: int = _setting(
        20,
        "Most text one file may give, in MB of characters (2^20 each; 20 MB is about 10,000 "
        "pages); a file with more fails with the reason instead of taking the memory and "
        "hours of embedding.",
    )
    embedded_threads: int = _setting(0, "Threads for the embedded model (0: one per core).")
    timeout: float = _setting(60.0, "Seconds to wait for a model server before giving up.")
    fetch_deadline: float = _setting(
        60.0,
        "Seconds one web fetch (a page, a feed, a sitemap, a webhook's URL; redirects and "
        "the whole body included) may take; a slower one fails, so a site that trickles "
        "cannot hold a sync.",
    )
    fetch_max_mb: int = _setting(20, "Largest response a web fetch takes, in MB.")
    max_upload_mb: int = _setting(
        200,
        "Largest file the server accepts in an upload, in MB; a bigger one is refused (413) "
        "and nothing of that upload is kept.",
    )
    max_request_mb: int = _setting(
        200,
        "Most one upload request may carry in all, in MB (its files together); a bigger "
        "request is refused (413) before its body is read, or at the first byte over.",
    )
    open_pages_mb: int = _setting(
        256,
        "Memory, in MB, the pages open in the browser extension may take in all (their text, "
        "passages and embeddings; all users): the page used longest ago is forgotten first "
        "(the extension sends it again), and a page bigger than this is refused.",
    )
    max_upload_files: int = _setting(
        100, "Most files one upload request may carry; more is refused (413)."
    )
    allowed_origins: str = _setting(
        "",
        "More web pages that may call the Ollama and OpenAI APIs from a browser, as Ollama's "
        "OLLAMA_ORIGINS: comma-separated origins, where * stands for anything "
        "('https://chat.example.com,http://192.168.1.*'; '*': every page). Pages on this "
        "computer and browser extensions are always allowed.",
    )
    auth: bool = _setting(
        False,
        "Require login: user accounts, sessions and API tokens. Needed to serve beyond this "
        "computer.",
    )
    openai_servers: Mapping[str, OpenAIServer] = field(
        default_factory=dict,
        metadata={"help": "OpenAI-compatible servers, one [openai.NAME] table each."},
    )

    @property
    def database_path(self) -> Path:
        return self.home / "sabio.db"

    @property
    def config_path(self) -> Path:
        return self.home / "config.toml"

    @property
    def all_ollama_hosts(self) -> tuple[str, ...]:
        """``ollama_host`` then the ``ollama_hosts``, each once, as full URLs."""
        extra = [_ollama_url(h) for h in self.ollama_hosts.split(",") if h.strip()]
        return tuple(dict.fromkeys([self.ollama_host, *extra]))


def setting_help() -> list[tuple[str, str, str]]:
    """(name, default, help) for every setting, for docs and ``sabio doctor``."""
    rows = []
    for f in dataclasses.fields(Settings):
        default = f.default if f.default is not dataclasses.MISSING else "(see help)"
        rows.append((f.name, str(default), f.metadata["help"]))
    return rows


def _coerce(name: str, value: Any, source: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    if name not in fields:
        raise ConfigError(f"unknown setting {name!r} in {source}; see docs/configuration.md")
    kind = fields[name].type
    try:
        if kind == "Path":
            return Path(os.path.expanduser(str(value)))
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "str" and isinstance(value, list) and name == "ollama_hosts":
            return ",".join(str(item) for item in value)
        if kind == "str":
            return str(value)
        if kind == "bool":
            return _bool(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name!r} in {source} is not a valid {kind}: {value!r}") from exc
    return value


def _bool(value: Any) -> bool:
    """A TOML boolean, or from the environment true/false, 1/0, yes/no, on/off."""
    if isinstance(value, bool):
        return value
    words = {"true": True, "1": True, "yes": True, "on": True}
    words |= {"false": False, "0": False, "no": False, "off": False}
    text = str(value).strip().lower()
    if text not in words:
        raise ValueError(value)
    return words[text]


def _openai_servers(raw: Any, source: str, env: Mapping[str, str]) -> dict[str, OpenAIServer]:
    if not isinstance(raw, dict):
        raise ConfigError(f"[openai] in {source} must hold tables like [openai.lmstudio]")
    servers = {}
    for name, table in raw.items():
        if not isinstance(table, dict) or "base_url" not in table:
            raise ConfigError(f"[openai.{name}] in {source} needs base_url = 'http://...'")
        key = str(table.get("api_key", ""))
        if key_env := table.get("api_key_env"):
            key = env.get(str(key_env), "")
        try:
            context = int(table.get("context_window", 8192))
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"context_window of [openai.{name}] in {source} must be a number"
            ) from exc
        servers[name] = OpenAIServer(
            base_url=str(table["base_url"]).rstrip("/"), api_key=key, context_window=context
        )
    return servers


NOT_SETTINGS = ("SABIO_CONFIG", "SABIO_LANGUAGE")
"""Environment variables of Sabio's that are not settings: where config.toml is, and the
language the command line speaks (en or es; else LANG)."""


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build the settings from defaults, config.toml, the environment and ``overrides``."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if "OLLAMA_HOST" in env:
        values["ollama_host"] = _ollama_url(env["OLLAMA_HOST"])
    env_values = {
        key[len("SABIO_") :].lower(): value
        for key, value in env.items()
        if key.startswith("SABIO_") and key not in NOT_SETTINGS
    }
    home = Path(env_values.get("home", "")) if "home" in env_values else _default_home()
    if overrides and overrides.get("home"):
        home = Path(overrides["home"])
    config_path = config_file(home, env)
    if config_path.exists():
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{config_path} is not valid TOML: {exc}") from exc
        for name, value in data.items():
            if name == "openai":
                values["openai_servers"] = _openai_servers(value, str(config_path), env)
            else:
                values[name] = _coerce(name, value, str(config_path))
    for name, value in env_values.items():
        values[name] = _coerce(name, value, f"SABIO_{name.upper()}")
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = _coerce(name, value, "the command line")
    values["home"] = home
    if "ollama_host" in values:
        values["ollama_host"] = _ollama_url(values["ollama_host"])
    return Settings(**values)


def _ollama_url(value: str) -> str:
    """OLLAMA_HOST may be 'host', 'host:port' or a full URL, as Ollama itself accepts."""
    value = value.strip().rstrip("/")
    if "://" not in value:
        value = "http://" + value
    scheme, _, rest = value.partition("://")
    if ":" not in rest.split("/")[0]:
        rest = rest.replace("/", ":11434/", 1) if "/" in rest else rest + ":11434"
    if rest.startswith("0.0.0.0"):
        rest = "127.0.0.1" + rest[len("0.0.0.0") :]
    return f"{scheme}://{rest}"


def config_file(home: Path, environ: Mapping[str, str]) -> Path:
    """The config.toml that :func:`load_settings` reads: ``SABIO_CONFIG``, else the one in
    the data directory."""
    return Path(environ.get("SABIO_CONFIG", home / "config.toml"))


def overriding_sources(
    overrides: Mapping[str, Any] | None, environ: Mapping[str, str]
) -> dict[str, str]:
    """Where each setting that something above config.toml sets comes from
    (``SABIO_<NAME>`` or ``the command line``, the one that wins): a change to it in
    config.toml does not take effect. ``OLLAMA_HOST`` is below config.toml, so not here."""
    sources = {
        key[len("SABIO_") :].lower(): key
        for key in environ
        if key.startswith("SABIO_") and key not in NOT_SETTINGS
    }
    for name, value in (overrides or {}).items():
        if value is not None:
            sources[name] = "the command line"
    return sources


def check_ollama_host(value: str) -> str:
    """``value`` as the ``ollama_host`` setting stores it, when it is an http(s) URL or
    ``host[:port]``; otherwise a :class:`ConfigError` that says what to give."""
    url = _ollama_url(value)
    parts = urllib.parse.urlsplit(url)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # not a number, or over 65535
        port_ok = False
    if (
        not port_ok
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username
        or parts.query
        or parts.fragment
        or any(ch.isspace() for ch in url)
    ):
        raise ConfigError(
            f"ollama_host {value.strip()!r} is not an address: give host:port or "
            "http(s)://host:port, e.g. 127.0.0.1:11434"
        )
    return url


def update_config_file(path: Path, values: Mapping[str, Any]) -> None:
    """Set top-level ``values`` in the TOML file at ``path`` (created if missing), keeping
    everything else in it, comments included. The file is replaced atomically: a reader
    sees the old file or the new one, never half of it."""
    import tomlkit  # only the server's settings page writes the file
    import tomlkit.exceptions

    path = path.resolve()
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        document = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}): fix it by hand first") from exc
    for name, value in values.items():
        document[name] = value
    write_config_file(path, tomlkit.dumps(document))


def write_config_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename, keeping the
    file's permissions (a new file is readable by its owner only: it may hold API keys)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

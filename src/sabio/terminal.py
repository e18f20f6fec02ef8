"""What every `sabio` command shares: the consoles, the common options, JSON output, and
the service built with the settings the top-level options asked for."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.console import Console

from sabio.config import load_settings
from sabio.service import Sabio

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)

KbOption = Annotated[str | None, typer.Option("--kb", help="Knowledge base (default: 'default').")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def service(ctx: typer.Context) -> Sabio:
    """The service, with the settings the top-level options asked for."""
    return Sabio(load_settings(ctx.find_root().obj))


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def default_language() -> str:
    """The language the person's environment asks for: SABIO_LANGUAGE, else LANG."""
    lang = os.environ.get("SABIO_LANGUAGE") or os.environ.get("LANG", "")
    return "es" if lang.lower().startswith("es") else "en"


def in_language(
    texts: Mapping[str, tuple[str, str]], key: str, language: str, **values: object
) -> str:
    """``texts[key]`` (English, Spanish) in ``language``, filled with ``values``."""
    en, es = texts[key]
    return (es if language == "es" else en).format(**values)

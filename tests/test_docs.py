"""Docs stay honest: every setting is documented."""

from __future__ import annotations

from pathlib import Path

from sabio.config import setting_help

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_setting_is_in_the_configuration_doc() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = [name for name, _, _ in setting_help() if f"| `{name}` |" not in text]
    assert missing == []
    as_toml = {"False": "false", "True": "true", "": '""'}
    stale = [
        name
        for name, default, _ in setting_help()
        if default != "(see help)"
        and f"| `{name}` | `{as_toml.get(default, default)}` |" not in text
    ]
    assert stale == [], "defaults in docs/configuration.md differ from the code"

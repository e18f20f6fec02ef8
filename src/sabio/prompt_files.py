"""The prompt files in ``sabio/prompts`` (``answer.es.md``, ``sql.en.md``, ``no_answer.en.txt``…),
read once each: one reader for the answers, the table computations and the document tasks."""

from __future__ import annotations

import functools
import importlib.resources


@functools.cache
def prompt_text(name: str, language: str) -> str:
    """The prompt ``name`` in ``language`` (``.md`` or ``.txt``), without surrounding space."""
    folder = importlib.resources.files("sabio").joinpath("prompts")
    for suffix in (".md", ".txt"):
        path = folder.joinpath(f"{name}.{language}{suffix}")
        if path.is_file():
            return path.read_text(encoding="utf-8").strip()
    raise FileNotFoundError(f"no prompt {name}.{language} in sabio/prompts")

"""Extraction: one JSON object per document that validates against a JSON Schema.

    extract_document(model, pages, schema) ─► Extraction(data, pages, valid, …)

Validity is enforced, not hoped for: the model answers under its backend's constrained
output (:attr:`sabio.models.ChatOptions.json_schema`: Ollama's ``format``, an
OpenAI-compatible ``response_format``, a llama.cpp grammar for the embedded model), the
reply is validated with ``jsonschema``, and a reply that fails goes back once with the
validation error.

Routing by counted tokens: a document that fits the model's context with the prompt, the
schema and the answer's budget is read whole; a longer one is read in parts of whole pages
in order, each part answering a relaxed schema (every property may be null), the parts'
values merged (the first value found for a field, lists joined), and, when the merged
object does not validate, one last constrained call with the original schema over the
merged values and the first part.

Every value is then looked for in the document's pages: ``pages`` maps a field's path
("total", "parties/0") to the page it was found on; values found on no page are listed in
``unlocated``: the model may have made them up, and the CLI says so.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sabio.errors import ConfigError
from sabio.language import detect_language
from sabio.models import ChatModel, ChatOptions
from sabio.prompt_files import prompt_text
from sabio.routing import Route, document_route
from sabio.tasks.budget import Page, split_parts, text_budget

BUILT_IN = ("invoice", "contract", "cv", "minutes")
ANSWER_TOKENS = 768
"""Most tokens an answer may take (and so what the document's text must leave free)."""

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Extraction:
    data: dict[str, Any] | None
    valid: bool
    error: str = ""
    """Why the last reply did not validate (empty when ``valid``)."""
    pages: dict[str, int] = field(default_factory=dict)
    unlocated: list[str] = field(default_factory=list)
    route: Route = field(default_factory=functools.partial(Route, "document", "extract"))
    calls: int = 0


def load_schema(ref: str) -> dict[str, Any]:
    """A built-in schema by name (invoice, contract, cv, minutes), a JSON Schema file, or
    the schema itself, written out (``'{"type": "object", …}'``, as a shell passes it);
    a ConfigError that says what is wrong with it otherwise."""
    if ref in BUILT_IN:
        folder = importlib.resources.files("sabio").joinpath("tasks", "schemas")
        text = folder.joinpath(f"{ref}.json").read_text(encoding="utf-8")
    elif ref.lstrip().startswith("{"):  # no file name starts with a brace: the schema
        text, ref = ref, ref.strip() if len(ref.strip()) <= 40 else ref.strip()[:40] + "…"
    else:
        path = Path(ref)
        if not path.is_file():
            raise ConfigError(
                f"no schema {ref!r}: give a JSON Schema file or one of {', '.join(BUILT_IN)}",
                key="schema_missing",
                schema=ref,
            )
        text = path.read_text(encoding="utf-8")
    try:
        schema = json.loads(text)
    except ValueError as exc:
        raise ConfigError(
            f"the schema {ref!r} is not JSON: {exc}", key="schema_invalid", detail=str(exc)
        ) from exc
    return check_schema(schema, ref)


def check_schema(schema: Any, ref: str) -> dict[str, Any]:
    """``schema`` when it is a JSON Schema of an object; a ConfigError that says what is
    wrong with it (``ref``: what it was given as) otherwise."""
    import jsonschema

    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise ConfigError(
            f'the schema {ref!r} must describe an object ("type": "object")',
            key="schema_invalid",
            detail='"type": "object"',
        )
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ConfigError(
            f"the schema {ref!r} is not a valid JSON Schema: {exc.message}",
            key="schema_invalid",
            detail=exc.message,
        ) from exc
    return schema


def extract_document(
    model: ChatModel,
    pages: Sequence[Page],
    schema: Mapping[str, Any],
    *,
    title: str = "",
    progress: Progress | None = None,
) -> Extraction:
    """One object for the document made of ``pages`` (see the module docstring)."""
    text = "\n\n".join(t for _, t in pages)
    language = detect_language(text[:4000])
    system = prompt_text("extract", language)
    schema_text = json.dumps(schema, ensure_ascii=False)
    budget = text_budget(model, system + schema_text + title, ANSWER_TOKENS)
    parts = list(split_parts(model, pages, budget))
    tokens = sum(model.count_tokens(part) for part in parts)
    route = document_route("extract", tokens, budget, len(parts))
    ask = _Asker(model, system, title)
    if len(parts) == 1:
        data, error = ask(parts[0], schema)
        return _located(Extraction(data, not error, error, route=route, calls=ask.calls), pages)
    relaxed = relax(schema)
    merged: dict[str, Any] = {}
    for number, part in enumerate(parts, 1):
        if progress is not None:
            progress(f"part {number} of {len(parts)}")
        found, _ = ask(part, relaxed)
        merged = merge(merged, found or {})
    error = _validation_error(merged, schema)
    if not error:
        return _located(Extraction(merged, True, route=route, calls=ask.calls), pages)
    known = json.dumps(merged, ensure_ascii=False)
    data, error = ask(parts[0], schema, known=known)
    return _located(Extraction(data, not error, error, route=route, calls=ask.calls), pages)


class _Asker:
    """One constrained call, validated, and once more with the error when it fails."""

    def __init__(self, model: ChatModel, system: str, title: str) -> None:
        self.model, self.system, self.title, self.calls = model, system, title, 0

    def __call__(
        self, text: str, schema: Mapping[str, Any], known: str = ""
    ) -> tuple[dict[str, Any] | None, str]:
        schema_text = json.dumps(schema, ensure_ascii=False)
        user = f"Document: {self.title}\n\n{text}\n\nJSON Schema:\n{schema_text}"
        if known:
            user += f"\n\nValues found so far in the whole document:\n{known}"
        messages = [{"role": "system", "content": self.system}, {"role": "user", "content": user}]
        options = ChatOptions(max_tokens=ANSWER_TOKENS, temperature=0.0, json_schema=schema)
        data, error, reply = self._once(messages, options, schema)
        if not error:
            return data, ""
        messages += [
            {"role": "assistant", "content": reply},
            {"role": "user", "content": f"That JSON is not valid: {error}. Write it again."},
        ]
        data, error, _ = self._once(messages, options, schema)
        return data, error

    def _once(
        self, messages: list[dict[str, str]], options: ChatOptions, schema: Mapping[str, Any]
    ) -> tuple[dict[str, Any] | None, str, str]:
        self.calls += 1
        reply = "".join(self.model.stream(messages, options))
        try:
            data = json.loads(_json_part(reply))
        except ValueError as exc:
            return None, f"not JSON ({exc})", reply
        if not isinstance(data, dict):
            return None, "not a JSON object", reply
        return data, _validation_error(data, schema), reply


def _json_part(reply: str) -> str:
    """The reply from its first ``{`` to its last ``}`` (a model may wrap it in a fence)."""
    start, end = reply.find("{"), reply.rfind("}")
    return reply[start : end + 1] if 0 <= start < end else reply


def _validation_error(data: Any, schema: Mapping[str, Any]) -> str:
    import jsonschema

    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(data)
    )
    if error is None:
        return ""
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{where}: {error.message}" if where else error.message


def relax(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` with every property of its top object allowed to be null (a part of a
    document may not hold a field); properties stay required, so the model writes each."""
    properties = {
        name: {"anyOf": [dict(sub), {"type": "null"}]}
        for name, sub in (schema.get("properties") or {}).items()
    }
    return {**schema, "properties": properties, "required": list(properties)}


def merge(into: dict[str, Any], found: Mapping[str, Any]) -> dict[str, Any]:
    """``into`` with ``found``'s values where it has none; lists joined without repeats,
    objects merged the same way."""
    merged = dict(into)
    for key, value in found.items():
        old = merged.get(key)
        if value is None or value == "" or value == []:
            merged.setdefault(key, value)
        elif isinstance(old, list) and isinstance(value, list):
            merged[key] = old + [v for v in value if v not in old]
        elif isinstance(old, dict) and isinstance(value, dict):
            merged[key] = merge(old, value)
        elif old is None or old == "" or old == []:
            merged[key] = value
    return merged


# where each value was found

_SPACE = re.compile(r"\s+")
_THOUSANDS = re.compile(r"(?<=\d)[.,\s\u00a0\u202f](?=\d{3}(?!\d))")


def _located(extraction: Extraction, pages: Sequence[Page]) -> Extraction:
    if extraction.data is None:
        return extraction
    texts = [(page, _normal(text)) for page, text in pages]
    found: dict[str, int] = {}
    unlocated: list[str] = []
    for path, value in _leaves(extraction.data):
        page = _page_of(value, texts)
        if page is None:
            unlocated.append(path)
        elif page > 0:
            found[path] = page
    return Extraction(
        extraction.data,
        extraction.valid,
        extraction.error,
        found,
        unlocated,
        extraction.route,
        extraction.calls,
    )


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _leaves(sub, f"{path}/{key}" if path else str(key))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from _leaves(sub, f"{path}/{i}")
    elif value is not None and value != "" and not isinstance(value, bool):
        yield path, value


def _normal(text: str) -> str:
    return _SPACE.sub(" ", _THOUSANDS.sub("", text)).casefold()


def _page_of(value: Any, texts: Sequence[tuple[int | None, str]]) -> int | None:
    """The first page holding ``value`` (0 for a document without pages), None when no
    page does. A number matches as written with either decimal separator."""
    if isinstance(value, int | float):
        number = float(value)
        shown = f"{int(number)}" if number.is_integer() else f"{number:.2f}".rstrip("0")
        forms = {shown, shown.replace(".", ",")}
        if number.is_integer():
            forms |= {f"{int(number)}.00", f"{int(number)},00"}
        pattern = re.compile(
            r"(?<![\d.,])(?:" + "|".join(re.escape(f) for f in sorted(forms)) + r")(?![\d])"
        )
        for page, text in texts:
            if pattern.search(text):
                return page or 0
        return None
    wanted = _normal(str(value))
    for page, text in texts:
        if wanted in text:
            return page or 0
    return None

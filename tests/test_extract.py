"""Extraction to JSON against a schema (sabio.tasks.extract): the real embedded model under
its grammar, a scripted model through the chat registry for retries and long documents,
the real store for the document's pages."""

from __future__ import annotations

import json
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import ClassVar

import jsonschema
import pytest
from typer.testing import CliRunner

from sabio.cli import app
from sabio.config import Settings, load_settings
from sabio.errors import ConfigError
from sabio.models import ChatOptions, Message, get_chat_model, register_chat_backend
from sabio.service import Sabio
from sabio.tasks.extract import extract_document, load_schema, merge, relax

INVOICE = """FACTURA 2024-0113

Emisor: Talleres Gómez S.L., Calle Mayor 4, Zaragoza
Cliente: Panadería La Espiga
Fecha de emisión: 14 de marzo de 2024

Base imponible: 1.200,00 EUR
IVA (21%): 252,00 EUR
Total a pagar: 1.452,00 EUR
"""

SCHEMA = {
    "type": "object",
    "properties": {
        "seller": {"type": "string"},
        "total": {"type": "number"},
        "currency": {"type": "string", "enum": ["EUR", "USD"]},
    },
    "required": ["seller", "total", "currency"],
}


class Scripted:
    """Answers each call with the next of its replies; records the options it got."""

    replies: ClassVar[list[str]] = []

    def __init__(self, window: int) -> None:
        self.name, self.context_window = f"scripted:{window}", window
        self.options: list[ChatOptions] = []
        self.prompts: list[str] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 1

    def stream(
        self, messages: Sequence[Message], options: ChatOptions
    ) -> Generator[str, None, str | None]:
        self.options.append(options)
        self.prompts.append(messages[-1]["content"])
        yield Scripted.replies.pop(0)
        return "stop"


@register_chat_backend("scripted")
def _scripted(settings: Settings, model: str) -> Scripted:
    return Scripted(int(model))


def test_the_embedded_model_answers_json_the_schema_accepts() -> None:
    model = get_chat_model(load_settings({}, environ={}), "embedded:smollm2")
    found = extract_document(model, [(1, INVOICE)], SCHEMA, title="factura")
    assert found.valid, found.error
    jsonschema.validate(found.data, SCHEMA)  # the grammar held, whatever the values
    assert found.route.kind == "document" and found.route.tokens <= found.route.budget
    # every value is either located on the page or listed as not found
    assert set(found.pages) | set(found.unlocated) == {"seller", "total", "currency"}


def test_an_invalid_reply_goes_back_once_with_the_error() -> None:
    model = Scripted(4096)
    Scripted.replies = [
        '{"seller": "Talleres Gómez S.L.", "total": "mil", "currency": "EUR"}',
        '```json\n{"seller": "Talleres Gómez S.L.", "total": 1452.0, "currency": "EUR"}\n```',
    ]
    found = extract_document(model, [(3, INVOICE)], SCHEMA)
    assert found.valid and found.calls == 2
    assert "total" in model.prompts[1] and "not valid" in model.prompts[1]
    assert model.options[0].json_schema == SCHEMA
    assert found.pages == {"seller": 3, "total": 3, "currency": 3}  # 1.452,00 is 1452.0
    assert found.unlocated == []


def test_a_reply_still_invalid_after_the_retry_is_marked_invalid_not_hidden() -> None:
    Scripted.replies = ['{"seller": 1}', "no json at all"]
    found = extract_document(Scripted(4096), [(1, INVOICE)], SCHEMA)
    assert not found.valid and found.error and found.calls == 2


def test_a_value_the_document_does_not_hold_is_listed_as_unlocated() -> None:
    Scripted.replies = ['{"seller": "Contoso Ltd", "total": 999.5, "currency": "EUR"}']
    found = extract_document(Scripted(4096), [(1, INVOICE)], SCHEMA)
    assert found.valid
    assert found.unlocated == ["seller", "total"] and found.pages == {"currency": 1}


def test_a_long_document_is_read_in_parts_and_merged_in_order() -> None:
    pages = [(1, "Emisor: Talleres Gómez S.L. " + "relleno " * 300)]
    pages += [(2, "Total a pagar: 1.452,00 EUR " + "relleno " * 300)]
    Scripted.replies = [
        '{"seller": "Talleres Gómez S.L.", "total": null, "currency": null}',
        '{"seller": "Otro", "total": 1452, "currency": "EUR"}',
    ]
    model = Scripted(1400)  # room for one page a call
    found = extract_document(model, pages, SCHEMA)
    assert (found.route.kind, found.route.parts) == ("map-reduce", 2)
    assert found.route.tokens > found.route.budget and found.calls == 2 and found.valid
    assert found.data == {"seller": "Talleres Gómez S.L.", "total": 1452, "currency": "EUR"}
    assert found.pages == {"seller": 1, "total": 2, "currency": 2}
    # the parts answered a schema where a field may be missing from that part
    part_schema = model.options[0].json_schema
    assert part_schema == relax(SCHEMA)
    jsonschema.validate({"seller": None, "total": None, "currency": None}, part_schema)


def test_merge_keeps_the_first_value_and_joins_lists() -> None:
    merged = merge({"a": None, "b": [1], "c": {"x": None}}, {"a": 2, "b": [1, 3], "c": {"x": 4}})
    assert merged == {"a": 2, "b": [1, 3], "c": {"x": 4}}
    assert merge({"a": 1}, {"a": 2}) == {"a": 1}


def test_schemas_built_in_and_bad_ones(tmp_path: Path) -> None:
    for name in ("invoice", "contract", "cv", "minutes"):
        assert load_schema(name)["type"] == "object"
    given = ' {"type": "object", "properties": {"year": {"type": "integer"}}}'
    assert load_schema(given)["properties"] == {"year": {"type": "integer"}}  # written out
    (tmp_path / "notjson.json").write_text("{", encoding="utf-8")
    (tmp_path / "list.json").write_text('{"type": "array"}', encoding="utf-8")
    (tmp_path / "bad.json").write_text('{"type": "object", "required": 3}', encoding="utf-8")
    for ref, key in (
        (str(tmp_path / "missing.json"), "schema_missing"),
        (str(tmp_path / "notjson.json"), "schema_invalid"),
        (str(tmp_path / "list.json"), "schema_invalid"),
        (str(tmp_path / "bad.json"), "schema_invalid"),
        ('{"type": "object", ', "schema_invalid"),  # written out, cut short
    ):
        with pytest.raises(ConfigError) as caught:
            load_schema(ref)
        assert caught.value.key == key


def test_document_pages_give_the_text_back_without_the_overlaps(
    sabio: Sabio, tmp_path: Path
) -> None:
    paragraphs = [
        f"Paragraph {i}: " + " ".join(f"word{i}x{j}" for j in range(60)) for i in range(40)
    ]
    path = tmp_path / "long.txt"
    path.write_text("\n\n".join(paragraphs), encoding="utf-8")
    sabio.add([path])
    kb = sabio.kb()
    doc = sabio.store.list_documents(kb.id)[0]
    assert doc.chunk_count > 3  # several overlapping passages
    pages = sabio.store.document_pages(kb.id, doc.id)
    assert [page for page, _ in pages] == [None]
    assert pages[0][1].split() == "\n\n".join(paragraphs).split()


def test_sabio_extract_writes_one_valid_line_per_document(tmp_path: Path) -> None:
    folder = tmp_path / "facturas"
    folder.mkdir()
    (folder / "a.txt").write_text(INVOICE, encoding="utf-8")
    (folder / "b.txt").write_text(INVOICE.replace("1.452,00", "2.904,00"), encoding="utf-8")
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(SCHEMA), encoding="utf-8")
    Scripted.replies = [
        '{"seller": "Talleres Gómez S.L.", "total": 1452, "currency": "EUR"}',
        '{"seller": "Talleres Gómez S.L.", "total": 2904, "currency": "EUR"}',
    ]
    out = tmp_path / "out.jsonl"
    home = ["--home", str(tmp_path / "home")]
    env = {"SABIO_EMBEDDING_MODEL": "fake:words"}
    result = CliRunner().invoke(
        app,
        [
            *home,
            "extract",
            str(folder),
            "--schema",
            str(schema),
            "--model",
            "scripted:4096",
            "--out",
            str(out),
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [Path(line["document"]).name for line in lines] == ["a.txt", "b.txt"]
    assert all(line["valid"] for line in lines)
    assert [line["data"]["total"] for line in lines] == [1452, 2904]
    assert "2 documents, 2 valid against the schema." in result.stderr
    bad = CliRunner().invoke(app, [*home, "extract", "--schema", "nope"], env=env)
    assert bad.exit_code == 1 and "no schema 'nope'" in bad.output
    Scripted.replies = ['{"seller": "Talleres Gómez S.L.", "total": 1452, "currency": "EUR"}']
    one = CliRunner().invoke(
        app,
        [*home, "extract", "--schema", str(schema), "-d", "a.txt", "--model", "scripted:4096"],
        env={**env, "SABIO_LANGUAGE": "es"},
    )
    assert "1 documento, 1 válido según el esquema." in one.stderr, one.output


@pytest.mark.parametrize("backend", ["ollama", "openai"])
def test_the_http_backends_send_the_schema_and_their_reply_is_validated(
    backend: str, tmp_path: Path
) -> None:
    """Ollama gets the schema as ``format``, an OpenAI-compatible server as
    ``response_format``; what comes back is checked against it like any reply."""
    from fake_servers import FakeOllama, chat_model

    from sabio.config import OpenAIServer

    reply = '{"seller": "Talleres Gómez S.L.", "total": 1452.0, "currency": "EUR"}'
    model_info = chat_model("qwen2.5:7b", context_length=8192)
    model_info.reply = reply
    with FakeOllama([model_info]) as server:
        if backend == "ollama":
            settings = Settings(home=tmp_path, ollama_host=server.url)
            model, path = get_chat_model(settings, "ollama:qwen2.5:7b"), "/api/chat"
        else:
            servers = {"lmstudio": OpenAIServer(base_url=f"{server.url}/v1", api_key="")}
            settings = Settings(home=tmp_path, openai_servers=servers)
            model, path = get_chat_model(settings, "lmstudio:qwen2.5:7b"), "/v1/chat/completions"
        found = extract_document(model, [(3, INVOICE)], SCHEMA)
        [body] = [r.json for r in server.requests if r.path == path]
    assert found.valid and found.calls == 1, found.error
    assert found.data == json.loads(reply) and found.pages["total"] == 3
    if backend == "ollama":
        assert body["format"] == SCHEMA
    else:
        assert body["response_format"]["type"] == "json_schema"
        assert body["response_format"]["json_schema"]["schema"] == SCHEMA

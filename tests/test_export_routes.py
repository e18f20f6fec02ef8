"""How an answer or a task was made (its route: top-k passages, the whole document,
map-reduce…) is in what Sabio exports: a chat's Markdown and a task's files, in Spanish
and English, in the words the web app uses for it (i18n.js ``route.*``). The exports
through the API are tested in test_chat_versions.py and test_task_jobs.py."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

import pytest

import sabio
from sabio.chats import chat_markdown
from sabio.routing import ROUTE_WORDS, Route, route_words
from sabio.store.chats import Chat, ChatMessage
from sabio.tasks.results import render_result, result_markdown

STATIC = Path(sabio.__file__).parent / "web" / "static"
MAP_REDUCE = Route("map-reduce", "summarize", tokens=19795, budget=1423, parts=15, rounds=2)


def web_words() -> dict[str, dict[str, str]]:
    """The web app's ``route.*`` texts, by language, as ROUTE_WORDS names them."""
    source = (STATIC / "i18n.js").read_text(encoding="utf-8")
    spanish, english = source.split("\n  en: {\n")
    found: dict[str, dict[str, str]] = {}
    for language, part in (("es", spanish), ("en", english)):
        texts = dict(re.findall(r'^    "route\.([\w.]+)": (".*"),$', part, re.MULTILINE))
        words = {name: json.loads(text) for name, text in texts.items()}
        one, many = words.pop("rounds").split("|")
        words |= {"round": one, "rounds": many}
        words["map-reduce"] = words.pop("mapReduce")
        for kind in ("passages", "document"):
            words[f"{kind}_plain"] = words.pop(f"{kind}Plain")
        for task in ("summarize", "translate", "extract"):
            words[task] = words.pop(f"task.{task}")
        words.pop("answer")  # "How it was answered: {route}", the chat's label
        found[language] = words
    return found


def test_the_exports_say_a_route_in_the_web_apps_words() -> None:
    assert web_words() == ROUTE_WORDS


@pytest.mark.parametrize(
    ("language", "said"),
    [
        (
            "en",
            "Summary · map-reduce: 15 parts of up to 1,423 tokens (19,795 counted), "
            "2 rounds of combining",
        ),
        (
            "es",
            "Resumen · por partes (map-reduce): 15 partes de hasta 1423 tokens "
            "(19.795 contados), 2 rondas de combinación",
        ),
    ],
)
def test_a_route_in_words(language: str, said: str) -> None:
    assert route_words(asdict(MAP_REDUCE), language) == said


def test_routes_without_figures_and_answers_without_a_route() -> None:
    assert route_words(asdict(Route("passages")), "es") == "los pasajes más relevantes (top-k)"
    one_round = asdict(Route("map-reduce", "translate", 900, 300, parts=3, rounds=1))
    assert route_words(one_round).endswith(", 1 round of combining")
    assert route_words({}) == "" and route_words(None, "es") == ""  # kept before routes were


def _chat(route: dict[str, object]) -> Chat:
    question = ChatMessage(1, "user", "¿Qué dice el informe?", [], True, 0.0)
    answer = ChatMessage(2, "assistant", "Que las ventas subieron [1].", [], True, 0.0, route=route)
    return Chat(1, "Informe", "docs", None, 0.0, 0.0, True, messages=[question, answer])


def test_a_chats_markdown_says_how_each_answer_was_made() -> None:
    passages = asdict(Route("passages", tokens=1200, budget=1500, passages=4))
    english = chat_markdown(_chat(passages), "en")
    assert "*How it was answered: the top-k passages: 4 in 1,200 of 1,500 prompt tokens*" in english
    spanish = chat_markdown(_chat(passages), "es")
    assert "*Cómo se respondió: los pasajes más relevantes (top-k): 4 en 1200 de 1500" in spanish
    assert "Cómo se respondió" not in chat_markdown(_chat({}), "es")  # an old answer: none


def test_a_tasks_files_say_how_it_read_the_document() -> None:
    item = {
        "document": "report.pdf",
        "document_id": 1,
        "title": "Report",
        "summary": "Sales rose [3].",
        "claims": [],
        "route": asdict(MAP_REDUCE),
    }
    result = {"kind": "summarize", "items": [item]}
    spanish = result_markdown(result, "es")
    assert spanish.rstrip().endswith(
        "**Cómo:** Resumen · por partes (map-reduce): 15 partes de hasta 1423 tokens "
        "(19.795 contados), 2 rondas de combinación"
    )
    text = render_result(result, "text", "en").decode("utf-8")
    assert "How: Summary · map-reduce: 15 parts" in text and "**" not in text

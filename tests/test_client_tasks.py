"""The clients' own tasks (titles, tags, follow-ups, queries, autocomplete) sent to a
knowledge base with the real templates of Open WebUI, Page Assist, LibreChat and Continue
(tests/client_templates.py), over real HTTP (uvicorn) and the ``ollama`` and ``openai``
clients, in English and Spanish; and :mod:`sabio.server.client_tasks` on its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import client_templates as t
import httpx
import ollama
import openai
import pytest
from conftest import running_server
from fake_servers import closed_port

from sabio.config import load_settings
from sabio.models import ChatOptions
from sabio.server import create_app
from sabio.server.client_tasks import (
    ClientTask,
    answer_task,
    checked_answer,
    conversation_answer,
    recognise,
    title_of,
)
from sabio.service import Sabio

FARO = "El faro de Alejandría guiaba a los barcos hacia el puerto durante la noche."
ENGLISH: t.Conversation = [
    ("user", "What guided the ships into the harbour of Alexandria?"),
    ("assistant", "The lighthouse guided the ships [1].\n\n---\n**Sources**\n- [1] light.txt\n"),
]
SPANISH: t.Conversation = [
    ("user", "¿Qué guiaba a los barcos hacia el puerto de Alejandría?"),
    ("assistant", "El faro guiaba a los barcos [1].\n\n---\n**Fuentes**\n- [1] faro.txt\n"),
]
KEY_WORDS = {"en": ("ships", "harbour", "Alexandria"), "es": ("barcos", "puerto", "Alejandría")}
CONVERSATIONS = {"en": ENGLISH, "es": SPANISH}


@pytest.fixture(params=["fake:echo", "fake:made-up"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A server whose model cannot do the tasks: it repeats the prompt, or says a figure."""
    values = {
        "home": tmp_path / "home",
        "embedding_model": "fake:words",
        "chat_model": request.param,
        "workers": 2,
        "ollama_host": f"http://127.0.0.1:{closed_port()}",
    }
    settings = load_settings(values, environ={})
    (tmp_path / "faro.txt").write_text(FARO, encoding="utf-8")
    with closing(Sabio(settings)) as sabio:
        sabio.create_kb("docs")
        sabio.add([tmp_path / "faro.txt"], "docs")
    with running_server(create_app(settings)) as base:
        yield base


def _chat(url: str, prompt: str) -> str:
    with ollama.Client(host=url) as client:
        reply = client.chat(model="kb/docs:latest", messages=[{"role": "user", "content": prompt}])
        streamed = "".join(
            part.message.content or ""
            for part in client.chat(
                model="kb/docs:latest", messages=[{"role": "user", "content": prompt}], stream=True
            )
        )
    text = reply.message.content or ""
    assert streamed == text
    assert "**Fuentes**" not in text and "**Sources**" not in text  # no retrieval
    return text


def _in_language(text: str, language: str) -> None:
    assert any(word.casefold() in text.casefold() for word in KEY_WORDS[language]), text


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("template", [t.OPEN_WEBUI_TITLE, t.OPEN_WEBUI_06_TITLE])
def test_open_webui_titles_are_json_from_the_question(
    url: str, template: str, language: str
) -> None:
    reply = json.loads(_chat(url, t.open_webui(template, CONVERSATIONS[language])))
    title = reply["title"]
    assert isinstance(title, str) and 1 <= len(title.split()) <= 10
    assert "concise title" not in title.casefold()
    _in_language(title, language)


@pytest.mark.parametrize("language", ["en", "es"])
def test_open_webui_tags_are_the_conversations_words(url: str, language: str) -> None:
    tags = json.loads(_chat(url, t.open_webui(t.OPEN_WEBUI_TAGS, CONVERSATIONS[language])))["tags"]
    assert 1 <= len(tags) <= 3 and all(isinstance(tag, str) for tag in tags)
    assert not {"tag1", "tag2", "tag3"} & set(tags)
    _in_language(" ".join(tags), language)


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("template", [t.OPEN_WEBUI_FOLLOW_UPS, t.OPEN_WEBUI_0_12_4_FOLLOW_UPS])
def test_open_webui_follow_ups_are_questions_in_the_chats_language(
    url: str, language: str, template: str
) -> None:
    prompt = t.open_webui(template, CONVERSATIONS[language])
    follow_ups = json.loads(_chat(url, prompt))["follow_ups"]
    assert len(follow_ups) >= 3 and all(q.endswith("?") for q in follow_ups)
    assert "Question 1?" not in follow_ups
    cited = "light.txt" if language == "en" else "faro.txt"
    assert any(cited in q for q in follow_ups)  # the document the answer cited
    if language == "es":
        assert all(q.startswith("¿") for q in follow_ups)


@pytest.mark.parametrize("language", ["en", "es"])
def test_open_webui_queries_are_the_question(url: str, language: str) -> None:
    prompt = t.open_webui(t.OPEN_WEBUI_QUERIES, CONVERSATIONS[language])
    assert json.loads(_chat(url, prompt)) == {"queries": [CONVERSATIONS[language][0][1]]}


def test_open_webui_autocomplete_is_valid_json(url: str) -> None:
    prompt = t.open_webui(t.OPEN_WEBUI_AUTOCOMPLETE, ENGLISH, typed="The lighthouse of")
    reply = json.loads(_chat(url, prompt))
    assert set(reply) == {"text"} and isinstance(reply["text"], str)


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("template", [t.PAGE_ASSIST_TITLE, t.PAGE_ASSIST_OLD_TITLE])
@pytest.mark.parametrize("turns", [1, 2])
def test_page_assist_titles_are_plain_text(
    url: str, template: str, language: str, turns: int
) -> None:
    title = _chat(url, t.page_assist(template, CONVERSATIONS[language][:turns]))
    assert "\n" not in title and 1 <= len(title.split()) <= 10
    assert "not in your documents" not in title and "no está en tus documentos" not in title
    _in_language(title, language)


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("template", [t.LIBRECHAT_COMPLETION_TITLE, t.LIBRECHAT_STRUCTURED_TITLE])
def test_librechat_titles_over_the_openai_api(url: str, template: str, language: str) -> None:
    prompt = t.librechat(template, CONVERSATIONS[language])
    with openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0) as client:
        reply = client.chat.completions.create(
            model="kb/docs", messages=[{"role": "user", "content": prompt}]
        )
    title = reply.choices[0].message.content or ""
    assert "\n" not in title and "Sources" not in title and "Fuentes" not in title
    _in_language(title, language)


@pytest.mark.parametrize("language", ["en", "es"])
def test_continue_titles_over_generate(url: str, language: str) -> None:
    body = {"model": "kb/docs", "prompt": t.continue_dev(CONVERSATIONS[language]), "stream": False}
    title = httpx.post(f"{url}/api/generate", json=body).json()["response"]
    assert "\n" not in title and "Fuentes" not in title
    _in_language(title, language)


def test_a_question_about_titles_is_still_a_question(url: str) -> None:
    body = {
        "model": "kb/docs",
        "messages": [{"role": "user", "content": "¿Qué título tiene el documento del faro?"}],
        "stream": False,
    }
    text = httpx.post(f"{url}/api/chat", json=body).json()["message"]["content"]
    assert "**Fuentes**" in text  # answered from the documents, with its sources


# the module on its own


def test_recognised_tasks_quote_the_conversation() -> None:
    prompt = t.open_webui(t.OPEN_WEBUI_TAGS, SPANISH)
    task = recognise([{"role": "user", "content": prompt}])
    assert task is not None and task.kind == "tags" and task.json_key == "tags"
    assert [m["role"] for m in task.conversation] == ["user", "assistant"]
    assert task.conversation[0]["content"] == SPANISH[0][1]
    assert task.language == "es"
    page = recognise([{"role": "user", "content": t.page_assist(t.PAGE_ASSIST_TITLE, ENGLISH)}])
    assert page is not None and page.kind == "title" and page.json_key is None
    assert recognise([{"role": "user", "content": "Give me a title for my essay on ships"}]) is None


def test_a_model_that_can_do_the_task_is_believed() -> None:
    task = recognise([{"role": "user", "content": t.open_webui(t.OPEN_WEBUI_TITLE, ENGLISH)}])
    assert task is not None
    good = '```json\n{ "title": "Alexandria Lighthouse" }\n```'
    assert checked_answer(task, good) == '{"title": "Alexandria Lighthouse"}'
    for copied in ('{"title": "Your concise title here"}', '{"title": "Stock Trends"}', "Title"):
        assert checked_answer(task, copied) is None
    tags = recognise([{"role": "user", "content": t.open_webui(t.OPEN_WEBUI_TAGS, ENGLISH)}])
    assert tags is not None
    assert checked_answer(tags, '{"tags": ["tag1", "tag2"]}') is None
    assert checked_answer(tags, '{"tags": ["History", "Lighthouses"]}') is not None


class _Titler:
    """A model that does the task right (a real one, not too small)."""

    name = "test:titler"
    context_window = 2048

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(self, messages: object, options: ChatOptions) -> Iterator[str]:
        yield "Lighthouse of "
        yield "Alexandria"


def test_answer_task_takes_a_checked_model_answer() -> None:
    prompt = t.page_assist(t.PAGE_ASSIST_TITLE, ENGLISH)
    messages = [{"role": "user", "content": prompt}]
    task = recognise(messages)
    assert isinstance(task, ClientTask)
    assert answer_task(task, messages, _Titler(), ChatOptions()) == "Lighthouse of Alexandria"
    assert answer_task(task, messages, None, ChatOptions()) == title_of(ENGLISH[0][1])


def test_titles_keep_the_questions_words_and_language() -> None:
    assert title_of("¿Qué guiaba a los barcos hacia el puerto de Alejandría?") == (
        "Guiaba a los barcos hacia el puerto de Alejandría"
    )
    assert title_of("What is the capital of Norway?") == "Capital of Norway"
    assert title_of("cSMAC formation represses weak ligand signalling.") == (
        "cSMAC formation represses weak ligand signalling"
    )


def test_tags_keep_a_names_own_capitals() -> None:
    asked: t.Conversation = [("user", "Does cSMAC formation repress signalling in iPhone cells?")]
    task = recognise([{"role": "user", "content": t.open_webui(t.OPEN_WEBUI_TAGS, asked)}])
    assert task is not None
    tags = json.loads(conversation_answer(task))["tags"]
    assert "cSMAC" in tags and "CSMAC" not in tags
    assert all(tag[:1].isupper() or not tag.islower() for tag in tags)

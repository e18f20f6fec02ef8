"""Knowledge-base answers in Ollama's shapes (:mod:`.ollama_api` routes them).

A chat's messages become Sabio's question and earlier turns (the sources footer of
earlier answers taken out); the answer runs through :meth:`Sabio.ask` and becomes
Ollama's lines: text in ``done: false`` lines, the citations as a Markdown sources
footer (:func:`sources_footer`), then the ``done: true`` line with ``done_reason`` and
the metrics (nanoseconds; token counts estimated where the model gives none). The
clients' own tasks (titles, tags, follow-ups, queries: :mod:`.client_tasks`) get an
answer in the format they ask, without retrieval; other ``### Task:`` prompts of Open
WebUI go to the plain chat model, and so does a request for Sabio's embedded model by
name (``generator``). A prompt that carries the client's own passages (Page Assist's
Knowledge and chat with a page: :mod:`.client_context`) is answered from them and the
knowledge base's (:meth:`Sabio.ask_page`). The lines are made
by a blocking generator, run step by step on the threads for waiting work
(:mod:`.threads`) and closed as soon as the client goes, as :mod:`.events` does; the
OpenAI API (:mod:`.openai_api`) sends the same lines in its own shape.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import anyio
from fastapi.responses import Response, StreamingResponse

from sabio.answer import Answer, AnswerStream, Turn, answer_notes
from sabio.errors import ModelError, SabioError
from sabio.models import ChatModel, ChatOptions, Message, estimate_tokens
from sabio.notes import note_id
from sabio.pages import is_page_passage, open_page
from sabio.search import SearchHit
from sabio.server.client_context import GivenContext, given_context, standalone_question
from sabio.server.client_tasks import ClientTask, answer_task, recognise, uses_model
from sabio.server.errors import sabio_error_status
from sabio.server.events import close_iterator
from sabio.server.given import HEADER, GivenAnswer, new_answer_id
from sabio.server.links import document_link
from sabio.server.ollama_proxy import NDJSON, OllamaError
from sabio.server.services import Services
from sabio.server.threads import run_waiting

T = TypeVar("T")

TASK_MARK = "### Task:"
SOURCES = {"en": ("Sources", "page"), "es": ("Fuentes", "página")}
UNCITED = {
    "en": {
        "no_answer": "None of these passages answers the question (they were searched):",
        "uncited": "The answer cites none of these passages (they are the ones it was given):",
        "none": "No passage of your documents matches the question.",
    },
    "es": {
        "no_answer": "Ninguno de estos pasajes responde a la pregunta (son los consultados):",
        "uncited": "La respuesta no cita ninguno de estos pasajes (son los que se le dieron):",
        "none": "Ningún pasaje de tus documentos corresponde a la pregunta.",
    },
}
"""What the sources footer says when the answer cites no passage (:func:`sources_footer`)."""
_FOOTER = re.compile(r"\n*---\n\*\*(?:Sources|Fuentes)\*\*\n.*\Z", re.DOTALL)
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass(frozen=True, slots=True)
class KbRequest:
    """A chat or generate request to a knowledge-base model."""

    model: str
    kb: str
    question: str
    history: list[Turn]
    messages: list[Message]
    chat: bool
    task: bool
    """Open WebUI's ``### Task:`` (a client task not recognised): to the plain chat model."""
    client_task: ClientTask | None = None
    """A client task recognised (:mod:`.client_tasks`): answered in the format it asks."""
    context: GivenContext | None = None
    """Passages the client retrieved itself, sent in its prompt (:mod:`.client_context`)."""
    standalone: str | None = None
    """A follow-up made a standalone question for the client's search (the same module)."""
    generator: str = ""
    """A chat model to answer with directly, without retrieval (the embedded model)."""
    answer_id: str = field(default_factory=new_answer_id)
    """The id feedback on this answer names (:mod:`.given`), when it is a knowledge base's."""

    @property
    def at_once(self) -> bool:
        """A client's task or a standalone query: a few words the client reads whole, made
        on one trip to a thread and sent together (:func:`streamed_reply`)."""
        return self.client_task is not None or self.standalone is not None

    @property
    def id_headers(self) -> dict[str, str]:
        """The answer's id as a header, for a knowledge base's answer (not a task's)."""
        plain = not (self.task or self.client_task or self.generator or self.standalone)
        return {HEADER: self.answer_id} if plain else {}


def translated(exc: SabioError) -> OllamaError:
    return OllamaError(sabio_error_status(exc)[0], str(exc), key=exc.key, **exc.args_for_key)


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def kb_request(model: str, name: str, body: dict[str, Any], *, chat: bool) -> KbRequest | None:
    """The question, the earlier turns and the messages as sent; None when empty."""
    if not chat:
        prompt = str(body.get("prompt") or "")
        messages: list[Message] = [{"role": "user", "content": prompt}]
        if (context := given_context(prompt)) is not None:
            question, chat = context.question, False
            return KbRequest(model, name, question, [], messages, chat, False, context=context)
        return (
            KbRequest(
                model, name, prompt, [], messages, False, _is_task(prompt), recognise(messages)
            )
            if prompt.strip()
            else None
        )
    given = body.get("messages") or []
    if not isinstance(given, list) or not all(isinstance(m, dict) for m in given):
        raise OllamaError(400, key="messages_not_list")
    messages = [
        {"role": str(m.get("role") or "user"), "content": _text(m.get("content"))} for m in given
    ]
    if not messages or not any(m["content"].strip() for m in messages):
        return None
    if messages[-1]["role"] != "user":
        raise OllamaError(400, key="last_not_question")
    turns: list[Turn] = []
    pending: str | None = None
    for message in messages[:-1]:
        if message["role"] == "user":
            pending = (
                message["content"] if pending is None else f"{pending}\n\n{message['content']}"
            )
        elif message["role"] == "assistant" and pending is not None:
            turns.append(Turn(pending, _FOOTER.sub("", message["content"]).strip()))
            pending = None
    question = messages[-1]["content"]
    if (standalone := standalone_question(question)) is not None:
        return KbRequest(model, name, question, [], messages, True, False, standalone=standalone)
    if (context := given_context(question)) is not None:
        return KbRequest(
            model, name, context.question, turns, messages, True, False, context=context
        )
    task = recognise(messages)
    return KbRequest(model, name, question, turns, messages, True, _is_task(question), task)


def _text(content: object) -> str:
    """A message's text: Ollama's string, or the text parts of OpenAI's list of parts."""
    if isinstance(content, list):
        return "".join(
            str(part.get("text") or "")
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return content if isinstance(content, str) else ""


def _is_task(text: str) -> bool:
    """Open WebUI's background requests (titles, tags, follow-ups, search queries)."""
    return text.lstrip().startswith(TASK_MARK)


def reply_line(model: str, chat: bool, text: str, *, done: bool = False) -> dict[str, Any]:
    line: dict[str, Any] = {"model": model, "created_at": now()}
    if chat:
        line["message"] = {"role": "assistant", "content": text}
    else:
        line["response"] = text
    line["done"] = done
    return line


def kb_lines(services: Services, request: KbRequest) -> Iterator[dict[str, Any]]:
    """The Ollama lines of a knowledge-base answer; blocking, run on the waiting threads.
    Closed early, it closes the answer's stream."""
    started = time.perf_counter_ns()
    if not request.generator and services.reader.find_kb(request.kb) is None:
        raise OllamaError(404, key="kb_model_not_found", model=request.model, kb=request.kb)
    settings = services.settings
    answer: Answer | None = None
    stream: AnswerStream | None = None
    if request.standalone is not None:
        pieces = iter([request.standalone])
    elif request.client_task is not None:
        pieces = iter([task_answer(services, request, request.client_task)])
    elif request.task or request.generator:
        options = ChatOptions(max_tokens=settings.answer_tokens, temperature=settings.temperature)
        model = services.reader.chat_model(request.generator or None)
        pieces = iter(model.stream(request.messages, options))
    else:
        stream = kb_answer(services, request)
        answer = stream.answer
        pieces = iter(stream)
    text: list[str] = []
    first = 0
    try:
        for piece in pieces:
            first = first or time.perf_counter_ns() - started
            text.append(piece)
            yield reply_line(request.model, request.chat, piece)
    finally:
        close_iterator(pieces)
    if answer is not None:
        if answer.stopped == "error":  # the model's stream broke: said in the client's language
            raise ModelError(
                answer.error or "the answer broke off", key=answer.error_key, **answer.error_args
            )
        consulted = stream.consulted if stream else []
        if footer := sources_footer(request.kb, answer, consulted):
            text.append(footer)
            yield reply_line(request.model, request.chat, footer)
        services.given.keep(request.answer_id, GivenAnswer.of(request.kb, answer))
    total = time.perf_counter_ns() - started
    prompt_tokens = (answer.prompt_tokens if answer else 0) or sum(
        estimate_tokens(m["content"]) for m in request.messages
    )
    yield (
        reply_line(request.model, request.chat, "", done=True)
        | {
            "done_reason": "length" if answer and answer.stopped == "length" else "stop",
            "total_duration": total,
            "load_duration": 0,
            "prompt_eval_count": prompt_tokens,
            "prompt_eval_duration": first or total,
            "eval_count": estimate_tokens("".join(text)),
            "eval_duration": total - (first or total),
        }
        | ({"sabio_answer": request.answer_id} if answer is not None else {})
    )


def kb_answer(services: Services, request: KbRequest) -> AnswerStream:
    """The knowledge base's answer; with passages the client sent, from those too."""
    if request.context is None:
        return services.reader.ask(request.question, request.kb, history=request.history)
    given = open_page(request.context.text, title=request.context.title)
    return services.reader.ask_page(request.question, given, request.kb, history=request.history)


def task_answer(services: Services, request: KbRequest, task: ClientTask) -> str:
    """A client's task answered (:mod:`.client_tasks`): by the chat model when it runs
    requests in parallel, else at once from the conversation."""
    settings = services.settings
    options = ChatOptions(max_tokens=settings.answer_tokens, temperature=settings.temperature)
    try:
        model: ChatModel | None = services.reader.chat_model(request.generator or None)
    except SabioError:  # not installed, not reachable: the conversation still answers
        model = None
    chosen = model if model is not None and uses_model(model) else None
    return answer_task(task, request.messages, chosen, options)


def sources_footer(kb: str, answer: Answer, consulted: Sequence[SearchHit] = ()) -> str:
    """The sources as Markdown, for clients that show text only: file name and page,
    never a path on the server (:mod:`.links`). Every knowledge-base answer gets one: the
    passages it cites, or, when it cites none, the passages it was made from, said to be
    uncited (or that no passage matched), a user's correction by its author and date;
    then the notes on unsupported statements, then the answer's own notes (a pinned answer
    served, a document that does not say what a correction says…), in its language."""
    heading, page_word = SOURCES.get(answer.language, SOURCES["en"])
    uncited = UNCITED.get(answer.language, UNCITED["en"])

    def where(document_id: int, document: str, page: int | None, title: str, text: str) -> str:
        if is_page_passage(document_id):  # the client's own passages (:mod:`.client_context`)
            words = text.split()
            return f"{title}: “{' '.join(words[:8])}{'…' if len(words) > 8 else ''}”"
        name = str(document_link(kb, document_id, document)["document"])
        return name if page is None else f"{name}, {page_word} {page}"

    lines = [f"\n\n---\n**{heading}**\n"]
    for citation in answer.citations:
        place = where(
            citation.document_id,
            citation.document,
            citation.page,
            citation.title,
            citation.snippet,
        )
        if note_id(citation.document) is not None:
            place = citation.title  # "Correction by ana, 2026-12-03"
        lines.append(f"- [{citation.number}] {place}\n")
    if not answer.citations:
        places = dict.fromkeys(
            where(h.document_id, h.document, h.page, h.title, h.text) for h in consulted
        )
        if places:
            lines.append(uncited["no_answer" if answer.no_answer else "uncited"] + "\n")
            lines += [f"- {place}\n" for place in places]
        else:
            lines.append(uncited["none"] + "\n")
    lines += [f"\n⚠ {note}\n" for note in answer_notes(answer)]
    lines += [f"\n→ {note}\n" for note in answer.notes]  # pinned, which is newer, the guide…
    return "".join(lines)


async def whole_reply(lines: Iterator[dict[str, Any]], chat: bool) -> dict[str, Any]:
    """``stream: false``: one object, the done line with all the text."""
    try:
        collected: list[dict[str, Any]] = await run_waiting(list, lines)
    except SabioError as exc:
        raise translated(exc) from exc
    finally:
        with anyio.CancelScope(shield=True):
            await run_waiting(close_iterator, lines)
    key = "message" if chat else "response"
    text = "".join(
        line["message"]["content"] if chat else line["response"] for line in collected[:-1]
    )
    done: dict[str, Any] = collected[-1]
    done[key] = {"role": "assistant", "content": text} if chat else text
    return done


Encoder = Callable[[dict[str, Any]], bytes]
"""One Ollama line as the client's protocol writes it (for OpenAI: server-sent events)."""


async def streamed_reply(
    lines: Iterator[dict[str, Any]],
    accept_language: str,
    encode: Encoder | None = None,
    media_type: str = NDJSON,
    headers: dict[str, str] | None = None,
    *,
    at_once: bool = False,
) -> Response:
    """NDJSON (or what ``encode`` writes); the first line is made before the response
    starts, so what fails before it (unknown knowledge base, model not there) is a plain
    error with its status; what fails after it is a last error line, in the language
    ``accept_language`` prefers. ``at_once``: every line made on one trip to a thread,
    then sent in one body (a client's task: each trip is a wait for a CPU on a busy
    machine, four for a streamed task's two lines)."""
    if at_once:
        return await _whole_body(lines, encode or _encode, media_type, headers)
    first = await _closing_on_error(lines, lambda: next(lines, None))
    sent = _send(lines, first, encode or _encode, accept_language)
    return StreamingResponse(sent, media_type=media_type, headers=STREAM_HEADERS | (headers or {}))


async def _closing_on_error(lines: Iterator[dict[str, Any]], read: Callable[[], T]) -> T:
    """``read()`` of the answer's lines on a thread; on any error the lines are closed
    (the model stops) and a SabioError is translated for the client."""
    try:
        return await run_waiting(read)
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await run_waiting(close_iterator, lines)
        if isinstance(exc, SabioError):
            raise translated(exc) from exc
        raise


async def _whole_body(
    lines: Iterator[dict[str, Any]],
    encode: Encoder,
    media_type: str,
    headers: dict[str, str] | None,
) -> Response:
    collected = await _closing_on_error(lines, lambda: list(lines))
    body = b"".join(encode(line) for line in collected)
    return Response(body, media_type=media_type, headers=STREAM_HEADERS | (headers or {}))


async def _send(
    lines: Iterator[dict[str, Any]],
    first: dict[str, Any] | None,
    encode: Encoder,
    accept_language: str,
) -> AsyncIterator[bytes]:
    try:
        line = first
        while line is not None:
            yield encode(line)
            line = await run_waiting(next, lines, None)
    except SabioError as exc:
        yield encode({"error": translated(exc).said(accept_language)})
    except OllamaError as exc:
        yield encode({"error": exc.said(accept_language)})
    except Exception:
        yield encode({"error": "internal error: this is a bug in Sabio, see the log"})
        raise
    finally:
        with anyio.CancelScope(shield=True):  # the client may have gone: still close
            await run_waiting(close_iterator, lines)


def _encode(line: dict[str, Any]) -> bytes:
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"

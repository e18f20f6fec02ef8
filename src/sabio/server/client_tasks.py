"""The clients' own tasks: titles, tags, follow-up questions, search queries, completions.

Chat clients ask the chat's model for these with meta-prompts of their own that quote the
conversation (Open WebUI's ``### Task:`` templates, Page Assist's title prompt, LibreChat's
and Continue's). Sent to a knowledge base, such a prompt is no question about the documents:
it is recognised by its shape (:func:`recognise`: an instruction naming the task, and the
conversation quoted in one of the ways clients quote it), never runs retrieval, and gets an
answer in the format it asks for (:func:`answer_task`): a JSON object where the template
shows one (``{"title": …}``, ``{"tags": […]}``, ``{"follow_ups": […]}``, ``{"queries": […]}``,
``{"text": …}``), the bare title otherwise.

The model is asked only when it serves requests in parallel (Ollama, an OpenAI-compatible
server): its output is validated (valid JSON of the right shape, nothing copied from the
template's own examples) and replaced when it fails. The embedded model runs one request at
a time and is too small for these prompts (SmolLM2 answers "Your concise title here"), so
with it, as after a failed check, Sabio answers from the conversation itself, without a
model, in a few milliseconds: the title from the user's first question, in its language;
tags from its telling words; follow-ups from the question and the documents the answer
cited; the question as the search query. A task never waits for, nor delays, the user's
own question.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sabio.errors import SabioError
from sabio.language import detect_language
from sabio.models import ChatModel, ChatOptions, Message
from sabio.search import STOPWORDS

log = logging.getLogger(__name__)

TASK_TOKENS = 160
"""The most a model may write for a task (a title, a few tags or questions)."""
TITLE_WORDS = 10
TAGS = 3

_OPEN_WEBUI = re.compile(r"<chat_history>\n?(.*?)\n?</chat_history>", re.DOTALL)
_DASHES = re.compile(
    r"here is the (?:conversation|query):\s*\n-{5,}\n(.*?)\n-{5,}", re.DOTALL | re.IGNORECASE
)
_CONVERSATION = re.compile(r"\n(?:conversation|convo):\s*\n(.*)\Z", re.DOTALL | re.IGNORECASE)
_GIVEN = re.compile(
    r"\Agiven the following\.\.\. please reply with[^\n]*\n\n(.*)\Z", re.DOTALL | re.IGNORECASE
)
_ANALYZE = re.compile(
    r"\Aanalyze this conversation and provide:.*?detected language.*?\n\n(.*)\Z",
    re.DOTALL | re.IGNORECASE,
)
_ROLE = re.compile(r"^(user|assistant|ai|system|human)\s*:\s?(.*)$", re.IGNORECASE)
_FOOTER = re.compile(r"\n*---\n\*\*(?:Sources|Fuentes)\*\*\n(.*)\Z", re.DOTALL)
_JSON_KEY = re.compile(r'\{\s*"(title|tags|follow_ups|queries|text|prompt)"\s*:')
_KINDS = (
    ("autocomplete", re.compile(r"autocompletion system|<type>", re.IGNORECASE)),
    ("follow_ups", re.compile(r"follow[-_ ]?up", re.IGNORECASE)),  # 0.12.4: only "follow_ups"
    ("tags", re.compile(r"\btags\b.*categoriz|categoriz.*\btags\b", re.IGNORECASE | re.DOTALL)),
    ("queries", re.compile(r"search quer|\"queries\"", re.IGNORECASE)),
    ("image_prompt", re.compile(r"image generation", re.IGNORECASE)),
    ("title", re.compile(r"\btitle\b|short summary that is", re.IGNORECASE)),
)
_JSON_OF = {
    "title": "title",
    "tags": "tags",
    "follow_ups": "follow_ups",
    "queries": "queries",
    "autocomplete": "text",
    "image_prompt": "prompt",
}
FOLLOW_UPS = {
    "en": (
        "What else do the documents say about {topic}?",
        "Which passage explains {topic} in more detail?",
        "Can you summarise {document}?",
    ),
    "es": (
        "¿Qué más dicen los documentos sobre {topic}?",
        "¿Qué pasaje explica {topic} con más detalle?",
        "¿Puedes resumir {document}?",
    ),
}
GENERAL_TAG = {"en": "General", "es": "General"}


@dataclass(frozen=True, slots=True)
class ClientTask:
    """A client's meta-request: what it asks for, and the conversation it quotes."""

    kind: str
    """title, tags, follow_ups, queries, autocomplete or image_prompt."""
    json_key: str | None
    """The key of the JSON object asked for; None: plain text."""
    conversation: tuple[Message, ...]
    instruction: str
    """The prompt without the quoted conversation (its examples are no answer)."""
    typed: str = ""
    """For autocomplete, the text being typed."""

    @property
    def language(self) -> str:
        users = [m["content"] for m in self.conversation if m["role"] == "user"]
        return detect_language(" ".join(users) or self.instruction)


def recognise(messages: Sequence[Message]) -> ClientTask | None:
    """The client task that ``messages`` are, if they are one (module docstring): the last
    user message, or a system message, holding a task's instruction and a quoted
    conversation."""
    candidates = [m["content"] for m in messages if m["role"] == "system"]
    if messages and messages[-1]["role"] == "user":
        candidates.insert(0, messages[-1]["content"])
    for text in candidates:
        if task := _task_in(text.strip()):
            return task
    return None


def _task_in(text: str) -> ClientTask | None:
    quoted = _quoted(text)
    if quoted is None:
        return None
    block, conversation = quoted
    instruction = text.replace(block, " ") if block else text
    kind = next((kind for kind, pattern in _KINDS if pattern.search(instruction)), None)
    if kind is None:
        return None
    shown = _JSON_KEY.search(instruction)
    json_key = _JSON_OF[kind] if shown and shown.group(1) == _JSON_OF[kind] else None
    typed = ""
    if kind == "autocomplete":
        match = re.search(r"<text>(.*?)</text>\s*#*\s*output", instruction, re.I | re.S)
        typed = match.group(1).strip() if match else ""
        json_key = "text"
    return ClientTask(kind, json_key, tuple(conversation), instruction, typed)


def _quoted(text: str) -> tuple[str, list[Message]] | None:
    """The quoted conversation block and its messages; None when nothing is quoted."""
    for pattern, lines_with_roles in (
        (_OPEN_WEBUI, True),
        (_DASHES, False),
        (_ANALYZE, False),
        (_CONVERSATION, False),
        (_GIVEN, False),
    ):
        if match := pattern.search(text):
            if lines_with_roles and not text.lstrip().startswith("### Task:"):
                continue
            block = match.group(1)
            return block, _messages(block)
    return None


def _messages(block: str) -> list[Message]:
    """``USER: …`` / ``User: …`` / ``AI: …`` lines as messages; a block without roles is
    one user message. A line without a role continues the message before it."""
    said: list[tuple[str, list[str]]] = []
    for line in block.strip().splitlines():
        match = _ROLE.match(line.strip())
        if match:
            role = match.group(1).lower()
            role = {"ai": "assistant", "human": "user"}.get(role, role)
            said.append((role, [match.group(2)]))
        elif said:
            said[-1][1].append(line)
        else:
            said.append(("user", [line]))
    messages: list[Message] = [{"role": r, "content": "\n".join(lines)} for r, lines in said]
    return [m for m in messages if m["content"].strip()]


# answers


def answer_task(
    task: ClientTask, messages: Sequence[Message], model: ChatModel | None, options: ChatOptions
) -> str:
    """The task's answer in the format asked: the model's (asked ``messages`` as the
    client sent them) when ``model`` is given and its output passes the check, else the
    one made from the conversation. A model that fails is replaced the same way."""
    if model is not None:
        limited = ChatOptions(max_tokens=min(options.max_tokens, TASK_TOKENS), temperature=0.1)
        try:
            written = "".join(model.stream(messages, limited))
        except SabioError as exc:
            log.warning("a client's %s task went without the model: %s", task.kind, exc)
        else:
            if (checked := checked_answer(task, written)) is not None:
                return checked
    return conversation_answer(task)


def uses_model(model: ChatModel) -> bool:
    """Whether tasks go to ``model``: when it answers requests in parallel, so a task
    never holds up a question (``supports_parallel_requests``, True unless said)."""
    return bool(getattr(model, "supports_parallel_requests", True))


def checked_answer(task: ClientTask, written: str) -> str | None:
    """The model's output as the answer, if it is one: the JSON asked for (or a bare
    title) whose values are not copied from the template's own examples; else None."""
    if task.json_key is None:
        title = _clean_title(written)
        return title if _fits(task, title) else None
    value = _json_value(written, task.json_key)
    if isinstance(value, str):
        if task.kind == "title" and not _fits(task, value):
            return None
        return json.dumps({task.json_key: value.strip()}, ensure_ascii=False)
    if isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value):
        if value and not all(_from_template(task, v) for v in value):
            return json.dumps({task.json_key: [v.strip() for v in value]}, ensure_ascii=False)
        if not value and task.kind == "queries":
            return json.dumps({"queries": []})
    return None


def _fits(task: ClientTask, title: str) -> bool:
    """A title that is no copy of the template and shares a telling word with the
    conversation (a title about something else is not its title)."""
    if not title.strip() or _from_template(task, title):
        return False
    said = {_fold(w)[:5] for w in salient_words(m["content"] for m in task.conversation)}
    return any(_fold(w)[:5] in said for w in salient_words([title]))


def _json_value(written: str, key: str) -> object:
    text = re.sub(r"^```(?:json)?\s*|\s*```$", "", written.strip())
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        return None
    try:
        parsed = json.loads(text[start : end + 1])
    except ValueError:
        return None
    return parsed.get(key) if isinstance(parsed, dict) else None


def _from_template(task: ClientTask, value: str) -> bool:
    """Whether ``value`` is the template's placeholder or one of its examples (what a
    model too small for the task copies), or says there is no answer."""
    folded = _fold(value)
    if not folded or len(folded) > 120:
        return True
    if folded in _fold(task.instruction):
        return True
    return "not in your documents" in folded or "no esta en tus documentos" in folded


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.findall(r"\w+", plain))


def _clean_title(written: str) -> str:
    line = next((ln for ln in written.strip().splitlines() if ln.strip()), "")
    line = re.sub(r"^(?:title|título)\s*:\s*", "", line.strip(), flags=re.IGNORECASE)
    line = line.strip(" \"'`*#.")
    return line if 0 < len(line.split()) <= TITLE_WORDS else ""


def _tag(word: str) -> str:
    """A word as a tag: capitalised when written all in lower case; a name's own capitals
    ("cSMAC", "iPhone", "NASA") kept."""
    return word[:1].upper() + word[1:] if word.islower() else word


def conversation_answer(task: ClientTask) -> str:
    """The task's answer made from the conversation alone (module docstring)."""
    language = task.language
    question = _first_user(task.conversation)
    if task.kind == "title":
        title = title_of(question) or GENERAL_TAG[language]
        return json.dumps({"title": title}, ensure_ascii=False) if task.json_key else title
    if task.kind == "tags":
        words = salient_words(m["content"] for m in task.conversation if m["role"] == "user")
        tags = [_tag(w) for w in words[:TAGS]] or [GENERAL_TAG[language]]
        return json.dumps({"tags": tags}, ensure_ascii=False)
    if task.kind == "follow_ups":
        return json.dumps({"follow_ups": follow_ups(task)}, ensure_ascii=False)
    if task.kind == "queries":
        last = _last_user(task.conversation)
        return json.dumps({"queries": [last] if last else []}, ensure_ascii=False)
    if task.kind == "image_prompt":
        return json.dumps({"prompt": _last_user(task.conversation)}, ensure_ascii=False)
    return json.dumps({"text": ""})  # autocomplete: "if unsure, return empty"


def title_of(question: str) -> str:
    """A short title from a question, in its words: its first sentence without the
    leading and trailing little words, at most :data:`TITLE_WORDS` words."""
    sentence = re.split(r"(?<=[.?!])\s|\n", question.strip(), maxsplit=1)[0]
    words = re.findall(r"[\w][\w'\u2019.-]*", sentence)
    words = [w.rstrip(".") for w in words if w.rstrip(".")]
    while words and _is_little(words[0]):
        words.pop(0)
    if len(words) > TITLE_WORDS:  # the little words inside go first
        words = [w for w in words if not _is_little(w)]
    words = words[:TITLE_WORDS]
    while words and _is_little(words[-1]):
        words.pop()
    if not words:
        return ""
    first = words[0] if words[0][1:] != words[0][1:].lower() else words[0].capitalize()
    return " ".join([first, *words[1:]])  # "cSMAC" stays as written


def _is_little(word: str) -> bool:
    folded = _fold(word)
    return folded in STOPWORDS or folded in _QUESTION_WORDS or len(folded) < 2


_QUESTION_WORDS = frozenset(
    """please can could tell explain describe give show list summarize summarise
    puedes podrias dime explica explicame describe dame muestra resume resumeme lista
    qual cual cuales como donde quien quienes cuando cuanto cuanta cuantos cuantas
    que por""".split()
)


def salient_words(texts: Iterable[str]) -> list[str]:
    """The texts' telling words, most frequent first (then in order of appearance)."""
    counts: dict[str, int] = {}
    shown: dict[str, str] = {}
    for text in texts:
        for word in re.findall(r"[^\W\d_][\w'-]*", text):
            folded = _fold(word)
            if len(folded) < 4 or folded in STOPWORDS or folded in _QUESTION_WORDS:
                continue
            counts[folded] = counts.get(folded, 0) + 1
            shown.setdefault(folded, word)
    ranked = sorted(counts, key=lambda w: -counts[w])  # stable: first seen first
    return [shown[w] for w in ranked]


def follow_ups(task: ClientTask) -> list[str]:
    """Questions from the conversation's topic and the documents its last answer cited."""
    language = task.language
    words = salient_words([_last_user(task.conversation)]) or salient_words(
        m["content"] for m in task.conversation if m["role"] == "user"
    )
    joiner = " y " if language == "es" else " and "
    topic = joiner.join(_in_order(words, _last_user(task.conversation))[-2:])
    topic = topic or GENERAL_TAG[language].lower()
    documents = _cited_documents(task.conversation)
    first, second, third = FOLLOW_UPS[language]
    questions = [first.format(topic=topic), second.format(topic=topic)]
    questions += [third.format(document=document) for document in documents[:2]]
    return questions


def _in_order(words: list[str], text: str) -> list[str]:
    """``words`` in the order ``text`` says them (the telling words last are mostly what
    a question is about)."""
    return sorted(words, key=lambda w: text.find(w) if w in text else len(text))


def _cited_documents(conversation: Sequence[Message]) -> list[str]:
    """The file names in the sources footer of the last answer (:mod:`.ollama_answers`)."""
    for message in reversed(conversation):
        if message["role"] == "assistant" and (match := _FOOTER.search(message["content"])):
            names = re.findall(r"^- (?:\[\d+\] )?([^,\n]+)", match.group(1), re.MULTILINE)
            return list(dict.fromkeys(name.strip() for name in names))
    return []


def _first_user(conversation: Sequence[Message]) -> str:
    return next((m["content"] for m in conversation if m["role"] == "user"), "")


def _last_user(conversation: Sequence[Message]) -> str:
    return next((m["content"] for m in reversed(conversation) if m["role"] == "user"), "")

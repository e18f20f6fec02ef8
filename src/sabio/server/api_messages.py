"""What the Ollama and OpenAI APIs say when they refuse a request, in English and Spanish.

Clients of those APIs (Page Assist, Open WebUI, n8n, the ``ollama`` libraries) show the
error's text as it comes: ``{"error": "..."}`` from Ollama's routes, ``{"error":
{"message": ...}}`` from OpenAI's. So the server says it in the reader's language, the
one ``Accept-Language`` prefers of Sabio's two (:func:`reader_language`; English when it
names neither, as programs send none). Each message has a key; :data:`MESSAGES` holds
its English and Spanish, with the values it names as ``{fields}``. Sabio's own errors
that reach these APIs (:class:`sabio.errors.SabioError` with a ``key``: no access to a
knowledge base, this computer only, another site) are said from the same table; one
whose key is not here keeps its English message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

LANGUAGES = ("en", "es")

MESSAGES: dict[str, dict[str, str]] = {
    "body_missing": {"en": "missing request body", "es": "falta el cuerpo de la petición"},
    "body_not_json": {
        "en": "the request body is not valid JSON: {problem}",
        "es": "el cuerpo de la petición no es JSON válido: {problem}",
    },
    "body_not_object": {
        "en": "the request body must be a JSON object",
        "es": "el cuerpo de la petición debe ser un objeto JSON",
    },
    "model_required": {"en": "model is required", "es": "falta el modelo (model)"},
    "model_not_found": {
        "en": "model '{model}' not found",
        "es": "no se encuentra el modelo '{model}'",
    },
    "kb_model_not_found": {
        "en": 'model "{model}" not found: Sabio has no knowledge base called {kb!r} '
        "(GET /api/tags lists them)",
        "es": 'no se encuentra el modelo "{model}": Sabio no tiene ninguna base llamada {kb!r} '
        "(GET /api/tags las lista)",
    },
    "embedded_not_found": {
        "en": "model '{model}' not found: Sabio's embedded models are {embedder} (embeddings) "
        "and {chat} (chat)",
        "es": "no se encuentra el modelo '{model}': los modelos integrados de Sabio son "
        "{embedder} (embeddings) y {chat} (chat)",
    },
    "messages_not_list": {
        "en": "messages must be a list of {{role, content}} objects",
        "es": "messages debe ser una lista de objetos {{role, content}}",
    },
    "last_not_question": {
        "en": "the last message must be the user's question",
        "es": "el último mensaje debe ser la pregunta del usuario",
    },
    "messages_end_with_question": {
        "en": "messages must end with the user's question",
        "es": "messages debe terminar con la pregunta del usuario",
    },
    "kb_is_no_ollama_model": {
        "en": '"{model}" is a Sabio knowledge base, not an Ollama model: manage it in Sabio '
        "(its web app or `sabio kb`)",
        "es": '"{model}" es una base de conocimiento de Sabio, no un modelo de Ollama: '
        "gestiónala en Sabio (su aplicación web o `sabio kb`)",
    },
    "kb_chats_only": {
        "en": '"{model}" is a Sabio knowledge base: chat with it at /v1/chat/completions',
        "es": '"{model}" es una base de conocimiento de Sabio: conversa con ella en '
        "/v1/chat/completions",
    },
    "part_of_sabio": {
        "en": '"{model}" is part of Sabio, not an Ollama model: it cannot be {done} (it comes '
        "with Sabio's `embedded` extra; `sabio models` lists what is installed)",
        "es": '"{model}" es parte de Sabio, no un modelo de Ollama: no se puede {done_es} '
        "(viene con el extra `embedded` de Sabio; `sabio models` lista lo instalado)",
    },
    "chat_has_no_embeddings": {
        "en": '"{model}" is a chat model, it has no embeddings: embed with {embedder} (or '
        "kb/NAME, a knowledge base's own embedder)",
        "es": '"{model}" es un modelo de chat, no da embeddings: usa {embedder} (o kb/NOMBRE, '
        "el modelo de embeddings de esa base)",
    },
    "no_token_arrays": {
        "en": "token arrays are not supported as input: send the texts themselves (their token "
        "ids belong to your client's tokenizer; in LangChain's OpenAIEmbeddings set "
        "check_embedding_ctx_length=False)",
        "es": "no se admiten listas de tokens como entrada: envía los textos (sus ids de token "
        "son del tokenizador de tu cliente; en OpenAIEmbeddings de LangChain pon "
        "check_embedding_ctx_length=False)",
    },
    "input_type": {
        "en": "invalid input type: input must be a string or a list of strings",
        "es": "tipo de entrada no válido: input debe ser un texto o una lista de textos",
    },
    "input_empty": {
        "en": "invalid input: input must not be empty",
        "es": "entrada no válida: input no puede estar vacío",
    },
    "prompt_not_string": {"en": "prompt must be a string", "es": "prompt debe ser un texto"},
    "dimensions_invalid": {
        "en": "dimensions must be a positive integer",
        "es": "dimensions debe ser un entero positivo",
    },
    "encoding_invalid": {
        "en": "encoding_format must be float or base64",
        "es": "encoding_format debe ser float o base64",
    },
    "input_too_long": {
        "en": "the input length exceeds the context length ({longest} tokens, {model} reads "
        "{limit}): send shorter texts, or leave truncate on",
        "es": "la entrada supera la longitud de contexto ({longest} tokens, {model} lee "
        "{limit}): envía textos más cortos o deja truncate activado",
    },
    "upstream_unreachable": {
        "en": "Ollama is not reachable at {host} — start it with `ollama serve`, or point "
        "Sabio's `ollama_host` setting (OLLAMA_HOST) at it",
        "es": "no se puede conectar con Ollama en {host}: arráncalo con `ollama serve` o "
        "apunta a él el ajuste `ollama_host` de Sabio (OLLAMA_HOST)",
    },
    "token_needed": {
        "en": "an API token is needed: send `Authorization: Bearer sabio_…` (create one in "
        "Sabio's web app, or with POST /api/v1/auth/tokens) — in Open WebUI, Continue and "
        "n8n it is the connection's API key",
        "es": "hace falta un token de API: envía `Authorization: Bearer sabio_…` (créalo en "
        "la aplicación web de Sabio o con POST /api/v1/auth/tokens); en Open WebUI, "
        "Continue y n8n es la clave de API (API key) de la conexión",
    },
    "origin_refused": {
        "en": "refused a request from the web page {origin}: only pages on this computer and "
        "browser extensions may use Sabio's Ollama and OpenAI APIs; to let this page, add "
        "it to the allowed_origins setting (SABIO_ALLOWED_ORIGINS)",
        "es": "rechazada una petición de la página {origin}: solo las páginas de este "
        "ordenador y las extensiones del navegador pueden usar las API de Ollama y OpenAI "
        "de Sabio; para permitir esta página, añádela al ajuste allowed_origins "
        "(SABIO_ALLOWED_ORIGINS)",
    },
}
"""Each message's English and Spanish, by key (module docstring)."""

SABIO_ERRORS_ES = {
    "kb_forbidden": "no tienes acceso a la base {kb!r}: pídeselo a un administrador",
    "sign_in_first": "hace falta iniciar sesión o un token de API: envía `Authorization: "
    "Bearer sabio_…` (créalo en la aplicación web de Sabio o con POST /api/v1/auth/tokens)",
    "local_only": "este servidor solo responde en 127.0.0.1 o localhost, no en {host!r}; "
    "para usarlo desde otros dispositivos, arráncalo con `sabio serve --auth --host 0.0.0.0`",
    "foreign_origin": "rechazada una petición enviada por otro sitio ({origin}): Sabio acepta "
    "cambios de sus propias páginas y de programas (que no envían cabecera Origin)",
    "ollama_unreachable": "Ollama no responde en {host}: ponlo en marcha con `ollama serve` "
    "o indica su dirección en OLLAMA_HOST",
    "ollama_timeout": "Ollama en {host} no respondió a tiempo; puede que el modelo aún se esté "
    "cargando: prueba otra vez o sube `timeout` (SABIO_TIMEOUT)",
    "ollama_lost": "se perdió la conexión con Ollama en {host}",
    "ollama_broke_off": "la respuesta de Ollama en {host} a {path} se cortó antes de terminar "
    "(se perdió la conexión u Ollama se detuvo); prueba otra vez",
}
"""The Spanish of Sabio's own errors (:mod:`sabio.errors` keys) that reach these APIs;
their English is the error's message."""

DONE_ES = {
    "pulled": "descargar",
    "pushed": "subir",
    "created or changed": "crear ni cambiar",
    "copied": "copiar",
    "deleted": "borrar",
}
"""``part_of_sabio``'s ``{done}`` in Spanish, ``{done_es}``."""


def english(key: str, args: Mapping[str, Any]) -> str:
    """The message ``key`` in English, naming ``args``."""
    return MESSAGES[key]["en"].format(**args)


def reader_language(accept_language: str) -> str:
    """Sabio's language (``en``, ``es``) that an ``Accept-Language`` header prefers: the
    one with the highest ``q`` (the first named on a tie); English when it names neither."""
    best, best_q = "en", 0.0
    for part in accept_language.split(","):
        tag, _, params = part.partition(";")
        language = tag.strip().lower().split("-")[0]
        q = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip() == "q":
            try:
                q = float(value)
            except ValueError:
                q = 0.0
        if language in LANGUAGES and q > best_q:
            best, best_q = language, q
    return best


def said(message: str, key: str | None, args: Mapping[str, Any], language: str) -> str:
    """``message`` (its English) in ``language``: from :data:`MESSAGES` or
    :data:`SABIO_ERRORS_ES` when they have ``key``, else as it is."""
    if language != "es" or key is None:
        return message
    if key in MESSAGES:
        return MESSAGES[key]["es"].format(**args)
    if key in SABIO_ERRORS_ES:
        return SABIO_ERRORS_ES[key].format(**args)
    return message


def say(key: str, accept_language: str, **args: Any) -> str:
    """The message ``key``, naming ``args``, in the language ``accept_language`` prefers."""
    return said(english(key, args), key, args, reader_language(accept_language))

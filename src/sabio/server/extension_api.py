"""What Sabio's browser extension (``extension/``) calls, under ``/api/v1/extension``.

- *The page open in the tab.* ``POST /pages`` sends its text once and gets an id; the
  page's passages are kept in memory (:class:`PageShelf`, the last pages used within
  ``open_pages_mb``, never stored) and questions (``/pages/{id}/ask``, streamed),
  summaries and translations name it. An answer's citations say where they come from:
  ``origin: "page"`` with the passage's text and its offsets in the text sent (for the
  tab to highlight), or ``origin: "kb"`` with the document's link.
- *Saving.* ``POST /kbs/{name}/pages?url=…&title=…`` takes the page's HTML (read by the
  HTML loader, as a web source's page is: so a page behind a login is saved as the user
  sees it), a PDF or the selected text as the request body, within ``max_upload_mb``,
  and answers once it is searchable.
- *Pairing*, for a server with accounts: the web app asks for a short code
  (``POST /pairing``, signed in), the user types it into the extension, which exchanges
  it (``POST /pair``, no sign-in; wrong codes are counted per address) for an API token
  of their own, listed and revocable with their other tokens, and good for the
  extension's routes only (scope ``extension``, :mod:`.access`). A code works once, for
  five minutes.

Browsers' extension pages (``chrome-extension://``, ``moz-extension://``) may call
these routes (:class:`.origins.ExtensionCors`); no other web page may.
"""

from __future__ import annotations

import functools
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from sabio.answer import AnswerStream
from sabio.errors import ConfigError, ConflictError, NotFoundError, TooManyAttemptsError
from sabio.pages import MAX_PAGE_CHARS, OpenPage, is_page_passage, open_page
from sabio.server import roles
from sabio.server.access import current_user_id
from sabio.server.api import ANSWER_RESPONSES, ERRORS
from sabio.server.events import Event, close_iterator, event_stream
from sabio.server.links import API_PREFIX, linked_answer
from sabio.server.origins import ExtensionCors
from sabio.server.schemas import STYLE_HELP, AnswerStyle, TurnIn
from sabio.server.services import Services, services_of
from sabio.server.threads import run_waiting
from sabio.server.throttle import Throttle
from sabio.store import Turn
from sabio.store.users import EXTENSION_SCOPE
from sabio.tasks.translate import without_tags

router = APIRouter(prefix=f"{API_PREFIX}/extension", tags=["browser extension"], responses=ERRORS)
ServicesDep = Annotated[Services, Depends(services_of)]
OwnerDep = Annotated[int | None, Depends(current_user_id)]

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off a screen
CODE_SECONDS = 300.0
WRONG_CODES = 5
"""Wrong pairing codes from one address within five minutes; the next attempt waits."""


# what the routes take and return


class PageIn(BaseModel):
    url: str = Field(max_length=2000, description="The page's address.")
    title: str = Field("", max_length=1000)
    text: str = Field(
        min_length=1, max_length=MAX_PAGE_CHARS, description="The page's text, as shown."
    )


class PageOut(BaseModel):
    page_id: str = Field(description="Names the page in questions; kept while it is used.")
    passages: int
    chars: int


class PageAskIn(BaseModel):
    question: str = Field(min_length=1, max_length=20_000)
    kb: str | None = Field(None, description="Also answer from this knowledge base.")
    model: str | None = Field(None, description="Chat model; default: the chat_model setting.")
    history: list[TurnIn] = Field(default_factory=list, max_length=100)
    style: AnswerStyle | None = Field(None, description=STYLE_HELP)


class PageSummaryIn(BaseModel):
    length: str = Field("page", pattern="^(short|page|long)$")
    language: str | None = Field(None, max_length=40, description="Default: the page's.")
    model: str | None = None


class PageSummaryOut(BaseModel):
    text: str
    language: str
    unsupported: int = Field(description="Sentences not found in the page.")


class PageTranslationIn(BaseModel):
    to: str = Field(min_length=2, max_length=40, description="es, en or a language's name.")
    model: str | None = None
    blocks: list[Annotated[str, Field(max_length=20_000)]] = Field(
        default_factory=list,
        max_length=5000,
        description="The page's blocks as shown (paragraphs, headings, list items…): "
        "when given, these are translated one for one instead of the page's text "
        "(translation in place). A block's inline elements are numbered tags, kept in "
        "its translation: `<a1>…</a1>` around words, `<code2/>` for one kept as it is.",
    )


class PageTranslationOut(BaseModel):
    markdown: str
    language: str
    problems: list[str]
    blocks: list[str] = Field(description="One translation per block sent, in order.")


class SavedPageOut(BaseModel):
    kb: str
    document_id: int | None
    source: str
    title: str
    status: str = Field(description="indexed, or why not (failed, skipped…).")
    outcome: str
    reason: str
    passages: int


class PairingCodeOut(BaseModel):
    code: str = Field(description="To type into the extension; works once.")
    expires_in: int = Field(description="Seconds.")


class PairIn(BaseModel):
    code: str = Field(min_length=4, max_length=20)
    name: str = Field("browser", max_length=60, description="Which browser, for the token list.")


class PairedOut(BaseModel):
    token: str = Field(description="sabio_…: the extension keeps it; revocable in the web app.")
    user: str
    token_name: str


# what lives while the server runs


class PageShelf:
    """The pages open now, by id, taking at most ``open_pages_mb`` of memory in all (all
    users): the page used longest ago is forgotten first."""

    def __init__(self) -> None:
        self._pages: OrderedDict[str, tuple[OpenPage, int]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def check(page: OpenPage, limit_mb: int) -> int:
        """The page's size in bytes; ConfigError when it alone is over ``limit_mb``."""
        size = page.size
        if size > limit_mb * 2**20:
            needed = max(1, -(-size // 2**20))
            raise ConfigError(
                f"the page needs {needed} MB of memory to be asked about, more than the "
                f"{limit_mb} MB kept for open pages (open_pages_mb): save it to a knowledge "
                "base and ask there, or raise open_pages_mb",
                key="page_too_big",
                size=needed,
                limit=limit_mb,
            )
        return size

    def put(self, page: OpenPage, limit_mb: int) -> None:
        size = self.check(page, limit_mb)
        with self._lock:
            self._pages[page.id] = (page, size)
            total = sum(kept for _, kept in self._pages.values())
            while total > limit_mb * 2**20:
                _, (_, forgotten) = self._pages.popitem(last=False)
                total -= forgotten

    def get(self, page_id: str, owner: int | None) -> OpenPage:
        with self._lock:
            found = self._pages.get(page_id)
            if found is not None and found[0].owner == owner:
                self._pages.move_to_end(page_id)
                return found[0]
        raise NotFoundError(
            "the page is no longer open on the server (it restarted, or pages opened since "
            "took the memory kept for open pages, open_pages_mb): send the page again",
            key="page_gone",
        )

    def __len__(self) -> int:
        with self._lock:
            return len(self._pages)


@dataclass(frozen=True, slots=True)
class _Code:
    user_id: int
    expires: float


class Pairings:
    """Pairing codes waiting to be typed into an extension (module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.wrong = Throttle(WRONG_CODES, clock=clock)
        self._codes: dict[str, _Code] = {}
        self._lock = threading.Lock()

    def new_code(self, user_id: int) -> str:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
        with self._lock:
            now = self.clock()
            self._codes = {c: v for c, v in self._codes.items() if v.expires > now}
            self._codes[code] = _Code(user_id, now + CODE_SECONDS)
        return f"{code[:4]}-{code[4:]}"

    def redeem(self, code: str, address: str) -> int:
        """The user whose ``code`` this is (it works once); ConfigError when it is wrong or
        expired, TooManyAttemptsError after too many wrong ones from ``address``."""
        key = f"pair:{address}"
        if (wait := self.wrong.wait(key)) > 0:
            seconds = max(1, int(wait + 0.999))
            raise TooManyAttemptsError(
                f"too many wrong pairing codes: try again in {seconds} s", retry_after=seconds
            )
        typed = "".join(ch for ch in code.upper() if ch.isalnum())
        with self._lock:
            found = self._codes.pop(typed, None)
        if found is None or found.expires <= self.clock():
            self.wrong.failed(key)
            raise ConfigError(
                "wrong or expired pairing code: show a new one in Sabio's web app (Settings → "
                "API tokens → Pair the browser extension) and type it within five minutes",
                key="pairing_code_wrong",
            )
        return found.user_id


def _shelf(request: Request) -> PageShelf:
    shelf = request.app.state.open_pages
    assert isinstance(shelf, PageShelf)
    return shelf


def _pairings(request: Request) -> Pairings:
    pairings = request.app.state.pairings
    assert isinstance(pairings, Pairings)
    return pairings


# the page open in the tab


async def _opened(page: OpenPage, request: Request, services: Services) -> PageOut:
    """The page's passages embedded (when there is an embedder) and kept on the shelf."""
    limit_mb = services.settings.open_pages_mb
    PageShelf.check(page, limit_mb)  # before the work of embedding it
    embedder = await run_waiting(services.reader.page_embedder)
    if embedder is not None:
        await run_waiting(page.embed, embedder)
    _shelf(request).put(page, limit_mb)
    return PageOut(page_id=page.id, passages=len(page.chunks), chars=len(page.text))


@router.post("/pages", summary="Open the page in the tab (its text, sent once)")
async def post_page(
    body: PageIn, request: Request, services: ServicesDep, owner: OwnerDep
) -> PageOut:
    """The page's passages are embedded now, so that each question costs little."""
    page = open_page(body.text, body.url, body.title, owner)
    return await _opened(page, request, services)


@router.post(
    "/pages/file",
    summary="Open the PDF in the tab (its bytes, sent once)",
    openapi_extra={"requestBody": {"required": True, "content": {"application/pdf": {}}}},
    responses={413: {"description": "Over max_upload_mb"}},
)
async def post_file_page(
    request: Request,
    services: ServicesDep,
    owner: OwnerDep,
    url: Annotated[str, Query(max_length=2000, description="The file's address.")],
    title: Annotated[str, Query(max_length=1000)] = "",
) -> PageOut:
    """As ``POST /pages``, for a PDF the browser shows (or any file Sabio reads, by its
    ``Content-Type``): read in a reader process, its passages keep their pages."""
    content = await _read_body(request, services.settings.max_upload_mb * 2**20)
    media_type = request.headers.get("content-type", "")
    read = functools.partial(services.reader.open_file_page, content, media_type, url, title, owner)
    page = await run_waiting(read)
    return await _opened(page, request, services)


@router.post(
    "/pages/{page_id}/ask",
    summary="Ask about the page, alone or with a knowledge base (streamed)",
    response_class=StreamingResponse,
    responses=ANSWER_RESPONSES,
)
async def ask_page(
    page_id: str, body: PageAskIn, request: Request, services: ServicesDep, owner: OwnerDep
) -> StreamingResponse:
    """As ``POST /kbs/{name}/ask``, from the page's passages (and the knowledge base's
    with ``kb``, which needs read access). ``done``'s citations carry ``origin``:
    ``page`` (with ``text``, ``start`` and ``end`` in the page's text, and ``quotes``,
    the sentences of it that support the answer) or ``kb``."""
    page = _shelf(request).get(page_id, owner)
    if body.kb:
        await run_waiting(roles.require_kb, request, body.kb, "read")
    start = functools.partial(
        services.reader.ask_page,
        body.question,
        page,
        body.kb,
        model=body.model,
        history=[Turn(t.question, t.answer) for t in body.history],
        style=body.style,
    )
    return await event_stream(_page_answer_events(start, page, body.kb))


def _page_answer_events(
    start: Callable[[], AnswerStream], page: OpenPage, kb_name: str | None
) -> Iterator[Event]:
    stream = start()
    pieces = iter(stream)
    try:
        for piece in pieces:
            yield "token", {"text": piece}
    finally:
        close_iterator(pieces)
    yield "done", page_answer(stream.answer.to_dict(), page, kb_name)


def page_answer(answer: dict[str, Any], page: OpenPage, kb_name: str | None) -> dict[str, Any]:
    """An answer's dict with each citation's ``origin`` (module docstring)."""

    quotes: dict[int, list[str]] = {}  # a page citation's supporting sentences
    for claim in answer.get("claims", []):
        if claim.get("supported") and claim.get("quote") and claim.get("citation"):
            quotes.setdefault(claim["citation"], []).append(claim["quote"])

    def split(citations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for c in citations:
            if is_page_passage(c["document_id"]):
                text = page.text[c["start"] : c["end"]]
                said = list(dict.fromkeys(quotes.get(c["number"], [])))
                page_cited = {"origin": "page", "text": text, "quotes": said, "file_url": page.url}
                out.append({**c, **page_cited})
            else:
                linked = linked_answer(kb_name, {"citations": [c], "dropped": []})["citations"]
                out.append({**linked[0], "origin": "kb", "kb": kb_name})
        return out

    claims = [
        {**c, "origin": "page" if is_page_passage(c["document_id"]) else "kb"}
        if c.get("document_id") is not None
        else c
        for c in answer.get("claims", [])
    ]
    return {
        **answer,
        "citations": split(answer["citations"]),
        "dropped": split(answer["dropped"]),
        "claims": claims,
    }


@router.post("/pages/{page_id}/summarize", summary="Summarize the page")
async def summarize_page(
    page_id: str, body: PageSummaryIn, request: Request, services: ServicesDep, owner: OwnerDep
) -> PageSummaryOut:
    """Sabio's summary of a document (``sabio summarize``), of the page: every sentence
    checked against it."""
    page = _shelf(request).get(page_id, owner)
    summarize = functools.partial(
        services.reader.summarize_page,
        page,
        length=body.length,
        language=body.language,
        model=body.model,
    )
    summary = await run_waiting(summarize)
    return PageSummaryOut(
        text=summary.text, language=summary.language, unsupported=len(summary.unsupported)
    )


@router.post("/pages/{page_id}/translate", summary="Translate the page")
async def translate_page(
    page_id: str, body: PageTranslationIn, request: Request, services: ServicesDep, owner: OwnerDep
) -> PageTranslationOut:
    """``sabio translate`` of the page: its structure kept, only its words sent."""
    page = _shelf(request).get(page_id, owner)
    if body.blocks:
        each = functools.partial(services.reader.translate_blocks, body.blocks, body.to)
        blocks, problems = await run_waiting(functools.partial(each, model=body.model))
        markdown = "\n\n".join(without_tags(block) for block in blocks)
        return PageTranslationOut(
            markdown=markdown, language=body.to, problems=problems, blocks=blocks
        )
    translate = functools.partial(services.reader.translate_page, page, body.to, model=body.model)
    done = await run_waiting(translate)
    return PageTranslationOut(
        markdown=done.markdown, language=done.language, problems=done.problems, blocks=[]
    )


# saving


SAVE_BODY = {
    "required": True,
    "content": {
        kind: {"schema": {"type": "string", "format": "binary"}}
        for kind in ("text/html", "application/pdf", "text/plain")
    },
}


@router.post(
    "/kbs/{name}/pages",
    summary="Save the page, a PDF or the selection into a knowledge base",
    openapi_extra={"requestBody": SAVE_BODY},
    responses={413: {"description": "Over max_upload_mb"}},
)
async def save_page(
    name: str,
    request: Request,
    services: ServicesDep,
    url: Annotated[str, Query(max_length=2000, description="The page's address.")],
    title: Annotated[str, Query(max_length=1000)] = "",
) -> SavedPageOut:
    """The body is the content, its ``Content-Type`` says what it is: ``text/html`` (the
    page's main content is read from it, as the web loader reads pages), ``application/pdf``
    (or another type Sabio reads), ``text/plain`` (the selection). Saving the same URL
    again replaces it. Answers when it is searchable."""
    kb = await run_waiting(services.reader.find_kb, name)
    creates = name == services.settings.default_kb  # the default one, by its first page
    if kb is None and not (creates and await run_waiting(roles.manages, request)):
        await run_waiting(services.reader.get_kb, name)  # not found
    limit = services.settings.max_upload_mb * 2**20
    content = await _read_body(request, limit)
    media_type = request.headers.get("content-type", "")
    with_writer = functools.partial(_save, services, name, content, media_type, url, title)
    return await run_waiting(with_writer)


def _save(
    services: Services, name: str, content: bytes, media_type: str, url: str, title: str
) -> SavedPageOut:
    with services.indexing() as indexer:
        result, doc = indexer.save_page(name, content, media_type, url, title)
        kb = indexer.kb(name)
    return SavedPageOut(
        kb=kb.name,
        document_id=doc.id if doc else None,
        source=doc.source if doc else result.source,
        title=doc.title if doc else title,
        status=result.status,
        outcome=result.outcome,
        reason=result.reason,
        passages=doc.chunk_count if doc else result.chunks,
    )


async def _read_body(request: Request, limit: int) -> bytes:
    """The request's body, refused (413) as soon as it is over ``limit`` bytes."""
    too_large = HTTPException(
        413, f"the content is larger than the upload limit of {limit // 2**20} MB (max_upload_mb)"
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    parts: list[bytes] = []
    size = 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise too_large
        parts.append(part)
    return b"".join(parts)


# pairing


@router.post("/pairing", summary="A pairing code for the browser extension")
def new_pairing_code(request: Request, services: ServicesDep, owner: OwnerDep) -> PairingCodeOut:
    """For the signed-in user: a code to type into the extension (module docstring)."""
    if owner is None:
        raise ConflictError(
            "this server has no accounts: the extension on this computer needs no pairing",
            key="pairing_not_needed",
        )
    return PairingCodeOut(code=_pairings(request).new_code(owner), expires_in=int(CODE_SECONDS))


@router.post("/pair", summary="Exchange a pairing code for an API token")
def pair(body: PairIn, request: Request, services: ServicesDep) -> PairedOut:
    """No sign-in: the code is the proof. The token is the user's, named after the
    browser, revocable with DELETE /api/v1/auth/tokens/{id} or in the web app."""
    if not services.settings.auth:
        raise ConflictError(
            "this server has no accounts: the extension on this computer needs no pairing",
            key="pairing_not_needed",
        )
    address = request.client.host if request.client else ""
    user_id = _pairings(request).redeem(body.code, address)
    name = f"browser extension ({' '.join(body.name.split()) or 'browser'})"[:100]
    with services.writing() as writer:
        user = writer.users.user_by_id(user_id)
        _record, token = writer.users.create_token(user_id, name, EXTENSION_SCOPE)
    return PairedOut(token=token, user=user.name, token_name=name)


def install_extension_api(app: FastAPI) -> None:
    """The routes, the pages open and the pairing codes, and CORS for extensions."""
    app.state.open_pages = PageShelf()
    app.state.pairings = Pairings()
    app.include_router(router)
    app.add_middleware(ExtensionCors)

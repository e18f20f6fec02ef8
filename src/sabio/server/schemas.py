"""What the REST API takes and returns (the shapes OpenAPI documents at /docs)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from annotated_types import Interval
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from sabio.errors import ConfigError
from sabio.filters import DocumentFilter, parse_date

MAX_ROW_ID = 2**63 - 1
RowId = Annotated[int, Interval(ge=0, le=MAX_ROW_ID)]
"""An id (or an offset) in a path or a query: what SQLite's integers hold; anything
larger is a 422 with the reason instead of an OverflowError (a 500)."""


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, for programs: not_found, bad_request, conflict…")
    message: str = Field(description="For people: what happened and what to do (English).")
    key: str | None = Field(
        None,
        description="When present: the message's stable name in Sabio's catalogue "
        "(kb_not_found, wrong_credentials…), to say it in another language.",
    )
    args: dict[str, Any] | None = Field(None, description="The values the message names.")


class ErrorOut(BaseModel):
    error: ErrorDetail


class HealthOut(BaseModel):
    status: str
    version: str


OCR_LANGUAGES = (
    "Tesseract language packs its scans are read with, as 'spa+eng'; '': the "
    "ocr_languages setting's (English, Spanish and the other packs installed)."
)


class KnowledgeBaseIn(BaseModel):
    name: str = Field(
        description="Any name with a letter or a digit, at most 64 characters (e.g. "
        "'Informes año 2024'); its identifier is derived from it."
    )
    embedding_model: str | None = Field(
        None, description="'backend:model'; default: the embedding_model setting."
    )
    ocr_languages: str = Field("", description=OCR_LANGUAGES)


REVIEW = (
    "Whether the files uploaded into it are reviewed as they arrive (secrets, personal data, "
    "phishing: an alert in the Security tab for each with findings)."
)


class KnowledgeBaseChange(BaseModel):
    """What to change; what is left out stays as it is."""

    ocr_languages: str | None = Field(None, description=OCR_LANGUAGES)
    review: bool | None = Field(None, description=REVIEW)


class ReindexIn(BaseModel):
    embedding_model: str | None = Field(
        None, description="Switch to this 'backend:model' while re-indexing."
    )


class KnowledgeBaseOut(BaseModel):
    name: str
    id: str = Field(
        description="Its identifier, for URLs and the kb/ models: letters, digits, '-', "
        "'_', '.' (a name that is one is its own)."
    )
    access: str = Field(
        description="What you may do: manage (an admin, or without accounts), write "
        "(upload and remove documents) or read."
    )
    embedding_model: str
    dimension: int
    documents: int
    passages: int
    ocr_languages: str = Field(description=OCR_LANGUAGES)
    review: bool = Field(description=REVIEW)


class ReadingOut(BaseModel):
    done: int = Field(description="Pages read so far (OCR in progress — page done+1 of total).")
    total: int


class OcrOut(BaseModel):
    pages: list[int] = Field(description="The pages read by OCR (1 for an image).")
    confidence: float | None = Field(
        description="Their mean recognition confidence, 0-100; null when none was read."
    )
    low_pages: list[int] = Field(
        description="Pages hard to read (confidence under 60): check them."
    )
    missing_pages: list[int] = Field(
        description="Pages without a usable text layer that OCR could not read (not searchable)."
    )
    pending: bool = Field(
        description="The missing pages are being read by OCR in the background (a job)."
    )
    progress: ReadingOut | None = Field(
        default=None, description="How far that job is, while it runs: pages read of all."
    )


class DocumentOut(BaseModel):
    id: int
    name: str = Field(description="The file name.")
    file_url: str | None = Field(
        description="Where the original file is served; a web page's own address; null for "
        "a mail or a posted text."
    )
    title: str
    status: str = Field(
        description="indexed, skipped, needs_ocr, encrypted, failed, or transcribing (a "
        "recording its background job is reading)."
    )
    reason: str = Field(description="Why it is not indexed ('' when it is).")
    pages: int | None
    passages: int
    size: int
    updated_at: float
    ocr: OcrOut = Field(description="What OCR read of it (scanned pages, images).")
    transcription: ReadingOut | None = Field(
        default=None,
        description="A recording being transcribed (status transcribing): seconds done of "
        "its length, while its job runs.",
    )


class UploadedFileOut(BaseModel):
    filename: str = Field(description="The name the client sent.")
    name: str = Field(description="The name it was saved under (sanitised, unique).")
    status: str = Field(
        description="indexed, skipped, needs_ocr, encrypted, failed, or rejected (refused "
        "before indexing: unsupported type, content not matching the extension, empty)."
    )
    outcome: str = Field(description="added, updated, unchanged, skipped, not_indexed, rejected.")
    reason: str
    reason_key: str | None = Field(
        None, description="A refusal's stable name (upload_unsupported, upload_mismatch…)."
    )
    reason_args: dict[str, str] = Field(default_factory=dict)
    passages: int
    document_id: int | None


class FilePasswordIn(BaseModel):
    password: str = Field(
        min_length=1,
        max_length=1024,
        description="Used to read the file this once; never kept.",
    )


class MemberIn(BaseModel):
    access: Literal["read", "write"] = Field(
        description="read: ask, search, open documents; write: also upload and remove them."
    )


class MemberOut(BaseModel):
    user_id: int
    name: str
    access: str


class UploadOut(BaseModel):
    files: list[UploadedFileOut]


class HitOut(_Out):
    chunk_id: int
    document_id: int
    document: str = Field(description="The file name.")
    file_url: str | None = Field(
        description="The original file (a PDF's at the passage's page); a web page's own "
        "address; null for a mail or a posted text."
    )
    title: str
    page: int | None
    start: int = Field(description="Where the passage starts in the document's text.")
    end: int = Field(description="Where it ends (exclusive).")
    heading: str
    text: str
    score: float
    keyword_rank: int | None
    vector_rank: int | None
    similarity: float | None


class SearchOut(BaseModel):
    query: str
    hits: list[HitOut]
    notes: list[str] = Field(description="E.g. that only keywords were used, and why.")


def _checked_date(value: str) -> str:
    try:
        parse_date(value, end=False)
    except ConfigError as exc:
        raise ValueError(str(exc).removeprefix("--after ")) from None
    return value


CheckedDate = Annotated[str, AfterValidator(_checked_date)]
FilterDate = Annotated[
    CheckedDate,
    Field(max_length=40, description="2023, 2023-03 or 2023-03-15.", examples=["2023-03"]),
]
DocumentName = Annotated[str, Field(min_length=1, max_length=1000)]
DOCUMENTS_HELP = (
    "Only in these documents: each a file name, path, title or id, or a glob such as "
    "'*2023*' (case and accents ignored); a name that names no document is a 404."
)
AFTER_HELP = (
    "Only documents dated on or after this day (a year or month: from its first day): "
    "the document's own date, else its file's modification day."
)
BEFORE_HELP = "Only documents dated on or before this day (a year or month: to its last day)."


class FilterIn(BaseModel):
    """The documents an answer may use (see sabio.filters); none given: all of them."""

    documents: list[DocumentName] = Field(
        default_factory=list, max_length=200, description=DOCUMENTS_HELP
    )
    after: FilterDate | None = Field(None, description=AFTER_HELP)
    before: FilterDate | None = Field(None, description=BEFORE_HELP)

    def document_filter(self) -> DocumentFilter:
        return DocumentFilter.parse(self.documents, self.after, self.before)


class TurnIn(BaseModel):
    question: str
    answer: str


AnswerStyle = Literal["extractive", "generative", "both"]
STYLE_HELP = (
    "extractive: Sabio quotes the sentences that answer (no model); generative: the model "
    "writes the answer, every claim checked; both. Default: the answer_style setting."
)


class AskIn(FilterIn):
    question: str = Field(min_length=1, max_length=20_000)
    model: str | None = Field(None, description="Chat model; default: the chat_model setting.")
    history: list[TurnIn] = Field(
        default_factory=list, max_length=100, description="Earlier turns, oldest first."
    )
    k: int | None = Field(None, ge=1, le=100, description="Passages to retrieve.")
    style: AnswerStyle | None = Field(None, description=STYLE_HELP)


class ModelOut(_Out):
    name: str
    kind: str
    backend: str
    available: bool
    note: str
    size: int | None
    details: dict[str, str]
    default: str


class OllamaHostOut(_Out):
    url: str
    reachable: bool = Field(description="It answered its /api/tags last time it was asked.")
    models: list[str] = Field(description="Its models (the last list it gave).")
    busy: int = Field(description="This server process's requests on it now.")
    waiting: int = Field(description="This server process's requests waiting for a place.")
    limit: int = Field(description="ollama_parallel: most requests at once; 0: no limit.")
    last_error: str = Field(description="Its latest failure, '' if none.")
    error_key: str | None = Field(description="That error's key in the catalogue (i18n.js).")
    error_args: dict[str, Any] = Field(description="The values that error names.")
    failed_at: float | None = Field(description="When that was (Unix time).")


class ChatIn(BaseModel):
    kb: str | None = Field(None, description="Knowledge base to answer from; null: none.")
    model: str | None = Field(None, description="Chat model; null: the chat_model setting.")
    title: str | None = Field(
        None, max_length=200, description="Null: the first question's beginning."
    )


class ChatPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, min_length=1, max_length=200)
    kb: str | None = Field(
        None, description="Answer from this knowledge base from now on; null: no documents."
    )
    model: str | None = Field(None, description="Chat model from now on; null: the default.")


class ChatMessageIn(FilterIn):
    question: str = Field(min_length=1, max_length=20_000)
    k: int | None = Field(None, ge=1, le=100, description="Passages to retrieve.")
    style: AnswerStyle | None = Field(None, description=STYLE_HELP)
    edit_of: RowId | None = Field(
        None,
        description="A question of the chat that this one replaces: a new branch from "
        "there (the old one stays, see PUT /chats/{id}/branch).",
    )


class RegenerateIn(FilterIn):
    message_id: RowId = Field(description="The question to answer again, or an answer to it.")
    k: int | None = Field(None, ge=1, le=100, description="Passages to retrieve.")
    style: AnswerStyle | None = Field(None, description=STYLE_HELP)


class BranchIn(BaseModel):
    message_id: RowId = Field(
        description="Show the branch through this message (a version of a question or answer)."
    )


class MessageOut(_Out):
    id: int
    role: str = Field(description="user or assistant.")
    content: str
    citations: list[dict[str, Any]] = Field(
        description="As in the answer's `citations` (`document`: the file name, `file_url`)."
    )
    complete: bool = Field(description="False when the answer broke off or was abandoned.")
    stopped: bool = Field(description="Stopped by its reader (then not complete).")
    claims: list[dict[str, Any]] = Field(
        default_factory=list,
        description="An answer's statements, each supported by a passage or not, as in the "
        "answer's `claims`.",
    )
    notes: list[str] = Field(
        default_factory=list,
        description="What an answer says of itself, as the answer's `notes` (a pinned answer "
        "served, which of a correction and a document is newer, keyword matches only…).",
    )
    chart: str = Field(
        default="",
        description="An answer computed over a table: its chart as an SVG document, as the "
        "answer's `computation.chart_svg`; empty for none.",
    )
    route: dict[str, Any] = Field(
        default_factory=dict,
        description="How the answer was made, as the answer's `route`: `kind` (passages, "
        "document, map-reduce, extractive, table, pinned, conversation), `task`, the counted "
        "`tokens` and the `budget` one call could carry, `parts`, `rounds`, `passages`; "
        "empty for answers saved before it was kept.",
    )
    created_at: float
    parent_id: int | None = Field(description="The message it follows; null for the first.")
    versions: list[int] = Field(
        description="This message and the other versions at its place (other answers to "
        "its question, other versions of a question), oldest first."
    )


class ChatOut(_Out):
    id: int
    title: str = Field(description="'' until the first question is asked.")
    kb: str | None = Field(validation_alias="kb_name")
    kb_available: bool = Field(description="False when the knowledge base was deleted.")
    model: str | None
    created_at: float
    updated_at: float


class ChatDetailOut(ChatOut):
    messages: list[MessageOut]


class SettingsOut(BaseModel):
    ollama_host: str
    chat_model: str
    embedding_model: str
    default_kb: str
    overridden: dict[str, str] = Field(
        description="Settings set above config.toml, and by what (e.g. SABIO_CHAT_MODEL, "
        "the command line): changing them here does not take effect."
    )


class SettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ollama_host: str | None = Field(
        None, description="Ollama's address: host:port or http(s)://host:port."
    )
    chat_model: str | None = Field(None, description="'auto' or 'backend:model'.")
    embedding_model: str | None = Field(
        None, description="'auto' or 'backend:model', for new knowledge bases."
    )


class PullIn(BaseModel):
    name: str = Field(
        min_length=1, max_length=300, description="An Ollama model, e.g. qwen3:4b or bge-m3."
    )


class PassageOut(BaseModel):
    chunk_id: int
    document_id: int
    name: str = Field(description="The file name.")
    title: str
    page: int | None
    start: int
    end: int
    heading: str
    text: str
    before: str = Field(
        description="The text before it on its page, from the previous passage ('' if none)."
    )
    after: str = Field(description="The text after it on its page ('' if none).")
    file_url: str | None = Field(
        description="The original file (a PDF's at the passage's page); a web page's own "
        "address; null for a mail or a posted text."
    )


# accounts (only when the server requires login: the auth setting)


class UserOut(_Out):
    id: int
    name: str
    admin: bool = Field(description="Manages the accounts, the settings and the models.")


class AccountOut(UserOut):
    created_at: float


class AuthStatusOut(BaseModel):
    auth: bool = Field(description="Login required: accounts, sessions, API tokens.")
    setup_needed: bool = Field(description="Accounts are on and the first admin is missing.")
    local: bool = Field(description="Single-user mode on this computer, without login.")
    user: UserOut | None = Field(description="Who is signed in; null when no one is.")
    csrf_token: str | None = Field(
        description="Send it as X-CSRF-Token with every change made with the session cookie."
    )


class SetupIn(BaseModel):
    name: str = Field(description="Letters, digits, '.', '-', '_', '@'; 1 to 64 characters.")
    password: str = Field(description="At least 8 characters.")
    setup_code: str | None = Field(
        None, description="The code `sabio serve` printed; not needed on this computer."
    )


class LoginIn(BaseModel):
    name: str
    password: str


class PasswordIn(BaseModel):
    current: str
    new: str = Field(description="At least 8 characters.")


class TokenIn(BaseModel):
    name: str = Field(description="Where it is used, e.g. 'backup script'.")


class TokenOut(_Out):
    id: int
    name: str
    created_at: float
    last_used_at: float | None = Field(description="Within a minute; null: never used.")
    scope: str = Field("", description='"": any route; "extension": the browser extension\'s.')


class NewTokenOut(TokenOut):
    token: str = Field(description="sabio_…: shown this once, keep it safe.")


class UserIn(BaseModel):
    name: str = Field(description="Letters, digits, '.', '-', '_', '@'; 1 to 64 characters.")
    password: str = Field(description="At least 8 characters.")
    admin: bool = False


class DataContentsOut(_Out):
    knowledge_bases: int
    documents: int
    passages: int
    chats: int
    users: int
    sources: int
    uploads: int = Field(description="Files uploaded through the server.")
    secrets: int = Field(0, description="Saved passwords and API keys (sealed in an export).")


class DataOut(BaseModel):
    contents: DataContentsOut
    needs_passphrase: bool = Field(
        description="Whether an export holds secrets, so needs a passphrase to seal them."
    )


class ExportIn(BaseModel):
    passphrase: str | None = Field(
        None, description="Seals the saved passwords and API keys; needed when there are any."
    )


class ExportOut(BaseModel):
    url: str = Field(description="Download the archive here (once; it is deleted when sent).")
    name: str = Field(description="A file name for it.")
    size: int
    contents: DataContentsOut


class ImportOut(BaseModel):
    contents: DataContentsOut
    settings_restored: bool | None = Field(
        description="True: the archive's config.toml was restored; false: this server's "
        "was kept; null: the archive had none."
    )


class PurgeIn(BaseModel):
    confirm: bool = Field(description="Must be true: everything is deleted.")


Rating = Literal["up", "down"]


class FeedbackIn(BaseModel):
    """A judgement of an answer: any of a rating, a reason and a correction."""

    model_config = ConfigDict(extra="forbid")

    rating: Rating | None = Field(None, description="up (good) or down (bad); null: none.")
    reason: str = Field("", max_length=4000, description="Why, in the user's words.")
    correction: str = Field(
        "",
        max_length=4000,
        description="The right answer: it becomes a note of the knowledge base, found and "
        "cited first by the answers to this question and its paraphrases.",
    )
    pin: bool = Field(
        False,
        description="Pin this (good) answer as the reference answer to its question: a similar "
        "later question gets it, its citations checked against the documents again.",
    )


class AnswerFeedbackIn(FeedbackIn):
    """Feedback on an answer given outside a chat (an Ollama or OpenAI client, a script)."""

    question: str = Field(min_length=1, max_length=20_000)
    answer: str = Field("", max_length=100_000)


class NotePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    correction: str | None = Field(None, min_length=1, max_length=4000)
    status: Literal["active", "pending"] | None = Field(
        None, description="active: used by answers (approves a pending note; admins only)."
    )


class FeedbackOut(_Out):
    id: int
    kb: str | None = Field(description="The knowledge base of the answer judged.")
    rating: Rating | None
    reason: str
    correction: str = Field(description="Not empty: this feedback is a note.")
    question: str
    answer: str
    author: str
    chat_id: int | None
    message_id: int | None
    status: str = Field(description="A note's: active (used) or pending (waits for review).")
    pinned: bool = Field(description="The reference answer to its question.")
    label: str = Field(
        description='How a note is cited: "Correction by ana, 2026-12-03" ("Corrección de '
        'ana, 2026-12-03" when Accept-Language prefers Spanish).'
    )
    created_at: float
    updated_at: float


class JudgedQuestionOut(_Out):
    id: int = Field(description="The feedback it comes from (a note's or pinned answer's id).")
    question: str
    pinned: bool = Field(description="Its answer was pinned: the documents it cites answer it.")
    corrected: bool = Field(description="It has a note in use: the note answers it.")
    relevant: list[str] = Field(description="The sources of the documents that answer it.")
    rank: int | None = Field(
        default=None,
        description="With scores: the place of the first of them in the search (null: absent).",
    )


class JudgedSetOut(_Out):
    questions: list[JudgedQuestionOut]
    scores: dict[str, float] = Field(
        default_factory=dict,
        description="With scores: ndcg@10, recall@5, recall@10, recall@100, mrr@10.",
    )


class GlossaryEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)

    term: str = Field(min_length=1, max_length=1000)
    wording: str = Field(min_length=1, max_length=1000, description="The wording to prefer.")


class GuideExample(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)

    question: str = Field(min_length=1, max_length=2000)
    answer: str = Field(min_length=1, max_length=2000)


class GuideIO(BaseModel):
    """A knowledge base's instructions and style, in every answer the model writes over it."""

    model_config = ConfigDict(extra="forbid")

    instruction: str = Field(
        "",
        max_length=4000,
        description="How to answer: \"answer as the firm's legal team, formal Spanish, always "
        'give the clause number".',
    )
    glossary: list[GlossaryEntry] = Field(default_factory=list, max_length=200)
    examples: list[GuideExample] = Field(default_factory=list, max_length=10)

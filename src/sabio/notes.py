"""Corrections as knowledge: a note is a document of its knowledge base.

A correction a user gives an answer (:class:`~sabio.store.feedback.Feedback` with a
``correction``) is indexed like any document, under the source ``note:<id>``: its text
is the correction, its heading the question it corrects (so the question and its
paraphrases find it, by words and by meaning), its metadata the author, the date, the
question and the answer corrected. An answer searches the notes apart from the other
documents and, when one is on the question's topic (the same gate as any passage),
quotes it first and cites it as "Correction by ana, 2026-12-03" (:func:`note_label`):
what the user taught wins by priority, not by what the model makes of it.
"""

from __future__ import annotations

import getpass
import hashlib
import time

from sabio.ingest import LoadedSource
from sabio.loaders import LoadedDocument, Section
from sabio.store.feedback import Feedback

NOTE_SCHEME = "note:"
NOTES_K = 2
"""Notes searched for each question (the best on its topic are quoted first)."""
_LABELS = {"en": "Correction by {author}, {date}", "es": "Corrección de {author}, {date}"}
_NO_AUTHOR = {"en": "a user", "es": "un usuario"}


def local_author() -> str:
    """Who wrote a note on this computer without accounts: the login name."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this user id (a container)
        return ""


def note_source(feedback_id: int) -> str:
    """The source naming a note's document in its knowledge base."""
    return f"{NOTE_SCHEME}{feedback_id}"


def note_id(source: str) -> int | None:
    """The feedback id of a note's document; None for any other document."""
    if not source.startswith(NOTE_SCHEME):
        return None
    number = source[len(NOTE_SCHEME) :]
    return int(number) if number.isdigit() else None


def note_date(note: Feedback) -> str:
    """The day a note was last written, as 2026-12-03 (this computer's time zone)."""
    return time.strftime("%Y-%m-%d", time.localtime(note.updated_at))


def note_label(note: Feedback, language: str) -> str:
    """How a note is cited: "Correction by ana, 2026-12-03" / "Corrección de ana, …"."""
    language = language if language in _LABELS else "en"
    author = note.author or _NO_AUTHOR[language]
    return _LABELS[language].format(author=author, date=note_date(note))


def note_item(note: Feedback) -> LoadedSource:
    """The document a note becomes, ready for :func:`sabio.ingest.ingest_loaded`."""
    text = note.correction.strip()
    heading = " ".join(note.question.split())
    digest = hashlib.blake2b(f"{heading}\n{text}\n{note.author}".encode(), digest_size=16)
    title = note_label(note, "en")
    document = LoadedDocument([Section(text, heading=heading)], title)
    metadata = {
        "kind": "note",
        "author": note.author,
        "date": note_date(note),
        "question": note.question,
        "answer": note.answer,
    }
    return LoadedSource(note_source(note.id), digest.hexdigest(), title, document,
                        metadata=metadata)  # fmt: skip

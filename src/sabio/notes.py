"""Corrections as knowledge: a note is a document of its knowledge base.

A correction a user gives an answer (:class:`~sabio.store.feedback.Feedback` with a
``correction``) is indexed like any document, under the source ``note:<id>``: its text
is the correction, its heading the question it corrects (so the question and its
paraphrases find it, by words and by meaning), its metadata the author, the date, the
question and the answer corrected. An answer looks for the notes apart from the other
documents (:class:`NoteMatcher`) and, when one is about the question, quotes it first and
cites it as "Correction by ana, 2026-12-03" (:func:`note_label`): what the user taught
wins by priority, not by what the model makes of it. A document the answer was also made
from that does not say what the note says (the support check of the note against its
passages, :func:`disagreement`) is quoted in the answer's notes, with which is newer.

Which notes a question is about is decided by its closeness in meaning to the question
each note corrects, measured by the multilingual embedder (:data:`NOTE_MATCHER`)
whatever the knowledge base's own: a correction given in English must be found for the
same question asked in Spanish, which all-MiniLM-L6-v2 cannot do (its cosines between a
question and its translation, 0.10 to 0.62, overlap those of unrelated questions).
:data:`NOTE_FLOOR` was checked on all of XQuAD (``bench/note_matcher.py``: 1,190
questions, each in English and Spanish; chosen on half the paragraphs, checked on the
other half): at 0.6, 98% of the questions' Spanish translations and the 20 paraphrases of
``bench/feedback.py`` match, and 0.06% of the pairs of a note and a question about
another paragraph do (none of SciFact's claims). The two overlap: no floor parts them.
"""

from __future__ import annotations

import getpass
import hashlib
import threading
import time
from collections.abc import Sequence

import numpy as np

from sabio.extractive import pick_sentences
from sabio.ingest import LoadedSource
from sabio.loaders import LoadedDocument, Section
from sabio.models import EmbeddingModel
from sabio.search import SearchHit
from sabio.store.feedback import Feedback
from sabio.support import Embed, Passages, check_claims

NOTE_SCHEME = "note:"
NOTES_K = 2
"""Most notes quoted first in one answer."""
QUOTE_CHARS = 200
"""Most characters of what a document says instead of a note, quoted in the answer's notes."""
NOTE_MATCHER = "embedded:use-multilingual"
NOTE_FLOOR = 0.6
"""The cosine (of :data:`NOTE_MATCHER`) from which a question is about a note's question:
the rule of ``bench/note_matcher.py`` (at most one unrelated pair in a thousand) gives
0.58 on its dev half; 0.6 holds on the held-out half (98.0% of translations, 0.063% of
unrelated pairs)."""
_LABELS = {"en": "Correction by {author}, {date}", "es": "Corrección de {author}, {date}"}
_NO_AUTHOR = {"en": "a user", "es": "un usuario"}


_SAID = {
    "pinned": ("pinned answer to “{question}” ({author}, {date})",
               "respuesta fijada a «{question}» ({author}, {date})"),
    "changed": ("a passage this pinned answer cites changed since it was pinned: {where}",
                "un pasaje que cita esta respuesta fijada cambió desde que se fijó: {where}"),
    "deleted": ("a passage this pinned answer cites was deleted: {where}",
                "un pasaje que cita esta respuesta fijada se eliminó: {where}"),
    "correction": ("the correction by {author} ({date})", "la corrección de {author} ({date})"),
    "note_newer": ("{note} is newer than {name} ({day}), which says: “{quote}”",
                   "{note} es más reciente que {name} ({day}), que dice: «{quote}»"),
    "doc_newer": ("{name} ({day}) is newer than {note} and does not say the same: “{quote}”",
                  "{name} ({day}) es más reciente que {note} y no dice lo mismo: «{quote}»"),
    "page": ("page", "página"),
}  # fmt: skip


def said(key: str, language: str, **values: object) -> str:
    """What an answer says of a note or a pinned answer (its ``notes``), in ``language``."""
    english, spanish = _SAID[key]
    return (spanish if language == "es" else english).format(**values)


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
    return _LABELS[language].format(author=author_name(note, language), date=note_date(note))


def author_name(note: Feedback, language: str) -> str:
    return note.author or _NO_AUTHOR["es" if language == "es" else "en"]


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


def disagreement(note: Feedback, hits: Sequence[SearchHit], embed: Embed | None) -> str:
    """What one document's passages ``hits`` say instead of ``note``: "" when the support
    check (:func:`sabio.support.check_claims`) finds every statement of the correction in
    them, or when none of their sentences is about the question it corrects (another
    subject contradicts nothing); else their sentence that answers that question."""
    passages = Passages(hits, embed)
    if all(claim.supported for claim in check_claims(note.correction, passages)):
        return ""
    picks = pick_sentences(note.question or note.correction, passages)
    if not picks:
        return ""
    text = " ".join(passages.sentences[picks[0].passage][picks[0].sentence].text.split())
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1].rstrip() + "…"


class NoteMatcher:
    """Which notes a question is about: the cosine of the question to the question each
    note corrects, at least :data:`NOTE_FLOOR`. The notes' vectors are kept (by id and
    version), so a question costs one embedding."""

    def __init__(self) -> None:
        self._vectors: dict[tuple[int, float], np.ndarray] = {}
        self._lock = threading.Lock()

    def match(
        self, embedder: EmbeddingModel, question: str, notes: Sequence[Feedback], k: int = NOTES_K
    ) -> list[Feedback]:
        """The ``k`` notes closest to ``question`` among those about it, closest first."""
        if not notes:
            return []
        with self._lock:
            missing = [n for n in notes if (n.id, n.updated_at) not in self._vectors]
        if missing:
            vectors = embedder.embed([n.question or n.correction for n in missing])
            with self._lock:
                self._vectors.update(
                    {(n.id, n.updated_at): v for n, v in zip(missing, vectors, strict=True)}
                )
        asked = embedder.embed([question])[0]
        with self._lock:
            scored = [(float(self._vectors[n.id, n.updated_at] @ asked), n) for n in notes]
        scored.sort(key=lambda pair: -pair[0])
        return [n for score, n in scored if score >= NOTE_FLOOR][:k]

"""A review: every document's text through the detectors, every mail through the
phishing signs, the findings placed (document, page, line, span) and masked.

Two entrances: :func:`review_paths` reads files through the normal loaders (nothing is
indexed), :func:`review_kb` rebuilds each stored document's text from its chunks (they
are exact slices of it) and re-reads the original of a stored mail, when it is still
there, for what its text does not keep (links' targets, Reply-To, attachments' names).
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from email import message_from_bytes
from email.errors import MessageError
from email.message import Message
from email.policy import compat32
from pathlib import Path

from sabio.chunking import document_text
from sabio.errors import CorruptFileError, LoadError
from sabio.loaders import Blob, Section, is_supported, load_document
from sabio.review.files import file_risk
from sabio.review.findings import Category, Finding, Severity, explain, fingerprint, mask
from sabio.review.health import find_health
from sabio.review.identifiers import find_identifiers
from sabio.review.logs import find_log_activity
from sabio.review.phishing import SUSPICIOUS_AT, mail_signs, sender_domain, verdict
from sabio.review.secrets import Hit, find_secrets
from sabio.store import SabioStore
from sabio.store.documents import KnowledgeBase

MAIL_EXTENSIONS = frozenset((".eml", ".mbox", ".mbx"))
_MBOX_FROM = re.compile(rb"^From .*$", re.MULTILINE)
# Which of two overlapping hits is kept: the more specific (a key over the "password" its
# label also matches, a card over a phone number inside it).
_PRIORITY = {
    kind: i
    for i, kind in enumerate(
        (
            "private_key api_key token connection_string password card iban nie dni cif phone "
            "email health"
        ).split()
    )
}
_SECRET_KINDS = frozenset(("private_key", "api_key", "token", "connection_string", "password"))
_ACTIVITY_KINDS = frozenset(
    (
        "failed_login_burst",
        "login_after_burst",
        "scan",
        "login_new_place",
        "login_new_country",
        "login_odd_hour",
    )
)


@dataclass(slots=True)
class Report:
    """What a review found: ``documents`` read, ``failed`` (name, why) those that could
    not be, ``findings`` ordered by document and place."""

    documents: int = 0
    findings: list[Finding] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    dismissed: list[Finding] = field(default_factory=list)
    """Findings a person dismissed (``Store.reviews``): kept apart, not counted."""

    def set_aside(self, dismissed: Collection[tuple[str, str, str]]) -> None:
        """Move the findings whose (document, kind, fingerprint) is ``dismissed`` apart."""
        kept: list[Finding] = []
        for finding in self.findings:
            key = (finding.document, finding.kind, finding.fingerprint)
            (self.dismissed if key in dismissed else kept).append(finding)
        self.findings = kept

    def counts(self) -> Counter[str]:
        return Counter(f.kind for f in self.findings)

    def by_document(self) -> dict[str, list[Finding]]:
        grouped: dict[str, list[Finding]] = {}
        for finding in self.findings:
            grouped.setdefault(finding.document, []).append(finding)
        return grouped


@dataclass(slots=True)
class _Text:
    """A document's text, and the offsets where its pages start."""

    text: str
    page_starts: list[tuple[int, int]] = field(default_factory=list)
    _newlines: list[int] | None = None

    def page(self, offset: int) -> int | None:
        i = bisect.bisect_right(self.page_starts, (offset, 1 << 62)) - 1
        return self.page_starts[i][1] if i >= 0 else None

    def line(self, offset: int) -> int:
        if self._newlines is None:
            self._newlines = [m.start() for m in re.finditer("\n", self.text)]
        return bisect.bisect_left(self._newlines, offset) + 1


def review_text(
    text: str, document: str = "", page_starts: Iterable[tuple[int, int]] = ()
) -> list[Finding]:
    """Secrets, personal data (health terms too) and log activity in ``text``;
    ``page_starts``: (offset, page) pairs."""
    placed = _Text(text, sorted(page_starts))
    hits = _without_overlaps([*find_secrets(text), *find_identifiers(text), *find_health(text)])
    activity = list(find_log_activity(text))
    return [
        _finding(hit, placed, document) for hit in sorted([*hits, *activity], key=lambda h: h.start)
    ]


def _without_overlaps(hits: list[Hit]) -> list[Hit]:
    kept: list[Hit] = []
    spans: list[tuple[int, int]] = []
    for hit in sorted(hits, key=lambda h: (_PRIORITY[h.kind], h.start)):
        i = bisect.bisect_left(spans, (hit.start, hit.end))
        neighbours = spans[max(0, i - 1) : i + 1]
        if any(s < hit.end and hit.start < e for s, e in neighbours) or any(
            s < hit.end and hit.start < e for s, e in spans if s <= hit.start and e >= hit.end
        ):
            continue
        bisect.insort(spans, (hit.start, hit.end))
        kept.append(hit)
    return sorted(kept, key=lambda h: h.start)


def _finding(hit: Hit, placed: _Text, document: str) -> Finding:
    secret = hit.kind in _SECRET_KINDS
    if hit.kind == "private_key":
        evidence = "-----BEGIN " + hit.details.get("service", "").upper() + "----- ****"
    elif hit.kind in _ACTIVITY_KINDS:
        evidence = hit.value  # the source address: what a person blocks
    else:
        evidence = mask(hit.value)
    category = Category.SECRET if secret else Category.PERSONAL
    return Finding(
        Category.ACTIVITY if hit.kind in _ACTIVITY_KINDS else category,
        hit.kind,
        hit.severity,
        evidence,
        fingerprint(hit.value),
        hit.start,
        hit.end,
        placed.line(hit.start),
        placed.page(hit.start),
        document,
        hit.details,
    )


# --- mail ----------------------------------------------------------------------------------


def messages_of(data: bytes, extension: str) -> list[Message]:
    """The messages of an .eml (one) or an mbox file, split as the mail loader splits
    them, parsed with the compat32 policy: a few times faster than the loader's (headers
    are read as written; :mod:`.phishing` decodes what it needs)."""
    if extension not in (".mbox", ".mbx"):
        return [_parse(data)]
    starts = [m.start() for m in _MBOX_FROM.finditer(data)]
    return [
        _parse(data[a:b].split(b"\n", 1)[-1].replace(b"\n>From ", b"\nFrom "))
        for a, b in zip(starts, [*starts[1:], len(data)], strict=True)
    ]


def _parse(data: bytes) -> Message:
    """compat32 first; a multipart message whose boundary is not found (the loader
    repairs those) as the loader parses it."""
    from sabio.loaders.mail import parse_message

    try:
        message = message_from_bytes(data, policy=compat32)
        if message.get_content_maintype() == "multipart" and not message.is_multipart():
            return parse_message(data)
        return message
    except (ValueError, TypeError, IndexError, AttributeError, MessageError) as exc:
        raise CorruptFileError(f"not a readable mail message ({type(exc).__name__})") from exc


def review_mail(
    messages: list[Message], text: str, document: str, senders: Mapping[str, int] | None = None
) -> list[Finding]:
    """Phishing signs of each message, placed in the document's ``text`` (``senders``: how
    many messages of the mailbox each sender domain sent); a message whose
    signs add up to :data:`SUSPICIOUS_AT` also gets one ``suspicious_mail`` finding."""
    from sabio.loaders.mail import split_message

    placed = _Text(text)
    findings: list[Finding] = []
    cursor = 0
    senders = senders or {}
    for message in messages:
        body = text if len(messages) == 1 else split_message(message)[0].text
        domain = sender_domain(message)
        own = senders.get(domain, 0)
        # a look-alike imitates a sender seen more often in the mailbox, not the reverse
        signs = mail_signs(message, body, (d for d, n in senders.items() if n > own), domain)
        anchor = _find(text, body[:80], cursor)
        cursor = anchor
        for sign in signs:
            at = _find(text, sign.needle, anchor) if sign.needle else anchor
            end = at + len(sign.needle) if text[at : at + len(sign.needle)] == sign.needle else at
            findings.append(
                Finding(
                    Category.PHISHING,
                    sign.kind,
                    sign.severity,
                    sign.needle[:120],
                    fingerprint(sign.needle),
                    at,
                    end,
                    placed.line(at),
                    None,
                    document,
                    sign.details,
                )
            )
        score = verdict(signs)
        if score >= SUSPICIOUS_AT:
            names = ", ".join(dict.fromkeys(s.kind for s in signs))
            findings.append(
                Finding(
                    Category.PHISHING,
                    "suspicious_mail",
                    Severity.HIGH if score >= 3 else Severity.MEDIUM,
                    _subject(message),
                    fingerprint(document + str(anchor)),
                    anchor,
                    anchor,
                    placed.line(anchor),
                    None,
                    document,
                    {
                        "count": str(len({s.kind for s in signs})),
                        "signs": names,
                        "score": str(score),
                    },
                )
            )
    return findings


def _find(text: str, needle: str, start: int) -> int:
    if not needle:
        return start
    at = text.find(needle, start)
    if at < 0:
        at = text.find(needle)
    return at if at >= 0 else start


def _subject(message: Message) -> str:
    from sabio.review.phishing import decoded

    try:
        return " ".join(decoded(str(message.get("Subject", ""))).split())[:120]
    except (ValueError, TypeError, IndexError, AttributeError):
        return ""


def suspicious_messages(findings: Iterable[Finding]) -> int:
    return sum(1 for f in findings if f.kind == "suspicious_mail")


# --- entrances -----------------------------------------------------------------------------


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
        elif path.is_file():
            yield path


def review_paths(paths: Iterable[Path]) -> Report:
    """Review files (folders walked) through the loaders, without indexing them. Mails
    are reviewed last, once every sender of the run is known (look-alikes of them)."""
    report = Report()
    mails: list[tuple[str, list[Message], str]] = []
    for path in _files(paths):
        _check_file(report, path, str(path))
        if not is_supported(path.name):
            continue
        try:
            loaded = load_document(Blob.from_path(path))
        except LoadError as exc:
            report.failed.append((str(path), str(exc)))
            continue
        report.documents += 1
        text = document_text(loaded.sections)
        report.findings.extend(review_text(text, str(path), _section_pages(loaded.sections)))
        if path.suffix.lower() in MAIL_EXTENSIONS:
            mails.append((str(path), messages_of(path.read_bytes(), path.suffix.lower()), text))
    _review_mails(report, mails)
    return report


def _check_file(report: Report, path: Path, document: str) -> None:
    """A file that runs macros or hides a program (:mod:`.files`): one finding at its
    start, whatever its text holds."""
    why = file_risk(path)
    if why is None:
        return
    report.findings.append(
        Finding(
            Category.FILE,
            "dangerous_file",
            Severity.HIGH,
            path.name,
            fingerprint(path.name + why),
            0,
            0,
            1,
            None,
            document,
            {"name": path.name, "why": why},
        )
    )


def _section_pages(sections: list[Section]) -> list[tuple[int, int]]:
    starts: list[tuple[int, int]] = []
    offset = 0
    for section in sections:
        if section.page is not None:
            starts.append((offset, section.page))
        offset += len(section.text) + 2
    return starts


def _review_mails(report: Report, mails: list[tuple[str, list[Message], str]]) -> None:
    known = Counter(d for _, messages, _ in mails for m in messages if (d := sender_domain(m)))
    for name, messages, text in mails:
        report.findings.extend(review_mail(messages, text, name, known))


def review_kb(store: SabioStore, kb: KnowledgeBase, document_id: int | None = None) -> Report:
    """Review the documents stored in ``kb`` (only one, when ``document_id`` is given:
    a document as it arrives): their text rebuilt from the chunks; the findings a person
    dismissed set apart."""
    report = Report()
    if document_id is None:
        sources = {d.id: d.source for d in store.list_documents(kb.id)}
    else:  # one of many arriving: not the list of all of them each time
        sources = {document_id: store.get_document(kb.id, document_id).source}
    mails: list[tuple[str, list[Message], str]] = []
    for doc_id, text, pages in stored_texts(store, kb, document_id):
        source = sources.get(doc_id, str(doc_id))
        report.documents += 1
        report.findings.extend(review_text(text, source, pages))
        original = Path(source)
        if original.is_file():
            _check_file(report, original, source)
        if original.suffix.lower() in MAIL_EXTENSIONS and original.is_file():
            try:
                mails.append(
                    (source, messages_of(original.read_bytes(), original.suffix.lower()), text)
                )
            except LoadError as exc:
                report.failed.append((source, str(exc)))
    _review_mails(report, mails)
    report.set_aside({d.key for d in store.reviews.dismissals(kb.id)})
    return report


def stored_texts(
    store: SabioStore, kb: KnowledgeBase, document_id: int | None = None
) -> Iterator[tuple[int, str, list[tuple[int, int]]]]:
    """(document id, text, (offset, page) pairs) of each stored document (of one, given):
    its text rebuilt from its chunks."""
    current: int | None = None
    parts: list[tuple[int, int | None, str]] = []
    for doc_id, start, page, text in store.document_chunks(kb.id, document_id):
        if doc_id != current and current is not None:
            yield current, *_rebuild(parts)
            parts = []
        current = doc_id
        parts.append((start, page, text))
    if current is not None:
        yield current, *_rebuild(parts)


def _rebuild(parts: list[tuple[int, int | None, str]]) -> tuple[str, list[tuple[int, int]]]:
    """The document's text from its overlapping chunks; what no chunk covers (the blank
    lines between sections) is a newline."""
    size = max(start + len(text) for start, _, text in parts)
    buffer = ["\n"] * size
    pages: list[tuple[int, int]] = []
    for start, page, text in parts:
        buffer[start : start + len(text)] = text
        if page is not None:
            pages.append((start, page))
    return "".join(buffer), pages


def explain_finding(finding: Finding, language: str) -> str:
    return explain(finding.kind, language, **finding.details)

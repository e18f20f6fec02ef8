"""Mail: .eml messages and .mbox mailboxes (stdlib ``email``); .msg is refused.

Only what a person reads is kept: a short header block (From, To, Date, Subject), the
text/plain body (or the text of the HTML body when there is no plain one), and every
attachment loaded through :func:`~sabio.loaders.load_document`, so that an attached PDF
becomes its text under the heading "Attachment: <name>". Attachments that cannot be read
(images, archives, damaged files) are listed in ``metadata["skipped_attachments"]``;
nothing is ever indexed as base64 or raw MIME. Attached messages (message/rfc822) are
read like the outer one. In an mbox every message gets its own sections, headed
"subject — from — date".

:func:`split_message` gives a message's own text and its attachments' bytes apart, for
callers that index each attachment as an item of its own (an IMAP mailbox).
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.errors import HeaderParseError, MessageError
from email.header import decode_header, make_header
from email.message import Message
from email.utils import parsedate_to_datetime
from pathlib import Path

from sabio.errors import CorruptFileError, LoadError, UnsupportedTypeError
from sabio.loaders import (
    DEFAULT_OCR,
    Blob,
    LoadedDocument,
    OcrOptions,
    Section,
    is_supported,
    load_document,
    register_loader,
)
from sabio.loaders.html import html_to_text
from sabio.loaders.text import decode_bytes

_HEADER_ERRORS = (HeaderParseError, MessageError, ValueError, IndexError, TypeError, AttributeError)
# Runs of base64 (or uuencode) lines left in a body by a broken MIME structure.
_ENCODED_RUN = re.compile(r"(?m)^(?:[A-Za-z0-9+/]{60,}={0,2}[ \t]*\n)+(?:[A-Za-z0-9+/]*={0,2}$)?")
_UUENCODED_RUN = re.compile(r"(?m)^begin [0-7]{3} \S.*\n(?:M.{60}\n)+(?:.*\n)*?end$")
_BOUNDARY_PARAM = re.compile(rb"""boundary\s*=\s*("[^"]*"|[^;\s]+)""", re.IGNORECASE)
_DELIMITER_LINE = re.compile(rb"^--([^\s]{1,200}?)\r?$", re.MULTILINE)
_MBOX_FROM = re.compile(rb"^From .*$", re.MULTILINE)


@dataclass(slots=True)
class _Parts:
    body: list[str] = field(default_factory=list)
    attachments: list[Section] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    # Not None: collect each attachment as (file name, bytes) here instead of loading it.
    files: list[tuple[str, bytes]] | None = None
    ocr: OcrOptions = DEFAULT_OCR  # how an attached image or scan is read


@register_loader(".msg")
def refuse_outlook(blob: Blob) -> LoadedDocument:
    raise UnsupportedTypeError(
        "Outlook .msg files are not supported; open the message in Outlook and save it "
        "as .eml (File > Save As), then add the .eml"
    )


@register_loader(".eml")
def load_eml(blob: Blob) -> LoadedDocument:
    message = _parse(blob.read())
    sections, skipped = _message_sections(message, "", blob.ocr)
    metadata = _header_metadata(message)
    if skipped:
        metadata["skipped_attachments"] = "; ".join(skipped)
    title = metadata.get("subject") or Path(blob.name).stem
    return LoadedDocument(sections=sections, title=title, metadata=metadata)


@register_loader(".mbox", ".mbx")
def load_mbox(blob: Blob) -> LoadedDocument:
    data = blob.read()
    starts = [m.start() for m in _MBOX_FROM.finditer(data)]
    if not starts:
        raise CorruptFileError("not an mbox file: no line starts with 'From '")
    sections: list[Section] = []
    skipped: list[str] = []
    for start, end in zip(starts, [*starts[1:], len(data)], strict=True):
        raw = data[start:end].split(b"\n", 1)[-1]
        message = _parse(raw.replace(b"\n>From ", b"\nFrom "))
        meta = _header_metadata(message)
        heading = " — ".join(
            meta.get(key, "") or fallback
            for key, fallback in (("subject", "(no subject)"), ("from", "?"), ("date", "?"))
        )
        message_sections, message_skipped = _message_sections(message, heading, blob.ocr)
        sections.extend(message_sections)
        skipped.extend(f"{heading}: {item}" for item in message_skipped)
    metadata = {"messages": str(len(starts))}
    if skipped:
        metadata["skipped_attachments"] = "; ".join(skipped)
    return LoadedDocument(sections=sections, title=Path(blob.name).stem, metadata=metadata)


def parse_message(data: bytes) -> Message:
    """A raw message parsed as the loaders parse it; CorruptFileError when hopeless."""
    return _parse(data)


def split_message(message: Message) -> tuple[Section, list[tuple[str, bytes]]]:
    """The message's own text (the header block and body, as the first section that
    :func:`load_eml` gives) and its attachments as (file name, bytes), none of them
    loaded. An attached message is read like the outer one: its text joins the body,
    its attachments join the list."""
    files: list[tuple[str, bytes]] = []
    parts = _Parts(files=files)
    _walk(message, parts, heading="")
    return _main_section(message, parts, heading=""), files


def header_metadata(message: Message) -> dict[str, str]:
    """from, to, subject, message_id (as written) and date (ISO 8601 when parseable),
    each only when the message has it."""
    return _header_metadata(message)


def part_text(part: Message) -> str:
    """A text part's content as text, whatever its transfer encoding and charset."""
    return _part_text(part)


def _parse(data: bytes) -> Message:
    try:
        message: Message = message_from_bytes(data, policy=policy.default)
        if message.get_content_maintype() == "multipart" and not message.is_multipart():
            message = _reparse_with_real_boundary(data) or message
    except _HEADER_ERRORS as exc:
        raise CorruptFileError(f"not a readable mail message ({type(exc).__name__})") from exc
    return message


def _reparse_with_real_boundary(data: bytes) -> Message | None:
    """A multipart message whose declared boundary is not found (unquoted with "=" in it,
    or simply wrong): declare the first delimiter line of the body instead."""
    end = min((i for i in (data.find(b"\n\n"), data.find(b"\r\n\r\n")) if i >= 0), default=-1)
    if end < 0:
        return None
    head, body = data[:end], data[end:]
    delimiter = _DELIMITER_LINE.search(body)
    if delimiter is None:
        return None
    boundary = b'boundary="' + delimiter.group(1) + b'"'
    fixed, replaced = _BOUNDARY_PARAM.subn(lambda _: boundary, head, count=1)
    return message_from_bytes(fixed + body, policy=policy.default) if replaced else None


def _message_sections(
    message: Message, heading: str, ocr: OcrOptions
) -> tuple[list[Section], list[str]]:
    parts = _Parts(ocr=ocr)
    _walk(message, parts, heading)
    return [_main_section(message, parts, heading), *parts.attachments], parts.skipped


def _main_section(message: Message, parts: _Parts, heading: str) -> Section:
    header_block = "\n".join(
        f"{name}: {value}"
        for name in ("From", "To", "Date", "Subject")
        if (value := _header(message, name))
    )
    body = _strip_encoded("\n\n".join(text for text in parts.body if text.strip()))
    return Section(f"{header_block}\n\n{body}".strip(), heading=heading)


def _walk(part: Message, parts: _Parts, heading: str) -> None:
    content_type = part.get_content_type()
    if part.is_multipart():
        children = [c for c in part.get_payload() if isinstance(c, Message)]
        if content_type == "multipart/alternative":
            children = _preferred_alternative(children)
        for child in children:
            _walk(child, parts, heading)
    elif content_type == "message/rfc822":
        _attached_message(part, parts, heading)
    elif _is_attachment(part):
        _attachment(part, parts, heading)
    elif content_type == "text/html":
        parts.body.append(html_to_text(_part_text(part)))
    elif part.get_content_maintype() == "text" or content_type == "message/delivery-status":
        parts.body.append(_part_text(part))


def _preferred_alternative(children: list[Message]) -> list[Message]:
    """The plain-text alternative when there is one with text, else the richest."""
    plain = [c for c in children if c.get_content_type() == "text/plain" and _part_text(c).strip()]
    return plain[:1] or children[-1:]


def _is_attachment(part: Message) -> bool:
    disposition = part.get_content_disposition()
    filename = part.get_filename()
    return disposition == "attachment" or (bool(filename) and part.get_content_maintype() != "text")


def _attached_message(part: Message, parts: _Parts, heading: str) -> None:
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if not isinstance(inner, Message):
        parts.skipped.append("attached message (unreadable)")
        return
    subject = _header(inner, "Subject") or "(no subject)"
    label = f"Attached message: {subject}"
    sections, skipped = _message_sections(
        inner, f"{heading} > {label}" if heading else label, parts.ocr
    )
    parts.attachments.extend(sections)
    parts.skipped.extend(skipped)


def _attachment(part: Message, parts: _Parts, heading: str) -> None:
    content_type = part.get_content_type()
    name = (
        _clean(part.get_filename() or "")
        or f"attachment{mimetypes.guess_extension(content_type) or ''}"
    )
    if parts.files is not None:
        data = part.get_payload(decode=True)
        parts.files.append((name, data if isinstance(data, bytes) else b""))
        return
    if not is_supported(name):
        parts.skipped.append(f"{name} ({content_type}: unsupported type)")
        return
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes) or not data:
        parts.skipped.append(f"{name} (empty)")
        return
    try:
        document = load_document(Blob(name=name, data=data, ocr=parts.ocr))
    except LoadError as exc:
        parts.skipped.append(f"{name} ({exc.status}: {exc})")
        return
    label = f"Attachment: {name}"
    prefix = f"{heading} > {label}" if heading else label
    for section in document.sections:
        sub = f"{prefix} > {section.heading}" if section.heading else prefix
        parts.attachments.append(Section(section.text, section.page, sub, section.kind))


def _part_text(part: Message) -> str:
    try:
        data = part.get_payload(decode=True)
    except _HEADER_ERRORS:
        data = None
    if not isinstance(data, bytes):
        payload = part.get_payload()
        return payload if isinstance(payload, str) else ""
    try:
        charset = part.get_content_charset()
    except _HEADER_ERRORS:
        charset = None
    return decode_bytes(data, charset)


def _strip_encoded(text: str) -> str:
    return _UUENCODED_RUN.sub("", _ENCODED_RUN.sub("", text))


# --- headers --------------------------------------------------------------------------


def _header(message: Message, name: str) -> str:
    """A header as readable text, whatever its encoding; "" when absent or hopeless."""
    raw = next((str(v) for k, v in message.raw_items() if k.lower() == name.lower()), None)
    if raw is None:
        return ""
    if _has_raw_bytes(raw):  # 8-bit header: decode the bytes ourselves, not as "\ufffd"
        return _clean(_decode_words(decode_bytes(raw.encode("ascii", "surrogateescape"))))
    try:
        value = message.get(name)
        text = str(value) if value is not None else ""
    except _HEADER_ERRORS:
        text = _decode_words(raw)
    return _clean(text)


def _decode_words(raw: str) -> str:
    """RFC 2047 encoded words ("=?utf-8?q?...?=") to text; the raw value if they are broken."""
    try:
        return str(make_header(decode_header(raw)))
    except (*_HEADER_ERRORS, LookupError, UnicodeError):
        return raw


def _has_raw_bytes(text: str) -> bool:
    return not text.isascii() and any("\udc80" <= ch <= "\udcff" for ch in text)


def _clean(text: str) -> str:
    """Undo surrogate escapes (raw 8-bit headers) and collapse whitespace."""
    if _has_raw_bytes(text):
        text = decode_bytes(text.encode("utf-8", "surrogateescape"))
    return " ".join(text.split())


def _header_metadata(message: Message) -> dict[str, str]:
    metadata = {
        key: value
        for key, header in (
            ("from", "From"),
            ("to", "To"),
            ("subject", "Subject"),
            ("message_id", "Message-ID"),
        )
        if (value := _header(message, header))
    }
    if date := _header(message, "Date"):
        try:
            metadata["date"] = parsedate_to_datetime(date).isoformat()
        except (ValueError, TypeError, IndexError):
            metadata["date"] = date
    return metadata

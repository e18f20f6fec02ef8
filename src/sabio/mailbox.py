"""An IMAP mailbox, read only: which messages it holds, and their bytes.

:class:`Mailbox` connects (TLS, STARTTLS or plain), logs in and opens one folder with
EXAMINE, so nothing in the mailbox changes: fetches use ``BODY.PEEK[]`` and never set
\\Seen. Every failure, from the network, TLS or the server, leaves as a
:class:`~sabio.errors.SourceError` that names the server and says what to do; the
password is never in a message. :func:`mail_items` turns one message into what gets
indexed: the message itself, then each attachment on its own.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import imaplib
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

from sabio.errors import LoadError, SourceError
from sabio.loaders import (
    Blob,
    LoadedDocument,
    Section,
    is_supported,
    load_document,
    normalize_text,
)
from sabio.loaders.mail import header_metadata, parse_message, split_message

Security = Literal["tls", "starttls", "none"]

_FETCH_BATCH = 50  # whole messages per UID FETCH
_HEADER_BATCH = 500  # Message-ID headers per UID FETCH
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_UID = re.compile(rb"\bUID (\d+)", re.IGNORECASE)
_MESSAGE_ID = re.compile(rb"(?im)^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)")
_NEW_MAIL = re.compile(rb"^\* \d+ (EXISTS|RECENT)\b", re.IGNORECASE)
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_LIST_NAME = re.compile(rb'^\((?P<flags>[^)]*)\) (?:"(?:[^"\\]|\\.)*"|NIL) (?P<name>.*)$')


@dataclass(frozen=True, slots=True)
class MailboxSettings:
    host: str
    username: str
    folder: str = "INBOX"
    security: Security = "tls"
    port: int | None = None  # None: 993 for tls, 143 otherwise
    since: datetime.date | None = None  # only messages on or after this date (internal date)

    @property
    def port_number(self) -> int:
        return self.port or (993 if self.security == "tls" else 143)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port_number}"


@dataclass(frozen=True, slots=True)
class MailMessage:
    uid: int
    message_id: str  # see :func:`message_id_of`
    raw: bytes


@dataclass(frozen=True, slots=True)
class MailItem:
    """One thing to index from a message: the message itself (``part`` "") or one of its
    attachments (``part`` its file name, unique within the message)."""

    part: str
    title: str
    metadata: dict[str, str]
    document: LoadedDocument | None  # None when it could not be loaded
    status: str  # "indexed" when document is set, else the LoadError's status
    reason: str  # "" or why it was not loaded


class Mailbox:
    """One folder of an IMAP mailbox, opened read-only for the ``with`` block."""

    search_span = 100_000  # UIDs per UID SEARCH: keeps each answer under imaplib's line limit

    def __init__(self, settings: MailboxSettings, password: str, *, timeout: float = 30.0) -> None:
        self.settings = settings
        self._password = password
        self._timeout = timeout
        self._imap: imaplib.IMAP4 | None = None
        self._uidnext = 0
        self.uidvalidity = 0

    def __enter__(self) -> Mailbox:
        try:
            with self._errors("connecting"):
                self._imap = self._connect()
                if self.settings.security == "starttls":
                    self._starttls(self._imap)
            self._login(self._imap)
            self._examine(self._imap)
        except BaseException:
            self._close(logout=False)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._close(logout=exc is None)

    def uids(self) -> list[int]:
        """Every message's UID (or, with ``since``, those received on or after it), sorted."""
        criteria = ["SINCE", _imap_date(self.settings.since)] if self.settings.since else ["ALL"]
        starts = range(1, max(self._uidnext, 2), self.search_span)
        found: set[int] = set()
        for start in starts:
            end = "*" if start == starts[-1] else str(start + self.search_span - 1)
            data = self._command("searching", "SEARCH", "UID", f"{start}:{end}", *criteria)
            line = b" ".join(item for item in data if isinstance(item, bytes))
            # "n:*" always matches the highest UID, even one below n: keep only the span.
            found.update(uid for word in line.split() if (uid := int(word)) >= start)
        return sorted(found)

    def message_ids(self, uids: Sequence[int]) -> dict[int, str]:
        """Each message's Message-ID, read from its header alone; "" for a message without
        one (its id then comes from its bytes: :meth:`fetch` it). UIDs no longer in the
        folder are left out."""
        ids: dict[int, str] = {}
        for batch in _batches(uids, _HEADER_BATCH):
            query = "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"
            data = self._command("reading headers", "FETCH", _uid_set(batch), query)
            ids.update((uid, _message_id_header(header)) for uid, header in _fetched(data))
        return ids

    def fetch(self, uids: Sequence[int]) -> Iterator[MailMessage]:
        """The messages, whole, in UID order; UIDs no longer in the folder are left out."""
        for batch in _batches(uids, _FETCH_BATCH):
            data = self._command("fetching messages", "FETCH", _uid_set(batch), "(BODY.PEEK[])")
            for uid, raw in sorted(_fetched(data)):
                yield MailMessage(uid=uid, message_id=message_id_of(raw), raw=raw)

    @property
    def supports_idle(self) -> bool:
        return self._imap is not None and "IDLE" in self._imap.capabilities

    def wait_for_mail(self, seconds: float, stop: threading.Event) -> bool:
        """IMAP IDLE (RFC 2177): wait until the server says mail arrived (True), at most
        ``seconds`` or until ``stop`` is set (False). The connection stays usable."""
        imap = self._imap
        if imap is None:
            raise RuntimeError("use the Mailbox in a with block")
        tag = imap._new_tag()  # imaplib has no IDLE before Python 3.14
        with self._errors("waiting for new mail"):
            imap.send(tag + b" IDLE\r\n")
            if not imap.readline().startswith(b"+"):
                raise SourceError(f"the IMAP server at {self.settings.address} refused IDLE")
            arrived = False
            deadline = time.monotonic() + seconds
            while not arrived and not stop.is_set() and time.monotonic() < deadline:
                if not _readable(imap, 1.0):
                    continue
                line = imap.readline()
                if not line:
                    raise imaplib.IMAP4.abort("the server closed the connection")
                arrived = bool(_NEW_MAIL.match(line))
            imap.send(b"DONE\r\n")
            while not (line := imap.readline()).startswith(tag):
                if not line:
                    raise imaplib.IMAP4.abort("the server closed the connection")
        return arrived

    # --- the session ------------------------------------------------------------------

    def _connect(self) -> imaplib.IMAP4:
        settings = self.settings
        host, port = settings.host, settings.port_number
        if settings.security == "tls":
            context = ssl.create_default_context()
            return imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=self._timeout)
        if settings.security not in ("starttls", "none"):
            raise SourceError(
                f'unknown IMAP security "{settings.security}"; use "tls", "starttls" or "none"'
            )
        return imaplib.IMAP4(host, port, timeout=self._timeout)

    def _starttls(self, imap: imaplib.IMAP4) -> None:
        if "STARTTLS" not in imap.capabilities:
            raise SourceError(
                f"the IMAP server at {self.settings.address} does not offer STARTTLS; set "
                'security to "tls" (usually port 993) or, for a local server without TLS, '
                'to "none"'
            )
        imap.starttls(ssl_context=ssl.create_default_context())

    def _login(self, imap: imaplib.IMAP4) -> None:
        user = self.settings.username
        if "LOGINDISABLED" in imap.capabilities:
            raise SourceError(
                f"the IMAP server at {self.settings.address} does not accept a password over "
                'an unencrypted connection; set security to "tls" or "starttls"'
            )
        with self._errors("logging in"):
            try:
                if self._password.isascii() and user.isascii():
                    imap.login(user, self._password)
                else:  # LOGIN is ASCII only; SASL PLAIN carries UTF-8
                    secret = f"\0{user}\0{self._password}".encode()
                    imap.authenticate("PLAIN", lambda _challenge: secret)
            except imaplib.IMAP4.abort:
                raise
            except imaplib.IMAP4.error:
                raise SourceError(
                    "the IMAP server refused the user name or password for "
                    f"{user}@{self.settings.host}; check them (many providers want an app "
                    "password here, not the account's usual one)"
                ) from None

    def _examine(self, imap: imaplib.IMAP4) -> None:
        folder = self.settings.folder
        with self._errors("opening the folder"):
            status, data = imap.select(_quoted(encode_folder(folder)), readonly=True)
            if status != "OK":
                detail = _text(data)
                folders = ", ".join(self._folders(imap)) or "none"
                raise SourceError(
                    f'cannot open the folder "{folder}" of {self.settings.username}@'
                    f"{self.settings.host} ({detail}); the folders there are: {folders}"
                )
            self.uidvalidity = _response_number(imap, "UIDVALIDITY")
            self._uidnext = _response_number(imap, "UIDNEXT")

    def _folders(self, imap: imaplib.IMAP4) -> list[str]:
        status, data = imap.list()
        names = []
        for line in data if status == "OK" else []:
            match = _LIST_NAME.match(line) if isinstance(line, bytes) else None
            if match and b"\\noselect" not in match["flags"].lower():
                names.append(decode_folder(_unquoted(match["name"]).decode("ascii", "replace")))
        return sorted(names, key=lambda name: (name != "INBOX", name.lower()))

    def _command(self, doing: str, command: str, *args: str) -> list[bytes | tuple[bytes, bytes]]:
        if self._imap is None:
            raise RuntimeError("use the Mailbox in a with block")
        with self._errors(doing):
            status, data = self._imap.uid(command, *args)
        if status != "OK":
            raise SourceError(
                f"the IMAP server at {self.settings.address} refused {doing}: {_text(data)}"
            )
        return data

    def _close(self, *, logout: bool = True) -> None:
        imap, self._imap = self._imap, None
        if imap is None:
            return
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            if logout:
                imap.logout()  # closes the socket whatever the server answers
            else:
                imap.shutdown()

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """imaplib, ssl and socket errors as SourceErrors that say what to do."""
        address, security = self.settings.address, self.settings.security
        try:
            yield
        except socket.gaierror as exc:
            raise SourceError(
                f'cannot find the IMAP server "{self.settings.host}" ({exc.strerror}); '
                "check the host name and this computer's network"
            ) from exc
        except ssl.SSLCertVerificationError as exc:
            raise SourceError(
                f"the TLS certificate of the IMAP server at {address} is not trusted "
                f"({exc.verify_message}); use the host name the certificate is for, or add "
                "the server's certificate authority to this computer's trusted ones"
            ) from exc
        except ssl.SSLError as exc:
            raise SourceError(
                f"the TLS handshake with the IMAP server at {address} failed ({exc.reason}); "
                f'the server may not speak TLS on this port: try security "starttls" (port '
                f'143), or "none" for a local server without TLS'
            ) from exc
        except ConnectionRefusedError as exc:
            raise SourceError(
                f"the IMAP server at {address} refused the connection; check the host and "
                "port, and that the server is running"
            ) from exc
        except TimeoutError as exc:
            hint = ' (port 993 usually wants security "tls")' if security != "tls" else ""
            raise SourceError(
                f"the IMAP server at {address} did not answer within {self._timeout:g} s while "
                f"{doing}; check the host, port and security setting{hint}, or try later"
            ) from exc
        except imaplib.IMAP4.abort as exc:
            raise SourceError(
                f"the connection to the IMAP server at {address} broke while {doing} ({exc}); "
                "try again later"
            ) from exc
        except imaplib.IMAP4.error as exc:
            raise SourceError(
                f"the IMAP server at {address} answered with an error while {doing}: {exc}"
            ) from exc
        except OSError as exc:
            raise SourceError(
                f"cannot reach the IMAP server at {address} ({exc.strerror or exc}); check "
                "the host, port and this computer's network"
            ) from exc


def _readable(imap: imaplib.IMAP4, seconds: float) -> bool:
    """Whether a line can be read without waiting longer than ``seconds``."""
    sock = imap.sock
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    return bool(select.select([sock], [], [], seconds)[0])


# --- messages -------------------------------------------------------------------------


def message_id_of(raw: bytes) -> str:
    """The Message-ID as written (no angle brackets, trimmed); without one, "sha256:" and
    the digest of the bytes."""
    return _message_id_header(raw) or "sha256:" + hashlib.sha256(raw).hexdigest()


def _message_id_header(raw: bytes) -> str:
    end = _HEADER_END.search(raw)
    match = _MESSAGE_ID.search(raw[: end.start()] if end else raw)
    if match is None:
        return ""
    value = " ".join(match[1].decode("utf-8", "replace").split())
    bracketed = re.search(r"<([^<>]*)>", value)
    return (bracketed[1] if bracketed else value).strip()


def mail_items(raw: bytes) -> list[MailItem]:
    """The message (its headers and body text) and then each attachment, loaded."""
    try:
        message = parse_message(raw)
    except LoadError as exc:
        metadata = {"from": "", "date": "", "subject": "", "message_id": message_id_of(raw)}
        return [MailItem("", "(no subject)", metadata, None, exc.status, str(exc))]
    headers = header_metadata(message)
    metadata = {key: headers.get(key, "") for key in ("from", "date", "subject")}
    metadata["message_id"] = message_id_of(raw)
    if "to" in headers:
        metadata["to"] = headers["to"]
    title = metadata["subject"] or "(no subject)"
    section, files = split_message(message)
    text = normalize_text(section.text)
    document = LoadedDocument([Section(text)], title, dict(metadata)) if text else None
    items = [
        MailItem("", title, metadata, document, "indexed", "")
        if document
        else MailItem("", title, metadata, None, "skipped", "no text in the message")
    ]
    names = _unique_names([name for name, _ in files])
    for name, (_, data) in zip(names, files, strict=True):
        items.append(_attachment_item(name, data, {**metadata, "attachment": name}))
    return items


def _attachment_item(name: str, data: bytes, metadata: dict[str, str]) -> MailItem:
    if not data and is_supported(name):
        return MailItem(name, name, metadata, None, "skipped", "the attachment is empty")
    try:
        document = load_document(Blob(name=name, data=data))
    except LoadError as exc:
        return MailItem(name, name, metadata, None, exc.status, str(exc))
    return MailItem(name, name, metadata, document, "indexed", "")


def _unique_names(names: list[str]) -> list[str]:
    """ "report.pdf" twice: "report.pdf", "report (2).pdf"."""
    taken: set[str] = set()
    unique = []
    for name in names:
        stem, dot, extension = name.rpartition(".") if "." in name.lstrip(".") else (name, "", "")
        candidate, n = name, 1
        while candidate.lower() in taken:
            n += 1
            candidate = f"{stem} ({n}){dot}{extension}"
        taken.add(candidate.lower())
        unique.append(candidate)
    return unique


# --- IMAP details ---------------------------------------------------------------------


def encode_folder(name: str) -> str:
    """A folder name in IMAP's modified UTF-7 (RFC 3501 5.1.3): "Facturación" is
    "Facturaci&APM-n"."""
    out, pending = [], []
    for ch in [*name, ""]:
        if ch and not " " <= ch <= "~":
            pending.append(ch)
            continue
        if pending:
            utf16 = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(utf16).decode().rstrip("=").replace("/", ",") + "-")
            pending = []
        out.append("&-" if ch == "&" else ch)
    return "".join(out)


def decode_folder(name: str) -> str:
    def decode(match: re.Match[str]) -> str:
        encoded = match[1]
        if not encoded:
            return "&"
        padded = encoded.replace(",", "/") + "=" * (-len(encoded) % 4)
        try:
            return base64.b64decode(padded).decode("utf-16-be")
        except (ValueError, UnicodeError):
            return match[0]

    return re.sub(r"&([A-Za-z0-9+,]*)-", decode, name)


def _quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquoted(name: bytes) -> bytes:
    if name.startswith(b'"') and name.endswith(b'"') and len(name) >= 2:
        return re.sub(rb"\\(.)", rb"\1", name[1:-1])
    return name


def _imap_date(day: datetime.date) -> str:
    return f"{day.day}-{_MONTHS[day.month - 1]}-{day.year}"


def _uid_set(uids: Sequence[int]) -> str:
    """1,2,3,7 as "1:3,7"."""
    ranges: list[list[int]] = []
    for uid in sorted(set(uids)):
        if ranges and uid == ranges[-1][1] + 1:
            ranges[-1][1] = uid
        else:
            ranges.append([uid, uid])
    return ",".join(str(a) if a == b else f"{a}:{b}" for a, b in ranges)


def _batches(uids: Sequence[int], size: int) -> Iterator[list[int]]:
    ordered = sorted(set(uids))
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def _fetched(data: list[bytes | tuple[bytes, bytes]]) -> Iterator[tuple[int, bytes]]:
    """(uid, literal) for each message in a UID FETCH answer; the UID may come before the
    literal or after it."""
    for index, item in enumerate(data):
        if not isinstance(item, tuple):
            continue
        match = _UID.search(item[0])
        after = data[index + 1] if index + 1 < len(data) else b""
        if match is None and isinstance(after, bytes):
            match = _UID.search(after)
        if match is not None:
            yield int(match[1]), item[1]


def _response_number(imap: imaplib.IMAP4, name: str) -> int:
    _, data = imap.response(name)
    value = data[-1] if data else None
    return int(value) if isinstance(value, bytes) and value.isdigit() else 0


def _text(data: Sequence[object]) -> str:
    return " ".join(
        item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
        for item in data
        if item is not None
    )

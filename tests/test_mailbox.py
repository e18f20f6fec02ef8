"""The IMAP mailbox against a real Dovecot, and mail_items on real messages."""

from __future__ import annotations

import dataclasses
import hashlib
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from certificates import self_signed
from conftest import need_data
from fake_servers import closed_port
from imap_server import ImapServer, imap_server, running_dovecot

from sabio.errors import SourceError
from sabio.mailbox import (
    Mailbox,
    MailboxSettings,
    decode_folder,
    encode_folder,
    mail_items,
    message_id_of,
)

__all__ = ["imap_server"]  # the fixture, imported to be used

MAIL = ("documents", "email")


def mail(name: str) -> bytes:
    return need_data(*MAIL, *name.split("/")).read_bytes()


def settings(server: ImapServer, **changes: Any) -> MailboxSettings:
    plain = MailboxSettings(server.host, server.username, security="none", port=server.port)
    return dataclasses.replace(plain, **changes)


def lines(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n")


# --- reading a mailbox ----------------------------------------------------------------

ROUND_TRIP = {
    "mikel_mail/attachment_emails_attachment_pdf.eml": "xxxx@xxxx.com",
    "mikel_mail/rfc6532_utf8_headers.eml": "",
    "mikel_mail/error_emails_missing_body.eml": "001301c17797$9cd0ef30$a3ab620c@vaio",
    "spamscope/mail_test_12.eml": "",
    "spamscope/mail_test_17.eml": "202210102011.29AKBWwn005317@vps-051e4cda.vps.ovh.net",
}


def test_uids_message_ids_and_fetch_round_trip(imap_server: ImapServer) -> None:
    uids = imap_server.deliver_many(mail(name) for name in ROUND_TRIP)
    originals = dict(zip(uids, ROUND_TRIP, strict=True))
    with Mailbox(settings(imap_server), imap_server.password) as box:
        assert box.uidvalidity > 0
        uids = box.uids()
        assert uids == sorted(originals)
        ids = box.message_ids(uids)
        assert ids == {uid: ROUND_TRIP[name] for uid, name in originals.items()}
        fetched = list(box.fetch(list(reversed(uids))))
    assert [m.uid for m in fetched] == uids
    for message in fetched:
        assert lines(message.raw) == lines(mail(originals[message.uid]))
        expected = ids[message.uid] or "sha256:" + hashlib.sha256(message.raw).hexdigest()
        assert message.message_id == expected
    # What the sync does next: each fetched message becomes items to index.
    items = {m.uid: mail_items(m.raw) for m in fetched}
    utf8 = next(uid for uid, name in originals.items() if "rfc6532" in name)
    assert items[utf8][0].title == "Säying Hello"
    assert items[utf8][0].metadata["message_id"] == fetched[uids.index(utf8)].message_id


def test_fetch_in_batches_keeps_uid_order_and_skips_expunged(imap_server: ImapServer) -> None:
    imap_server.deliver_many(
        f"Message-ID: <m{n}@test>\r\nSubject: {n}\r\n\r\nbody {n}\r\n".encode() for n in range(60)
    )
    imap_server.expunge("m7@test")
    with Mailbox(settings(imap_server), imap_server.password) as box:
        uids = box.uids()
        assert len(uids) == 59 and 8 not in uids
        fetched = list(box.fetch([*uids, 8]))
        assert box.message_ids([8, 9]) == {9: "m8@test"}
    assert [m.uid for m in fetched] == uids
    assert [m.message_id for m in fetched[6:8]] == ["m6@test", "m8@test"]


def test_since_uses_the_internal_date(imap_server: ImapServer) -> None:
    dated = {
        "old": datetime(2020, 1, 1, 12, tzinfo=UTC),
        "that day": datetime(2023, 6, 15, 8, tzinfo=UTC),
        "new": datetime(2024, 3, 1, 18, tzinfo=UTC),
    }
    uids = {
        subject: imap_server.deliver(f"Subject: {subject}\r\n\r\nhi\r\n".encode(), date=when)
        for subject, when in dated.items()
    }
    since = settings(imap_server, since=date(2023, 6, 15))
    with Mailbox(since, imap_server.password) as box:
        assert box.uids() == [uids["that day"], uids["new"]]


class SmallSpans(Mailbox):
    search_span = 2  # as if the mailbox were huge: many UID SEARCH commands


def test_search_in_spans_finds_the_same_uids(imap_server: ImapServer) -> None:
    imap_server.deliver_many(f"Subject: {n}\r\n\r\nhi\r\n".encode() for n in range(7))
    imap_server.expunge(3)
    with SmallSpans(settings(imap_server), imap_server.password) as box:
        assert box.uids() == [1, 2, 4, 5, 6, 7]


def test_reading_never_marks_messages_seen(imap_server: ImapServer) -> None:
    imap_server.deliver_many(mail(name) for name in ROUND_TRIP)
    with Mailbox(settings(imap_server), imap_server.password) as box:
        assert len(list(box.fetch(box.uids()))) == len(ROUND_TRIP)
    flags = imap_server.flags()
    assert len(flags) == len(ROUND_TRIP)
    assert not any("\\Seen" in f for f in flags.values())


def test_folder_with_accents_and_missing_folder(imap_server: ImapServer) -> None:
    imap_server.create_folder("Facturaci&APM-n")  # "Facturación" as IMAP writes it
    imap_server.deliver(b"Subject: factura\r\n\r\n1\r\n", folder="Facturaci&APM-n")
    with Mailbox(settings(imap_server, folder="Facturación"), imap_server.password) as box:
        assert len(box.uids()) == 1
    missing = settings(imap_server, folder="Facturas")
    with pytest.raises(SourceError, match='"Facturas"') as raised:
        Mailbox(missing, imap_server.password).__enter__()
    assert "the folders there are: INBOX, Facturación" in str(raised.value)


def test_folder_names_in_modified_utf7() -> None:
    for name in ("INBOX", "Facturación", "A & B", "日本語/Año", "~&~"):
        assert decode_folder(encode_folder(name)) == name
    assert encode_folder("A & B") == "A &- B"


def test_non_ascii_password_logs_in() -> None:
    with running_dovecot(password="contraseña") as server:
        server.deliver(b"Subject: x\r\n\r\ny\r\n")
        with Mailbox(settings(server), "contraseña") as box:
            assert box.uids() == [1]


# --- failures -------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["wrong-Pa55", "contraseña mala"])
def test_wrong_password_names_the_account_not_the_password(
    imap_server: ImapServer, password: str
) -> None:
    with pytest.raises(SourceError) as raised:
        Mailbox(settings(imap_server), password).__enter__()
    message = str(raised.value)
    assert "refused the user name or password for ana@127.0.0.1" in message
    assert password not in message


def test_nothing_listening() -> None:
    port = closed_port()
    broken = MailboxSettings("127.0.0.1", "ana", security="none", port=port)
    with pytest.raises(SourceError, match=f"127.0.0.1:{port} refused the connection"):
        Mailbox(broken, "secret").__enter__()


def test_tls_against_a_plaintext_server_suggests_another_security(
    imap_server: ImapServer,
) -> None:
    with pytest.raises(SourceError, match=r'TLS handshake .* failed.*"starttls".*"none"'):
        Mailbox(settings(imap_server, security="tls"), imap_server.password).__enter__()
    with pytest.raises(SourceError, match=r'does not offer STARTTLS.*"none"'):
        Mailbox(settings(imap_server, security="starttls"), imap_server.password).__enter__()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        accepted: list[socket.socket] = []
        stop = threading.Event()

        def accept() -> None:
            listener.settimeout(0.05)
            while not stop.is_set():
                try:
                    accepted.append(listener.accept()[0])
                except TimeoutError:
                    continue

        thread = threading.Thread(target=accept)
        thread.start()
        yield int(listener.getsockname()[1])
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()


def test_a_silent_server_times_out(silent_port: int) -> None:
    silent = MailboxSettings("127.0.0.1", "ana", security="none", port=silent_port)
    with pytest.raises(SourceError, match=r"did not answer within 0\.2 s"):
        Mailbox(silent, "secret", timeout=0.2).__enter__()


# --- what gets indexed ----------------------------------------------------------------


def test_pdf_attachment_is_an_item_of_its_own() -> None:
    items = mail_items(mail("spamscope/mail_test_2.eml"))
    assert [(i.part, i.status) for i in items] == [
        ("", "indexed"),
        ("intestazione.jpg", "skipped"),
        ("logometeo.jpg", "skipped"),
        ("Bollettino.pdf", "indexed"),
    ]
    message, image, _, pdf = items
    assert message.title == "Bollettino Meteorologico del 29/11/2015"
    assert message.metadata == {
        "from": "meteo@regione.vda.it",
        "date": "2015-11-29T09:45:18+01:00",
        "subject": "Bollettino Meteorologico del 29/11/2015",
        "message_id": "4516257BC5774408ADC1263EEBBBB73F@ad.regione.vda.it",
        "to": 'echo@tu-berlin.de, "Porcile, M." <mporcile@server_mail.it>',
    }
    assert message.document is not None
    assert "BOLLETTINO METEOROLOGICO" not in message.document.sections[0].text
    assert pdf.title == "Bollettino.pdf"
    assert pdf.metadata == {**message.metadata, "attachment": "Bollettino.pdf"}
    assert pdf.document is not None and pdf.reason == ""
    assert "BOLLETTINO METEOROLOGICO" in pdf.document.sections[0].text
    assert image.document is None and "an icon or a logo" in image.reason  # 486 x 44 pixels


def test_broken_pdf_attachment_fails_and_the_message_stays() -> None:
    message, pdf = mail_items(mail("mikel_mail/attachment_emails_attachment_pdf.eml"))
    assert message.title == "Another PDF with 🎉 Unicode chars in it 🍿"
    assert message.document is not None
    assert "Just attaching another PDF" in message.document.sections[0].text
    assert (pdf.part, pdf.status, pdf.document) == ("broken.pdf", "failed", None)
    assert "PDF" in pdf.reason


def test_message_without_body_or_message_id() -> None:
    (item,) = mail_items(mail("mikel_mail/error_emails_missing_body.eml"))
    assert item.status == "indexed" and item.document is not None
    assert item.document.sections[0].text.startswith("From: SCS_2 <redacted@attglobal.net>")
    raw = mail("spamscope/mail_test_12.eml")
    (item,) = mail_items(raw)
    assert item.metadata["message_id"] == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert item.metadata["from"] == "张先生 <baoguan@hotmail.com>"


def test_utf8_headers_are_decoded() -> None:
    (item,) = mail_items(mail("mikel_mail/rfc6532_utf8_headers.eml"))
    assert item.title == "Säying Hello"
    assert item.metadata["from"] == '"Jöhn Doe" <jdöe@mächine.example>'
    assert item.metadata["to"] == '"Märy Smith" <märy@exämple.net>'
    assert item.metadata["date"] == ""


def test_attachment_names_are_made_unique(tmp_path: Path) -> None:
    message = EmailMessage()
    message["Subject"] = "Notas"
    message["Message-ID"] = " <notas@example.com> "
    message.set_content("Dos notas adjuntas.")
    for text in ("primera nota", "segunda nota"):
        message.add_attachment(text, filename="nota.txt")
    items = mail_items(message.as_bytes())
    assert [(i.part, i.status) for i in items] == [
        ("", "indexed"),
        ("nota.txt", "indexed"),
        ("nota (2).txt", "indexed"),
    ]
    assert items[2].document is not None
    assert items[2].document.sections[0].text == "segunda nota"
    assert items[0].metadata["message_id"] == "notas@example.com"


def test_message_id_as_written() -> None:
    assert message_id_of(b"Message-ID:\r\n  <a.b@c>\r\nSubject: x\r\n\r\nbody") == "a.b@c"
    assert message_id_of(b"message-id: plain@id \r\n\r\n") == "plain@id"
    body_only = b"Subject: x\r\n\r\nMessage-ID: <not-a-header@x>\r\n"
    assert message_id_of(body_only) == "sha256:" + hashlib.sha256(body_only).hexdigest()


def test_attached_message_is_read_like_the_outer_one() -> None:
    message, pdf = mail_items(mail("mikel_mail/attachment_emails_attachment_message_rfc822.eml"))
    assert message.document is not None
    assert "Just attaching another PDF" in message.document.sections[0].text
    assert (pdf.part, pdf.status) == ("broken.pdf", "failed")


def test_starttls_checks_the_certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Dovecot that requires TLS, with a certificate nobody trusts: refused with the
    reason; trusted (as a company's own certificate authority would be), it works."""
    cert, key = self_signed(tmp_path, "localhost")
    with running_dovecot(ssl="required", ssl_cert=f"<{cert}", ssl_key=f"<{key}") as server:
        server.deliver(mail("mikel_mail/rfc6532_utf8_headers.eml"))
        secure = MailboxSettings(
            "localhost", server.username, security="starttls", port=server.port
        )
        with pytest.raises(SourceError, match=r"certificate .* is not trusted"):
            Mailbox(secure, server.password).__enter__()
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        with Mailbox(secure, server.password) as box:
            assert len(list(box.fetch(box.uids()))) == 1

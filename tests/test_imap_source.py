"""A mailbox source against a real Dovecot with real messages: messages and attachments
become documents with their headers, each once; the password stays secret."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import need_data
from imap_server import ImapServer, imap_server, running_dovecot
from typer.testing import CliRunner

from sabio.cli import app
from sabio.config import Settings
from sabio.errors import ConfigError, SourceError
from sabio.service import Sabio
from sabio.sources import Source
from sabio.worker import Worker

__all__ = ["imap_server"]  # the fixture, imported to be used

PDF_MAIL = "spamscope/mail_test_2.eml"  # Bollettino.pdf and two .jpg attached
UTF8_MAIL = "mikel_mail/rfc6532_utf8_headers.eml"  # no Message-ID
PLAIN_MAIL = "mikel_mail/error_emails_bad_date_header.eml"


def mail(name: str) -> bytes:
    return need_data("documents", "email", *name.split("/")).read_bytes()


def add_mailbox(sabio: Sabio, server: ImapServer, **options: str) -> Source:
    source, _ = sabio.add_source(
        "imap",
        "",
        options={
            "host": server.host,
            "port": server.port,
            "username": server.username,
            "security": "none",
            **options,
        },
        password=server.password,
    )
    return source


def sync(sabio: Sabio) -> int:
    worker = Worker(sabio, watch=False)
    try:
        return worker.run_pending()
    finally:
        worker.stop()


def test_messages_and_attachments_become_documents_once(
    sabio: Sabio, imap_server: ImapServer
) -> None:
    imap_server.deliver(mail(PDF_MAIL))
    imap_server.deliver(mail(UTF8_MAIL))
    source = add_mailbox(sabio, imap_server)
    assert source.location == f"imap://{imap_server.username}@127.0.0.1:{imap_server.port}/INBOX"
    assert source.interval_s == 300
    sync(sabio)
    items = {i.key: i for i in sabio.source_items(source.id)}
    statuses = sorted((i.label, i.reason.split(" (")[0]) for i in items.values())
    assert statuses.count(("indexed", "")) == 3  # two messages and the PDF
    skipped = [reason for label, reason in statuses if label == "skipped"]
    assert len(skipped) == 2 and all(
        "an icon or a logo" in r for r in skipped
    )  # the two .jpg logos
    pdf = next(i for i in items.values() if i.key.endswith("/Bollettino.pdf"))
    doc = sabio.store.find_document(sabio.kb().id, f"{source.location}/{pdf.key}")
    assert doc is not None and doc.status == "indexed"
    assert doc.metadata["attachment"] == "Bollettino.pdf"
    assert {"from", "date", "subject", "message_id"} <= set(doc.metadata)
    message = sabio.store.find_document(sabio.kb().id, f"{source.location}/{pdf.key.split('/')[0]}")
    assert message is not None and message.title == doc.metadata["subject"]
    no_id = [k for k in items if k.startswith("sha256:")]
    assert len(no_id) == 1  # the message without a Message-ID, known by its digest
    before = {d.id: d.updated_at for d in sabio.documents()}

    # new mail arrives; the next sync reads only that one
    imap_server.deliver(mail(PLAIN_MAIL))
    sabio.sync_source(source.id)
    sync(sabio)
    after = {d.id: d.updated_at for d in sabio.documents()}
    assert len(after) == len(before) + 1
    assert all(after[i] == when for i, when in before.items())
    job = sabio.jobs.recent(source.id)[0]
    assert job.message == "1 added"

    # everything seen again (a new UIDVALIDITY, say): nothing indexed twice
    sabio.sources.save_state(source.id, {})
    sabio.sync_source(source.id)
    sync(sabio)
    assert {d.id: d.updated_at for d in sabio.documents()} == after
    assert sabio.jobs.recent(source.id)[0].message == "3 unchanged"
    assert not (imap_server.flags() and any("\\Seen" in f for f in imap_server.flags().values()))


def test_the_password_is_checked_then_kept_secret(sabio: Sabio, settings: Settings) -> None:
    with running_dovecot(password="Tr0ub4dor-and-3") as imap_server:
        _check_password_kept_secret(sabio, imap_server, settings)


def _check_password_kept_secret(sabio: Sabio, imap_server: ImapServer, settings: Settings) -> None:
    with pytest.raises(SourceError, match="refused the user name or password"):
        sabio.add_source(
            "imap",
            "",
            options={
                "host": imap_server.host,
                "port": imap_server.port,
                "username": imap_server.username,
                "security": "none",
            },
            password="wrong",
        )
    with pytest.raises(ConfigError, match="unencrypted"):
        sabio.add_source(
            "imap",
            "",
            options={"host": "mail.example.com", "username": "u", "security": "none"},
            password="x",
        )
    source = add_mailbox(sabio, imap_server)
    assert source.has_secret
    raw = Path(settings.database_path).read_bytes()
    assert imap_server.password.encode() not in raw
    for path in settings.home.rglob("*"):
        if path.is_file() and path.name != "secret.key":
            assert imap_server.password.encode() not in path.read_bytes(), path
    assert (settings.home / "secret.key").stat().st_mode & 0o077 == 0


def test_the_cli_adds_a_mailbox_with_the_password_from_stdin(
    settings: Settings, imap_server: ImapServer
) -> None:
    imap_server.deliver(mail(PLAIN_MAIL))
    env = {"SABIO_HOME": str(settings.home), "SABIO_EMBEDDING_MODEL": "fake:words"}
    args = [
        "source",
        "add",
        "imap",
        "--host",
        imap_server.host,
        "--port",
        str(imap_server.port),
        "--user",
        imap_server.username,
        "--security",
        "none",
        "--password-stdin",
    ]
    runner = CliRunner()
    result = runner.invoke(app, args, input=imap_server.password + "\n", env=env)
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["source", "sync"], env=env)
    assert result.exit_code == 0 and "1 added" in result.output
    result = runner.invoke(app, ["source", "list", "--json"], env=env)
    assert imap_server.password not in result.output
    assert '"password_set": true' in result.output
    bad = runner.invoke(app, [*args[:-1], "--password-stdin"], input="nope\n", env=env)
    assert bad.exit_code == 1 and "refused the user name or password" in bad.output


def test_mail_is_indexed_as_it_arrives(sabio: Sabio, imap_server: ImapServer) -> None:
    """The worker keeps an IDLE connection: new mail is synced long before the schedule
    (every 5 minutes) would; and a restart picks up what arrived while it was stopped."""
    source = add_mailbox(sabio, imap_server)
    worker = Worker(sabio)
    worker.start()
    try:
        eventually(lambda: sabio.jobs.recent(source.id)[0].status == "done")
        imap_server.deliver(mail(PDF_MAIL))
        eventually(lambda: any("Bollettino" in (d.title or "") for d in sabio.documents()))
    finally:
        worker.stop()
    imap_server.deliver(mail(PLAIN_MAIL))  # while no worker runs
    restarted = Worker(sabio, watch=False)
    restarted.reconcile()
    restarted.run_pending()
    restarted.stop()
    assert sabio.jobs.recent(source.id)[0].message == "1 added"


def eventually(check: Callable[[], bool], seconds: float = 30.0) -> None:
    """A bounded wait for the worker's threads, not a timing assertion."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not check():
        time.sleep(0.1)
    assert check()

"""An IMAP mailbox: every message, and every attachment Sabio can read, is a document
with its sender, date and subject (:mod:`sabio.mailbox` talks to the server).

Messages are known by their Message-ID (by a digest of the message when it has none),
so a message is indexed once however often it is seen: after a restart, after the
server renumbers its UIDs (a new UIDVALIDITY), or when it is copied to the watched
folder again. A sync asks only for UIDs above the last one it finished, fetches only
the messages whose Message-ID is new, and records its progress after every batch, so a
killed sync goes on from its last batch. The folder is opened read-only: nothing is
marked as read. Mail deleted on the server stays searchable (a mailbox source is an
archive); remove it with ``sabio rm`` if it must go.

The password is checked when the source is added, then kept encrypted
(:mod:`sabio.vault`), never in config.toml and never shown by the API.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import ConfigDict, Field

from sabio.errors import ConfigError
from sabio.ingest import LoadedSource
from sabio.review.alerts import ReviewOptions
from sabio.sources import ItemUpdate, Source, SourceItem, SourceSetup, SourceWatch
from sabio.sources.kinds import SetupContext, SourceKind, SyncContext, register_source_kind

if TYPE_CHECKING:  # sabio.mailbox (and the mail loader it brings) is imported when used:
    from sabio.mailbox import MailboxSettings, MailMessage, Security  # not by `sabio --help`

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 300.0
"""The scheduled sync; new mail is usually seen at once, by :class:`MailWatch` (IDLE)."""
BATCH = 50
SECURITY = ("tls", "starttls", "none")


def mailbox_settings(options: dict[str, Any]) -> MailboxSettings:
    from sabio.mailbox import MailboxSettings

    since = options.get("since")
    return MailboxSettings(
        host=str(options["host"]),
        username=str(options["username"]),
        folder=str(options.get("folder") or "INBOX"),
        security=cast("Security", options.get("security") or "tls"),
        port=int(options["port"]) if options.get("port") else None,
        since=dt.date.fromisoformat(since) if since else None,
    )


class ImapOptions(ReviewOptions):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(description="The mail server.", examples=["imap.example.org"])
    username: str = Field(description="The user name.", json_schema_extra={"cli": "user"})
    port: int | None = Field(
        None, ge=1, le=65535, description="Port (993 with TLS, else 143).", examples=[993]
    )
    folder: str = Field("INBOX", description="The mailbox folder.")
    security: Literal["tls", "starttls", "none"] = Field(
        "tls", description="tls, starttls or none (none only on this computer)."
    )
    since: dt.date | None = Field(None, description="Only mail from this date on (YYYY-MM-DD).")


class ImapConnector:
    def configure(
        self, setup: SetupContext, location: str, given: ImapOptions, password: str | None
    ) -> SourceSetup:
        options = given.model_dump(mode="json")
        if not options.get("host") or not options.get("username"):
            raise ConfigError("an imap source needs the server (host) and the user name")
        if (options.get("security") or "tls") not in SECURITY:
            raise ConfigError(f"security must be one of {', '.join(SECURITY)}")
        if options.get("security") == "none" and not _is_this_computer(str(options["host"])):
            raise ConfigError(
                "security none would send the password unencrypted over the network; use "
                "tls (port 993) or starttls (port 143)"
            )
        try:
            settings = mailbox_settings(options)
        except ValueError as exc:
            raise ConfigError(f"bad imap settings: {exc} (since: YYYY-MM-DD)") from None
        if not password:
            raise ConfigError("an imap source needs the mailbox's password")
        from sabio.mailbox import Mailbox

        with Mailbox(settings, password):  # refuses a wrong password, host or folder now
            pass
        options = {
            "host": settings.host,
            "username": settings.username,
            "port": settings.port_number,
            "folder": settings.folder,
            "security": settings.security,
            "since": settings.since.isoformat() if settings.since else None,
        }
        location = (
            f"imap://{settings.username}@{settings.host}:{settings.port_number}/{settings.folder}"
        )
        secret = setup.encrypt(password)
        return SourceSetup(location, options, secret=secret, interval_s=DEFAULT_INTERVAL_S)

    def sync(self, run: SyncContext) -> None:
        source = run.source
        settings = mailbox_settings(source.options)
        state = dict(source.state)
        from sabio.mailbox import Mailbox

        with Mailbox(settings, run.password()) as box:
            if state.get("uidvalidity") != box.uidvalidity:
                state = {"uidvalidity": box.uidvalidity, "last_uid": 0}
            uids = [u for u in box.uids() if u > int(state["last_uid"])]
            run.progress("looking for new mail", done=0, total=len(uids))
            for start in range(0, len(uids), BATCH):
                batch = uids[start : start + BATCH]
                known = {
                    uid: item
                    for uid, message_id in box.message_ids(batch).items()
                    if message_id and (item := run.item(message_id))
                }
                run.record([_unchanged(item) for item in known.values()])
                new = [uid for uid in batch if uid not in known]
                self._index(run, list(box.fetch(new)))
                state["last_uid"] = batch[-1]
                run.save_state(state)
                run.progress("indexing mail", done=start + len(batch), total=len(uids))

    def _index(self, run: SyncContext, messages: list[MailMessage]) -> None:
        from sabio.mailbox import mail_items

        loaded: list[LoadedSource] = []
        keys: list[str] = []
        for message in messages:
            if _seen(run, message.message_id):
                continue  # the same message under another UID
            digest = hashlib.blake2b(message.raw, digest_size=16).hexdigest()
            for item in mail_items(message.raw):
                key = message.message_id + (f"/{item.part}" if item.part else "")
                loaded.append(
                    LoadedSource(
                        f"{run.source.location}/{key}",
                        digest,
                        item.title,
                        item.document,
                        item.status,
                        item.reason,
                        dict(item.metadata),
                    )
                )
                keys.append(key)
        run.index_loaded(loaded, keys)


class MailWatch(SourceWatch):
    """Keeps an IDLE connection to a mailbox; ``on_change`` is called when the server says
    mail arrived, so new mail is indexed within seconds rather than at the next scheduled
    sync (which still runs, for servers without IDLE). A broken connection is opened
    again after ``retry_s`` seconds."""

    retry_s = 30.0
    IDLE_S = 25 * 60.0  # servers may drop an IDLE after 30 minutes (RFC 2177)

    def __init__(
        self, settings: MailboxSettings, password: str, on_change: Callable[[], None]
    ) -> None:
        super().__init__(f"waiting for mail at {settings.address}")
        self.settings = settings
        self._password = password
        self.on_change = on_change

    def watch(self) -> None:
        from sabio.mailbox import Mailbox

        with Mailbox(self.settings, self._password) as box:
            idle = box.supports_idle
            while idle and not self.stopping.is_set():
                if box.wait_for_mail(self.IDLE_S, self.stopping):
                    self.on_change()
        if not idle:
            self.stopping.wait()  # the schedule does it all


def _seen(run: SyncContext, message_id: str) -> bool:
    """Whether the message was indexed before; if so, it is recorded as unchanged."""
    item = run.item(message_id)
    if item is not None:
        run.record([_unchanged(item)])
    return item is not None


def _unchanged(item: SourceItem) -> ItemUpdate:
    return ItemUpdate(item.key, item.status, "unchanged", item.reason)


def _is_this_computer(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _watch(source: Source, password: str, on_change: Callable[[list[str]], None]) -> MailWatch:
    return MailWatch(mailbox_settings(source.options), password, lambda: on_change([]))


register_source_kind(
    SourceKind(
        name="imap",
        connector=ImapConnector,
        options=ImapOptions,
        location="none",
        summary="a mailbox on an IMAP server: every message and attachment",
        watch=_watch,
        scheduled=True,
        secret="password",
    )
)

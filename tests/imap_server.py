"""A real IMAP server for tests: Debian's Dovecot on 127.0.0.1, one per test.

``dovecot -F`` runs in the foreground in its own process group, with its config, state,
sockets and maildirs in a fresh temporary folder; it accepts any user name with the
password "secret". Starting it takes about 50 ms and stopping it (SIGTERM to the group)
a few, so every test gets an empty server of its own. Without the ``dovecot`` binary the
tests that use it are skipped (``scripts/test.sh`` installs it). Dovecot delays a second
failed login from one address by seconds (its auth penalty): one wrong password a server.

Use it as the ``imap_server`` fixture (import it into the test module).
"""

from __future__ import annotations

import contextlib
import grp
import imaplib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

USERNAME = "ana"
PASSWORD = "secret"
NOT_INSTALLED = "dovecot-imapd is not installed; scripts/test.sh installs it"


@dataclass(frozen=True)
class ImapServer:
    host: str
    port: int
    username: str
    password: str
    root: Path

    @contextlib.contextmanager
    def session(self, folder: str | None = None) -> Iterator[imaplib.IMAP4]:
        """A logged-in imaplib connection, with ``folder`` selected read-write."""
        imap = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            secret = f"\0{self.username}\0{self.password}".encode()  # UTF-8, unlike LOGIN
            _ok(imap.authenticate("PLAIN", lambda _challenge: secret))
            if folder is not None:
                _ok(imap.select(_quoted(folder)))
            yield imap
        finally:
            imap.logout()

    def deliver(self, raw: bytes, folder: str = "INBOX", date: datetime | None = None) -> int:
        """APPEND a message (with this internal date); its UID."""
        return self.deliver_many([raw], folder, date)[0]

    def deliver_many(
        self, raws: Iterable[bytes], folder: str = "INBOX", date: datetime | None = None
    ) -> list[int]:
        """APPEND messages in one session (each login costs Dovecot a process); their UIDs."""
        internal_date = imaplib.Time2Internaldate(date) if date else None
        uids = []
        with self.session() as imap:
            for raw in raws:
                answer = _ok(imap.append(_quoted(folder), "", internal_date, raw))
                uids.append(int(answer[-1].split(b"APPENDUID ", 1)[1].split()[1].rstrip(b"]")))
        return uids

    def create_folder(self, name: str) -> None:
        """CREATE a folder; ``name`` as it goes on the wire (modified UTF-7)."""
        with self.session() as imap:
            _ok(imap.create(_quoted(name)))

    def expunge(self, message_id_or_uid: str | int, folder: str = "INBOX") -> None:
        """Delete one message for good, by UID or by its Message-ID header."""
        with self.session(folder) as imap:
            if isinstance(message_id_or_uid, int):
                uids = [str(message_id_or_uid).encode()]
            else:
                found = _ok(imap.uid("SEARCH", "HEADER", "Message-ID", message_id_or_uid))
                uids = found[0].split()
            for uid in uids:
                _ok(imap.uid("STORE", uid.decode(), "+FLAGS.SILENT", "(\\Deleted)"))
            _ok(imap.expunge())

    def flags(self, folder: str = "INBOX") -> dict[int, set[str]]:
        """Each message's flags, read without changing anything."""
        with self.session() as imap:
            _ok(imap.select(_quoted(folder), readonly=True))
            data = _ok(imap.uid("FETCH", "1:*", "(FLAGS)"))
        flags = {}
        for line in data:
            if isinstance(line, bytes) and b"UID " in line:
                uid = int(line.split(b"UID ", 1)[1].split()[0].rstrip(b")"))
                inside = line.split(b"FLAGS (", 1)[1].split(b")", 1)[0]
                flags[uid] = {flag.decode() for flag in inside.split()}
        return flags


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.access(p, os.X_OK)),
        None,
    )


@contextlib.contextmanager
def running_dovecot(password: str = PASSWORD, **settings: str) -> Iterator[ImapServer]:
    """Dovecot on a free loopback port, where every user's password is ``password``;
    ``settings`` override lines of its config."""
    binary = dovecot_binary()
    if binary is None:
        pytest.skip(NOT_INSTALLED)
    # Not pytest's tmp_path: Dovecot's own users must reach the folder (mode 755).
    with tempfile.TemporaryDirectory(prefix="sabio-dovecot-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        port = _free_port()
        config = root / "dovecot.conf"
        config.write_text(_config(root, port, password, settings))
        process = subprocess.Popen(
            [binary, "-F", "-c", str(config)],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for_greeting(port, process, root)
            yield ImapServer("127.0.0.1", port, USERNAME, password, root)
        finally:
            _stop(process)


@pytest.fixture
def imap_server() -> Iterator[ImapServer]:
    with running_dovecot() as server:
        yield server


def _config(root: Path, port: int, password: str, overrides: dict[str, str]) -> str:
    mail = root / "mail"
    mail.mkdir()
    if os.geteuid() == 0:  # Dovecot will not run mail or login processes as root
        mail_user, login_user = "dovecot", "dovenull"
        entry = pwd.getpwnam(mail_user)
        os.chown(mail, entry.pw_uid, entry.pw_gid)
    else:
        mail_user = login_user = pwd.getpwuid(os.geteuid()).pw_name
        entry = pwd.getpwnam(mail_user)
    settings = {
        "protocols": "imap",
        "listen": "127.0.0.1",
        "base_dir": f"{root}/run",
        "state_dir": f"{root}/state",
        "log_path": f"{root}/dovecot.log",
        "ssl": "no",
        "disable_plaintext_auth": "no",
        "auth_failure_delay": "0",
        "mail_fsync": "never",
        "mail_location": f"maildir:{mail}/%u",
        "mail_uid": str(entry.pw_uid),
        "mail_gid": str(entry.pw_gid),
        "first_valid_uid": "0",
        "first_valid_gid": "0",
        "default_login_user": login_user,
        "default_internal_user": mail_user,
        "default_internal_group": grp.getgrgid(entry.pw_gid).gr_name,
        **overrides,
    }
    lines = [f"{key} = {value}" for key, value in settings.items()]
    return "\n".join(lines) + (
        "\nuserdb {\n  driver = static\n"
        f"  args = uid={entry.pw_uid} gid={entry.pw_gid} home={mail}/%u\n}}\n"
        f"passdb {{\n  driver = static\n  args = password={password}\n}}\n"
        "service imap-login {\n"
        + ("" if os.geteuid() == 0 else "  chroot =\n")
        + f"  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n"
        "  inet_listener imaps {\n    port = 0\n  }\n}\n"
        "service anvil {\n" + ("" if os.geteuid() == 0 else "  chroot =\n") + "}\n"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):  # the whole group: master and children
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
            return


def _wait_for_greeting(port: int, process: subprocess.Popen[bytes], root: Path) -> None:
    deadline = time.monotonic() + 15  # a bounded wait for the socket, not a timing assertion
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = root / "dovecot.log"
            text = log.read_text() if log.exists() else "(no log)"
            pytest.fail(f"dovecot exited with {process.returncode}:\n{text}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as s:
            if s.recv(4).startswith(b"* OK"):
                return
        time.sleep(0.01)
    pytest.fail("dovecot did not answer on its port within 15 s")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ok(result: tuple[str, list[object]]) -> list[bytes]:
    status, data = result
    assert status == "OK", data
    return [item for item in data if isinstance(item, bytes)]

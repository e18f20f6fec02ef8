"""Run a command in a network namespace that has only loopback (for tests/test_privacy.py).

    unshare --net --mount python tests/netns.py [--silent-dns] -- COMMAND...

Inside the new namespaces (made by util-linux's ``unshare``, as root) it brings the
loopback interface up; with ``--silent-dns`` it also points this namespace's
``/etc/resolv.conf`` (a bind mount, private to the mount namespace) at a name server on
127.0.0.53 that reads every query and never answers: a DNS server that does not answer,
as on a broken network. Then it runs COMMAND and exits with its status.

:func:`namespace_problem` says why such a namespace cannot be made here (not root, no
``unshare``), or None.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
SILENT_DNS = ("127.0.0.53", 53)


def namespace_problem() -> str | None:
    """Why a loopback-only network namespace cannot be made here, or None."""
    if shutil.which("unshare") is None:
        return "util-linux's unshare is not installed"
    probe = subprocess.run(
        ["unshare", "--net", "--mount", "true"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        return f"cannot make a network namespace ({probe.stderr.strip()}): run as root"
    return None


def command(*args: str, silent_dns: bool = False) -> list[str]:
    """The command line that runs ``args`` in a new loopback-only namespace."""
    flags = ["--silent-dns"] if silent_dns else []
    return ["unshare", "--net", "--mount", sys.executable, __file__, *flags, "--", *args]


def loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))


def silent_name_server() -> None:
    """Read DNS queries on 127.0.0.53 and never answer; resolv.conf points there."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(SILENT_DNS)

    def swallow() -> None:
        while True:
            server.recvfrom(4096)

    threading.Thread(target=swallow, daemon=True).start()
    conf = Path(tempfile.mkdtemp()) / "resolv.conf"
    conf.write_text(f"nameserver {SILENT_DNS[0]}\n")
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    subprocess.run(["mount", "--bind", str(conf), "/etc/resolv.conf"], check=True)


def main(argv: list[str]) -> int:
    separator = argv.index("--")
    options, args = argv[:separator], argv[separator + 1 :]
    loopback_up()
    if "--silent-dns" in options:
        silent_name_server()
    return subprocess.run(args, check=False).returncode


if __name__ == "__main__":
    os.environ.pop("PYTHONSTARTUP", None)
    sys.exit(main(sys.argv[1:]))

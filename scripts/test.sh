#!/usr/bin/env bash
# Install everything the tests need, then lint, type-check and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=dev bash scripts/install.sh
# The browser tests drive the system's Chromium through Playwright (never a downloaded one).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    echo "installing Chromium for the browser tests"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get install -y --no-install-recommends chromium >/dev/null \
        || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends chromium >/dev/null; }
fi
# The IMAP tests run a real Dovecot on 127.0.0.1 (tests/imap_server.py); /usr/sbin is not
# on every user's PATH.
if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Dovecot for the IMAP tests"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get install -y --no-install-recommends dovecot-imapd >/dev/null \
        || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends dovecot-imapd >/dev/null; }
    # The package may start a system-wide IMAP server; the tests start their own.
    if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now dovecot >/dev/null 2>&1 || true; fi
fi
# The privacy test (tests/test_privacy.py) records every connection and file write of the
# whole flow with strace, inside a network namespace made by util-linux's unshare.
if ! command -v strace >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    echo "installing strace for the privacy test"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get install -y --no-install-recommends strace >/dev/null \
        || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends strace >/dev/null; }
fi
# The real-client tests (tests/test_real_clients.py) drive the ollama npm package with node.
if ! command -v npm >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    echo "installing node and npm for the JavaScript client test"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get install -y --no-install-recommends nodejs npm >/dev/null \
        || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends nodejs npm >/dev/null; }
fi
# shellcheck disable=SC1091
[ -n "${VIRTUAL_ENV:-}" ] || . .venv/bin/activate
ruff check src tests bench
ruff format --check src tests bench
mypy
pytest "$@"

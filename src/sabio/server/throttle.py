"""Failed sign-ins, counted: too many for one account or from one address in a while, and
the next attempt is refused (429, "try again in N s") without its password being checked.

A sliding window of failure times per key (``account:<name>``, ``address:<ip>``, and
``setup:<ip>`` for wrong setup codes), in memory: a restart forgets them, which costs an
attacker a restart of the server. Only failures count, and a refused attempt is not one,
so a locked key opens again when its oldest failure leaves the window. A success clears
its account's failures. Every refusal is logged (a warning), so the admin sees it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from sabio.errors import TooManyAttemptsError

log = logging.getLogger(__name__)

WINDOW_S = 300.0
PER_ACCOUNT = 5
"""Wrong passwords for one account within the window; the next attempt waits."""
PER_ADDRESS = 20
"""Failed sign-ins (any accounts) from one address within the window."""
PER_SETUP_ADDRESS = 5
"""Wrong setup codes from one address within the window."""
MAX_KEYS = 10_000
"""Keys remembered at most; the oldest are forgotten first (an address sweep)."""


class Throttle:
    """Failure times per key within ``window_s``; at ``limit`` of them the key waits."""

    def __init__(
        self, limit: int, window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit, self.window_s, self.clock = limit, window_s, clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait(self, key: str) -> float:
        """Seconds until ``key`` may try again (0: now)."""
        with self._lock:
            times = self._recent(key)
            if len(times) < self.limit:
                return 0.0
            return max(0.0, times[0] + self.window_s - self.clock())

    def failed(self, key: str) -> None:
        with self._lock:
            self._recent(key).append(self.clock())
            if len(self._failures) > MAX_KEYS:
                oldest = min(self._failures, key=lambda k: self._failures[k][-1])
                del self._failures[oldest]

    def clear(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _recent(self, key: str) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= self.clock() - self.window_s:
            times.popleft()
        return times


class SignInThrottle:
    """The checks ``/auth/login`` and ``/auth/setup`` make, per account and per address."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.accounts = Throttle(PER_ACCOUNT, clock=clock)
        self.addresses = Throttle(PER_ADDRESS, clock=clock)
        self.setup = Throttle(PER_SETUP_ADDRESS, clock=clock)

    def check_login(self, name: str, address: str) -> None:
        """Raise TooManyAttemptsError when this account or address must wait."""
        account, where = _account(name), f"address:{address}"
        wait = max(self.accounts.wait(account), self.addresses.wait(where))
        if wait > 0:
            log.warning(
                "sign-in refused for %r from %s: too many failures, %.0f s", name, address, wait
            )
            raise _too_many("sign-in attempts", wait)

    def login_failed(self, name: str, address: str) -> None:
        self.accounts.failed(_account(name))
        self.addresses.failed(f"address:{address}")
        log.warning("wrong password for %r from %s", name, address)

    def login_succeeded(self, name: str) -> None:
        self.accounts.clear(_account(name))

    def check_setup(self, address: str) -> None:
        wait = self.setup.wait(f"setup:{address}")
        if wait > 0:
            log.warning("setup refused from %s: too many wrong setup codes, %.0f s", address, wait)
            raise _too_many("wrong setup codes", wait)

    def setup_failed(self, address: str) -> None:
        self.setup.failed(f"setup:{address}")
        log.warning("wrong setup code from %s", address)


def _account(name: str) -> str:
    return f"account:{name.strip().casefold()}"


def _too_many(what: str, wait: float) -> TooManyAttemptsError:
    seconds = max(1, int(wait + 0.999))
    return TooManyAttemptsError(f"too many {what}: try again in {seconds} s", retry_after=seconds)

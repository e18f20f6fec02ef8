"""Several Ollama hosts (``ollama_host`` and ``ollama_hosts``): which one serves a request.

A :class:`HostPool` knows, for each host, the models its ``/api/tags`` lists (asked again
after :data:`TAGS_TTL` seconds), whether it failed lately (then it is tried last for
:data:`DOWN_SECONDS`), how many requests it has in flight (at most ``ollama_parallel``) and
how many wait for a place.
:meth:`HostPool.candidates` orders the hosts to try for a model: those that answer and
have it, the one with the fewest requests in flight (its own and those waiting for one of
its places) first, taking turns (per model) among those that tie, so a second host that
has the model shares the work instead of idling behind the first. With one host nothing
is asked beforehand: that host is used, as before there were several.

The chat and embedding backends go to the next candidate when a host cannot be reached or
breaks off before the answer's first word (:func:`is_host_failure`); after it, the error
stands and the answer is marked incomplete, never silently cut.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sabio.errors import ModelError, NotFoundError, SabioError

TAGS_TTL = 60.0
"""Seconds a host's list of models is trusted before it is asked again."""

DOWN_SECONDS = 30.0
"""Seconds a host that failed is tried only after the others."""

FAILOVER_KEYS = frozenset({"ollama_unreachable", "ollama_lost", "ollama_broke_off"})
"""Errors of a host rather than of the request: another host may well succeed."""


def is_host_failure(exc: SabioError) -> bool:
    """Whether ``exc`` says the host is unreachable or dropped the request."""
    if isinstance(exc, NotFoundError) or not isinstance(exc, ModelError):
        return False
    return exc.key in FAILOVER_KEYS or str(exc).startswith("Ollama is not reachable")


@dataclass
class Host:
    url: str
    parallel: int
    models: frozenset[str] = frozenset()
    checked: float = float("-inf")
    down_until: float = 0.0
    busy: int = 0
    waiting: int = 0
    claimed: int = 0
    """Requests that chose this host (:meth:`HostPool.candidates`) and have not asked
    for a place yet: counted in ``waiting`` meanwhile."""
    error: SabioError | None = None
    failed_at: float | None = None
    freed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def down(self) -> bool:
        return time.monotonic() < self.down_until


@dataclass(frozen=True, slots=True)
class HostState:
    """What :meth:`HostPool.states` tells of one host. ``limit``: ``ollama_parallel``
    (0: none); ``last_error`` (with its catalogue key and values, :mod:`sabio.errors`) and
    ``failed_at`` (Unix time): its latest failure, if any."""

    url: str
    reachable: bool
    models: tuple[str, ...]
    busy: int
    waiting: int
    limit: int
    last_error: str
    error_key: str | None
    error_args: dict[str, Any]
    failed_at: float | None


class HostPool:
    """The Ollama hosts of one configuration, shared by every model of the process."""

    def __init__(
        self, urls: tuple[str, ...], parallel: int, models_on: Callable[[str], frozenset[str]]
    ) -> None:
        """``models_on(url)``: the models a host has (its ``/api/tags``), or a SabioError."""
        self.hosts = [Host(url, parallel) for url in urls]
        self._models_on = models_on
        self._turns: dict[str, int] = {}
        self._lock = threading.Lock()

    def candidates(self, model: str, *, spread: bool = True) -> list[Host]:
        """The hosts to try for ``model`` (without ``:latest``), best first: up and with
        the model, the fewest requests in flight first, ties taken in turns (per model);
        then the others (a host's own error says what is wrong when all fail).
        ``spread=False`` (a question about the model, not work for it): the host the next
        request would get, without taking its turn."""
        if len(self.hosts) == 1:
            return list(self.hosts)
        for host in self.hosts:
            self._refresh(host)
        good = [h for h in self.hosts if not h.down and model in h.models]
        rest = sorted((h for h in self.hosts if h not in good), key=lambda h: h.down)
        with self._lock:  # counted and turned together: two requests at once, two hosts
            good.sort(key=lambda h: h.busy + h.waiting)
            ties = [h for h in good if h.busy + h.waiting == good[0].busy + good[0].waiting]
            if ties:
                turn = self._turns.get(model, 0)
                first = ties[turn % len(ties)]
                good.remove(first)
                good.insert(0, first)
                if spread:
                    self._turns[model] = turn + 1
                    with first.freed:  # in flight from now: its slot() takes it over
                        first.waiting += 1
                        first.claimed += 1
        return good + rest

    def mark_down(self, host: Host, error: SabioError | None = None) -> None:
        """``host`` failed (``error`` says how): tried last for :data:`DOWN_SECONDS`."""
        host.down_until = time.monotonic() + DOWN_SECONDS
        host.checked = float("-inf")
        host.error, host.failed_at = error, time.time()

    def states(self) -> list[HostState]:
        """Each host as it is now (its models asked again when :data:`TAGS_TTL` is up),
        for people to see; ``busy`` and ``waiting`` count this process's requests."""
        for host in self.hosts:
            self._refresh(host)
        return [
            HostState(
                url=h.url,
                reachable=not h.down and h.checked > float("-inf"),
                models=tuple(sorted(h.models)),
                busy=h.busy,
                waiting=h.waiting,
                limit=h.parallel,
                last_error=str(h.error or ""),
                error_key=h.error.key if h.error else None,
                error_args=dict(h.error.args_for_key) if h.error else {},
                failed_at=h.failed_at,
            )
            for h in self.hosts
        ]

    @contextmanager
    def slot(self, host: Host) -> Iterator[None]:
        """One of ``host``'s places for a request, waiting for one when all are taken."""
        with host.freed:
            if host.claimed:  # chosen by candidates(), already counted as waiting
                host.claimed -= 1
            else:
                host.waiting += 1
            while host.parallel and host.busy >= host.parallel:
                host.freed.wait()
            host.waiting -= 1
            host.busy += 1
        try:
            yield
        finally:
            with host.freed:
                host.busy -= 1
                host.freed.notify()

    def _refresh(self, host: Host) -> None:
        if time.monotonic() - host.checked < TAGS_TTL:
            return
        try:
            host.models = self._models_on(host.url)
        except SabioError as exc:
            self.mark_down(host, exc)
            return
        host.checked = time.monotonic()
        host.down_until = 0.0

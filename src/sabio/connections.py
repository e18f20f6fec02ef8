"""HTTP connections Sabio makes to the hosts the user configured (the model servers),
and the httpx transport that lets Sabio choose how a connection is opened.

httpx does two things by default that Sabio must not do with a model server:

- *It takes a proxy from the environment* (``HTTP_PROXY``, ``HTTPS_PROXY``,
  ``ALL_PROXY``, and credentials from ``~/.netrc``). Prompts carry passages of the
  documents; they would go through whoever runs that proxy. Every client made here has
  ``trust_env=False``; certificates named by ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` are
  still trusted (which certificates to trust is not where the data goes).
- *It waits for a name lookup as long as the system resolver does.* ``getaddrinfo`` is
  not covered by httpx's connect timeout, and a DNS server that does not answer holds
  it for 10 to 30 s. Here the lookup runs on a thread of its own and a connection waits
  for it at most :data:`LOOKUP_TIMEOUT` seconds (or its connect timeout, if shorter).
  While a lookup is unanswered, later connections to that host fail at once instead of
  waiting again; answers, and failures, are kept :data:`LOOKUP_TTL` seconds. Likewise an
  address that let a connection time out is not waited for again for a while by an
  attempt as impatient (a probe after a probe; :class:`Unanswered`).

:class:`BackendTransport` is an httpx transport over an httpcore pool with a network
backend of the caller's choosing (public httpx and httpcore API only): the model
clients use :class:`BoundedLookupBackend`, web sources their own checking backend
(:mod:`sabio.fetch`). :class:`SeverableBackend` wraps one so that a request that is no
longer wanted ends at once, also while it waits for the server's first byte.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

LOOKUP_TIMEOUT = 2.0
"""Seconds a connection waits for the name of a model host to resolve."""
LOOKUP_TTL = 30.0
"""Seconds an answer (or a failure) of a name lookup is reused."""
UNANSWERED_TTL = 10.0
"""Seconds an address that let a connection time out is not waited for again by an
attempt as impatient (:class:`Unanswered`)."""

Lookup = Callable[[str, int], list[str]]
"""``(host, port) -> addresses``: how a host name becomes addresses (getaddrinfo)."""


class UnresolvedHostError(httpcore.ConnectError):
    """A host name that did not resolve, or not in time; the message says which and why."""


def system_lookup(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the order to try them (getaddrinfo)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    return addresses


@dataclass(slots=True)
class _Pending:
    started: float
    future: concurrent.futures.Future[list[str]]


class Resolver:
    """Name lookups with a deadline, one thread per lookup in progress (see the module
    docstring). Thread-safe; one is shared by every model client of a process."""

    def __init__(self, lookup: Lookup = system_lookup, ttl: float = LOOKUP_TTL) -> None:
        self._lookup = lookup
        self._ttl = ttl
        self._lock = threading.Lock()
        self._lookups: dict[tuple[str, int], _Pending] = {}

    def resolve(self, host: str, port: int, timeout: float = LOOKUP_TIMEOUT) -> list[str]:
        """The addresses of ``host``, waiting for them at most ``timeout`` seconds from
        when the lookup started; :class:`UnresolvedHostError` otherwise."""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return [host]  # an address already: nothing to look up
        pending = self._pending(host, port)
        remaining = pending.started + timeout - time.monotonic()
        try:
            return pending.future.result(timeout=max(remaining, 0.0))
        except concurrent.futures.TimeoutError:
            waited = time.monotonic() - pending.started
            raise UnresolvedHostError(
                f"the host name {host} did not resolve within {waited:.0f} s: the DNS server "
                "does not answer"
            ) from None
        except (OSError, UnicodeError) as exc:
            raise UnresolvedHostError(f"the host name {host} does not resolve ({exc})") from exc

    def _pending(self, host: str, port: int) -> _Pending:
        key = (host, port)
        now = time.monotonic()
        with self._lock:
            pending = self._lookups.get(key)
            if pending is None or (pending.future.done() and now - pending.started > self._ttl):
                future: concurrent.futures.Future[list[str]] = concurrent.futures.Future()
                pending = self._lookups[key] = _Pending(now, future)
                thread = threading.Thread(
                    target=self._run, args=(host, port, future), name="lookup", daemon=True
                )
                thread.start()  # a daemon: a DNS server that never answers delays no exit
        return pending

    def _run(self, host: str, port: int, future: concurrent.futures.Future[list[str]]) -> None:
        try:
            future.set_result(self._lookup(host, port))
        except BaseException as exc:
            future.set_exception(exc)


RESOLVER = Resolver()
"""The process's lookups for model hosts (one cache, one thread per host at most)."""


class AddressBackend(httpcore.NetworkBackend):
    """Connects through httpcore's own backend to the addresses :meth:`addresses` gives
    for a host, in turn, instead of letting the socket library look the name up. TLS is
    started afterwards by httpcore with the URL's host name, so certificates are verified
    against the name, not the address."""

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def addresses(self, host: str, port: int, timeout: float | None) -> list[str]:
        raise NotImplementedError

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        error: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in self.addresses(host, port, timeout):
            try:
                return self.connect_to(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error or httpcore.ConnectError(f"{host} has no address to connect to")

    def connect_to(
        self,
        address: str,
        port: int,
        timeout: float | None,
        local_address: str | None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None,
    ) -> httpcore.NetworkStream:
        """One connection attempt, to an address."""
        return self._backend.connect_tcp(address, port, timeout, local_address, socket_options)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        return self._backend.connect_unix_socket(path, timeout, socket_options)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class Unanswered:
    """Addresses that let a connection attempt time out lately. For :data:`UNANSWERED_TTL`
    seconds, an attempt that would give up as soon as that one (a probe after a probe)
    fails at once instead of waiting again; a more patient one (a request to a model)
    still tries. Thread-safe; one is shared by every model client of a process."""

    def __init__(self, ttl: float = UNANSWERED_TTL) -> None:
        self._ttl = ttl
        self._lock = threading.Lock()
        self._timed_out: dict[tuple[str, int], tuple[float, float]] = {}

    def check(self, address: str, port: int, timeout: float | None) -> None:
        with self._lock:
            when, patience = self._timed_out.get((address, port), (-self._ttl, 0.0))
        ago = time.monotonic() - when
        if ago < self._ttl and (timeout if timeout is not None else float("inf")) <= patience:
            raise httpcore.ConnectTimeout(
                f"{address}:{port} did not answer a connection {ago:.0f} s ago (within "
                f"{patience:g} s); not waiting for it again yet"
            )

    def note(self, address: str, port: int, timeout: float | None, answered: bool) -> None:
        with self._lock:
            if answered:
                self._timed_out.pop((address, port), None)
            else:
                patience = timeout if timeout is not None else float("inf")
                self._timed_out[(address, port)] = (time.monotonic(), patience)


UNANSWERED = Unanswered()


class BoundedLookupBackend(AddressBackend):
    """Connects to the addresses a :class:`Resolver` found within its deadline, and
    does not wait again for an address that just let an attempt like this one time out
    (:class:`Unanswered`)."""

    def __init__(
        self,
        resolver: Resolver = RESOLVER,
        lookup_timeout: float = LOOKUP_TIMEOUT,
        unanswered: Unanswered = UNANSWERED,
    ) -> None:
        super().__init__()
        self._resolver = resolver
        self._lookup_timeout = lookup_timeout
        self._unanswered = unanswered

    def addresses(self, host: str, port: int, timeout: float | None) -> list[str]:
        wait = self._lookup_timeout if timeout is None else min(timeout, self._lookup_timeout)
        return self._resolver.resolve(host, port, wait)

    def connect_to(
        self,
        address: str,
        port: int,
        timeout: float | None,
        local_address: str | None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None,
    ) -> httpcore.NetworkStream:
        self._unanswered.check(address, port, timeout)
        try:
            stream = super().connect_to(address, port, timeout, local_address, socket_options)
        except httpcore.ConnectTimeout:
            self._unanswered.note(address, port, timeout, answered=False)
            raise
        self._unanswered.note(address, port, timeout, answered=True)
        return stream


class SeverableBackend(httpcore.NetworkBackend):
    """Connects through ``backend`` and keeps every connection it opens, so that
    :meth:`sever` can shut them all from any thread once ``cancel`` is set: a read blocked
    on one (a model server still reading a long prompt sends nothing for minutes) wakes at
    once, and the server sees its client leave (Ollama then stops computing). After
    ``cancel`` no connection is opened. ``socket.shutdown`` rather than ``close``: closing
    a socket another thread is reading neither wakes that thread nor sends anything."""

    def __init__(self, backend: httpcore.NetworkBackend, cancel: threading.Event) -> None:
        self._backend = backend
        self.cancel = cancel
        self._lock = threading.Lock()
        self._streams: list[_SeverableStream] = []

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        self._check()
        stream = self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return self._kept(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        self._check()
        return self._kept(self._backend.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)

    def sever(self) -> None:
        """Shut every connection opened so far (they fail from then on)."""
        with self._lock:
            streams, self._streams = self._streams, []
        for stream in streams:
            stream.shut()

    def _check(self) -> None:
        if self.cancel.is_set():
            raise httpcore.ConnectError("the request was cancelled before it connected")

    def _kept(self, stream: httpcore.NetworkStream) -> httpcore.NetworkStream:
        kept = _SeverableStream(stream)
        with self._lock:
            self._streams = [s for s in self._streams if not s.closed]
            self._streams.append(kept)
        if self.cancel.is_set():  # cancelled while it connected
            kept.shut()
        return kept


class _SeverableStream(httpcore.NetworkStream):
    """A connection that :meth:`shut` ends from another thread (also once it is TLS)."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream
        self.closed = False

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, timeout)

    def close(self) -> None:
        self.closed = True
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        self._stream = self._stream.start_tls(ssl_context, server_hostname, timeout)
        return self

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)

    def shut(self) -> None:
        sock = self._stream.get_extra_info("socket")
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):  # already closed, or never connected
                # socket.socket's own: an SSLSocket's would drop its TLS state under a reader
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


# httpcore's exceptions as httpx's, most specific first (ConnectError is a NetworkError).
_HTTPCORE_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
)
_HTTPCORE_BASES = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpcore.ProxyError,
)


@contextlib.contextmanager
def _as_httpx_errors(request: httpx.Request) -> Iterator[None]:
    try:
        yield
    except _HTTPCORE_BASES as exc:
        ours = next((o for core, o in _HTTPCORE_ERRORS if isinstance(exc, core)), None)
        raise (ours or httpx.TransportError)(str(exc), request=request) from exc


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes], request: httpx.Request) -> None:
        self._stream = stream
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx_errors(self._request):
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class BackendTransport(httpx.BaseTransport):
    """An httpx transport over an httpcore pool that connects through ``backend``; it
    does what ``httpx.HTTPTransport.handle_request`` does, without a proxy."""

    def __init__(self, backend: httpcore.NetworkBackend, ssl_context: ssl.SSLContext) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=10,
            max_keepalive_connections=5,
            keepalive_expiry=5.0,
            network_backend=backend,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors(request):
            response = self._pool.handle_request(core_request)
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream, request),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


@functools.cache
def _certificates() -> ssl.SSLContext:
    """The certificates a model server's must chain to (certifi's, or SSL_CERT_FILE's),
    loaded once per process: loading them took 40 ms a client."""
    return httpx.create_ssl_context(trust_env=True)


def model_client(
    *,
    base_url: str = "",
    timeout: float | httpx.Timeout,
    headers: Mapping[str, str] | None = None,
    backend: httpcore.NetworkBackend | None = None,
) -> httpx.Client:
    """An httpx client for a model server: no proxy or credentials from the environment,
    name lookups within :data:`LOOKUP_TIMEOUT` (the module docstring). May raise
    ``httpx.InvalidURL`` for a bad ``base_url``."""
    transport = BackendTransport(backend or BoundedLookupBackend(), _certificates())
    return httpx.Client(
        base_url=base_url,
        timeout=timeout,
        headers=headers,
        transport=transport,
        trust_env=False,
    )


def async_model_client(*, timeout: float | httpx.Timeout) -> httpx.AsyncClient:
    """The asynchronous client for a model server (the server's pass-through to Ollama):
    no proxy or credentials from the environment. Its name lookups are bounded by the
    connect timeout already (httpcore's asynchronous backend cancels them)."""
    return httpx.AsyncClient(timeout=timeout, trust_env=False)


def unresolved_host(exc: BaseException) -> str | None:
    """Why a host name did not resolve, when that is what made ``exc`` happen."""
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, UnresolvedHostError):
            return str(current)
        current = current.__cause__ or current.__context__
    return None

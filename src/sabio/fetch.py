"""Fetching web pages, feeds and sitemaps, safely.

A web source is an address the user gives; what it points to, and where its redirects lead,
is up to whoever runs the server. So every connection is checked where it is made: the
network backend under httpx resolves the host itself, refuses private, loopback and other
non-public addresses (unless the source was added with ``--allow-private``) and connects to
the address it checked, so that neither a redirect nor a DNS answer that changes between
the check and the connection (DNS rebinding) reaches the user's own network. TLS still
verifies the certificate against the host name in the URL.

Bodies are streamed and cut at ``max_bytes``; feeds are parsed with feedparser and sitemaps
with lxml, neither expanding entities nor loading anything from the network.
"""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
import io
import ipaddress
import re
import socket
import ssl
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from typing import Any
from urllib.parse import urljoin

import feedparser  # type: ignore[import-untyped]
import httpcore
import httpx
from lxml import etree

from sabio import __version__
from sabio.config import Settings
from sabio.connections import AddressBackend, BackendTransport
from sabio.errors import BlockedAddressError, SourceError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[IPAddress]]
"""``(host, port) -> addresses``: how a host name becomes the addresses that are checked."""

USER_AGENT = f"Sabio/{__version__}"
MAX_REDIRECTS = 5
MAX_SITEMAP_BYTES = 50 * 2**20  # the sitemap protocol's limit, uncompressed
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT, RFC 6598
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_ALLOW_HINT = "add the source with --allow-private to fetch addresses on your own network"
_FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml", "application/rdf+xml"})
_GZIP_MAGIC = b"\x1f\x8b"
_PROLOG_NOISE = re.compile(rb"<!--.*?-->|<\?.*?\?>|<!DOCTYPE[^\[>]*(\[.*?\])?\s*>", re.S)


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str  # final URL after redirects
    status: int  # 200, or 304 when the conditional request says unchanged (content b"")
    content: bytes
    content_type: str  # media type only, lower case ("text/html"), "" if none
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True, slots=True)
class FeedEntry:
    url: str
    title: str
    published: str | None  # ISO 8601, UTC


@dataclass(frozen=True, slots=True)
class SitemapPage:
    url: str
    lastmod: str | None  # as the sitemap writes it (W3C datetime)


@dataclass(frozen=True, slots=True)
class Sitemap:
    pages: list[SitemapPage]
    sitemaps: list[str]  # child sitemaps of a sitemap index


# --- addresses -------------------------------------------------------------------------


def non_public_kind(address: IPAddress) -> str | None:
    """What kind of non-public address this is ("loopback", "private"…), None if public."""
    if isinstance(address, ipaddress.IPv6Address):
        teredo = address.teredo
        embedded = address.ipv4_mapped or address.sixtofour or (teredo[1] if teredo else None)
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and (kind := non_public_kind(embedded)):
            return f"{kind} (IPv4 {embedded} inside IPv6)"
        if address.is_site_local:
            return "site-local"
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("shared (carrier-grade NAT)", address in _SHARED),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("non-public", not address.is_global),
    )
    return next((kind for kind, matches in checks if matches), None)


def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (getaddrinfo), in the order to try them."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise SourceError(f"cannot find the host {host} ({exc}); check the address") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def _refuse_non_public(where: str, addresses: Iterable[IPAddress]) -> None:
    for address in addresses:
        if kind := non_public_kind(address):
            article = "an" if kind[0] in "aeiou" else "a"
            raise BlockedAddressError(
                f"{where} resolves to {address}, {article} {kind} address; {_ALLOW_HINT}"
            )


def check_url(url: str, *, allow_private: bool = False, resolver: Resolver = resolve_host) -> str:
    """The normalised URL (no fragment), or SourceError/BlockedAddressError saying why not."""
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError) as exc:
        raise SourceError(f"{url!r} is not a valid web address ({exc})") from exc
    if parsed.scheme not in ("http", "https"):
        raise SourceError(f"{url} is not a web address: only http:// and https:// can be fetched")
    if parsed.userinfo:
        raise SourceError(
            f"{url} contains a user name or password; remove them (Sabio does not send "
            "credentials from URLs)"
        )
    if not parsed.host:
        raise SourceError(f"{url} has no host name; write it as https://example.org/page")
    if not allow_private:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        _refuse_non_public(url, resolver(parsed.raw_host.decode("ascii"), port))
    return str(parsed.copy_with(fragment=None))


# --- the connect-time check inside httpx -----------------------------------------------


class GuardedNetworkBackend(AddressBackend):
    """Resolves the host itself, refuses non-public addresses and connects to the address it
    checked: what is checked is what is connected to. TLS is started afterwards by httpcore
    with ``server_hostname`` set to the URL's host, so certificates are still verified."""

    def __init__(self, *, allow_private: bool = False, resolver: Resolver = resolve_host) -> None:
        super().__init__()
        self._allow_private = allow_private
        self._resolver = resolver

    def addresses(self, host: str, port: int, timeout: float | None) -> list[str]:
        addresses = self._resolver(host, port)
        if not self._allow_private:
            _refuse_non_public(host, addresses)
        return [str(address) for address in addresses]

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("Unix sockets are not fetched")


# --- fetching --------------------------------------------------------------------------


def _megabytes(size: int) -> str:
    return f"{size / 2**20:g} MB"


def _caused_by(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, kind):
            return current
        current = current.__cause__ or current.__context__
    return None


@contextlib.contextmanager
def _as_source_errors(url: str, timeout: float) -> Iterator[None]:
    """httpx's exceptions as SourceError, naming the URL: the one place they are translated."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise SourceError(f"{url} did not answer within {timeout:g} s; try again later") from exc
    except httpx.HTTPError as exc:
        if tls := _caused_by(exc, ssl.SSLError):
            raise SourceError(
                f"the secure connection to {url} failed ({tls}); the site's TLS certificate "
                "is not valid for this address"
            ) from exc
        if isinstance(exc, httpx.ConnectError):
            raise SourceError(f"cannot connect to {url} ({exc}); check the address") from exc
        raise SourceError(f"cannot read {url} ({exc or type(exc).__name__})") from exc


class PageGoneError(SourceError):
    """HTTP 404 or 410: the page is not there (any more)."""


def _status_error(url: str, response: httpx.Response) -> SourceError:
    status = response.status_code
    if status in (401, 403):
        advice = "the page needs a login or does not let Sabio in"
    elif status in (404, 410):
        advice = "the page is not there; check the address"
    elif status == 429:
        advice = "the site asks to slow down; try again later"
    elif status >= 500:
        advice = "the server failed; try again later"
    else:
        advice = "the server refused the request"
    kind = PageGoneError if status in (404, 410) else SourceError
    return kind(f"{url} answered HTTP {status} {response.reason_phrase}: {advice}")


class Fetcher:
    """Fetches web addresses one at a time: http(s) only, public addresses only unless
    ``allow_private``, at most ``max_bytes`` per response, no cookies kept, no proxy taken
    from the environment. ``timeout`` bounds each wait for the server, ``deadline`` a whole
    fetch, redirects and body included: a page that trickles a byte at a time fails when
    the deadline passes. Use it as a context manager, or call :meth:`close`."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        timeout: float = 20.0,
        deadline: float = 60.0,
        max_bytes: int = 20 * 2**20,
        resolver: Resolver = resolve_host,
    ) -> None:
        self.allow_private = allow_private
        self.timeout = timeout
        self.deadline = deadline
        self.max_bytes = max_bytes
        self._resolver = resolver
        backend = GuardedNetworkBackend(allow_private=allow_private, resolver=resolver)
        no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
        self._client = httpx.Client(
            transport=BackendTransport(backend, httpx.create_ssl_context(trust_env=False)),
            trust_env=False,
            timeout=timeout,
            follow_redirects=False,
            cookies=no_cookies,
            headers={"User-Agent": USER_AGENT},
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, allow_private: bool = False) -> Fetcher:
        return cls(
            allow_private=allow_private,
            deadline=settings.fetch_deadline,
            max_bytes=settings.fetch_max_mb * 2**20,
        )

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def _check(self, url: str) -> str:
        return check_url(url, allow_private=self.allow_private, resolver=self._resolver)

    def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> Fetched:
        """GET ``url``, following up to five redirects (each one checked like ``url``).
        With ``etag``/``last_modified`` the request is conditional: unchanged is status 304."""
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current = self._check(url)
        ends = time.monotonic() + self.deadline
        for _ in range(MAX_REDIRECTS + 1):
            wait = max(0.001, min(self.timeout, ends - time.monotonic()))
            with (
                _as_source_errors(current, wait),
                self._client.stream("GET", current, headers=headers, timeout=wait) as response,
            ):
                location = response.headers.get("location")
                if response.status_code not in _REDIRECTS or not location:
                    return self._read(current, response, etag, last_modified, ends)
                target = urljoin(str(response.url), location)
            current = self._check(target)
        raise SourceError(f"{url} redirects more than {MAX_REDIRECTS} times; use the final address")

    def _read(
        self,
        url: str,
        response: httpx.Response,
        etag: str | None,
        last_modified: str | None,
        ends: float,
    ) -> Fetched:
        status = response.status_code
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if status == 304:
            return Fetched(
                url=str(response.url),
                status=304,
                content=b"",
                content_type=content_type,
                etag=response.headers.get("etag", etag),
                last_modified=response.headers.get("last-modified", last_modified),
            )
        if status >= 300:
            raise _status_error(url, response)
        too_large = SourceError(
            f"{url} is larger than {_megabytes(self.max_bytes)}, the most Sabio fetches "
            "from one address"
        )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise too_large
            if time.monotonic() > ends:
                raise SourceError(
                    f"{url} took longer than {self.deadline:g} s to arrive (the fetch_deadline "
                    "setting); try again later"
                )
            chunks.append(chunk)
        return Fetched(
            url=str(response.url),
            status=status,
            content=b"".join(chunks),
            content_type=content_type,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
        )


# --- feeds and sitemaps ----------------------------------------------------------------


def _gunzip(data: bytes, limit: int, what: str) -> bytes:
    """Decompressed ``data`` up to ``limit`` bytes; SourceError past it or when damaged."""
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = decompressor.decompress(data, limit + 1)
    except zlib.error as exc:
        raise SourceError(f"{what} is not valid gzip ({exc})") from exc
    if len(out) > limit:
        raise SourceError(f"{what} is larger than {_megabytes(limit)} uncompressed")
    if not decompressor.eof:
        raise SourceError(f"{what} is not valid gzip (it is cut short)")
    return out


def _head(data: bytes) -> bytes:
    """The first few KB as ASCII-compatible bytes: gunzipped, UTF-16 made UTF-8."""
    if data.startswith(_GZIP_MAGIC):
        with contextlib.suppress(zlib.error):
            data = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS).decompress(data[:65536], 8192)
    head = data[:8192]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = head.decode("utf-16", "ignore").encode("utf-8")
    return head


def _root_name(data: bytes) -> str:
    """Local name of the first element, lower case ("rss", "urlset"), "" if none is seen."""
    head = _PROLOG_NOISE.sub(b"", _head(data))
    match = re.search(rb"<([A-Za-z_][\w.:-]*)", head)
    return match.group(1).decode("ascii").rsplit(":", 1)[-1].lower() if match else ""


def looks_like_feed(content_type: str, data: bytes) -> bool:
    """Whether a fetched response is an RSS or Atom feed (by its root element, else its type)."""
    root = _root_name(data)
    if root == "rdf":
        return b"purl.org/rss/1.0" in _head(data)
    if root:
        return root in ("rss", "feed")
    return content_type in _FEED_TYPES


def looks_like_sitemap(content_type: str, data: bytes) -> bool:
    """Whether a fetched response is a sitemap or sitemap index (gzipped or not)."""
    return content_type != "text/html" and _root_name(data) in ("urlset", "sitemapindex")


def _refuse_entities(data: bytes, what: str) -> None:
    """Refuse entity declarations before the first element: feeds and sitemaps never need
    them, and they are how entity-expansion ("billion laughs") attacks work."""
    text = data.replace(b"\x00", b"")  # UTF-16 read as bytes
    first = re.search(rb"<[A-Za-z_]", text)
    if b"<!ENTITY" in text[: first.start() if first else len(text)]:
        raise SourceError(
            f"{what} declares XML entities, which it never needs; refused as unsafe "
            "(an entity-expansion attack or a broken file)"
        )


def _iso_date(value: Any) -> str | None:
    if not value:
        return None
    return dt.datetime.fromtimestamp(calendar.timegm(value), dt.UTC).isoformat()


def _web_link(base: str, link: str) -> str | None:
    if not link.strip():
        return None
    absolute = urljoin(base, link.strip())
    return absolute if absolute.startswith(("http://", "https://")) else None


def parse_feed(data: bytes, url: str) -> list[FeedEntry]:
    """The entries of an RSS 0.9x/1.0/2.0 or Atom feed, links absolute against ``url``;
    entries without a web link are dropped."""
    what = f"{url} (a feed)"
    _refuse_entities(data, what)
    parsed = feedparser.parse(io.BytesIO(data), response_headers={"content-location": url})
    if not parsed.get("version") and not parsed.entries:
        raise SourceError(f"{url} is not a valid RSS or Atom feed; check the address")
    entries: list[FeedEntry] = []
    for entry in parsed.entries:
        link = _web_link(url, entry.get("link") or "")
        if link is None:
            continue
        published = entry.get("published_parsed") or entry.get("updated_parsed")
        title = " ".join(str(entry.get("title") or "").split())
        entries.append(FeedEntry(url=link, title=title, published=_iso_date(published)))
    return entries


def _local_name(element: Any) -> str:
    tag = element.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _child_text(element: Any, name: str) -> str | None:
    for child in element:
        if _local_name(child) == name:
            text = (child.text or "").strip()
            return text or None
    return None


def parse_sitemap(data: bytes, url: str) -> Sitemap:
    """A ``<urlset>`` (pages) or ``<sitemapindex>`` (child sitemaps), gzipped or not."""
    what = f"{url} (a sitemap)"
    if data.startswith(_GZIP_MAGIC):
        data = _gunzip(data, MAX_SITEMAP_BYTES, what)
    if len(data) > MAX_SITEMAP_BYTES:
        raise SourceError(f"{what} is larger than {_megabytes(MAX_SITEMAP_BYTES)}")
    _refuse_entities(data, what)
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise SourceError(f"{url} is not a valid sitemap ({exc}); check the address") from exc
    kind = _local_name(root)
    if kind not in ("urlset", "sitemapindex"):
        raise SourceError(
            f"{url} is not a valid sitemap: its root is <{kind}>, not <urlset> or <sitemapindex>"
        )
    pages: list[SitemapPage] = []
    sitemaps: list[str] = []
    for item in root:
        loc = _child_text(item, "loc")
        link = _web_link(url, loc) if loc else None
        if link is None:
            continue
        if kind == "urlset" and _local_name(item) == "url":
            pages.append(SitemapPage(url=link, lastmod=_child_text(item, "lastmod")))
        elif kind == "sitemapindex" and _local_name(item) == "sitemap":
            sitemaps.append(link)
    return Sitemap(pages=pages, sitemaps=sitemaps)

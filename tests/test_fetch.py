"""Fetching from the web against a real local HTTP server serving real pages from
../shared/data/documents/html, with feeds and sitemaps that link to them. The only double is
DNS (an injected resolver), to play a hostile name server; every connection is real."""

from __future__ import annotations

import gzip
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from certificates import self_signed
from web_site import (
    HTML,
    LAST_MODIFIED,
    PAGES,
    Server,
    Site,
    serve_site,
)

from sabio import __version__
from sabio.errors import BlockedAddressError, SourceError
from sabio.fetch import (
    FeedEntry,
    Fetcher,
    GuardedNetworkBackend,
    IPAddress,
    Resolver,
    Sitemap,
    SitemapPage,
    check_url,
    looks_like_feed,
    looks_like_sitemap,
    non_public_kind,
    parse_feed,
    parse_sitemap,
    resolve_host,
)
from sabio.loaders import Blob, load_document

pytestmark = pytest.mark.skipif(
    not all((HTML / page / "source.html").is_file() for page in PAGES),
    reason=f"test pages not found under {HTML} (the shared data checkout)",
)


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with serve_site() as served:
        yield served


def connections_since(site: Site, before: int) -> int:
    """Connections accepted since ``before``, not counting a sentinel request made now: the
    server accepts in order, so once the sentinel is served any earlier one is counted."""
    with Fetcher(allow_private=True) as sentinel:
        sentinel.fetch(f"{site.base}/headers")
    return site.connections - before - 1


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(allow_private=True, timeout=5) as fetcher:
        yield fetcher


# --- fetching --------------------------------------------------------------------------


def test_fetch_a_page_and_load_its_main_text(site: Site, fetcher: Fetcher) -> None:
    fetched = fetcher.fetch(f"{site.base}/pages/bbc-1.html")
    assert fetched.url == f"{site.base}/pages/bbc-1.html"
    assert (fetched.status, fetched.content_type) == (200, "text/html")
    assert fetched.content == (HTML / "bbc-1" / "source.html").read_bytes()
    assert fetched.etag and fetched.last_modified == LAST_MODIFIED
    sentence = 'failure to pass "common sense gun safety laws"'
    expected = (HTML / "bbc-1" / "expected.html").read_text(encoding="utf-8")
    assert sentence in expected.replace("&quot;", '"')
    doc = load_document(Blob(name="page.html", data=fetched.content))
    text = "\n".join(section.text for section in doc.sections)
    assert sentence in text
    assert "Accessibility Help" not in text


def test_conditional_requests_answer_304(site: Site, fetcher: Fetcher) -> None:
    url = f"{site.base}/pages/heise.html"
    first = fetcher.fetch(url)
    again = fetcher.fetch(url, etag=first.etag)
    assert (again.status, again.content, again.etag) == (304, b"", first.etag)
    by_date = fetcher.fetch(url, last_modified=first.last_modified)
    assert (by_date.status, by_date.content, by_date.last_modified) == (304, b"", LAST_MODIFIED)
    changed = fetcher.fetch(url, etag='"stale"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT")
    assert changed.status == 200
    assert changed.content == first.content


def test_redirects_are_followed_up_to_five(site: Site, fetcher: Fetcher) -> None:
    fetched = fetcher.fetch(f"{site.base}/redirect#top")
    assert fetched.url == f"{site.base}/pages/bbc-1.html"
    assert fetched.status == 200
    before = len(site.requests)
    with pytest.raises(SourceError, match="redirects more than 5 times"):
        fetcher.fetch(f"{site.base}/loop")
    assert site.requests[before:] == ["/loop"] * 6


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/nothing-here", r"/nothing-here answered HTTP 404 Not Found: the page is not there"),
        ("/broken", r"/broken answered HTTP 500 Internal Server Error: the server failed"),
    ],
)
def test_http_errors_name_the_url_and_status(
    site: Site, fetcher: Fetcher, path: str, message: str
) -> None:
    with pytest.raises(SourceError, match=message):
        fetcher.fetch(site.base + path)


@pytest.mark.parametrize("path", ["/huge", "/huge-declared"])
def test_responses_over_the_size_limit_are_cut(site: Site, path: str) -> None:
    with (
        Fetcher(allow_private=True, max_bytes=2**20) as fetcher,
        pytest.raises(SourceError, match=rf"{path} is larger than 1 MB"),
    ):
        fetcher.fetch(site.base + path)


def test_timeouts_and_refused_connections(site: Site) -> None:
    with (
        Fetcher(allow_private=True, timeout=0.3) as fetcher,
        pytest.raises(SourceError, match=r"/slow did not answer within 0.3 s"),
    ):
        fetcher.fetch(f"{site.base}/slow")
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, not listening: connections are refused
        with (
            Fetcher(allow_private=True) as fetcher,
            pytest.raises(SourceError, match=rf"cannot connect to http://127.0.0.1:{port}/"),
        ):
            fetcher.fetch(f"http://127.0.0.1:{port}/")


def test_user_agent_no_cookies_no_proxy_from_environment(
    site: Site, fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # would fail if it were used
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    with Fetcher(allow_private=True) as fresh:
        fresh.fetch(f"{site.base}/cookie")
        headers = json.loads(fresh.fetch(f"{site.base}/headers").content)
    assert headers["User-Agent"] == f"Sabio/{__version__}"
    assert "Cookie" not in headers


def test_an_invalid_certificate_is_refused(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = Server(Site())
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with (
            Fetcher(allow_private=True, timeout=5) as fetcher,
            pytest.raises(SourceError, match="TLS certificate is not valid"),
        ):
            fetcher.fetch(f"https://localhost:{server.server_address[1]}/")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# --- no request forgery ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1:{port}/pages/bbc-1.html", "127.0.0.1, a loopback"),
        ("http://localhost:{port}/", "a loopback"),
        ("http://[::1]:{port}/", "::1, a loopback"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254, a link-local"),
        ("http://10.0.0.1/", "10.0.0.1, a private"),
        ("http://2130706433:{port}/", "127.0.0.1, a loopback"),
        ("http://[::ffff:192.168.1.1]/", "a private \\(IPv4 192.168.1.1 inside IPv6\\)"),
        ("https://0.0.0.0:{port}/", "0.0.0.0, an? unspecified"),
    ],
)
def test_non_public_addresses_are_refused_before_connecting(
    site: Site, url: str, address: str
) -> None:
    url = url.format(port=site.port)
    before = site.connections
    with Fetcher() as fetcher, pytest.raises(BlockedAddressError) as refused:
        fetcher.fetch(url)
    message = str(refused.value)
    assert message.startswith(f"{url} resolves to ")
    assert message.endswith(
        "; add the source with --allow-private to fetch addresses on your own network"
    )
    assert refused.match(address)
    assert connections_since(site, before) == 0
    with pytest.raises(BlockedAddressError):
        check_url(url)
    assert check_url(url, allow_private=True) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "only http:// and https://"),
        ("ftp://ftp.example.org/pub/", "only http:// and https://"),
        ("gopher://127.0.0.1:{port}/", "only http:// and https://"),
        ("http://user:secret@127.0.0.1:{port}/", "contains a user name or password"),
        ("http:///no-host", "has no host name"),
        ("http://sabio.invalid/", "cannot find the host sabio.invalid"),
    ],
)
def test_only_plain_web_addresses_are_fetched(site: Site, url: str, message: str) -> None:
    url = url.format(port=site.port)
    before = site.connections
    with Fetcher(allow_private=True) as fetcher, pytest.raises(SourceError, match=message):
        fetcher.fetch(url)
    assert connections_since(site, before) == 0


class PretendPublic(ipaddress.IPv4Address):
    """127.0.0.1 passing for a public address: a hostile name server's answer, which
    lets the tests reach the local server through the default (public-only) checks."""

    __slots__ = ()
    is_private = False
    is_loopback = False
    is_global = True


def resolver(answers: dict[str, Callable[[], list[IPAddress]]]) -> Resolver:
    def resolve(host: str, port: int) -> list[IPAddress]:
        return answers[host]() if host in answers else resolve_host(host, port)

    return resolve


def test_the_connection_itself_is_checked(site: Site) -> None:
    """DNS rebinding: the name resolves to a public address when checked and to a private
    one when connected; the check at connect time refuses it."""
    answers = iter([[PretendPublic("127.0.0.1")], [ipaddress.ip_address("127.0.0.1")]])
    url = f"http://rebind.test:{site.port}/pages/bbc-1.html"
    before = site.connections
    with (
        Fetcher(resolver=resolver({"rebind.test": lambda: next(answers)})) as fetcher,
        pytest.raises(
            BlockedAddressError, match=r"rebind\.test resolves to 127\.0\.0\.1, a loopback"
        ),
    ):
        fetcher.fetch(url)
    assert connections_since(site, before) == 0

    loopback = resolver({"rebind.test": lambda: [ipaddress.ip_address("127.0.0.1")]})
    before = site.connections
    with pytest.raises(BlockedAddressError, match="--allow-private"):
        GuardedNetworkBackend(resolver=loopback).connect_tcp("rebind.test", site.port)
    assert connections_since(site, before) == 0
    before = site.connections
    stream = GuardedNetworkBackend(allow_private=True, resolver=loopback).connect_tcp(
        "rebind.test", site.port, timeout=5
    )
    stream.close()
    assert connections_since(site, before) == 1


def test_a_redirect_to_a_private_address_is_refused(site: Site) -> None:
    public = resolver({"public.test": lambda: [PretendPublic("127.0.0.1")]})
    with Fetcher(resolver=public) as fetcher:
        page = fetcher.fetch(f"http://public.test:{site.port}/redirect")
        assert page.url == f"http://public.test:{site.port}/pages/bbc-1.html"
        before = len(site.requests)
        with pytest.raises(BlockedAddressError, match=r"http://localhost:\d+/pages/bbc-1.html"):
            fetcher.fetch(f"http://public.test:{site.port}/to-localhost")
    assert site.requests[before:] == ["/to-localhost"]


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("172.16.5.4", "private"),
        ("192.168.0.1", "private"),
        ("224.0.0.251", "multicast"),
        ("240.0.0.1", "reserved"),
        ("fe80::1", "link-local"),
        ("fec0::1", "site-local"),
        ("fd00::1", "private"),
        ("ff02::1", "multicast"),
        ("::", "unspecified"),
        ("::ffff:127.0.0.1", "loopback (IPv4 127.0.0.1 inside IPv6)"),
        ("2002:a00:1::", "private (IPv4 10.0.0.1 inside IPv6)"),
        ("64:ff9b::a9fe:a9fe", "link-local (IPv4 169.254.169.254 inside IPv6)"),
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    assert non_public_kind(ipaddress.ip_address(address)) == kind


# --- feeds and sitemaps ----------------------------------------------------------------


def test_rss_and_atom_feeds(site: Site, fetcher: Fetcher) -> None:
    fetched = fetcher.fetch(f"{site.base}/feeds/rss.xml")
    assert looks_like_feed(fetched.content_type, fetched.content)
    assert not looks_like_sitemap(fetched.content_type, fetched.content)
    assert parse_feed(fetched.content, fetched.url) == [
        FeedEntry(
            f"{site.base}/pages/bbc-1.html", "Obama and gun laws", "2025-06-10T09:00:00+00:00"
        ),
        FeedEntry(f"{site.base}/pages/la-nacion.html", "Ocalan & Turquía", None),
        FeedEntry(f"{site.base}/pages/heise.html", "Heise", None),
    ]
    fetched = fetcher.fetch(f"{site.base}/feeds/atom.xml")
    assert fetched.content_type == "application/atom+xml"
    assert looks_like_feed("application/xml", fetched.content)
    assert parse_feed(fetched.content, fetched.url) == [
        FeedEntry(
            f"{site.base}/pages/heise.html", "Passwort-App mit TOTP", "2025-06-10T07:00:00+00:00"
        )
    ]


def test_rss_1_0_is_a_feed() -> None:
    data = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">
  <channel rdf:about="https://example.org/"><title>Ejemplo</title></channel>
  <item rdf:about="https://example.org/a"><title>A</title><link>https://example.org/a</link></item>
</rdf:RDF>"""
    assert looks_like_feed("application/xml", data)
    assert parse_feed(data, "https://example.org/rss") == [
        FeedEntry("https://example.org/a", "A", None)
    ]


def test_sitemaps_and_sitemap_indexes(site: Site, fetcher: Fetcher) -> None:
    index = fetcher.fetch(f"{site.base}/sitemap-index.xml")
    assert looks_like_sitemap(index.content_type, index.content)
    assert not looks_like_feed(index.content_type, index.content)
    parsed = parse_sitemap(index.content, index.url)
    assert parsed == Sitemap(
        pages=[], sitemaps=[f"{site.base}/sitemap.xml", f"{site.base}/sitemap-news.xml.gz"]
    )
    plain = fetcher.fetch(parsed.sitemaps[0])
    assert parse_sitemap(plain.content, plain.url).pages == [
        SitemapPage(f"{site.base}/pages/bbc-1.html", "2025-06-10"),
        SitemapPage(f"{site.base}/pages/la-nacion.html", None),
    ]
    zipped = fetcher.fetch(parsed.sitemaps[1])
    assert zipped.content[:2] == b"\x1f\x8b"
    assert looks_like_sitemap(zipped.content_type, zipped.content)
    assert parse_sitemap(zipped.content, zipped.url) == Sitemap(
        pages=[SitemapPage(f"{site.base}/pages/heise.html", "2025-06-10T09:00:00+02:00")],
        sitemaps=[],
    )
    page = fetcher.fetch(f"{site.base}/pages/la-nacion.html")
    assert not looks_like_feed(page.content_type, page.content)
    assert not looks_like_sitemap(page.content_type, page.content)


@pytest.mark.parametrize(
    "data",
    [
        b"<html><body><p>Hola</p></body></html>",
        b"",
        b"\x00\x01binary",
        b'{"version": "https://jsonfeed.org/version/1.1", "items": []}',
    ],
)
def test_what_is_not_a_feed(data: bytes) -> None:
    assert not looks_like_feed("text/html", data)
    with pytest.raises(SourceError, match="is not a valid RSS or Atom feed"):
        parse_feed(data, "https://example.org/feed")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>',
            "valid sitemap",
        ),
        (b"<html><body>Hola</body></html>", r"its root is <html>, not <urlset>"),
        (b"", "not a valid sitemap"),
        (b"\x1f\x8b\x08\x00broken", "not valid gzip"),
        (gzip.compress(b" " * (50 * 2**20 + 1)), "larger than 50 MB uncompressed"),
    ],
)
def test_what_is_not_a_sitemap(data: bytes, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        parse_sitemap(data, "https://example.org/sitemap.xml")


def billion_laughs(root: str, inner: str) -> bytes:
    entities = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)).replace(
        "&lol0;", "lol"
    )
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE {root} [{entities}]>\n'
        f"<{root}>{inner.replace('LOL', '&lol9;')}</{root}>"
    ).encode()


@pytest.mark.parametrize(
    ("parse", "data"),
    [
        (parse_sitemap, billion_laughs("urlset", "<url><loc>https://e.org/LOL</loc></url>")),
        (parse_feed, billion_laughs("rss", "<channel><title>LOL</title></channel>")),
        (
            parse_sitemap,
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b"<urlset><url><loc>https://e.org/&e;</loc></url></urlset>",
        ),
    ],
)
def test_entity_expansion_is_refused_quickly(
    parse: Callable[[bytes, str], object], data: bytes
) -> None:
    start = time.perf_counter()
    with pytest.raises(SourceError, match="declares XML entities"):
        parse(data, "https://example.org/x.xml")
    assert time.perf_counter() - start < 0.5

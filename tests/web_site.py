"""A local web site for the tests of fetching and of web sources: real pages from
../shared/data/documents/html, with an RSS and an Atom feed and sitemaps that link to them,
served by a real HTTP server on loopback with ETag and Last-Modified."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import DATA

HTML = DATA / "documents" / "html"
PAGES = ("bbc-1", "la-nacion", "heise")
LAST_MODIFIED = "Wed, 01 Jan 2025 00:00:00 GMT"
HUGE = 3 * 2**20

# --- the server ------------------------------------------------------------------------


@dataclass
class Site:
    """What the server serves and what it saw: every accepted connection and request."""

    port: int = 0
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # path -> type, body
    redirects: dict[str, str] = field(default_factory=dict)
    connections: int = 0
    requests: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        site = self.server.site
        site.requests.append(self.path)
        if self.path in site.redirects:
            self.send_response(302)
            self.send_header("Location", site.redirects[self.path])
            self.end_headers()
        elif self.path in site.files:
            self.send_file(*site.files[self.path])
        elif self.path == "/huge":  # no Content-Length: the body ends when the server closes
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<p>" + b"a" * HUGE)
        elif self.path == "/huge-declared":
            self.send_response(200)
            self.send_header("Content-Length", str(HUGE))
            self.end_headers()
            self.wfile.write(b"a" * HUGE)
        elif self.path == "/slow":
            time.sleep(1.5)
            self.send_file("text/plain", b"late")
        elif self.path == "/trickle":  # a byte every 0.2 s for 20 s: never too slow per read
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b"a")
                self.wfile.flush()
                time.sleep(0.2)
        elif self.path == "/cookie":
            self.send_response(200)
            self.send_header("Set-Cookie", "session=secret; Path=/")
            self.end_headers()
        elif self.path == "/headers":
            self.send_file("application/json", json.dumps(dict(self.headers.items())).encode())
        elif self.path == "/broken":
            self.send_error(500)
        else:
            self.send_error(404)

    def send_file(self, content_type: str, body: bytes) -> None:
        etag = f'"{hashlib.sha1(body).hexdigest()[:16]}"'
        given = self.headers.get("If-None-Match")  # takes precedence (RFC 9110, 13.2.2)
        if given == etag or (
            given is None and self.headers.get("If-Modified-Since") == LAST_MODIFIED
        ):
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", LAST_MODIFIED)
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, site: Site) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.site = site

    def verify_request(self, request: object, client_address: object) -> bool:
        self.site.connections += 1
        return True

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that hung up early
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def rss(base: str) -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel>
  <title>Noticias</title><link>{base}/</link><description>Portada</description>
  <item>
    <title>  Obama and
      gun laws </title>
    <link>/pages/bbc-1.html</link>
    <pubDate>Tue, 10 Jun 2025 09:00:00 GMT</pubDate>
  </item>
  <item>
    <title>Ocalan &amp; Turquía</title>
    <link>{base}/pages/la-nacion.html</link>
  </item>
  <item><title>Sin enlace</title><guid isPermaLink="false">tag:x,2025:1</guid></item>
  <item><title>Heise</title><guid>{base}/pages/heise.html</guid></item>
</channel></rss>""".encode()


def atom(base: str) -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>heise online</title><id>{base}/</id><updated>2025-06-10T09:00:00+02:00</updated>
  <entry>
    <title>Passwort-App mit TOTP</title><id>tag:heise,2025:1</id>
    <link rel="alternate" type="text/html" href="../pages/heise.html"/>
    <updated>2025-06-10T09:00:00+02:00</updated>
  </entry>
</feed>""".encode()


def urlset(base: str, *pages: tuple[str, str | None]) -> bytes:
    urls = "".join(
        f"<url><loc>{base}{path}</loc>" + (f"<lastmod>{mod}</lastmod>" if mod else "") + "</url>"
        for path, mod in pages
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    ).encode()


def sitemap_index(base: str, *paths: str) -> bytes:
    maps = "".join(f"<sitemap><loc>{base}{path}</loc></sitemap>" for path in paths)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{maps}</sitemapindex>'
    ).encode()


@contextlib.contextmanager
def serve_site() -> Iterator[Site]:
    """A real HTTP server on loopback with real pages, feeds and sitemaps linking them."""
    site = Site()
    server = Server(site)
    site.port = server.server_address[1]
    base = site.base
    for page in PAGES:
        site.files[f"/pages/{page}.html"] = (
            "text/html; charset=utf-8",
            (HTML / page / "source.html").read_bytes(),
        )
    site.files["/feeds/rss.xml"] = ("application/rss+xml", rss(base))
    site.files["/feeds/atom.xml"] = ("application/atom+xml; charset=utf-8", atom(base))
    site.files["/sitemap.xml"] = (
        "application/xml",
        urlset(base, ("/pages/bbc-1.html", "2025-06-10"), ("/pages/la-nacion.html", None)),
    )
    site.files["/sitemap-news.xml.gz"] = (
        "application/gzip",
        gzip.compress(urlset(base, ("/pages/heise.html", "2025-06-10T09:00:00+02:00"))),
    )
    site.files["/sitemap-index.xml"] = (
        "text/xml",
        sitemap_index(base, "/sitemap.xml", "/sitemap-news.xml.gz"),
    )
    site.redirects["/redirect"] = "/pages/bbc-1.html"
    site.redirects["/loop"] = "/loop"
    site.redirects["/to-localhost"] = f"http://localhost:{site.port}/pages/bbc-1.html"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield site
    server.shutdown()
    server.server_close()
    thread.join()

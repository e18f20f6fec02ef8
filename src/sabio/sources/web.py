"""Web sources: one page (``url``), the pages an RSS or Atom feed links to (``feed``), the
pages a sitemap lists (``sitemap``); each synced on a schedule (hourly by default).

Pages are fetched by :class:`~sabio.fetch.Fetcher` (public addresses only unless the
source allows private ones; see :mod:`sabio.fetch` for how that holds against redirects
and DNS rebinding) and read like files: HTML through its main-content extraction, PDFs,
text and Office files through their loaders. Every page is asked for with its last ETag
and Last-Modified, so a page that did not change costs one short request and nothing
else; one that answers with the same bytes is not read again either.

A page that answers 404 or 410 is removed from the knowledge base. Pages that leave a
feed stay (feeds show only their latest entries; the articles still exist); pages that
leave a sitemap are removed (the site no longer lists them).
"""

from __future__ import annotations

import functools
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field

from sabio.config import Settings
from sabio.errors import ConfigError, SourceError
from sabio.ingest import LoadedSource
from sabio.loaders import Blob, is_supported
from sabio.loaders.formats import extension_for
from sabio.review.alerts import ReviewOptions
from sabio.sources import ItemUpdate, Source, SourceSetup
from sabio.sources.kinds import SetupContext, SourceKind, SyncContext, register_source_kind

if TYPE_CHECKING:  # sabio.fetch (feeds, sitemaps) is imported when used, not by `sabio --help`
    from sabio.fetch import Fetched, Fetcher

DEFAULT_INTERVAL_S = 3600.0
MAX_PAGES = 1000
"""Pages a feed or sitemap sync looks at, at most (the first ones listed)."""
MAX_CHILD_SITEMAPS = 50


class WebOptions(ReviewOptions):
    """A web page's, a feed's, a sitemap's and a webhook's options."""

    model_config = ConfigDict(extra="forbid")

    allow_private: bool = Field(
        False, description="Allow addresses on this computer or your own network."
    )


class WebConnector:
    def __init__(self, kind: str) -> None:
        self.kind = kind

    def configure(
        self, setup: SetupContext, location: str, options: WebOptions, password: str | None
    ) -> SourceSetup:
        if password:
            raise ConfigError(f"a {self.kind} source takes no password")
        allow_private = options.allow_private
        from sabio.fetch import check_url

        url = check_url(location.strip(), allow_private=allow_private)
        return SourceSetup(url, {"allow_private": allow_private}, interval_s=DEFAULT_INTERVAL_S)

    def sync(self, run: SyncContext) -> None:
        with fetcher_for(run.settings, run.source) as fetcher:
            self.sync_pages(run, fetcher, self._pages(run, fetcher))

    def _pages(self, run: SyncContext, fetcher: Fetcher) -> dict[str, str]:
        """The pages to look at: URL → title ("" when unknown)."""
        from sabio.fetch import parse_feed, parse_sitemap

        location = run.source.location
        if self.kind == "url":
            return {location: ""}
        run.progress(f"reading the {self.kind}")
        data = fetcher.fetch(location).content
        if self.kind == "feed":
            entries = parse_feed(data, location)
            return {e.url: e.title for e in entries[:MAX_PAGES]}
        sitemap = parse_sitemap(data, location)
        urls = [p.url for p in sitemap.pages]
        for child in sitemap.sitemaps[:MAX_CHILD_SITEMAPS]:
            if len(urls) >= MAX_PAGES:
                break
            urls += [p.url for p in parse_sitemap(fetcher.fetch(child).content, child).pages]
        pages = dict.fromkeys(urls[:MAX_PAGES], "")
        listed_before = [i.key for i in run.items() if i.status != "removed"]
        left = [(key, key) for key in listed_before if key not in pages]
        if left:
            run.remove_documents(left, "no longer in the sitemap")
        return pages

    def sync_pages(self, run: SyncContext, fetcher: Fetcher, pages: dict[str, str]) -> None:
        """Fetch and index ``pages`` (URL → title). When every one of them failed to
        come, the sync fails (and is retried later); else the failures are the items'."""
        fetched = []
        for done, (url, title) in enumerate(pages.items()):
            run.progress(f"fetching {url}", done=done, total=len(pages))
            fetched.append(fetch_page(run, fetcher, url, title))
        run.progress("indexing the pages", done=len(pages), total=len(pages))
        index_pages(run, fetched)


@dataclass(frozen=True, slots=True)
class FetchedPage:
    """A page as :func:`fetch_page` found it: ``fetched``, or the ``error`` that stopped it."""

    url: str
    title: str
    fetched: Fetched | None
    error: SourceError | None = None


def fetcher_for(settings: Settings, source: Source) -> Fetcher:
    from sabio.fetch import Fetcher

    allow_private = bool(source.options.get("allow_private"))
    return Fetcher.from_settings(settings, allow_private=allow_private)


def fetch_page(run: SyncContext, fetcher: Fetcher, url: str, title: str) -> FetchedPage:
    """GET one page, conditionally on what the last sync saw of it; writes nothing, so it
    may run before the writer is taken."""
    item = run.item(url)
    try:
        fetched = fetcher.fetch(
            url,
            etag=item.etag if item else None,
            last_modified=item.last_modified if item else None,
        )
    except SourceError as exc:
        return FetchedPage(url, title, None, exc)
    return FetchedPage(url, title, fetched)


def index_pages(run: SyncContext, pages: list[FetchedPage]) -> None:
    """Record and index what :func:`fetch_page` found: gone pages removed, failures
    recorded, unchanged ones cost nothing, the others are read by readers and indexed.
    When every page failed, the sync fails with the first error."""
    from sabio.fetch import PageGoneError

    failures: list[SourceError] = []
    loaded: list[LoadedSource] = []
    keys: list[str] = []
    extra: list[ItemUpdate] = []
    for page in pages:
        url, fetched = page.url, page.fetched
        if isinstance(page.error, PageGoneError):
            run.remove_documents([(url, url)], str(page.error))
            continue
        if page.error is not None or fetched is None:
            error = page.error or SourceError(f"{url} was not fetched")
            run.record([ItemUpdate(url, "failed", "not_indexed", str(error), page.title)])
            failures.append(error)
            continue
        digest = hashlib.blake2b(fetched.content, digest_size=16).hexdigest()
        doc = run.document(url)
        if fetched.status == 304 or (doc is not None and doc.content_hash == digest):
            run.record(
                [
                    ItemUpdate(
                        url,
                        doc.status if doc else "indexed",
                        "unchanged",
                        doc.error if doc else "",
                        etag=fetched.etag,
                        last_modified=fetched.last_modified,
                    )
                ]
            )
            continue
        loaded.append(_load(url, page.title, fetched, digest))
        keys.append(url)
        extra.append(
            ItemUpdate(url, "", "", etag=fetched.etag, last_modified=fetched.last_modified)
        )
    run.index_loaded(loaded, keys, extra)
    if failures and len(failures) == len(pages):
        raise failures[0]


def _load(url: str, title: str, fetched: Fetched, digest: str) -> LoadedSource:
    """The page, to be loaded by a reader process as a file would be (never here)."""
    blob = Blob(name=_file_name(fetched), data=fetched.content)
    return LoadedSource(url, digest, title, None, metadata={"url": fetched.url}, blob=blob)


def _file_name(fetched: Fetched) -> str:
    """A file name whose extension picks the loader: from the media type, else the URL."""
    path_name = PurePosixPath(urlsplit(fetched.url).path).name or "page"
    extension = extension_for(fetched.content_type) or mimetypes.guess_extension(
        fetched.content_type or ""
    )
    if extension and is_supported(f"x{extension}"):
        return path_name if path_name.lower().endswith(extension) else path_name + extension
    return path_name if is_supported(path_name) else path_name + (extension or ".bin")


for _kind, _summary in (
    ("url", "one web page"),
    ("feed", "the pages an RSS or Atom feed links to"),
    ("sitemap", "the pages a site's sitemap lists"),
):
    register_source_kind(
        SourceKind(
            name=_kind,
            connector=functools.partial(WebConnector, _kind),
            options=WebOptions,
            location="url",
            summary=_summary,
            scheduled=True,
        )
    )

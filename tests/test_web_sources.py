"""Web sources (url, feed, sitemap) and webhooks, against a real local web site serving
real pages (see web_site.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from web_site import HTML, PAGES, Site, serve_site, urlset

from sabio.errors import BlockedAddressError
from sabio.service import Sabio
from sabio.worker import Worker

pytestmark = pytest.mark.skipif(
    not all((HTML / page / "source.html").is_file() for page in PAGES),
    reason=f"test pages not found under {HTML} (the shared data checkout)",
)


@pytest.fixture
def site() -> Iterator[Site]:
    with serve_site() as served:
        yield served


def sync(sabio: Sabio) -> None:
    worker = Worker(sabio, watch=False)
    try:
        worker.run_pending()
    finally:
        worker.stop()


def labels(sabio: Sabio, source_id: int) -> dict[str, tuple[str, str]]:
    return {Path(i.key).name: (i.label, i.reason) for i in sabio.source_items(source_id)}


def test_private_addresses_need_to_be_allowed(sabio: Sabio, site: Site) -> None:
    with pytest.raises(BlockedAddressError, match="--allow-private"):
        sabio.add_source("url", f"{site.base}/pages/bbc-1.html")
    with pytest.raises(BlockedAddressError):
        sabio.add_source("feed", "http://169.254.169.254/latest/meta-data/")
    assert site.requests == []
    assert sabio.list_sources() == []


def test_a_page_is_indexed_then_costs_nothing_while_unchanged(sabio: Sabio, site: Site) -> None:
    source, _ = sabio.add_source(
        "url", f"{site.base}/pages/bbc-1.html", options={"allow_private": True}
    )
    assert source.interval_s == 3600
    sync(sabio)
    assert labels(sabio, source.id) == {"bbc-1.html": ("indexed", "")}
    hits = sabio.search("Obama gun control").hits
    assert hits and hits[0].document == f"{site.base}/pages/bbc-1.html"
    doc = sabio.documents()[0]
    assert doc.metadata["url"] == f"{site.base}/pages/bbc-1.html"

    sabio.sync_source(source.id)
    sync(sabio)
    assert labels(sabio, source.id) == {"bbc-1.html": ("unchanged", "")}
    assert site.requests[-1] == "/pages/bbc-1.html"
    assert sabio.documents()[0].updated_at == doc.updated_at

    # the page changes: read again
    path = "/pages/bbc-1.html"
    kind, body = site.files[path]
    site.files[path] = (kind, body.replace(b"Obama", b"Lincoln"))
    sabio.sync_source(source.id)
    sync(sabio)
    assert labels(sabio, source.id)["bbc-1.html"] == ("indexed", "")
    assert any("Lincoln" in h.text for h in sabio.search("Lincoln gun control").hits)


def test_a_feed_indexes_its_entries(sabio: Sabio, site: Site) -> None:
    source, _ = sabio.add_source(
        "feed", f"{site.base}/feeds/rss.xml", options={"allow_private": True}
    )
    sync(sabio)
    assert labels(sabio, source.id) == {
        "bbc-1.html": ("indexed", ""),
        "la-nacion.html": ("indexed", ""),
        "heise.html": ("indexed", ""),
    }
    titles = {i.title for i in sabio.source_items(source.id)}
    assert "Obama and gun laws" in titles


def test_a_sitemap_follows_the_site(sabio: Sabio, site: Site) -> None:
    source, _ = sabio.add_source(
        "sitemap", f"{site.base}/sitemap-index.xml", options={"allow_private": True}
    )
    sync(sabio)
    assert labels(sabio, source.id) == {
        "bbc-1.html": ("indexed", ""),
        "la-nacion.html": ("indexed", ""),
        "heise.html": ("indexed", ""),
    }
    # a page leaves the sitemap, another one is gone from the site
    site.files["/sitemap.xml"] = ("application/xml", urlset(site.base, ("/pages/bbc-1.html", None)))
    del site.files["/pages/bbc-1.html"]
    sabio.sync_source(source.id)
    sync(sabio)
    after = labels(sabio, source.id)
    assert after["la-nacion.html"] == ("removed", "no longer in the sitemap")
    assert after["bbc-1.html"][0] == "removed" and "HTTP 404" in after["bbc-1.html"][1]
    assert after["heise.html"] == ("unchanged", "")
    assert [Path(d.source).name for d in sabio.documents()] == ["heise.html"]


def test_a_source_that_cannot_be_reached_fails_visibly(sabio: Sabio, site: Site) -> None:
    source, _ = sabio.add_source("url", f"{site.base}/broken", options={"allow_private": True})
    sync(sabio)
    job = sabio.jobs.recent(source.id)[0]
    assert job.status == "queued" and job.attempts == 1  # to be retried later
    assert "HTTP 500" in job.error
    assert "HTTP 500" in sabio.sources.get(source.id).last_error
    assert labels(sabio, source.id)["broken"][0] == "failed"

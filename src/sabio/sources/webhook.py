"""Webhooks: n8n workflows and scripts push documents, texts and URLs into a knowledge base.

Each webhook source has its own token (``sabio_hook_…``, shown once when it is added,
kept as a SHA-256 digest only). ``POST /api/v1/sources/{id}/webhook`` with
``Authorization: Bearer <token>`` takes a multipart upload (files, read and checked as
uploads are), or JSON: ``{"text": …, "title": …}`` or ``{"url": …}``. It answers with
each document's id and status. What was pushed is recorded as the source's items, so
``sabio source list`` explains it like any other source's.

A text is identified by its title (posting the same title again replaces it), or by its
content when it has none; a URL by itself (posting it again fetches it again, costing
nothing when the page did not change).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from sabio.errors import AuthError, ConfigError
from sabio.ingest import LoadedSource
from sabio.loaders import LoadedDocument, Section, normalize_text
from sabio.sources import ItemUpdate, Source, SourceSetup
from sabio.sources.kinds import SetupContext, SourceKind, SyncContext, register_source_kind
from sabio.sources.run import Library, SyncRun
from sabio.sources.web import FetchedPage, WebOptions, fetch_page, fetcher_for, index_pages

TOKEN_PREFIX = "sabio_hook_"
MAX_TEXT_CHARS = 5_000_000


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).hexdigest().encode()


class WebhookConnector:
    def configure(
        self, setup: SetupContext, location: str, options: WebOptions, password: str | None
    ) -> SourceSetup:
        if password:
            raise ConfigError("a webhook takes no password: it is given a token")
        allow_private = options.allow_private
        name = location.strip() or "webhook"
        if not re.fullmatch(r"[\w.-]{1,64}", name):
            raise ConfigError(f"{name!r} is not a webhook name: letters, digits, '-', '_', '.'")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        return SourceSetup(
            name, {"allow_private": allow_private}, secret=token_digest(token), token=token
        )

    def sync(self, run: SyncContext) -> None:
        """Nothing to fetch: a webhook's documents arrive by themselves."""


register_source_kind(
    SourceKind(
        name="webhook",
        connector=WebhookConnector,
        options=WebOptions,
        location="name",
        summary="documents, texts and URLs posted to Sabio with a token",
        fetches=False,
        secret="digest",
    )
)


def check_token(sabio: Library, source: Source, authorization: str | None) -> None:
    """Raise unless ``authorization`` is ``Bearer <this webhook's token>``."""
    scheme, _, token = (authorization or "").partition(" ")
    stored = sabio.sources.secret(source.id) if source.kind == "webhook" else None
    if (
        stored is None
        or scheme.lower() != "bearer"
        or not hmac.compare_digest(token_digest(token.strip()), stored)
    ):
        raise AuthError(
            "this webhook needs its token: send 'Authorization: Bearer sabio_hook_…' (the "
            "token `sabio source add webhook` printed; add the webhook again for a new one)"
        )


def receive_text(sabio: Library, source: Source, text: str, title: str = "") -> ItemUpdate:
    """Index a posted text; its item (with the document id)."""
    text = normalize_text(text)
    if not text:
        raise ConfigError("the text is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise ConfigError(f"the text is over {MAX_TEXT_CHARS:,} characters; send it as a file")
    title = " ".join(title.split())[:200]
    digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
    key = f"text:{title}" if title else f"text:{digest}"
    document = LoadedDocument([Section(text)], title or text[:60], {})
    run = SyncRun(sabio, source, {})
    run.index_loaded([LoadedSource(f"webhook:{source.id}/{key}", digest, title, document)], [key])
    return _item(sabio, source, key)


def fetch_url(sabio: Library, source: Source, url: str) -> FetchedPage:
    """Fetch a posted URL (refused when private, unless the webhook allows it), within the
    fetch deadline; nothing is written, so the server does it before taking its writer."""
    from sabio.fetch import check_url

    with fetcher_for(sabio.settings, source) as fetcher:
        page = check_url(url, allow_private=fetcher.allow_private)
        return fetch_page(SyncRun(sabio, source, {}), fetcher, page, "")


def receive_url(sabio: Library, source: Source, page: FetchedPage) -> ItemUpdate:
    """Index a page :func:`fetch_url` fetched."""
    index_pages(SyncRun(sabio, source, {}), [page])
    return _item(sabio, source, page.url)


def record_files(sabio: Library, source: Source, updates: list[ItemUpdate]) -> None:
    """Record uploaded files as the webhook's items."""
    SyncRun(sabio, source, {}).record(updates)


def _item(sabio: Library, source: Source, key: str) -> ItemUpdate:
    item = sabio.sources.item(source.id, key)
    assert item is not None
    return ItemUpdate(key, item.status, item.outcome, item.reason, item.title, item.document_id)

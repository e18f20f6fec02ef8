"""Sources: folders, mailboxes, web pages and webhooks that keep a knowledge base current."""

from __future__ import annotations

from typing import Any

from sabio.jobs import Job
from sabio.service.knowledge_bases import KnowledgeBases
from sabio.sources import automation
from sabio.sources.kinds import SetupContext, source_kind
from sabio.store import Source, SourceItem
from sabio.vault import Vault


class Sources(KnowledgeBases):
    """Sources attached to knowledge bases, checked, synced and removed."""

    def add_source(
        self,
        kind: str,
        location: str,
        kb_name: str | None = None,
        *,
        options: dict[str, Any] | None = None,
        password: str | None = None,
        interval_s: float | None = None,
    ) -> tuple[Source, str | None]:
        """Attach a source to ``kb_name`` after checking it (the folder exists, the mailbox
        accepts the password, the address is allowed); its first sync is queued (but for a
        webhook's, whose documents are posted to it). Returns
        the source and, for a webhook, its token (shown this once)."""
        kb = self.kb(kb_name, create_default=True)
        declared = source_kind(kind)
        context = SetupContext(self.settings.home, Vault(self.settings.home).encrypt)
        given = declared.check_options(dict(options or {}))
        setup = declared.connector().configure(context, location, given, password)
        on_new = (options or {}).get(automation.KEY)
        kept = setup.options | ({automation.KEY: automation.check_on_new(on_new)} if on_new else {})
        reviewing = given.model_dump(mode="json", include={"review", "review_webhook"})
        kept |= {k: v for k, v in reviewing.items() if v}
        source = self.sources.add(
            kb,
            kind,
            setup.location,
            options=kept,
            secret=setup.secret,
            interval_s=interval_s if interval_s is not None else setup.interval_s,
        )
        if declared.fetches:
            self.jobs.enqueue_sync(source.id)
        return source, setup.token

    def source_password(self, source_id: int) -> str:
        """A source's password, decrypted ("" when it has none)."""
        token = self.sources.secret(source_id)
        return Vault(self.settings.home).decrypt(token) if token else ""

    def list_sources(self, kb_name: str | None = None) -> list[Source]:
        kb_id = self.store.get_kb(kb_name).id if kb_name else None
        return self.sources.find(kb_id)

    def source_items(self, source_id: int) -> list[SourceItem]:
        self.sources.get(source_id)
        return self.sources.items(source_id)

    def sync_source(self, source_id: int) -> Job:
        """Queue a full sync now (``sabio serve`` or ``sabio worker`` runs it)."""
        self.sources.get(source_id)
        return self.jobs.enqueue_sync(source_id)

    def remove_source(self, source_id: int, *, keep_documents: bool = False) -> Source:
        """Detach a source and, unless ``keep_documents``, forget the documents it brought."""
        source = self.sources.get(source_id)
        doc_ids = {i.document_id for i in self.sources.items(source_id) if i.document_id}
        kb = self.store.get_kb(source.kb_name)
        existing = {d.id for d in self.store.list_documents(kb.id)}
        self.sources.remove(source_id)
        if not keep_documents and doc_ids & existing:
            self.store.delete_documents(kb, sorted(doc_ids & existing))
            self.store.erase_deleted()
        return source

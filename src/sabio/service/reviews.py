"""The security review of a knowledge base (:mod:`sabio.review`): reviews, alerts,
dismissed findings, dropped secrets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from sabio.errors import ConfigError, ModelError, NotFoundError
from sabio.review import Report, review_kb
from sabio.review.alerts import highest, post_webhook, webhook_payload
from sabio.review.drop import drop_secret
from sabio.review.evidence import Evidence, finding_evidence
from sabio.review.findings import MESSAGES as FINDING_KINDS
from sabio.review.summary import FindingsSummary, counted_summary, summarize_findings
from sabio.service.knowledge_bases import KnowledgeBases
from sabio.store import Dismissal, KnowledgeBase, ReviewAlert, Source


class Reviews(KnowledgeBases):
    """The security review and what a person does with its findings."""

    def review(self, kb_name: str | None = None) -> Report:
        """The security review of a knowledge base's stored documents (:mod:`sabio.review`),
        the findings a person dismissed set apart."""
        return review_kb(self.store, self.kb(kb_name))

    def review_arrived(self, source: Source, document_ids: Sequence[int]) -> list[ReviewAlert]:
        """Review the documents a sync of ``source`` just added or changed: an alert for
        each with findings (those dismissed set apart), posted to the source's
        ``review_webhook`` too when it has one (:mod:`sabio.review.alerts`)."""
        kb = self.store.get_kb(source.kb_name)
        alerts, reports = self._alert_findings(kb, document_ids)
        if reports and (url := source.options.get("review_webhook")):
            post_webhook(str(url), webhook_payload(kb.name, source.describe(), reports))
        return alerts

    def review_uploaded(self, kb_name: str, sources: Sequence[str]) -> list[ReviewAlert]:
        """Review files just uploaded into the knowledge base (their sources), when its
        review is on (``kb.review``): an alert for each with findings, as for a source."""
        kb = self.kb(kb_name)
        if not kb.review:
            return []
        found = (self.store.find_document(kb.id, source) for source in sources)
        return self._alert_findings(kb, [d.id for d in found if d is not None])[0]

    def set_review(self, kb_name: str, review: bool) -> KnowledgeBase:
        """Review the files uploaded into ``kb_name`` as they arrive (or stop)."""
        kb = self.store.get_kb(kb_name)
        self.store.set_kb_review(kb.id, review)
        return replace(kb, review=review)

    def _alert_findings(
        self, kb: KnowledgeBase, document_ids: Sequence[int]
    ) -> tuple[list[ReviewAlert], list[tuple[str, Report]]]:
        alerts, reports = [], []
        for document_id in document_ids:
            report = review_kb(self.store, kb, document_id)
            if report.findings:
                document = report.findings[0].document
                severity = highest(report).value
                alerts.append(
                    self.store.reviews.add_alert(kb.id, document, dict(report.counts()), severity)
                )
                reports.append((Path(document).name, report))
        return alerts, reports

    def summarize_review(
        self, report: Report, language: str = "en", model: str | None = None
    ) -> FindingsSummary:
        """A summary of a review's findings, by the chat model when what it writes keeps
        to the findings, else counted (:mod:`sabio.review.summary`)."""
        try:
            chat = self.chat_model(model) if report.findings else None
        except (ModelError, NotFoundError) as exc:
            return FindingsSummary(counted_summary(report, language), refused=[f"no model: {exc}"])
        return summarize_findings(report, language, chat)

    def review_alerts(self, kb_name: str, *, unseen: bool = False) -> list[ReviewAlert]:
        return self.store.reviews.alerts(self.kb(kb_name).id, unseen=unseen)

    def unseen_alerts(self, kb_id: int) -> int:
        return len(self.store.reviews.alerts(kb_id, unseen=True))

    def alerts_seen(self, kb_name: str) -> int:
        return self.store.reviews.mark_seen(self.kb(kb_name).id)

    def dismiss_value(
        self, kb_name: str, fingerprint: str, *, reason: str = "", restore: bool = False
    ) -> int:
        """Dismiss (or ``restore``) every finding of the knowledge base with that
        fingerprint, the same value wherever it was found (your company's own IBAN); how
        many findings that was."""
        kb = self.kb(kb_name)
        report = self.review(kb_name)
        found = report.dismissed if restore else report.findings
        chosen = [f for f in found if f.fingerprint == fingerprint]
        for f in chosen:
            if restore:
                self.store.reviews.restore(kb.id, f.document, f.kind, f.fingerprint)
            else:
                self.store.reviews.dismiss(kb.id, f.document, f.kind, f.fingerprint, reason=reason)
        return len(chosen)

    def drop_secret(self, kb_name: str, fingerprint: str) -> list[str]:
        """Drop a found secret from the index: masked in the stored passages of every
        document of the knowledge base that holds it, those passages embedded again; the
        original files are not touched (:mod:`sabio.review.drop`). The documents changed."""
        kb = self.kb(kb_name)
        report = review_kb(self.store, kb)
        return drop_secret(self.store, kb, report, fingerprint, self.kb_embedder(kb).embed)

    def finding_evidence(
        self, kb_name: str, document_id: int, kind: str, fingerprint: str, start: int
    ) -> Evidence:
        """A finding of a document in its place, the values masked, for the source panel
        (:mod:`sabio.review.evidence`)."""
        kb = self.kb(kb_name)
        self.store.get_document(kb.id, document_id)  # a NotFoundError for another's
        return finding_evidence(self.store, kb, document_id, kind, fingerprint, start)

    def dismiss_finding(
        self,
        kb_name: str,
        document_id: int,
        kind: str,
        fingerprint: str,
        *,
        reason: str = "",
        by: str = "",
        restore: bool = False,
    ) -> Dismissal | None:
        """Dismiss a finding of a document (a false positive: it stays dismissed through
        new reviews and re-indexing), or ``restore`` it (None then)."""
        kb = self.kb(kb_name)
        doc = self.store.get_document(kb.id, document_id)
        if kind not in FINDING_KINDS:
            raise ConfigError(
                f"no finding of kind {kind!r}; the kinds are those a review lists",
                key="finding_kind",
            )
        if restore:
            self.store.reviews.restore(kb.id, doc.source, kind, fingerprint)
            return None
        return self.store.reviews.dismiss(
            kb.id, doc.source, kind, fingerprint, reason=reason, by=by
        )

"""The security review of a knowledge base, under ``/api/v1/kbs/{name}/review``
(:mod:`sabio.review`): each finding with its place and explanation (secrets and
identifiers masked, as in every output), the findings dismissed as false positives
(kept dismissed), and the alerts of what a source's review on arrival found."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from sabio.review import Finding
from sabio.server.api import ERRORS, ServicesDep
from sabio.server.links import API_PREFIX
from sabio.store import Dismissal, ReviewAlert

router = APIRouter(
    prefix=f"{API_PREFIX}/kbs/{{name}}/review", tags=["knowledge bases"], responses=ERRORS
)
Language = Literal["en", "es"]


class FindingOut(BaseModel):
    category: str
    kind: str
    severity: str
    evidence: str
    """Masked for secrets and identifiers (the first characters and ``****``)."""
    fingerprint: str
    document: str
    name: str = Field(description="The document's file name.")
    document_id: int | None = Field(description="The document, for dismissing a finding.")
    page: int | None
    line: int
    start: int
    end: int
    details: dict[str, str]
    explanation: str


class FailedOut(BaseModel):
    document: str
    reason: str


class ReviewOut(BaseModel):
    documents: int
    counts: dict[str, int]
    findings: list[FindingOut]
    dismissed: list[FindingOut] = Field(description="Findings dismissed as false positives.")
    failed: list[FailedOut]


class DismissIn(BaseModel):
    document_id: int
    kind: str
    fingerprint: str
    reason: str = Field("", max_length=500, description="Why it is not a problem.")


class DismissalOut(BaseModel):
    document: str
    kind: str
    fingerprint: str
    reason: str
    dismissed_by: str
    created_at: float


class AlertOut(BaseModel):
    id: int
    name: str = Field(description="The document's file name.")
    counts: dict[str, int]
    severity: str
    created_at: float
    seen: bool


@router.get("", summary="Secrets, personal data, phishing and attacks in a knowledge base")
def review(name: str, services: ServicesDep, language: Language = "en") -> ReviewOut:
    reader = services.reader
    report = reader.review(name)
    ids = {d.source: d.id for d in reader.documents(name)}

    def out(finding: Finding) -> FindingOut:
        found = finding.as_json(language)
        return FindingOut(
            **found, name=Path(finding.document).name, document_id=ids.get(finding.document)
        )

    return ReviewOut(
        documents=report.documents,
        counts=dict(report.counts()),
        findings=[out(f) for f in report.findings],
        dismissed=[out(f) for f in report.dismissed],
        failed=[FailedOut(document=d, reason=r) for d, r in report.failed],
    )


@router.post("/dismissals", summary="Dismiss a finding (a false positive)", status_code=201)
def dismiss(name: str, body: DismissIn, services: ServicesDep) -> DismissalOut:
    """The finding stays dismissed through later reviews and re-indexing (of the same
    document, kind and value)."""
    with services.writing() as writer:
        found = writer.dismiss_finding(
            name, body.document_id, body.kind, body.fingerprint, reason=body.reason
        )
    assert found is not None
    return _dismissal_out(found)


@router.delete("/dismissals", summary="Restore a dismissed finding", status_code=204)
def restore(
    name: str, document_id: int, kind: str, fingerprint: str, services: ServicesDep
) -> Response:
    with services.writing() as writer:
        writer.dismiss_finding(name, document_id, kind, fingerprint, restore=True)
    return Response(status_code=204)


class EvidenceOut(BaseModel):
    name: str = Field(description="The document's file name.")
    document_id: int
    kind: str
    category: str
    page: int | None
    line: int
    before: str = Field(description="The lines before the evidence, on its page.")
    text: str = Field(description="The evidence: masked for secrets and identifiers.")
    after: str
    masked: bool


@router.get("/evidence", summary="A finding's evidence in its place, for the source panel")
def evidence(
    name: str,
    document_id: int,
    kind: str,
    fingerprint: str,
    services: ServicesDep,
    start: int = 0,
) -> EvidenceOut:
    """The lines around the finding (the one nearest ``start``) on its page; every secret
    and identifier in them is masked at its length."""
    found = services.reader.finding_evidence(name, document_id, kind, fingerprint, start)
    f = found.finding
    return EvidenceOut(
        name=Path(f.document).name,
        document_id=document_id,
        kind=f.kind,
        category=f.category.value,
        page=f.page,
        line=f.line,
        before=found.before,
        text=found.text,
        after=found.after,
        masked=found.masked,
    )


class DropIn(BaseModel):
    fingerprint: str = Field(max_length=64, description="A secret finding's fingerprint.")


class DropOut(BaseModel):
    documents: list[str] = Field(description="The file names of the documents changed.")


@router.post("/drops", summary="Drop a found secret from the index")
def drop(name: str, body: DropIn, services: ServicesDep) -> DropOut:
    """The secret is masked in the stored passages of every document that holds it and
    those passages are embedded again: searches no longer find it. The original files
    are not touched."""
    with services.writing() as writer:
        changed = writer.drop_secret(name, body.fingerprint)
    return DropOut(documents=[Path(d).name for d in changed])


class SummaryOut(BaseModel):
    text: str
    model: str = Field(description="The chat model that wrote it; '' when counted.")
    refused: list[str] = Field(description="Why the model's summary was not used.")


@router.get("/summary", summary="The findings summarised, never added to")
def summarize(
    name: str, services: ServicesDep, language: Language = "en", model: str | None = None
) -> SummaryOut:
    """By the chat model, shown only the findings (masked), when every finding, document
    and value it mentions is one of them; else counted from the findings."""
    reader = services.reader
    done = reader.summarize_review(reader.review(name), language, model)
    return SummaryOut(text=done.text, model=done.model, refused=done.refused)


@router.get("/alerts", summary="What reviews on arrival found, latest first")
def alerts(name: str, services: ServicesDep, unseen: bool = False) -> list[AlertOut]:
    return [_alert_out(a) for a in services.reader.review_alerts(name, unseen=unseen)]


@router.post("/alerts/seen", summary="Mark every alert of the knowledge base seen")
def alerts_seen(name: str, services: ServicesDep) -> dict[str, int]:
    with services.writing() as writer:
        return {"seen": writer.alerts_seen(name)}


def _dismissal_out(d: Dismissal) -> DismissalOut:
    return DismissalOut(
        document=Path(d.document).name,
        kind=d.kind,
        fingerprint=d.fingerprint,
        reason=d.reason,
        dismissed_by=d.dismissed_by,
        created_at=d.created_at,
    )


def _alert_out(a: ReviewAlert) -> AlertOut:
    return AlertOut(
        id=a.id,
        name=Path(a.document).name,
        counts=a.counts,
        severity=a.severity,
        created_at=a.created_at,
        seen=a.seen,
    )

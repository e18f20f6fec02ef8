"""The security review of a knowledge base, under ``/api/v1/kbs/{name}/review``
(:mod:`sabio.review`): each finding with its place and explanation; secrets and
identifiers masked, as in every output."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from sabio.server.api import ERRORS, ServicesDep
from sabio.server.links import API_PREFIX

router = APIRouter(
    prefix=f"{API_PREFIX}/kbs/{{name}}/review", tags=["knowledge bases"], responses=ERRORS
)


class FindingOut(BaseModel):
    category: str
    kind: str
    severity: str
    evidence: str
    """Masked for secrets and identifiers (the first characters and ``****``)."""
    fingerprint: str
    document: str
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
    failed: list[FailedOut]


@router.get("", summary="Secrets, personal data, phishing and attacks in a knowledge base")
def review(name: str, services: ServicesDep, language: Literal["en", "es"] = "en") -> ReviewOut:
    report = services.reader.review(name)
    return ReviewOut(
        documents=report.documents,
        counts=dict(report.counts()),
        findings=[FindingOut(**f.as_json(language)) for f in report.findings],
        failed=[FailedOut(document=d, reason=r) for d, r in report.failed],
    )

"""A review on arrival: what a source's new or changed documents hold, as alerts for
the web app and, when the source names one, a webhook's JSON (for n8n).

A source with the ``review`` option has each document a sync added or changed reviewed
(:func:`sabio.review.review_kb` on that document), and each one with findings becomes an
alert (``Store.reviews``): its counts by kind and its highest severity, until someone
has seen it. ``review_webhook`` is posted the same, with the findings (masked, as in
every output) and their explanations; it is a host the user configured, reached as the
model servers are (:func:`sabio.connections.model_client`: no proxy from the
environment), and a webhook that fails is logged, never a failed sync.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from pydantic import BaseModel, Field, HttpUrl

from sabio.connections import model_client
from sabio.review.findings import Severity
from sabio.review.scan import Report

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT = 10.0


class ReviewOptions(BaseModel):
    """The options every kind of source has for reviewing what arrives."""

    review: bool = Field(
        False,
        description="Review every new or changed document for secrets, personal data and "
        "phishing as it arrives (an alert in the web app).",
    )
    review_webhook: HttpUrl | None = Field(
        None,
        description="Post what each review found (masked) to this address, e.g. an n8n webhook.",
    )


def highest(report: Report) -> Severity:
    """The most severe of a report's findings (it has some)."""
    return min((f.severity for f in report.findings), key=lambda s: s.rank)


def webhook_payload(
    kb_name: str, source: str, reports: list[tuple[str, Report]], language: str = "en"
) -> dict[str, Any]:
    """The JSON posted for one sync's reviews: each document (its file name) with its
    counts, severity and findings; the findings' evidence masked as everywhere."""
    return {
        "event": "review.findings",
        "kb": kb_name,
        "source": source,
        "documents": [
            {
                "document": name,
                "severity": highest(report).value,
                "counts": dict(report.counts()),
                "findings": [
                    {k: v for k, v in f.as_json(language).items() if k != "document"}
                    for f in report.findings
                ],
            }
            for name, report in reports
        ],
    }


def post_webhook(url: str, payload: dict[str, Any]) -> str:
    """POST ``payload`` to ``url``; "" when it was taken (2xx), else why not (logged)."""
    try:
        with model_client(timeout=WEBHOOK_TIMEOUT) as client:
            response = client.post(url, json=payload)
    except httpx.HTTPError as exc:
        problem = f"the review webhook {url} could not be reached ({type(exc).__name__})"
    else:
        if response.is_success:
            return ""
        problem = f"the review webhook {url} answered {response.status_code}"
    log.warning("%s", problem)
    return problem

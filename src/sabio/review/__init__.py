"""The security review: what in the documents Sabio reads is dangerous to keep or to
trust. Deterministic detectors only (no model): secrets (:mod:`.secrets`), personal data
(:mod:`.identifiers`), phishing and fraud signs in mail (:mod:`.phishing`), run over a
folder or a knowledge base by :mod:`.scan`; every finding (:mod:`.findings`) is placed,
explained in English or Spanish and masked."""

from sabio.review.findings import Category, Finding, Severity, explain, mask
from sabio.review.scan import Report, review_kb, review_paths, review_text

__all__ = [
    "Category",
    "Finding",
    "Report",
    "Severity",
    "explain",
    "mask",
    "review_kb",
    "review_paths",
    "review_text",
]

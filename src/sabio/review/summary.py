"""A summary of a review's findings, in English or Spanish.

A chat model may write it, but never adds a finding: its prompt holds only the
detectors' findings (masked, each with an identifier, ``F1``…), and what it writes is
checked (:func:`check_summary`): every identifier it cites must be one of the list, every
document it names one with findings, every masked value one of the findings'. A summary
that fails the check, or no model, gives the deterministic summary instead
(:func:`counted_summary`: counts by severity and kind, the documents with most), and says
why.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sabio.errors import ModelError, NotFoundError
from sabio.loaders import is_supported
from sabio.models import ChatModel, ChatOptions, Message
from sabio.prompt_files import prompt_text
from sabio.review.findings import Finding
from sabio.review.scan import Report

LISTED = 60
"""Findings given to the model at most, highest severity first (the rest are counted)."""
SENTENCES = 6
_CITED = re.compile(r"\bF(\d+)\b")
_FILE_NAME = re.compile(r"[\w][\w.-]*\.[A-Za-z0-9]{2,5}\b")
_MASKED = re.compile(r"\S*\*{4}")

_TEXTS = {
    "none": (
        "Nothing found in {documents} documents.",
        "Nada encontrado en {documents} documentos.",
    ),
    "counts": (
        "{n} findings in {with_findings} of {documents} documents: {high} high, {medium} "
        "medium, {low} low.",
        "{n} hallazgos en {with_findings} de {documents} documentos: {high} altos, {medium} "
        "medios, {low} bajos.",
    ),
    "kinds": ("By kind: {kinds}.", "Por tipo: {kinds}."),
    "most": ("Most in: {documents}.", "Donde más: {documents}."),
    "high_first": ("Start with: {items}.", "Empieza por: {items}."),
}


@dataclass(frozen=True, slots=True)
class FindingsSummary:
    text: str
    model: str = ""
    """The chat model that wrote it; "" for the deterministic summary."""
    refused: list[str] = field(default_factory=list)
    """Why a model's summary was not used (then ``text`` is the deterministic one)."""


def _t(key: str, language: str, **values: object) -> str:
    en, es = _TEXTS[key]
    return (es if language == "es" else en).format(**values)


def listed(report: Report) -> list[Finding]:
    """The findings the model is shown, ``F1`` first: highest severity, then by place."""
    ranked = sorted(report.findings, key=lambda f: (f.severity.rank, f.document, f.start))
    return ranked[:LISTED]


def findings_block(findings: list[Finding], language: str) -> str:
    """One line a finding: identifier, severity, kind, document and line, masked
    evidence, explanation. Nothing else of the documents."""
    return "\n".join(
        f"F{i} · {f.severity.value} · {f.kind} · {Path(f.document).name}, line {f.line} · "
        f"{f.evidence} · {f.explanation(language)}"
        for i, f in enumerate(findings, 1)
    )


def counted_summary(report: Report, language: str) -> str:
    """The deterministic summary: counts by severity and kind, the documents with most
    findings, the high ones first."""
    if not report.findings:
        return _t("none", language, documents=report.documents)
    severities = Counter(f.severity.value for f in report.findings)
    documents = Counter(Path(f.document).name for f in report.findings)
    parts = [
        _t(
            "counts",
            language,
            n=len(report.findings),
            with_findings=len(documents),
            documents=report.documents,
            high=severities["high"],
            medium=severities["medium"],
            low=severities["low"],
        ),
        _t(
            "kinds", language, kinds=", ".join(f"{k} {n}" for k, n in report.counts().most_common())
        ),
        _t(
            "most", language, documents=", ".join(f"{d} ({n})" for d, n in documents.most_common(3))
        ),
    ]
    high = [f for f in listed(report) if f.severity.value == "high"][:3]
    if high:
        items = "; ".join(f"{f.kind} {f.evidence} ({Path(f.document).name})" for f in high)
        parts.append(_t("high_first", language, items=items))
    return " ".join(parts)


def check_summary(text: str, findings: list[Finding]) -> list[str]:
    """What in a model's summary is not in the findings it was given: an identifier
    that is none of them, a document without findings, a masked value none of them
    has; a summary that cites no finding at all. Empty when it holds only what was found."""
    problems = []
    cited = {int(n) for n in _CITED.findall(text)}
    if findings and not cited:
        problems.append("it cites no finding")
    problems += [
        f"it cites F{n}, which is not a finding"
        for n in sorted(cited)
        if not 0 < n <= len(findings)
    ]
    names = {Path(f.document).name.lower() for f in findings}
    for name in dict.fromkeys(_FILE_NAME.findall(text)):
        if is_supported(name) and name.lower() not in names:
            problems.append(f"it names {name}, a document without findings")
    values = {f.evidence for f in findings} | {w for f in findings for w in f.evidence.split()}
    problems += [
        f"it shows {v}, a value no finding has"
        for v in dict.fromkeys(_MASKED.findall(text))
        if v.strip("()[].,;:") not in values
    ]
    return problems


def summarize_findings(report: Report, language: str, chat: ChatModel | None) -> FindingsSummary:
    """A summary of ``report`` by ``chat`` when it keeps to the findings (checked), else
    the deterministic one, with why."""
    deterministic = counted_summary(report, language)
    if chat is None or not report.findings:
        return FindingsSummary(deterministic)
    findings = listed(report)
    messages: list[Message] = [
        {
            "role": "system",
            "content": prompt_text("review_summary", language).format(sentences=SENTENCES),
        },
        {"role": "user", "content": findings_block(findings, language)},
    ]
    try:
        text = "".join(chat.stream(messages, ChatOptions(max_tokens=400, temperature=0.1))).strip()
    except (ModelError, NotFoundError) as exc:
        return FindingsSummary(deterministic, refused=[f"the model could not answer: {exc}"])
    problems = check_summary(text, findings)
    if problems:
        return FindingsSummary(deterministic, refused=problems)
    return FindingsSummary(text, model=chat.name)

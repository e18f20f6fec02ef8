"""`sabio review KB|PATH`: the security review (:mod:`sabio.review`) of a knowledge base's
stored documents or of files and folders, as a report or ``--json``. Found secrets and
identifiers are masked in both."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from sabio.review import Finding, Report, Severity, review_paths
from sabio.review.summary import FindingsSummary
from sabio.terminal import JsonOption, default_language, err, in_language, out
from sabio.terminal import print_json as _print_json
from sabio.terminal import service as _sabio

_COLOURS = {Severity.HIGH: "red", Severity.MEDIUM: "yellow", Severity.LOW: "dim"}
_TEXTS = {
    "heading": (
        "Security review of {target}: {documents} documents",
        "Revisión de seguridad de {target}: {documents} documentos",
    ),
    "heading_one": (
        "Security review of {target}: 1 document",
        "Revisión de seguridad de {target}: 1 documento",
    ),
    "none": (
        "Nothing found: no secrets, personal data or phishing signs.",
        "Nada encontrado: ni secretos, ni datos personales, ni señales de phishing.",
    ),
    "summary": (
        "{high} high, {medium} medium, {low} low findings.",
        "{high} hallazgos altos, {medium} medios, {low} bajos.",
    ),
    "line": ("line", "línea"),
    "page": ("page", "página"),
    "more_low": (
        "and {count} low findings ({kinds}): --all lists them",
        "y {count} hallazgos bajos ({kinds}): --all los muestra",
    ),
    "failed": ("could not be read", "no se pudo leer"),
    "dismissed_now": ("{count} findings dismissed.", "{count} hallazgos descartados."),
    "restored": ("{count} findings restored.", "{count} hallazgos recuperados."),
    "dismissed": (
        "{count} dismissed findings not shown (the web app's Security tab restores them).",
        "{count} hallazgos descartados no se muestran (la pestaña Seguridad los recupera).",
    ),
    "dropped": (
        "The secret is masked in the indexed passages of {count} documents: searches no "
        "longer find it. The original files are unchanged: edit or delete them there.",
        "El secreto queda enmascarado en los pasajes indexados de {count} documentos: las "
        "búsquedas ya no lo encuentran. Los archivos originales no cambian: edítalos o "
        "bórralos allí.",
    ),
    "summary_heading": ("Summary", "Resumen"),
    "by_model": (
        "written by {model}, checked against the findings",
        "escrito por {model}, comprobado con los hallazgos",
    ),
    "counted": ("counted from the findings", "contado a partir de los hallazgos"),
    "refused": (
        "The model's summary was not used: {why}.",
        "No se usó el resumen del modelo: {why}.",
    ),
    "high": ("high", "alto"),
    "medium": ("medium", "medio"),
    "low": ("low", "bajo"),
}


def _t(key: str, language: str, **values: object) -> str:
    return in_language(_TEXTS, key, language, **values)


def review(
    ctx: typer.Context,
    target: Annotated[
        str, typer.Argument(help="A knowledge base's name, or files and folders to read.")
    ],
    json_output: JsonOption = False,
    language: Annotated[
        str | None,
        typer.Option("--language", help="en or es (default: SABIO_LANGUAGE, else LANG)."),
    ] = None,
    all_findings: Annotated[
        bool, typer.Option("--all", help="List low findings (e-mails, phones) one by one.")
    ] = False,
    dismiss: Annotated[
        str | None,
        typer.Option(
            help="A knowledge base's findings with this fingerprint (the last column) are "
            "false positives: dismissed for good.",
            show_default=False,
        ),
    ] = None,
    restore: Annotated[
        str | None,
        typer.Option(
            help="Restore the findings dismissed with this fingerprint.", show_default=False
        ),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why, kept with --dismiss.")] = "",
    summary: Annotated[
        bool,
        typer.Option(
            "--summary",
            help="A knowledge base's findings summarised: by the chat model when what it "
            "writes keeps to the findings (checked), else counted.",
        ),
    ] = False,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Chat model for --summary.")
    ] = None,
    drop: Annotated[
        str | None,
        typer.Option(
            help="Drop the secret with this fingerprint from the index: masked in the "
            "knowledge base's passages, which are embedded again (the files are not touched).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Find secrets (keys, passwords), personal data (DNI, NIE, IBAN, cards, phones,
    e-mails) and phishing signs in mail, each with its place and an explanation. What is
    found is masked; nothing is indexed or changed (but what --dismiss keeps and what
    --drop masks)."""
    lang = "es" if (language or default_language()).lower().startswith("es") else "en"
    path = Path(target)
    if path.exists():
        report = review_paths([path])
    else:
        sabio = _sabio(ctx)
        for fingerprint, undo in ((dismiss, False), (restore, True)):
            if fingerprint:
                n = sabio.dismiss_value(target, fingerprint, reason=reason, restore=undo)
                err.print(_t("restored" if undo else "dismissed_now", lang, count=n))
        if drop:
            changed = sabio.drop_secret(target, drop)
            err.print(_t("dropped", lang, count=len(changed)))
        report = sabio.review(target)
    summarised = _sabio(ctx).summarize_review(report, lang, model) if summary else None
    if json_output:
        _print_json(
            {
                "target": target,
                "documents": report.documents,
                "counts": dict(report.counts()),
                "findings": [f.as_json(lang) for f in report.findings],
                "dismissed": [f.as_json(lang) for f in report.dismissed],
                "failed": [{"document": d, "reason": r} for d, r in report.failed],
                **({"summary": asdict(summarised)} if summarised else {}),
            }
        )
        return
    _print_report(target, report, lang, all_findings)
    if summarised:
        _print_summary(summarised, lang)


def _print_summary(summary: FindingsSummary, lang: str) -> None:
    by = _t("by_model", lang, model=summary.model) if summary.model else _t("counted", lang)
    out.print(f"\n[bold]{_t('summary_heading', lang)}[/] [dim]({escape(by)})[/]")
    out.print(escape(summary.text))
    if summary.refused:
        why = "; ".join(summary.refused)
        out.print(f"[dim]{escape(_t('refused', lang, why=why))}[/]")


def _print_report(target: str, report: Report, lang: str, all_findings: bool) -> None:
    heading = "heading_one" if report.documents == 1 else "heading"
    out.print(f"[bold]{escape(_t(heading, lang, target=target, documents=report.documents))}[/]")
    if not report.findings:
        out.print(_t("none", lang))
    for document, findings in report.by_document().items():
        out.print(f"\n[bold]{escape(document)}[/]")
        ranked = sorted(findings, key=lambda f: (f.severity.rank, f.start))
        low = [f for f in ranked if f.severity is Severity.LOW]
        for finding in (
            ranked if all_findings else [f for f in ranked if f.severity is not Severity.LOW]
        ):
            out.print(_finding_line(finding, lang))
        if low and not all_findings:
            kinds = ", ".join(sorted({f.kind for f in low}))
            out.print(f"  [dim]{escape(_t('more_low', lang, count=len(low), kinds=kinds))}[/]")
    for document, reason in report.failed:
        out.print(f"[dim]{escape(document)}: {_t('failed', lang)} ({escape(reason)})[/]")
    if report.dismissed:
        out.print(f"[dim]{escape(_t('dismissed', lang, count=len(report.dismissed)))}[/]")
    by_severity = {s: sum(1 for f in report.findings if f.severity is s) for s in Severity}
    out.print(
        "\n"
        + _t(
            "summary",
            lang,
            high=by_severity[Severity.HIGH],
            medium=by_severity[Severity.MEDIUM],
            low=by_severity[Severity.LOW],
        )
    )


def _finding_line(finding: Finding, lang: str) -> str:
    colour = _COLOURS[finding.severity]
    where = f"{_t('line', lang)} {finding.line}"
    if finding.page is not None:
        where = f"{_t('page', lang)} {finding.page}, {where}"
    return (
        f"  [{colour}]{_t(finding.severity.value, lang)}[/] {finding.kind} · {where} · "
        f"[bold]{escape(finding.evidence)}[/] · [dim]{finding.fingerprint}[/]\n"
        f"      {escape(finding.explanation(lang))}"
    )

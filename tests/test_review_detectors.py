"""The review's later detectors: health terms as personal data, over real loaders and
real documents of the shared corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from sabio.review import review_paths, review_text

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "documents"


def health(text: str) -> list[tuple[str, str, str]]:
    return [
        (text[f.start : f.end], f.details["what"], f.severity.value)
        for f in review_text(text)
        if f.kind == "health"
    ]


@pytest.mark.parametrize(
    ("text", "term", "what"),
    [
        ("Adjunto la historia clínica del paciente.", "historia clínica", "record"),
        ("Entrego la baja medica de Ana el lunes.", "baja medica", "record"),
        ("Parte de baja por incapacidad temporal", "Parte de baja", "record"),
        ("She was diagnosed with\ntype 2 diabetes last year.", "diagnosed with", "record"),
        ("Antecedentes: diabetes mellitus e hipertensión.", "diabetes mellitus", "diagnosis"),
        ("Paciente VIH en seguimiento", "VIH", "diagnosis"),
        ("Tratamiento: sertralina 50 mg cada 24 h", "sertralina", "medication"),
        ("Takes levothyroxine every morning", "levothyroxine", "medication"),
    ],
)
def test_health_terms_in_spanish_and_english(text: str, term: str, what: str) -> None:
    found = health(text)
    assert (term, what, "medium" if what == "record" else "low") in found


@pytest.mark.parametrize(
    "text",
    [
        "El cáncer de la industria: la crisis del sector",  # a figure of speech
        "La vih es una palabra rara; el epoc también",  # acronyms only in capitals
        "El delito ha prescrito y la receta del pastel lleva litio? No.",
        "Informe de alta del cliente en el sistema",
        "Baterías de litio, ibuprofenos no",
    ],
)
def test_ordinary_words_are_not_health_data(text: str) -> None:
    assert health(text) == []


def test_health_findings_are_masked_and_explained(tmp_path: Path) -> None:
    note = tmp_path / "baja.txt"
    note.write_text("Justificante\n\nBaja médica de Luis por lumbalgia; toma ibuprofeno.\n")
    report = review_paths([note])
    found = [f for f in report.findings if f.kind == "health"]
    assert [f.details["what"] for f in found] == ["record", "diagnosis", "medication"]
    assert [f.line for f in found] == [3, 3, 3]
    assert all(f.evidence.endswith("****") and "lumbalgia" not in f.evidence for f in found)
    assert "GDPR" in found[0].explanation("en") and "salud" in found[0].explanation("es")
    assert "diagnóstico" in found[1].explanation("es")


def test_few_health_findings_in_documents_that_are_not_medical() -> None:
    """The shared corpus's news pages, mails and spreadsheets hold none; its medical
    papers and a patient chart do."""
    news = sorted((DATA / "html").glob("*"))[:15] + sorted((DATA / "email").glob("*.eml"))[:15]
    report = review_paths(news)
    assert report.documents >= 20
    assert [f.document for f in report.findings if f.kind == "health"] == []

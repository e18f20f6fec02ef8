"""Health data (a special category of personal data under the GDPR, art. 9) in Spanish
and English: the records that say a document is about someone's health ("historia
clínica", "baja médica", "sick note", "diagnosed with"), and the names of diagnoses and
medications.

The words are chosen so that ordinary documents (news, invoices, mailing lists) rarely
hold them: a disease is reported only in its clinical name ("diabetes mellitus" is, a
"cancer" in a headline is not), and a medication by its active ingredient. Records weigh
medium (a document about a person's health), diagnoses and medications low (counted per
document, as phones and addresses are). Accents are optional; words are whole words. The
term itself is not put in a finding's details: like every evidence, it is masked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from sabio.review.findings import Severity
from sabio.review.secrets import Hit

RECORDS = (
    "historia clínica",
    "historial clínico",
    "historial médico",
    "informe médico",
    "informe clínico",
    "parte médico",
    "baja médica",
    "baja laboral por enfermedad",
    "parte de baja",
    "incapacidad temporal",
    "alta hospitalaria",
    "receta médica",
    "diagnosticado de",
    "diagnosticada de",
    "diagnosticado con",
    "diagnosticada con",
    "diagnóstico principal",
    "antecedentes médicos",
    "antecedentes personales",
    "tratamiento farmacológico",
    "medical record",
    "medical records",
    "medical history",
    "health record",
    "patient record",
    "sick note",
    "sick leave",
    "fit note",
    "discharge summary",
    "diagnosed with",
)
DIAGNOSES = (
    "diabetes mellitus",
    "diabetes tipo 1",
    "diabetes tipo 2",
    "type 1 diabetes",
    "type 2 diabetes",
    "hipertensión arterial",
    "cardiopatía isquémica",
    "insuficiencia cardíaca",
    "insuficiencia renal",
    "EPOC",
    "COPD",
    "VIH",
    "HIV positive",
    "seropositivo",
    "seropositiva",
    "hepatitis B",
    "hepatitis C",
    "tuberculosis",
    "epilepsia",
    "epilepsy",
    "esquizofrenia",
    "schizophrenia",
    "trastorno bipolar",
    "bipolar disorder",
    "depresión mayor",
    "major depressive disorder",
    "trastorno de ansiedad",
    "anxiety disorder",
    "trastorno depresivo",
    "anorexia nerviosa",
    "anorexia nervosa",
    "enfermedad de Alzheimer",
    "Alzheimer's disease",
    "enfermedad de Parkinson",
    "Parkinson's disease",
    "esclerosis múltiple",
    "multiple sclerosis",
    "carcinoma",
    "adenocarcinoma",
    "linfoma",
    "lymphoma",
    "leucemia",
    "leukaemia",
    "leukemia",
    "melanoma",
    "metástasis",
    "quimioterapia",
    "chemotherapy",
    "radioterapia",
    "radiotherapy",
    "fibromialgia",
    "fibromyalgia",
    "hipotiroidismo",
    "hypothyroidism",
    "asma bronquial",
    "lumbalgia",
    "ictus",
)
MEDICATIONS = (
    "paracetamol",
    "ibuprofeno",
    "ibuprofen",
    "omeprazol",
    "omeprazole",
    "metformina",
    "metformin",
    "insulina glargina",
    "insulin glargine",
    "levotiroxina",
    "levothyroxine",
    "atorvastatina",
    "atorvastatin",
    "simvastatina",
    "simvastatin",
    "enalapril",
    "losartán",
    "losartan",
    "amlodipino",
    "amlodipine",
    "sertralina",
    "sertraline",
    "fluoxetina",
    "fluoxetine",
    "escitalopram",
    "paroxetina",
    "paroxetine",
    "lorazepam",
    "diazepam",
    "alprazolam",
    "tramadol",
    "amoxicilina",
    "amoxicillin",
    "azitromicina",
    "azithromycin",
    "metotrexato",
    "methotrexate",
    "prednisona",
    "prednisone",
    "salbutamol",
    "acenocumarol",
    "warfarina",
    "warfarin",
    "lithium carbonate",
    "quetiapina",
    "quetiapine",
    "risperidona",
    "risperidone",
    "olanzapina",
    "olanzapine",
    "metadona",
    "methadone",
)
_ACCENTS = {"a": "[aá]", "e": "[eé]", "i": "[ií]", "o": "[oó]", "u": "[uúü]", "n": "[nñ]"}
_PLAIN = str.maketrans("áéíóúüñ", "aeiouun")


def _pattern(term: str) -> str:
    """``term`` with its accents optional and any space as any run of blanks."""
    parts = []
    for ch in term.lower().translate(_PLAIN):
        if ch == " ":
            parts.append(r"\s+")
        else:
            parts.append(_ACCENTS.get(ch, re.escape(ch)))
    return "".join(parts)


def _alternation(terms: tuple[str, ...]) -> str:
    return "|".join(_pattern(t) for t in sorted(terms, key=len, reverse=True))


_KINDS = (("record", RECORDS), ("diagnosis", DIAGNOSES), ("medication", MEDICATIONS))
_TERMS = (
    r"\b(?:"
    + "|".join(f"(?P<{what}>{_alternation(terms)})" for what, terms in _KINDS)
    + r")(?![\w-])"
)
# Matched in the lower-cased text (eight times faster than ignoring case in the pattern);
# a text whose lower case changes its length (a rare letter) is matched ignoring case.
_HEALTH = re.compile(_TERMS)
_HEALTH_ANY_CASE = re.compile(_TERMS, re.IGNORECASE)
# Acronyms are matched only in capitals (a "vih" or "epoc" in lower case is another word).
_ACRONYMS = frozenset(t for _, terms in _KINDS for t in terms if t.isupper())


def find_health(text: str) -> Iterator[Hit]:
    lowered = text.lower()
    if len(lowered) == len(text):
        matches = _HEALTH.finditer(lowered)
    else:
        matches = _HEALTH_ANY_CASE.finditer(text)
    for match in matches:
        what = match.lastgroup or "record"
        value = text[match.start() : match.end()]
        if value.upper() in _ACRONYMS and not value.isupper():
            continue
        severity = Severity.MEDIUM if what == "record" else Severity.LOW
        yield Hit("health", severity, match.start(), match.end(), value, {"what": what})

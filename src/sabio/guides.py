"""A knowledge base's instructions and style in the prompt of every answer it gives.

The guide (:class:`~sabio.store.guides.Guide`: a system instruction, a glossary, example
question → answer pairs) goes into the system message of every answer the model writes
over the knowledge base, whichever interface asked (the CLI, the REST API, the web app,
the Ollama and OpenAI APIs' ``kb/NAME`` models). It may take at most :data:`GUIDE_SHARE`
of the prompt's budget: past that, examples are left out (the last first), then glossary
entries, and the answer says so; the passages take what is left, and when they do not
all fit the answer says that the guide took part of the room. Extractive answers quote
the documents, which no instruction may change: they honour the glossary where quoting
can (:func:`glossary_query`: a question in a preferred wording is searched for by its
term; :func:`quoting_notes`: the preferred wording of each term quoted is said) and
say that the instruction and examples need a model that writes. ``sabio kb publish``
makes an Ollama model whose system prompt is the guide alone (the style without retrieval
or citations).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sabio.store.guides import Guide

GUIDE_SHARE = 0.3
"""Most of the prompt budget (context less the answer's room) a guide may take."""
_HEADINGS = {
    "en": ("Instructions for this knowledge base (follow them; the rules above still hold):",
           "Glossary (use these wordings):", "Examples of good answers:", "Question", "Answer"),
    "es": ("Instrucciones de esta base de conocimiento (síguelas; las reglas de arriba siguen "
           "valiendo):", "Glosario (usa estas formas de decirlo):",
           "Ejemplos de buenas respuestas:", "Pregunta", "Respuesta"),
}  # fmt: skip


_ALONE = {"en": "Instructions (follow them):", "es": "Instrucciones (síguelas):"}
_LEFT_OUT = {
    "en": ("{n} examples", "{n} glossary entries", "the instruction"),
    "es": ("{n} ejemplos", "{n} entradas del glosario", "la instrucción"),
}


def guide_text(guide: Guide, language: str, *, alone: bool = False) -> str:
    """The guide as the system message shows it, in ``language``; "" for none.
    ``alone``: as the whole system prompt of a model of its own (``sabio kb publish``)."""
    if not guide:
        return ""
    lead, terms, examples, asked, answered = _HEADINGS.get(language, _HEADINGS["en"])
    if alone:
        lead = _ALONE.get(language, _ALONE["en"])
    parts = []
    if guide.instruction:
        parts.append(f"{lead}\n{guide.instruction}")
    if guide.glossary:
        parts.append(terms + "\n" + "\n".join(f"- {t}: {w}" for t, w in guide.glossary))
    if guide.examples:
        pairs = (f"{asked}: {q}\n{answered}: {a}" for q, a in guide.examples)
        parts.append(examples + "\n" + "\n\n".join(pairs))
    return "\n\n".join(parts) + "\n\n"


def fit_guide(
    guide: Guide, language: str, room: int, count: Callable[[str], int]
) -> tuple[str, int, list[str]]:
    """The guide's text within ``room`` tokens (``count`` counts them), its cost, and
    what was left out to fit ("2 examples", "5 glossary entries"; in ``language``)."""
    examples, glossary = list(guide.examples), list(guide.glossary)
    text = guide_text(guide, language)
    while count(text) > room and (examples or glossary):
        if examples:
            examples.pop()
        else:
            glossary.pop()
        text = guide_text(Guide(guide.instruction, tuple(glossary), tuple(examples)), language)
    said = _LEFT_OUT["es" if language == "es" else "en"]
    left_out = []
    if len(examples) < len(guide.examples):
        left_out.append(said[0].format(n=len(guide.examples) - len(examples)))
    if len(glossary) < len(guide.glossary):
        left_out.append(said[1].format(n=len(guide.glossary) - len(glossary)))
    if count(text) > room:  # the instruction alone is too long for this model
        left_out.append(said[2])
        text = ""
    return text, count(text) if text else 0, left_out


_QUOTING = {
    "en": ("in this knowledge base, “{term}” is said “{wording}” (its glossary)",
           "the knowledge base's instruction and examples are not followed: this answer quotes "
           "your documents as they are (the generative answer style follows them)"),
    "es": ("en esta base de conocimiento, «{term}» se dice «{wording}» (su glosario)",
           "no se siguen la instrucción ni los ejemplos de la base: esta respuesta cita tus "
           "documentos tal cual (el estilo de respuesta generativo los sigue)"),
}  # fmt: skip


def _says(text: str, words: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(words.casefold())}(?!\w)", text.casefold()) is not None


def glossary_query(query: str, guide: Guide) -> str:
    """``query`` with each preferred wording of the glossary it uses replaced by its term,
    so a question in the knowledge base's wording ("¿Cuál es el plazo de preaviso?") is
    searched and quoted for in the documents' ("¿Cuál es el notice period?"): the
    wording's words, absent from the documents, would otherwise weigh against every
    passage. (Not the other way: a question in the documents' terms is left as it is.)"""
    for term, wording in guide.glossary:
        if not _says(query, term):
            said = re.compile(rf"(?<!\w){re.escape(wording)}(?!\w)", re.IGNORECASE)
            query = said.sub(term.replace("\\", "\\\\"), query)
    return query


def quoting_notes(guide: Guide, quoted: str, language: str) -> list[str]:
    """What an answer that quotes (``quoted``: its text) says of the guide it cannot
    apply: each glossary term in the quotes with its preferred wording, and that the
    instruction and examples are not followed (in ``language``)."""
    term_note, not_followed = _QUOTING["es" if language == "es" else "en"]
    notes = [term_note.format(term=term, wording=wording)
             for term, wording in guide.glossary
             if _says(quoted, term) and not _says(quoted, wording)]  # fmt: skip
    if guide.instruction or guide.examples:
        notes.append(not_followed)
    return notes

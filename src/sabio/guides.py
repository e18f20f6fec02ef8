"""A knowledge base's instructions and style in the prompt of every answer it gives.

The guide (:class:`~sabio.store.guides.Guide`: a system instruction, a glossary, example
question → answer pairs) goes into the system message of every answer the model writes
over the knowledge base, whichever interface asked (the CLI, the REST API, the web app,
the Ollama and OpenAI APIs' ``kb/NAME`` models). It may take at most :data:`GUIDE_SHARE`
of the prompt's budget: past that, examples are left out (the last first), then glossary
entries, and the answer says so; the passages take what is left, and when they do not
all fit the answer says that the guide took part of the room. Extractive answers quote
the documents and follow no instruction. ``sabio kb publish`` makes an Ollama model whose
system prompt is the guide alone (the style without retrieval or citations).
"""

from __future__ import annotations

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

"""What users teach Sabio, from the command line. `sabio notes …`: the corrections users
gave answers, as notes of a knowledge base (:mod:`sabio.notes`): list them, edit one,
approve one waiting for review, remove one; what ``sabio chat`` offers on its last
answer: ``/good``, ``/bad``, ``/correct``. `sabio kb guide`: a knowledge base's
instructions and style (:mod:`sabio.guides`)."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer
from rich.markup import escape

from sabio.answer import Answer
from sabio.notes import author_name, note_label
from sabio.service import Sabio
from sabio.store import Feedback, Guide, NewFeedback
from sabio.terminal import JsonOption, KbOption, default_language, err, in_language, out
from sabio.terminal import print_json as _print_json
from sabio.terminal import service as _sabio

notes_app = typer.Typer(
    help="Corrections of answers, kept as notes that later answers cite first.",
    no_args_is_help=True,
)
NoteId = Annotated[int, typer.Argument(help="The note's number (`sabio notes list`).")]
_TEXTS = {
    "chat_commands": (
        "/good, /bad REASON, /correct TEXT and /pin judge the last answer",
        "/good, /bad MOTIVO, /correct TEXTO y /pin valoran la última respuesta",
    ),
    "none": (
        "None yet: judge an answer with {command} in `sabio chat`.",
        "Aún no hay ninguna: valora una respuesta con {command} en `sabio chat`.",
    ),
    "removed": ("Removed note {id}.", "Quitada la nota {id}."),
    "waiting": (
        " [yellow](waiting for review: sabio notes approve)[/]",
        " [yellow](pendiente de revisión: sabio notes approve)[/]",
    ),
    "pinned_by": ("Pinned by {author}", "Fijada por {author}"),
    "question": ("  Q: {question}", "  P: {question}"),
    "ask_first": (
        "[yellow]Ask a question first: these judge the last answer.[/]",
        "[yellow]Haz antes una pregunta: estas órdenes valoran la última respuesta.[/]",
    ),
    "say_what": (
        "[yellow]Say what is right: /correct The notice period is 60 days.[/]",
        "[yellow]Di qué es lo correcto: /correct El plazo de preaviso es de 60 días.[/]",
    ),
    "pinned": (
        "[dim]Pinned ({id}): similar questions now get this answer.[/]",
        "[dim]Fijada ({id}): las preguntas parecidas reciben ahora esta respuesta.[/]",
    ),
    "thanks": ("[dim]Thanks: noted.[/]", "[dim]Gracias: anotado.[/]"),
    "note_active": (
        "[dim]Note {id} saved: answers to this question now cite it.[/]",
        "[dim]Nota {id} guardada: las respuestas a esta pregunta ya la citan.[/]",
    ),
    "note_waiting": (
        "[dim]Note {id} saved; it waits for review (sabio notes approve).[/]",
        "[dim]Nota {id} guardada; espera revisión (sabio notes approve).[/]",
    ),
    "no_guide": (
        "No guide: set one with --instruction, --term and --example.",
        "Sin guía: define una con --instruction, --term y --example.",
    ),
    "instruction": ("[bold]Instruction:[/] {text}", "[bold]Instrucción:[/] {text}"),
    "term": ("[bold]Term:[/] {term} = {wording}", "[bold]Término:[/] {term} = {wording}"),
    "example": (
        "[bold]Example:[/] {question} => {answer}",
        "[bold]Ejemplo:[/] {question} => {answer}",
    ),
    "published": (
        "Created the Ollama model {model}: try `ollama run {model}`.",
        "Creado el modelo de Ollama {model}: pruébalo con `ollama run {model}`.",
    ),
}
"""What these commands print, in English and Spanish (SABIO_LANGUAGE or LANG decides)."""


def _t(key: str, **values: object) -> str:
    return in_language(_TEXTS, key, default_language(), **values)


def chat_commands() -> str:
    """What ``sabio chat`` offers on its last answer, in the reader's language."""
    return _t("chat_commands")


@notes_app.command("list")
def notes_list(
    ctx: typer.Context,
    kb: KbOption = None,
    pinned: Annotated[bool, typer.Option(help="The pinned answers instead.")] = False,
    as_json: JsonOption = False,
) -> None:
    """The notes of a knowledge base, oldest first, with what they correct."""
    sabio = _sabio(ctx)
    notes = sabio.list_feedback(sabio.kb(kb).name, notes=not pinned, pinned=pinned)
    if as_json:
        _print_json([dataclasses.asdict(n) for n in notes])
        return
    if not notes:
        out.print(_t("none", command="/pin" if pinned else "/correct"))
    for note in notes:
        _print_note(note)


@notes_app.command("edit")
def notes_edit(
    ctx: typer.Context,
    note: NoteId,
    text: Annotated[str, typer.Argument(help="The note's new text.")],
) -> None:
    """Replace a note's text; answers use the new one at once."""
    _print_note(_sabio(ctx).edit_note(note, {"correction": text}))


@notes_app.command("approve")
def notes_approve(ctx: typer.Context, note: NoteId) -> None:
    """Let answers use a note that waits for review (the `review_notes` setting)."""
    _print_note(_sabio(ctx).edit_note(note, {"status": "active"}))


@notes_app.command("rm")
def notes_rm(ctx: typer.Context, note: NoteId) -> None:
    """Remove a note or a pinned answer: answers no longer use it."""
    sabio = _sabio(ctx)
    found = sabio.get_feedback(note)
    gone = sabio.remove_feedback(found.id if found.pinned else sabio.note(note).id)
    out.print(_t("removed", id=gone.id))


def _print_note(note: Feedback) -> None:
    language = default_language()
    waiting = _t("waiting") if note.status != "active" else ""
    pinned = _t("pinned_by", author=author_name(note, language))
    label = pinned if note.pinned else note_label(note, language)
    out.print(f"[bold]{note.id}[/] {escape(label)}{waiting}")
    out.print(_t("question", question=escape(note.question)))
    out.print(f"  {escape(note.correction or note.answer)}")


def chat_feedback(sabio: Sabio, line: str, kb_name: str, answer: Answer | None) -> bool:
    """Handle ``/good [reason]``, ``/bad [reason]`` and ``/correct TEXT`` typed in
    ``sabio chat`` on its last answer; False when ``line`` is none of them."""
    command, _, rest = line.partition(" ")
    ratings = {"/good": 1, "/bad": -1, "/correct": 0, "/pin": 1}
    if command not in ratings:
        return False
    if answer is None:
        err.print(_t("ask_first"))
        return True
    if command == "/correct" and not rest.strip():
        err.print(_t("say_what"))
        return True
    correcting = command == "/correct"
    new = NewFeedback(
        kb_name, answer.question, answer.text, rating=-1 if correcting else ratings[command],
        reason="" if correcting else rest, correction=rest if correcting else "",
        pinned=command == "/pin", citations=[dataclasses.asdict(c) for c in answer.citations],
    )  # fmt: skip
    made = sabio.give_feedback(new)
    if made.pinned:
        err.print(_t("pinned", id=made.id))
    elif not made.is_note:
        err.print(_t("thanks"))
    else:
        err.print(_t("note_active" if made.status == "active" else "note_waiting", id=made.id))
    return True


def kb_guide(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The knowledge base.")],
    instruction: Annotated[
        str | None, typer.Option(help='How to answer ("formal Spanish, give the clause").')
    ] = None,
    term: Annotated[
        list[str] | None, typer.Option(help="A glossary entry, TERM=WORDING (repeatable).")
    ] = None,
    example: Annotated[
        list[str] | None,
        typer.Option(help="An example, QUESTION => ANSWER (repeatable)."),
    ] = None,
    clear: Annotated[bool, typer.Option(help="Remove the whole guide.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Show or set a knowledge base's instructions and style, which every answer the model
    writes over it follows; options given replace those parts."""
    sabio = _sabio(ctx)
    guide = Guide() if clear else sabio.kb_guide(name)
    if instruction is not None:
        guide = dataclasses.replace(guide, instruction=instruction)
    if term is not None:
        guide = dataclasses.replace(guide, glossary=tuple(_split(t, "=") for t in term))
    if example is not None:
        guide = dataclasses.replace(guide, examples=tuple(_split(e, "=>") for e in example))
    if clear or instruction is not None or term is not None or example is not None:
        guide = sabio.set_kb_guide(guide, name)
    if as_json:
        _print_json(dataclasses.asdict(guide))
        return
    if not guide:
        out.print(_t("no_guide"))
    if guide.instruction:
        out.print(_t("instruction", text=escape(guide.instruction)))
    for term_, wording in guide.glossary:
        out.print(_t("term", term=escape(term_), wording=escape(wording)))
    for question, answer in guide.examples:
        out.print(_t("example", question=escape(question), answer=escape(answer)))


def _split(text: str, separator: str) -> tuple[str, str]:
    first, _, second = text.partition(separator)
    return first.strip(), second.strip()


def kb_publish(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The knowledge base whose guide to publish.")],
    base: Annotated[
        str | None, typer.Option("--from", help="The Ollama model to start from (qwen3:4b).")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--as", help="The new model's name (default sabio-<id>).")
    ] = None,
    language: Annotated[str, typer.Option(help="The guide's headings: en or es.")] = "en",
) -> None:
    """Make an Ollama model that answers in the knowledge base's style (its guide as the
    system prompt), for tools without Sabio: it keeps the style, not the documents (no
    retrieval, no citations)."""
    made = _sabio(ctx).publish_kb(name, base, name=model, language=language)
    out.print(_t("published", model=escape(made)))

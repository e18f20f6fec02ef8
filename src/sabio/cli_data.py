"""`sabio export`, `sabio import` and `sabio purge`: everything in the data directory in
one archive, back from it, and deleted (:mod:`sabio.archive`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from sabio import archive
from sabio.config import load_settings
from sabio.store import pg_migrate
from sabio.terminal import default_language, err, in_language, in_language_counted, out
from sabio.terminal import service as _sabio

_TEXTS = {
    "passphrase": (
        "Passphrase for the saved passwords and API keys",
        "Frase de paso de las contraseñas y claves de API guardadas",
    ),
    "writing": ("writing the archive…", "escribiendo la copia…"),
    "sealed": (
        "; {count} secrets sealed under your passphrase",
        "; {count} secretos sellados con tu frase de paso",
    ),
    "sealed_one": (
        "; 1 secret sealed under your passphrase",
        "; 1 secreto sellado con tu frase de paso",
    ),
    "exported": ("Exported {what} to {path}{sealed}.", "Se exportó a {path}: {what}{sealed}."),
    "importing": ("importing…", "importando…"),
    "imported": ("Imported {what} into {home}.", "Se importó en {home}: {what}."),
    "settings_kept": (
        "Your settings stay as they were: the archive's config.toml was not used.",
        "Tus ajustes siguen como estaban: no se usó el config.toml de la copia.",
    ),
    "purge_ask": (
        "Delete everything in {home} ({what}), with the settings and the search index? This "
        "cannot be undone",
        "¿Borrar todo lo que hay en {home} ({what}), con los ajustes y el índice de búsqueda? "
        "No se puede deshacer",
    ),
    "purged": (
        "Deleted everything Sabio kept in {home}.",
        "Borrado todo lo que Sabio guardaba en {home}.",
    ),
    "left": (
        "Left what Sabio did not put there: {names}.",
        "Queda lo que no puso Sabio: {names}.",
    ),
    "copying": ("copying…", "copiando…"),
    "copying_table": (
        "copying {table}: {done:,} of {total:,} rows",
        "copiando {table}: {done:,} de {total:,} filas",
    ),
    "nothing": ("nothing", "nada"),
    "copied": (
        "Copied {what}; every table's rows counted on both sides.",
        "Se copió: {what}; las filas de cada tabla se contaron en ambos lados.",
    ),
    "now_set": (
        'Now set database_url = "{url}" in config.toml (or SABIO_DATABASE_URL).',
        'Ahora pon database_url = "{url}" en config.toml (o SABIO_DATABASE_URL).',
    ),
}
"""What these commands print, in English and Spanish (SABIO_LANGUAGE or LANG decides)."""


def _t(key: str, **values: object) -> str:
    return in_language(_TEXTS, key, default_language(), **values)


PassphraseStdin = Annotated[
    bool,
    typer.Option(
        "--passphrase-stdin",
        help="Read the passphrase of the secrets from the first line of stdin.",
    ),
]


def _passphrase(from_stdin: bool, *, confirm: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(
        typer.prompt(
            _t("passphrase"),
            hide_input=True,
            confirmation_prompt=confirm,
        )
    )


def export(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The archive to write, e.g. sabio-backup.tar.")],
    passphrase_stdin: PassphraseStdin = False,
) -> None:
    """Write everything in the data directory to one archive: documents and their
    passages, uploaded files, chats, accounts, sources and settings. Saved passwords and
    API keys are sealed under a passphrase (asked for only when there are any)."""
    sabio = _sabio(ctx)
    try:
        needed = sabio.export_needs_passphrase()
        passphrase = _passphrase(passphrase_stdin, confirm=True) if needed else None
        with err.status(_t("writing")):
            summary = sabio.export_archive(path, passphrase)
    finally:
        sabio.close()
    language = default_language()
    secrets = summary.secrets
    sealed = in_language_counted(_TEXTS, "sealed", secrets, language) if secrets else ""
    what = escape(summary.describe(language))
    out.print(_t("exported", what=what, path=escape(str(path)), sealed=sealed))


def import_(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="An archive written by `sabio export`.")],
    passphrase_stdin: PassphraseStdin = False,
) -> None:
    """Bring an archive of `sabio export` into an empty data directory (a new one, or one
    just purged); the search index is rebuilt when first needed."""
    settings = load_settings(ctx.find_root().obj)
    needed = archive.archive_needs_passphrase(path)
    passphrase = _passphrase(passphrase_stdin, confirm=False) if needed else None
    with err.status(_t("importing")):
        summary, restored = archive.import_archive(settings, path, passphrase)
    what = escape(summary.describe(default_language()))
    out.print(_t("imported", what=what, home=escape(str(settings.home))))
    if restored is False:
        out.print(_t("settings_kept"))


def purge(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete everything Sabio keeps: the database, uploaded files, chats, accounts,
    sources, settings, the search index and the converted model (your own files stay).
    Stop `sabio serve` first."""
    settings = load_settings(ctx.find_root().obj)
    summary = archive.contents(settings)
    question = _t("purge_ask", home=settings.home, what=summary.describe(default_language()))
    if not yes and not typer.confirm(question):
        raise typer.Exit(1)
    left = archive.purge(settings)
    out.print(_t("purged", home=escape(str(settings.home))))
    if left:
        names = ", ".join(p.name for p in left)
        out.print(_t("left", names=escape(names)))


def migrate(
    ctx: typer.Context,
    to: Annotated[
        str, typer.Option("--to", help="The PostgreSQL database: postgresql://user@host/dbname.")
    ],
) -> None:
    """Copy everything in this data directory's database (knowledge bases, passages and
    their vectors, chats, accounts, sources, jobs) into a PostgreSQL database with
    pgvector. Run it again to go on after an interruption; the SQLite file is not changed.
    Then set database_url to that URL. Stop `sabio serve` first."""
    settings = load_settings(ctx.find_root().obj)
    with err.status(_t("copying")) as status:

        def progress(table: str, done: int, total: int) -> None:
            status.update(_t("copying_table", table=table.strip(chr(34)), done=done, total=total))

        counts = pg_migrate.migrate_file(settings.database_path, to, progress)
    described = ", ".join(f"{n:,} {table}" for table, n in counts.items() if n)
    out.print(_t("copied", what=escape(described or _t("nothing"))))
    out.print(_t("now_set", url=escape(to)))

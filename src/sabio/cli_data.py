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
from sabio.terminal import err, out
from sabio.terminal import service as _sabio

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
            "Passphrase for the saved passwords and API keys",
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
        with err.status("writing the archive…"):
            summary = sabio.export_archive(path, passphrase)
    finally:
        sabio.close()
    sealed = f"; {summary.secrets} secrets sealed under your passphrase" if summary.secrets else ""
    out.print(f"Exported {escape(summary.describe())} to {escape(str(path))}{sealed}.")


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
    with err.status("importing…"):
        summary, restored = archive.import_archive(settings, path, passphrase)
    out.print(f"Imported {escape(summary.describe())} into {escape(str(settings.home))}.")
    if restored is False:
        out.print("Your settings stay as they were: the archive's config.toml was not used.")


def purge(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete everything Sabio keeps: the database, uploaded files, chats, accounts,
    sources, settings, the search index and the converted model (your own files stay).
    Stop `sabio serve` first."""
    settings = load_settings(ctx.find_root().obj)
    summary = archive.contents(settings)
    question = (
        f"Delete everything in {settings.home} ({summary.describe()}), with the settings "
        "and the search index? This cannot be undone"
    )
    if not yes and not typer.confirm(question):
        raise typer.Exit(1)
    left = archive.purge(settings)
    out.print(f"Deleted everything Sabio kept in {escape(str(settings.home))}.")
    if left:
        names = ", ".join(p.name for p in left)
        out.print(f"Left what Sabio did not put there: {escape(names)}.")


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
    with err.status("copying…") as status:

        def progress(table: str, done: int, total: int) -> None:
            status.update(f"copying {table.strip(chr(34))}: {done:,} of {total:,} rows")

        counts = pg_migrate.migrate_file(settings.database_path, to, progress)
    described = ", ".join(f"{n:,} {table}" for table, n in counts.items() if n)
    out.print(f"Copied {escape(described or 'nothing')}; every table's rows counted on both sides.")
    out.print(f'Now set database_url = "{escape(to)}" in config.toml (or SABIO_DATABASE_URL).')

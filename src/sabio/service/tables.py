"""A knowledge base's tables as tables (:mod:`sabio.tables`): listed, queried, reported on,
reports scheduled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sabio.errors import ConfigError
from sabio.jobs import Job
from sabio.service.knowledge_bases import KnowledgeBases
from sabio.tables.engine import Result, TableInfo
from sabio.tables.query import validate
from sabio.tables.report import Report as TableReport
from sabio.tables.report import build_report


class TableQueries(KnowledgeBases):
    """Queries and reports over a knowledge base's tables."""

    def tables(self, kb_name: str | None = None) -> list[TableInfo]:
        """The tables of a knowledge base's documents, as they are now."""
        kb = self.kb(kb_name)
        current = self._indexed_hashes(kb)
        return [
            t for t in self.kb_tables(kb).tables() if current.get(t.document_id) == t.content_hash
        ]

    def query_tables(self, sql: str, kb_name: str | None = None) -> tuple[str, Result]:
        """Run a query of the person's own over a knowledge base's tables, checked and
        sandboxed as a model's is (:mod:`sabio.tables.query`): the SQL that ran, its result."""
        kb = self.kb(kb_name)
        checked = validate(sql, {t.name for t in self.tables(kb.name)})
        return checked, self.kb_tables(kb).run(checked)

    def table_report(self, kb_name: str | None = None, language: str = "en") -> TableReport:
        """A report over a knowledge base's tables, computed without a model
        (:mod:`sabio.tables.report`), every query checked and sandboxed."""
        name = self.kb(kb_name).name
        run = lambda sql: self.query_tables(sql, name)[1]  # noqa: E731
        return build_report(name, self.tables(name), run, language)

    def schedule_report(
        self, kb_name: str | None, to: Path | str, every: float, format: str, language: str
    ) -> Job:
        """Queue the report over a knowledge base's tables for the worker (``sabio serve``
        or ``sabio worker``): written into the folder ``to``, or posted to it when it is an
        http(s) URL (a webhook), made again every ``every`` seconds (0: once)."""
        kb = self.kb(kb_name)
        if isinstance(to, str):
            if not to.startswith(("http://", "https://")):
                raise ConfigError(
                    f"{to!r} is not a webhook's address; give an http:// or https:// URL",
                    key="webhook_url_invalid",
                )
            where: dict[str, Any] = {"webhook": to}
        else:
            where = {"folder": str(to.absolute())}
        delivery = where | {"every": every, "format": format, "language": language}
        return self.jobs.enqueue_report(kb.name, delivery)

    def cancel_reports(self, kb_name: str | None = None) -> int:
        """Stop a knowledge base's scheduled reports; how many were waiting."""
        return self.jobs.cancel_reports(self.kb(kb_name).name)

"""The service API: what every interface (CLI, REST, web app) calls.

:class:`Sabio` holds the settings, the store, the search index and the embedding models
in use, and contains no presentation. Interfaces stay thin: they parse input, call one
method here and format the answer.

It is one facade made of parts, a module each, over :class:`~sabio.service.core.ServiceCore`
(the state every part reads): ``knowledge_bases``, ``ingestion``, ``documents`` (and their
search), ``tables``, ``tasks``, ``reviews``, ``answers``, ``pages``, ``chats``, ``learning``
(feedback, notes, guides) and ``sources``. A part inherits from the parts it calls, so each
module's class line says what it builds on (see docs/architecture.md).
"""

from __future__ import annotations

from pathlib import Path

from sabio import archive
from sabio.errors import ConfigError
from sabio.service.answers import CITATION_FIELDS
from sabio.service.chats import SaveExchange
from sabio.service.core import DEFAULT_MODEL_TTL, EMBEDDED_BACKEND, EMBEDDED_MODEL
from sabio.service.documents import SearchResults, TranscriptFile
from sabio.service.ingestion import OCR_SHARE, OcrTiming
from sabio.service.learning import Learning
from sabio.service.pages import Pages
from sabio.service.reviews import Reviews
from sabio.service.sources import Sources
from sabio.service.tables import TableQueries
from sabio.store import Store

__all__ = [
    "CITATION_FIELDS",
    "DEFAULT_MODEL_TTL",
    "EMBEDDED_BACKEND",
    "EMBEDDED_MODEL",
    "OCR_SHARE",
    "OcrTiming",
    "Sabio",
    "SaveExchange",
    "SearchResults",
    "TranscriptFile",
]


class Sabio(Pages, Learning, Sources, Reviews, TableQueries):
    """The service: every part's methods, and what concerns the data directory as a whole."""

    def export_needs_passphrase(self) -> bool:
        """Whether an export of this data directory holds secrets to seal."""
        return archive.needs_passphrase(self.store, self.settings)

    def export_archive(self, target: Path, passphrase: str | None = None) -> archive.Contents:
        """Write the archive of the data directory to ``target`` (:mod:`sabio.archive`)."""
        if not isinstance(self.store, Store):
            raise ConfigError(
                "an export copies the SQLite file, and this Sabio keeps its data in "
                "PostgreSQL (database_url): back that up with pg_dump",
                key="export_needs_sqlite",
            )
        return archive.export_archive(self.store, self.settings, target, passphrase)

"""A kind of source of one's own, added the way docs/architecture.md says: this one file,
which registers it (for a kind inside Sabio, the one line is its module in
``sabio.sources.kinds.BUILT_IN``). tests/test_plugins.py uses it through the CLI and REST.

``lines``: a text file on this computer whose every line long enough is a document.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from sabio.errors import ConfigError
from sabio.ingest import LoadedSource
from sabio.loaders import LoadedDocument, Section
from sabio.sources import SourceSetup
from sabio.sources.kinds import SetupContext, SourceKind, SyncContext, register_source_kind


class LinesOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_length: int = Field(1, ge=1, description="Lines shorter than this are left out.")
    title_prefix: str = Field("", description="Put before each line's title.")


class LinesConnector:
    def configure(
        self, setup: SetupContext, location: str, options: LinesOptions, password: str | None
    ) -> SourceSetup:
        path = Path(location).expanduser().absolute()
        if not path.is_file():
            raise ConfigError(f"{path} is not a file; give a text file")
        return SourceSetup(str(path), options.model_dump())

    def sync(self, run: SyncContext) -> None:
        options = LinesOptions.model_validate(run.source.options)
        lines = Path(run.source.location).read_text(encoding="utf-8").splitlines()
        items, keys = [], []
        for number, line in enumerate(lines, 1):
            if len(line.strip()) < options.min_length:
                continue
            digest = hashlib.blake2b(line.encode(), digest_size=16).hexdigest()
            title = f"{options.title_prefix}{line[:40]}"
            document = LoadedDocument([Section(line)], title)
            key = f"line {number}"
            items.append(LoadedSource(f"{run.source.location}#{number}", digest, title, document))
            keys.append(key)
        run.progress("indexing lines", done=0, total=len(items))
        run.index_loaded(items, keys)


register_source_kind(
    SourceKind(
        name="lines",
        connector=LinesConnector,
        options=LinesOptions,
        location="file",
        summary="every line of a text file, as a document",
    )
)

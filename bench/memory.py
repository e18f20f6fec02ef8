"""Peak memory against file size, per format: what indexing one file costs the process
that indexes it (the server, the worker, `sabio add`) and the reader process that loads
and chunks it.

    python bench/memory.py                     # 6 formats x 1, 4, 16 MB; the server at 200 MB
    python bench/memory.py --sizes 1,2 --no-server

1. Files made here: text (prose, no blank lines), one 16-MB paragraph of "a" (the issue's
   text bomb), JSON (an array of records), CSV, DOCX (python-docx), XLSX (openpyxl's
   write-only mode) and PDF (pages of text, written by hand), each of about the sizes
   asked.
2. Each file is added alone, in a fresh Python process, through ``Sabio.add(isolate=True)``
   as the server adds an upload, with an embedder that returns zeros (embedding is not
   what is measured). That process's peak RSS (VmHWM; ``ru_maxrss`` would count the
   process it was started from) is the indexing process's; its children's peak
   (``RUSAGE_CHILDREN``, readers forked from it) is the reader's. A run over an empty
   text file is the baseline subtracted from both, in the same run: the rest is what the
   file costs.
3. ``--server``: the real ``sabio serve`` (embedded MiniLM) takes uploads of the text bomb
   at 16 MB and of a 200 MB text file (the upload limit), and its own peak RSS (VmHWM) is
   read from /proc after each.

Peak RSS does not depend on the machine's load; the times printed do. See
docs/benchmarks.md ("Memory per file").
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from load import running_server, write_results

WORDS = (
    "the lighthouse guided ships into the harbour at night while storms rolled over the "
    "coast and keepers wrote every change of weather into their logs el faro guiaba a los "
    "barcos hacia el puerto durante la noche"
).split()
MB = 2**20


def _prose(size: int, rng: random.Random) -> str:
    """Sentences in lines, never a blank line: one paragraph of ``size`` characters."""
    out, total = [], 0
    while total < size:
        line = " ".join(rng.choices(WORDS, k=14)).capitalize() + ".\n"
        out.append(line)
        total += len(line)
    return "".join(out)[:size]


def make_text(path: Path, size: int) -> None:
    path.write_text(_prose(size, random.Random(1)), encoding="utf-8")


def make_bomb(path: Path, size: int) -> None:
    path.write_bytes(b"a" * size)


def make_json(path: Path, size: int) -> None:
    rng, records, total = random.Random(2), [], 0
    while total < size:
        record = {
            "id": len(records),
            "title": " ".join(rng.choices(WORDS, k=5)),
            "body": " ".join(rng.choices(WORDS, k=40)),
            "tags": rng.choices(WORDS, k=3),
        }
        records.append(record)
        total += len(json.dumps(record)) + 2
    path.write_text(json.dumps(records), encoding="utf-8")


def make_csv(path: Path, size: int) -> None:
    rng, lines, total = random.Random(3), ["id,name,city,notes"], 0
    while total < size:
        notes = " ".join(rng.choices(WORDS, k=12))
        line = f"{len(lines)},{rng.choice(WORDS)},{rng.choice(WORDS)},{notes}"
        lines.append(line)
        total += len(line) + 1
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def make_docx(path: Path, size: int) -> None:
    import docx

    rng, document = random.Random(4), docx.Document()

    # DOCX compresses prose about 4:1: measure one block of paragraphs, then add as many
    # blocks as make about ``size``.
    def block() -> None:
        for _ in range(2000):
            document.add_paragraph(_prose(400, rng).replace("\n", " "))

    block()
    buffer = io.BytesIO()
    document.save(buffer)
    for _ in range(max(0, round(size / buffer.tell()) - 1)):
        block()
    document.save(path)


def make_xlsx(path: Path, size: int) -> None:
    import openpyxl

    rng = random.Random(5)
    rows = max(1, size // 34)  # about 34 bytes per row, compressed
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("data")
    sheet.append(["id", "name", "city", "notes"])
    for i in range(rows):
        sheet.append([i, rng.choice(WORDS), rng.choice(WORDS), " ".join(rng.choices(WORDS, k=8))])
    workbook.save(path)


def make_pdf(path: Path, size: int) -> None:
    """Pages of 40 lines of text each, Helvetica, uncompressed: about 3.5 KB a page."""
    rng = random.Random(6)
    pages = max(1, size // 3500)
    objects = [b"", b"", b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for _ in range(pages):
        lines = b" ".join(
            b"(%s) Tj 0 -14 Td" % " ".join(rng.choices(WORDS, k=12)).encode() for _ in range(40)
        )
        stream = b"BT /F1 10 Tf 50 780 Td " + lines + b" ET"
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        content = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R"
            b" /Resources << /Font << /F1 3 0 R >> >> >>" % content
        )
        kids.append(len(objects))
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    with path.open("wb") as out:
        out.write(b"%PDF-1.4\n")
        offsets = []
        for number, body in enumerate(objects, 1):
            offsets.append(out.tell())
            out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
        xref = out.tell()
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
        out.write(b"".join(b"%010d 00000 n \n" % o for o in offsets))
        out.write(
            b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(objects) + 1, xref)
        )


FORMATS: dict[str, tuple[str, Callable[[Path, int], None]]] = {
    "text": (".txt", make_text),
    "text bomb": (".txt", make_bomb),
    "JSON": (".json", make_json),
    "CSV": (".csv", make_csv),
    "DOCX": (".docx", make_docx),
    "XLSX": (".xlsx", make_xlsx),
    "PDF": (".pdf", make_pdf),
}

MEASURE = r"""
import json, resource, sys, numpy as np
from pathlib import Path
from sabio.config import load_settings
from sabio.models import register_embedding_backend
from sabio.service import Sabio

class Zeros:
    name, dimension = "zeros:bench", 8
    def embed(self, texts):
        return np.zeros((len(texts), 8), dtype=np.float32)

register_embedding_backend("zeros")(lambda settings, model: Zeros())
home, path = Path(sys.argv[1]), Path(sys.argv[2])
settings = {"home": home, "embedding_model": "zeros:bench", "workers": 1}
sabio = Sabio(load_settings(settings, environ={}))
[result] = sabio.add([path], isolate=True).results
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
print(json.dumps({
    "status": result.status, "reason": result.reason, "passages": result.chunks,
    # VmHWM: ru_maxrss would count the bench process that this one was forked from
    "indexing_mb": int(status["VmHWM"].split()[0]) / 1024,
    "reader_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,  # KB
}))
"""


def measure(path: Path, workdir: Path) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(dir=workdir))
    started = time.monotonic()
    ran = subprocess.run(
        [sys.executable, "-c", MEASURE, str(home), str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    out: dict[str, Any] = json.loads(ran.stdout.strip().splitlines()[-1])
    out["seconds"] = round(time.monotonic() - started, 1)
    return out


def per_format(sizes: list[float], workdir: Path) -> list[dict[str, Any]]:
    empty = workdir / "empty.txt"
    empty.write_text("x", encoding="utf-8")
    base = measure(empty, workdir)
    indexing, reader = base["indexing_mb"], base["reader_mb"]
    print(f"baseline: indexing process {indexing:.0f} MB, reader {reader:.0f} MB")
    rows = []
    print(
        f"{'format':<10} {'file MB':>8} {'status':<8} {'passages':>8} {'indexing +MB':>13} "
        f"{'reader +MB':>11} {'s':>6}"
    )
    for name, (extension, make) in FORMATS.items():
        for size in sizes:
            path = workdir / f"{name.replace(' ', '-')}-{size:g}{extension}"
            if not path.exists():
                make(path, int(size * MB))
            got = measure(path, workdir)
            row = {
                "format": name,
                "file_mb": round(path.stat().st_size / MB, 2),
                **got,
                "indexing_extra_mb": round(got["indexing_mb"] - base["indexing_mb"], 1),
                "reader_extra_mb": round(got["reader_mb"] - base["reader_mb"], 1),
            }
            rows.append(row)
            print(
                f"{name:<10} {row['file_mb']:>8.2f} {row['status']:<8} {row['passages']:>8} "
                f"{row['indexing_extra_mb']:>13.0f} {row['reader_extra_mb']:>11.0f} "
                f"{row['seconds']:>6.1f}" + (f"  ({row['reason'][:60]})" if row["reason"] else "")
            )
    return [{"baseline": base}, *rows]


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def server(workdir: Path) -> list[dict[str, Any]]:
    """The real server's peak RSS across uploads of the text bomb and of a 200 MB file."""
    home = workdir / "server-home"
    uploads = [
        ("warm-up.txt", 1e-4, make_text),
        ("bomb.txt", 16, make_bomb),
        ("big.txt", 199, make_text),
    ]
    rows = []
    with running_server(home, workdir / "server.log", {}) as running:
        pid = running.process.pid
        print(f"server at start: {_vm_hwm_mb(pid):.0f} MB")
        for name, size, make in uploads:
            path = workdir / f"server-{name}"
            if not path.exists():
                make(path, int(size * MB))
            started = time.monotonic()
            with path.open("rb") as f:
                reply = httpx.post(
                    f"{running.url}/api/v1/kbs/default/documents",
                    files={"files": (name, f, "text/plain")},
                    timeout=3600,
                )
            file = reply.json()["files"][0] if reply.is_success else reply.json()
            row = {
                "upload": name,
                "file_mb": round(path.stat().st_size / MB, 1),
                "http": reply.status_code,
                "result": file,
                "server_peak_mb": round(_vm_hwm_mb(pid), 1),
                "seconds": round(time.monotonic() - started, 1),
            }
            rows.append(row)
            print(
                f"{name:<12} {row['file_mb']:>7.1f} MB: {file.get('status')} "
                f"{file.get('passages', '')} {file.get('reason', '')[:70]}; "
                f"server peak {row['server_peak_mb']:.0f} MB ({row['seconds']:.0f} s)"
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,4,16", help="File sizes in MB, comma-separated.")
    parser.add_argument("--no-server", action="store_true", help="Skip the real server's part.")
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "sabio-memory"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    sizes = [float(s) for s in args.sizes.split(",")]
    out: dict[str, Any] = {"per_format": per_format(sizes, args.workdir)}
    if not args.no_server:
        out["server"] = server(args.workdir)
    out["cpu_count"] = os.cpu_count()
    write_results(out, "memory", args.json)


if __name__ == "__main__":
    main()

"""OCR quality and speed: character error rate against the true text, and seconds per page.

    python bench/ocr.py                  # the five scans of the LinnSequencer brochure
    python bench/ocr.py --repeat 3       # the median time of three runs of each

The five scans in ``../shared/data/documents/pdf/ocrmypdf_scans`` (``linn``, ``ccitt``,
``jbig2``, ``skew``, ``rotated_skew``) are the same page, so each is compared with
``linn.txt``. Each is rendered at 300 dpi with pypdfium2 and read two ways in the same run:

* ``plain``: ``tesseract page.png stdout`` with its defaults (English), the baseline;
* ``sabio``: :func:`sabio.loaders.ocr.recognize_page` (orientation, deskew, language).

The character error rate is the Levenshtein distance between the two texts, each with its
whitespace collapsed to single spaces, divided by the length of the true text. Seconds per
page count the rendering too; CPU seconds (this process and Tesseract's) say what a page
costs whatever else the machine is doing. Both run Tesseract under ``nice -n 10``. With
``--parallel N`` the sabio pages are also read N at a time, as the loader does, and the
wall time divided by the pages is reported. Results are printed and written to ``--json``
(default bench/results/ocr-*.json).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
from ingest_search import DATA, RESULTS

SCANS = DATA / "documents" / "pdf" / "ocrmypdf_scans"
NAMES = ("linn", "ccitt", "jbig2", "skew", "rotated_skew")
DPI = 300


def character_error_rate(text: str, truth: str) -> float:
    """Levenshtein distance over the length of ``truth``, whitespace collapsed in both."""
    a, b = " ".join(text.split()), " ".join(truth.split())
    return _levenshtein(a, b) / max(1, len(b))


def _levenshtein(a: str, b: str) -> int:
    """Edit distance, one numpy row per character of ``a`` (the row's left-to-right
    insertions are a running minimum of ``row[j] - j``)."""
    if not a or not b:
        return max(len(a), len(b))
    codes = np.array([ord(c) for c in b], dtype=np.int64)
    offsets = np.arange(len(b) + 1, dtype=np.int64)
    previous = offsets.copy()
    row = np.empty_like(previous)
    for char in a:
        row[0] = previous[0] + 1
        np.minimum(previous[1:] + 1, previous[:-1] + (codes != ord(char)), out=row[1:])
        previous = np.minimum.accumulate(row - offsets) + offsets
    return int(previous[-1])


def render(name: str, folder: Path) -> Path:
    pdf = pdfium.PdfDocument(SCANS / f"{name}.pdf")
    try:
        page = pdf[0]
        image = page.render(scale=DPI / 72).to_pil()
        page.close()
    finally:
        pdf.close()
    path = folder / f"{name}.png"
    image.save(path)
    return path


def plain(name: str, folder: Path) -> str:
    image = render(name, folder)
    # at Sabio's priority (it runs Tesseract under `nice -n 10`), so that other work on the
    # machine slows both alike
    nice = ["nice", "-n", "10"] if shutil.which("nice") else []
    done = subprocess.run(
        [*nice, "tesseract", str(image), "stdout"], capture_output=True, text=True, check=True
    )
    return done.stdout


def sabio_ocr(name: str, folder: Path) -> str:
    from PIL import Image

    from sabio.loaders.ocr import recognize_page

    with Image.open(render(name, folder)) as image:
        return recognize_page(image).text


def _cpu() -> float:
    """CPU seconds used so far by this process and its finished children (Tesseract)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(read: Callable[[str, Path], str], name: str, folder: Path, repeat: int) -> dict:
    truth = (SCANS / "linn.txt").read_text(encoding="utf-8")
    times, cpu, text = [], [], ""
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), _cpu()
        text = read(name, folder)
        times.append(time.perf_counter() - start)
        cpu.append(_cpu() - start_cpu)
    return {
        "cer": round(character_error_rate(text, truth), 4),
        "seconds": round(statistics.median(times), 2),
        "cpu_seconds": round(statistics.median(cpu), 2),
    }


def parallel(names: tuple[str, ...], folder: Path, workers: int) -> float:
    """Seconds per page with ``workers`` pages read at a time."""
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda n: sabio_ocr(n, folder), names))
    return (time.perf_counter() - start) / len(names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-sabio", action="store_true", help="the baseline only")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if shutil.which("tesseract") is None:
        sys.exit("tesseract is not installed: apt-get install tesseract-ocr tesseract-ocr-eng")
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in NAMES:
            rows[name] = {"plain": measure(plain, name, folder, args.repeat)}
            if not args.no_sabio:
                rows[name]["sabio"] = measure(sabio_ocr, name, folder, args.repeat)
            print(name, json.dumps(rows[name]), flush=True)
        per_page = None if args.no_sabio else parallel(NAMES, folder, args.parallel)
    result = {"dpi": DPI, "cpus": os.cpu_count(), "scans": rows}
    if per_page is not None:
        result["sabio_parallel"] = {"workers": args.parallel, "seconds_per_page": per_page}
        print(f"sabio, {args.parallel} pages at a time: {per_page:.2f} s/page")
    out = args.json or RESULTS / f"ocr-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {out}")


if __name__ == "__main__":
    main()

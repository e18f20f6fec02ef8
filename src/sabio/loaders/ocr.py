"""Text from a page image: Tesseract 5, run as a separate program, after orientation and
skew are corrected.

For each page (:func:`recognize_page`):

1. grayscale; the skew is measured by projection profiles (the angle, within ±10°, whose
   rows of ink have the sharpest profile, found on a copy 1,000 pixels wide, to 0.1°)
   and the page rotated back;
2. recognised with every installed language pack Sabio knows of, English and Spanish
   first (:func:`choose_languages`), as TSV: words with their confidence;
3. when the mean word confidence is low (a page upside down or sideways reads as noise
   at about 45), Tesseract's orientation detection (OSD) is asked and, if it says the
   page is turned, the page is rotated, deskewed and read again; the better reading wins.

Tesseract runs with ``OMP_THREAD_LIMIT=1``: its OpenMP threads made a page 4x slower on
a busy two-core machine (23 s against 6 s), and pages are read in parallel instead.
A machine without Tesseract raises :class:`~sabio.errors.NeedsOCRError` with the command
that installs it. Nothing here reaches the network.
"""

from __future__ import annotations

import functools
import io
import os
import shutil
import subprocess
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from sabio.errors import ConfigError, NeedsOCRError
from sabio.loaders import DEFAULT_OCR, OcrOptions, ReadProgress, Told

INSTALL_COMMAND = (
    "sudo apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-spa tesseract-ocr-osd"
)
NOT_INSTALLED = (
    f"Tesseract (OCR) is not installed; install it with `{INSTALL_COMMAND}` "
    "(macOS: `brew install tesseract tesseract-lang`) and add the file again"
)
LOW_CONFIDENCE = 60.0
"""Mean word confidence (0-100) under which a page is "hard to read; check it"."""
RETRY_CONFIDENCE = 75.0
"""Under this, the page may be turned: orientation detection is asked."""
MAX_SKEW = 10.0
PREFERRED = ("eng", "spa")
MAX_LANGUAGES = 3
"""Each language pack adds about a third to a page's time (eng 3.0 s, eng+spa 4.3 s)."""
TIMEOUT = 120.0
_NOT_TEXT = frozenset({"osd", "equ", "snum"})


@dataclass(frozen=True, slots=True)
class OcrPage:
    text: str
    confidence: float
    """Mean word confidence, 0-100 (0 when no word was found)."""
    languages: str
    rotation: int = 0
    """Degrees the page was turned (counter-clockwise) before it was read."""
    skew: float = 0.0
    """Degrees of skew corrected."""

    @property
    def low_confidence(self) -> bool:
        return self.confidence < LOW_CONFIDENCE


@dataclass(slots=True)
class OcrResults:
    """What OCR made of a document's pages: the text of each page read (page number →
    text, "" when it holds no words), and why the others were not read."""

    pages: dict[int, OcrPage] = field(default_factory=dict)
    problem: str = ""

    @property
    def texts(self) -> dict[int, str]:
        return {number: page.text for number, page in self.pages.items()}

    def metadata(self) -> dict[str, str]:
        """``ocr_pages``, ``ocr_confidence`` (the mean, 0-100), ``ocr_low_pages``,
        ``ocr_languages``: what the document list says of the pages read by OCR."""
        read = {n: p for n, p in sorted(self.pages.items()) if p.text}
        if not read:
            return {}
        mean = sum(p.confidence for p in read.values()) / len(read)
        low = [n for n, p in read.items() if p.low_confidence]
        metadata = {
            "ocr_pages": ",".join(map(str, read)),
            "ocr_confidence": f"{mean:.1f}",
            "ocr_languages": next(iter(read.values())).languages,
        }
        if low:
            metadata["ocr_low_pages"] = ",".join(map(str, low))
        return metadata


def recognize_pages(
    numbers: Sequence[int],
    render: Callable[[int], Image.Image],
    options: OcrOptions = DEFAULT_OCR,
    progress: Told | None = None,
) -> OcrResults:
    """Read pages ``numbers``, one per core at a time. Each is rendered (in this thread)
    only as a reader is free, so at most that many images are held at once; none is
    started after ``options.budget`` seconds (the pages left are not in the result).
    ``progress`` is told how many pages are read, before the first and after each."""
    results = OcrResults()
    tell = progress or (lambda _: None)
    pending: deque[tuple[int, Future[OcrPage]]] = deque()
    try:
        program = tesseract(options.program) if numbers else ""
    except NeedsOCRError as exc:
        results.problem = str(exc)
        return results
    workers = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    start = time.monotonic()
    if numbers:
        tell(ReadProgress("ocr", 0, len(numbers)))
    with ThreadPoolExecutor(workers, thread_name_prefix="ocr") as pool:
        for done, number in enumerate(numbers):
            if done and options.budget and time.monotonic() - start > options.budget:
                results.problem = (
                    f"OCR stopped at its time limit after {done} of {len(numbers)} pages "
                    f"({options.budget:.0f} s; raise the reader_timeout setting to read more)"
                )
                break
            if len(pending) >= workers:
                _collect(*pending.popleft(), results)
                tell(ReadProgress("ocr", done - len(pending), len(numbers)))
            image = render(number)
            pending.append((number, pool.submit(recognize_page, image, options.languages, program)))
        while pending:
            _collect(*pending.popleft(), results)
            tell(ReadProgress("ocr", len(numbers) - len(pending), len(numbers)))
    return results


def _collect(number: int, future: Future[OcrPage], results: OcrResults) -> None:
    try:
        results.pages[number] = future.result()
    except NeedsOCRError as exc:
        results.problem = str(exc)


def tesseract(program: str = "tesseract") -> str:
    """The Tesseract program's path, or NeedsOCRError saying how to install it ("": OCR
    is turned off)."""
    if not program:
        raise NeedsOCRError("OCR is turned off (the ocr_program setting is empty)")
    found = shutil.which(program)
    if found is None:
        raise NeedsOCRError(NOT_INSTALLED, key="ocr_missing", command=INSTALL_COMMAND)
    return found


@functools.cache
def installed_languages(program: str) -> tuple[str, ...]:
    done = _run([program, "--list-langs"])
    names = [line.strip() for line in done.splitlines()[1:]]  # first line: "List of …"
    return tuple(n for n in names if n and n not in _NOT_TEXT)


def check_languages(program: str, wanted: str) -> str:
    """``wanted`` ('spa+eng', '' for the default) as Tesseract's ``-l`` value, once each
    of its packs is found installed; ConfigError ``ocr_language_unknown`` naming the
    others and those installed."""
    names = [n.strip() for n in wanted.split("+") if n.strip()]
    if not names:
        return ""
    try:
        installed = installed_languages(tesseract(program))
    except NeedsOCRError:
        installed = ()
    unknown = [n for n in names if n not in installed]
    if unknown:
        raise ConfigError(
            f"Tesseract has no language pack {'+'.join(unknown)!r} (installed: "
            f"{', '.join(installed) or 'none'}); install it with `{INSTALL_COMMAND}` or "
            "the package tesseract-ocr-LANG",
            key="ocr_language_unknown",
            languages="+".join(unknown),
            installed=", ".join(installed) or "-",
        )
    return "+".join(dict.fromkeys(names))


def choose_languages(installed: Sequence[str], wanted: Sequence[str] = ()) -> str:
    """Tesseract's ``-l`` value: the wanted packs that are installed (else English and
    Spanish, then the others), at most :data:`MAX_LANGUAGES`."""
    chosen = [lang for lang in wanted if lang in installed]
    if not chosen:
        rest = sorted(lang for lang in installed if lang not in PREFERRED)
        chosen = [lang for lang in PREFERRED if lang in installed] + rest
    if not chosen:
        raise NeedsOCRError(
            f"Tesseract has no language pack; install some with `{INSTALL_COMMAND}`",
            key="ocr_missing",
            command=INSTALL_COMMAND,
        )
    return "+".join(chosen[:MAX_LANGUAGES])


def recognize_page(
    image: Image.Image, languages: Sequence[str] = (), program: str | None = None
) -> OcrPage:
    """The text of one page image (any mode, ideally about 300 dpi)."""
    program = program or tesseract()
    lang = choose_languages(installed_languages(program), languages)
    gray = image.convert("L")
    skew = skew_angle(gray)
    best = _read(program, _rotate(gray, skew), lang, 0, skew)
    if best.confidence >= RETRY_CONFIDENCE:
        return best
    turn = orientation(program, gray)
    if turn:
        turned = gray.rotate(turn, expand=True, fillcolor=255)
        skew = skew_angle(turned)
        again = _read(program, _rotate(turned, skew), lang, turn, skew)
        if again.confidence > best.confidence:
            best = again
    return best


def _read(program: str, gray: Image.Image, lang: str, rotation: int, skew: float) -> OcrPage:
    tsv = _run([program, "stdin", "stdout", "-l", lang, "--psm", "3", "tsv"], _png(gray))
    text, confidence = text_of_tsv(tsv)
    return OcrPage(text, confidence, lang, rotation, skew)


def text_of_tsv(tsv: str) -> tuple[str, float]:
    """The words of Tesseract's TSV as lines and paragraphs, and their mean confidence."""
    paragraphs: dict[tuple[str, ...], dict[str, list[str]]] = {}
    confidences: list[float] = []
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5" or not (word := cols[11].strip()):
            continue
        lines = paragraphs.setdefault(tuple(cols[1:4]), {})  # page, block, paragraph
        lines.setdefault(cols[4], []).append(word)
        if (conf := float(cols[10])) >= 0:
            confidences.append(conf)
    text = "\n\n".join(
        "\n".join(" ".join(words) for words in lines.values()) for lines in paragraphs.values()
    )
    return text, (sum(confidences) / len(confidences) if confidences else 0.0)


def orientation(program: str, gray: Image.Image) -> int:
    """Degrees to turn the page (counter-clockwise, as ``Image.rotate``) to stand it up;
    0 when Tesseract is unsure or finds too little text."""
    try:
        out = _run([program, "stdin", "stdout", "--psm", "0", "--dpi", "150"], _png(gray.reduce(2)))
    except NeedsOCRError:
        return 0
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    try:
        rotate = int(fields["Rotate"].strip())
        confidence = float(fields["Orientation confidence"].strip())
    except (KeyError, ValueError):
        return 0
    # Tesseract's "Rotate" is clockwise; PIL turns counter-clockwise.
    return (360 - rotate) % 360 if confidence >= 2.0 else 0


def skew_angle(gray: Image.Image) -> float:
    """The page's skew in degrees (counter-clockwise positive), by projection profile."""
    scale = 1000 / max(1, gray.width)
    small = gray.resize((1000, max(1, round(gray.height * scale)))) if scale < 1 else gray
    pixels = np.asarray(small, dtype=np.uint8)
    if pixels.size == 0:
        return 0.0
    ink = Image.fromarray(np.where(pixels < _threshold(pixels), 255, 0).astype(np.uint8))
    best = _best_angle(ink, np.arange(-MAX_SKEW, MAX_SKEW + 0.01, 0.5))
    return round(_best_angle(ink, np.arange(best - 0.5, best + 0.51, 0.1)), 1)


def _threshold(pixels: np.ndarray) -> float:
    """Otsu's threshold of a grayscale image."""
    counts = np.bincount(pixels.ravel(), minlength=256).astype(np.float64)
    levels = np.arange(256)
    weight = np.cumsum(counts)
    mean = np.cumsum(counts * levels)
    total, total_mean = weight[-1], mean[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total_mean * weight - mean * total) ** 2 / (weight * (total - weight))
    return float(np.nanargmax(between)) if np.isfinite(between).any() else 128.0


def _best_angle(ink: Image.Image, angles: np.ndarray) -> float:
    def sharpness(angle: float) -> float:
        rows = np.asarray(ink.rotate(angle, resample=Image.Resampling.NEAREST), dtype=np.float64)
        return float(np.sum(np.diff(rows.sum(axis=1)) ** 2))

    return float(max(angles, key=sharpness))


def _rotate(gray: Image.Image, angle: float) -> Image.Image:
    if abs(angle) < 0.1:
        return gray
    return gray.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _run(command: list[str], data: bytes | None = None) -> str:
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    if nice := shutil.which("nice"):  # below searches and answers
        command = [nice, "-n", "10", *command]
    try:
        done = subprocess.run(
            command, input=data, capture_output=True, timeout=TIMEOUT, env=env, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NeedsOCRError(f"Tesseract failed ({exc})") from exc
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no reason"]
        raise NeedsOCRError(f"Tesseract failed ({reason[0]})")
    return done.stdout.decode("utf-8", "replace")

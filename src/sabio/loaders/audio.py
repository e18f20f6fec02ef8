"""Recordings (MP3, WAV, M4A, OGG, FLAC, WebM, MP4's sound): transcribed on this computer.

The words come from :mod:`sabio.transcription` (Whisper base, the language detected),
grouped into sections of about :data:`SECTION_CHARS` characters, each a passage whose
``page`` is the second it starts at: a citation says "at 12:34" and the web app plays
the recording from there. The model folder is assembled under the data directory's
``models/`` (``Blob.models``), once.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from sabio.errors import EmptyDocumentError
from sabio.loaders import Blob, LoadedDocument, ReadProgress, Section, register_loader
from sabio.transcription import Segment, Transcript, load_model, transcribe, whisper_folder

SECTION_CHARS = 600
"""About 40 seconds of speech: a citation's time is at most that far before the words."""
PAUSE = 2.0
"""A silence this long (seconds) starts a new section once the current one has a quarter
of the size; one of :data:`LONG_PAUSE` always does (another topic, another speaker)."""
LONG_PAUSE = 10.0


def sections_of(segments: list[Segment], size: int = SECTION_CHARS) -> list[Section]:
    """Consecutive segments joined into sections of about ``size`` characters, each with
    ``page`` the whole second its first segment starts at."""
    sections: list[Section] = []
    group: list[Segment] = []

    def close() -> None:
        if group:
            text = " ".join(s.text for s in group)
            sections.append(Section(text, page=int(group[0].start)))
            group.clear()

    for segment in segments:
        length = sum(len(s.text) + 1 for s in group)
        pause = segment.start - group[-1].end if group else 0.0
        paused = pause >= LONG_PAUSE or (pause >= PAUSE and length >= size // 4)
        if group and (length + len(segment.text) > size or paused):
            close()
        group.append(segment)
    close()
    return sections


def _transcript(blob: Blob) -> Transcript:
    if blob.path is not None:
        return _transcribe_file(blob.path, blob)
    with tempfile.TemporaryDirectory(prefix="sabio-audio-") as tmp:
        path = Path(tmp) / f"recording{blob.extension}"
        path.write_bytes(blob.read())
        return _transcribe_file(path, blob)


def _transcribe_file(path: Path, blob: Blob) -> Transcript:
    told = blob.progress

    def progress(done: float, duration: float) -> None:
        if told is not None:
            told(ReadProgress("transcription", int(done), max(1, int(duration))))

    if blob.models is not None:
        return transcribe(path, load_model(whisper_folder(blob.models)), progress=progress)
    with tempfile.TemporaryDirectory(prefix="sabio-whisper-") as tmp:  # no data directory
        return transcribe(path, load_model(whisper_folder(Path(tmp))), progress=progress)


@register_loader(".mp3", ".wav", ".ogg", ".oga", ".opus", ".flac", ".webm", ".m4a", ".mp4")
def load_recording(blob: Blob) -> LoadedDocument:
    transcript = _transcript(blob)
    if not transcript.segments:
        raise EmptyDocumentError("no speech in the recording")
    metadata = {
        "language": transcript.language,
        "duration": f"{transcript.duration:.1f}",
        "transcribed_by": "whisper-base",
    }
    return LoadedDocument(sections_of(transcript.segments), Path(blob.name).stem, metadata)

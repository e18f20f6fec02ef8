"""Transcription: word error rate and real-time factor of Sabio's local Whisper base.

    python bench/transcribe.py                      # the default settings against others
    python bench/transcribe.py --configs default    # one configuration only
    python bench/transcribe.py --json

The speech is made here, in the run: espeak-ng reads English and Spanish sentences at two
speeds (130 and 190 words a minute), each also with white noise mixed in by sox (about
20 dB below the speech). Nothing is downloaded; espeak-ng's voice is robotic, so real
speech should do better on WER. Needs espeak-ng and sox (scripts/install.sh installs
them with EXTRAS=dev).

- **WER**: word-level edit distance over the reference's words, after lower-casing and
  dropping punctuation (the sentences hold no numbers, which Whisper writes as digits);
- **RTF**: seconds of transcription per second of audio, the model loaded beforehand
  (its load time is printed apart); under 1 is faster than real time;
- **CPU-s per s**: the process's CPU seconds per second of audio (all its threads),
  which a busy machine changes less than the wall-clock RTF;
- **language**: the share of recordings whose language was detected right.

Configurations: ``default`` (sabio.transcription's THREADS, BEAM_SIZE and VAD), ``beam5``
(Whisper's own beam of 5), ``1thread``, ``novad``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sabio.transcription import (
    BEAM_SIZE,
    THREADS,
    load_model,
    transcribe,
    whisper_folder,
)

SENTENCES = {
    "en": [
        "The library opens early on weekdays and closes late on Fridays.",
        "Please send the signed contract to the legal department before the meeting.",
        "Heavy rain flooded the old bridge, so the morning trains were cancelled.",
        "Our team found that customers prefer shorter forms with clear instructions.",
        "The doctor asked him to drink more water and to walk every evening.",
    ],
    "es": [
        "La biblioteca abre temprano entre semana y cierra tarde los viernes.",
        "Por favor envía el contrato firmado al departamento legal antes de la reunión.",
        "La lluvia inundó el puente viejo y se cancelaron los trenes de la mañana.",
        "El equipo descubrió que los clientes prefieren formularios cortos y claros.",
        "La médica le pidió que bebiera más agua y que caminara cada tarde.",
    ],
}
SPEEDS = (130, 190)
NOISE_VOLUME = 0.03
CONFIGS: dict[str, dict[str, Any]] = {
    "default": {"threads": THREADS, "beam_size": BEAM_SIZE, "vad": True},
    "beam5": {"threads": THREADS, "beam_size": 5, "vad": True},
    "1thread": {"threads": 1, "beam_size": BEAM_SIZE, "vad": True},
    "novad": {"threads": THREADS, "beam_size": BEAM_SIZE, "vad": False},
}


@dataclass(frozen=True, slots=True)
class Clip:
    path: Path
    language: str
    speed: int
    noisy: bool
    reference: str


def words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).lower()
    return re.findall(r"[^\W_]+", text)


def word_errors(reference: list[str], hypothesis: list[str]) -> int:
    """Substitutions, insertions and deletions turning ``hypothesis`` into ``reference``."""
    row = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        previous, row[0] = row[0], i
        for j, hyp in enumerate(hypothesis, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ref != hyp))
    return row[-1]


def make_clips(folder: Path) -> list[Clip]:
    clips = []
    for language, sentences in SENTENCES.items():
        text = " ".join(sentences)
        for speed in SPEEDS:
            clean = folder / f"{language}-{speed}.wav"
            voice = ["espeak-ng", "-v", language, "-s", str(speed), "-w", str(clean), text]
            subprocess.run(voice, check=True)
            noise, noisy = (
                folder / f"{language}-{speed}-noise.wav",
                folder / f"{language}-{speed}-noisy.wav",
            )
            subprocess.run(
                ["sox", str(clean), str(noise), "synth", "whitenoise", "vol", str(NOISE_VOLUME)],
                check=True,
            )
            subprocess.run(["sox", "-m", str(clean), str(noise), str(noisy)], check=True)
            clips += [
                Clip(clean, language, speed, False, text),
                Clip(noisy, language, speed, True, text),
            ]
    return clips


def run_config(
    name: str, config: dict[str, Any], folder: Path, clips: list[Clip]
) -> dict[str, Any]:
    start = time.perf_counter()
    model = load_model(folder, config["threads"])
    loaded = time.perf_counter() - start
    rows = []
    for clip in clips:
        start, cpu = time.perf_counter(), time.process_time()
        found = transcribe(clip.path, model, beam_size=config["beam_size"], vad=config["vad"])
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        reference = words(clip.reference)
        errors = word_errors(reference, words(" ".join(s.text for s in found.segments)))
        rows.append(
            {
                "clip": clip.path.name,
                "language": clip.language,
                "speed": clip.speed,
                "noisy": clip.noisy,
                "wer": round(errors / len(reference), 3),
                "rtf": round(seconds / found.duration, 3),
                "cpu_rtf": round(cpu / found.duration, 3),
                "detected": found.language,
                "audio_seconds": round(found.duration, 1),
            }
        )
        print(f"  {name} {rows[-1]}", file=sys.stderr)
    return {"load_seconds": round(loaded, 2), "clips": rows}


def summary(rows: list[dict[str, Any]]) -> dict[str, float]:
    n = len(rows)
    return {
        "wer": round(sum(r["wer"] for r in rows) / n, 3),
        "rtf": round(sum(r["rtf"] for r in rows) / n, 3),
        "cpu_rtf": round(sum(r["cpu_rtf"] for r in rows) / n, 3),
        "language right": round(sum(r["detected"] == r["language"] for r in rows) / n, 2),
    }


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| configuration | language | speed (wpm) | noise | WER | RTF | CPU-s per s | language |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        groups: dict[tuple[str, int, bool], list[dict[str, Any]]] = {}
        for row in result["clips"]:
            groups.setdefault((row["language"], row["speed"], row["noisy"]), []).append(row)
        for (language, speed, noisy), rows in groups.items():
            s = summary(rows)
            lines.append(
                f"| {name} | {language} | {speed} | {'yes' if noisy else 'no'} | {s['wer']:.3f} "
                f"| {s['rtf']:.3f} | {s['cpu_rtf']:.3f} | {s['language right']:.0%} |"
            )
        s = summary(result["clips"])
        lines.append(
            f"| **{name}, all** (load {result['load_seconds']} s) | | | | **{s['wer']:.3f}** "
            f"| **{s['rtf']:.3f}** | {s['cpu_rtf']:.3f} | {s['language right']:.0%} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sabio-bench-audio-") as tmp:
        folder = whisper_folder(Path(tmp) / "models")
        clips = make_clips(Path(tmp))
        results = {name: run_config(name, CONFIGS[name], folder, clips) for name in args.configs}
    print(json.dumps(results, indent=2) if args.json else table(results))


if __name__ == "__main__":
    main()

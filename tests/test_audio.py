"""Recordings as documents: speech made by espeak-ng, transcribed by the real Whisper base
model, found by search with the second it was said at."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fake_servers import closed_port
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from sabio.cli import app
from sabio.config import load_settings
from sabio.loaders import ReadProgress
from sabio.loaders.audio import sections_of
from sabio.loaders.formats import clock, format_of, formats, is_timed, place
from sabio.server import create_app
from sabio.service import Sabio
from sabio.transcription import (
    Segment,
    load_model,
    segments_of_passages,
    to_srt,
    to_txt,
    to_vtt,
    transcribe,
    whisper_folder,
)

API = "/api/v1/kbs/talks"

CHAT_JS = Path(__file__).resolve().parents[1] / "src/sabio/web/static/views/chat.js"
ENGLISH = (
    "The lighthouse keeper wrote in his journal that the storm broke three windows, "
    "flooded the lower rooms and blew the boat far away from the harbour during the night."
)
LATER = "The harvest festival starts on the first Saturday of October."
SPANISH = "El ayuntamiento abrirá la nueva biblioteca pública el próximo lunes por la mañana."


def speak(path: Path, text: str, voice: str) -> Path:
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], check=True)
    return path


def test_sections_carry_the_second_they_start_at() -> None:
    segments = [Segment(0.0, 4.0, "a" * 300), Segment(4.2, 9.0, "b" * 250)]
    segments += [Segment(9.1, 12.5, "c" * 100), Segment(75.6, 80.0, "after a long pause")]
    sections = sections_of(segments, size=600)
    assert [s.page for s in sections] == [0, 9, 75]  # too long for one; a pause of 63 s
    assert sections[0].text == f"{'a' * 300} {'b' * 250}"


def test_places_say_pages_or_times() -> None:
    assert place("talk.mp3", 754) == "at 12:34"
    assert place("talk.MP4", 3723) == "at 1:02:03"
    assert place("report.pdf", 3) == "page 3"
    assert place("note.txt", None) == ""
    assert place("report.pdf", 3, "es") == "página 3"  # `sabio search` said "page 3" in Spanish
    assert place("talk.mp3", 754, "es") == "en 12:34"
    assert clock(59.9) == "0:59"


def test_the_web_app_knows_the_same_recordings() -> None:
    pattern = re.search(r"const RECORDING = /\\\.\((.*?)\)\$/i;", CHAT_JS.read_text())
    assert pattern is not None
    timed = {ext for f in formats() if f.timed for ext in f.extensions}
    assert {f".{ext}" for ext in pattern.group(1).split("|")} == timed


def test_content_checks_tell_a_recording_from_a_renamed_file(tmp_path: Path) -> None:
    wav = speak(tmp_path / "a.wav", "hello", "en").read_bytes()[:64]
    fmt = format_of("a.wav")
    assert fmt is not None and fmt.problem(wav, ".wav") is None
    mp4 = format_of("clip.mp4")
    assert mp4 is not None and mp4.problem(b"\x00\x00\x00\x20ftypisom", ".mp4") is None
    assert (
        mp4.problem(b"%PDF-1.7 ...", ".mp4")
        == "not a .mp4 file: it is not a recording (it looks like a PDF)"
    )
    assert is_timed("a.flac") and not is_timed("a.txt")


def test_subtitles() -> None:
    segments = [Segment(1.5, 3.25, "Hola."), Segment(3661.0, 3662.5, "Adiós.")]
    assert to_srt(segments).startswith("1\n00:00:01,500 --> 00:00:03,250\nHola.\n\n2\n01:01:01,000")
    assert to_vtt(segments).startswith("WEBVTT\n\n00:00:01.500 --> 00:00:03.250\nHola.\n")


@pytest.mark.slow
def test_speech_is_transcribed_with_its_language(tmp_path: Path) -> None:
    folder = whisper_folder(tmp_path / "models")
    assert whisper_folder(tmp_path / "models") == folder  # assembled once
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "model.bin",
        "tokenizer.json",
        "vocabulary.txt",
    ]
    model = load_model(folder)
    english = transcribe(speak(tmp_path / "en.wav", ENGLISH, "en"), model)
    assert english.language == "en"
    said = " ".join(s.text for s in english.segments).lower()
    assert all(word in said for word in ("lighthouse", "storm", "windows", "boat"))
    spanish = transcribe(speak(tmp_path / "es.wav", SPANISH, "es"), model)
    assert spanish.language == "es"
    assert "biblioteca" in " ".join(s.text for s in spanish.segments).lower()


@pytest.mark.slow
def test_sabio_add_and_search_cite_the_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SABIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SABIO_EMBEDDING_MODEL", "fake:words")
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    docs = tmp_path / "docs"
    docs.mkdir()
    first = speak(tmp_path / "first.wav", ENGLISH, "en")
    later = speak(tmp_path / "later.wav", LATER, "en")
    gap = tmp_path / "gap.wav"  # 20 s of silence in the same format
    subprocess.run(["sox", str(first), str(gap), "trim", "0", "0", "pad", "0", "20"], check=True)
    # the journal, the silence, then the festival: one recording
    subprocess.run(["sox", str(first), str(gap), str(later), str(docs / "diary.ogg")], check=True)
    runner = CliRunner()
    added = runner.invoke(app, ["add", str(docs)])
    assert added.exit_code == 0, added.output
    found = runner.invoke(app, ["search", "harvest festival October"])
    assert found.exit_code == 0, found.output
    match = re.search(r"diary\.ogg, at (\d+):(\d\d)", found.output)
    assert match is not None, found.output
    assert 20 <= int(match.group(1)) * 60 + int(match.group(2)) <= 40
    journal = runner.invoke(app, ["search", "lighthouse keeper storm"])
    assert "diary.ogg, at 0:00" in journal.output


def test_a_transcripts_passages_become_cues_from_their_second_to_the_next() -> None:
    pages: list[tuple[int | None, str]] = [
        (0, "The keeper  wrote.\n"),
        (41, "The festival."),
        (77, " "),
    ]
    segments = segments_of_passages(pages, 63.5)
    assert segments == [
        Segment(0.0, 41.0, "The keeper wrote."),
        Segment(41.0, 63.5, "The festival."),
    ]
    assert to_txt(segments) == "[0:00] The keeper wrote.\n\n[0:41] The festival.\n\n"
    assert segments_of_passages([], 10.0) == []


@pytest.mark.slow
def test_a_transcript_downloads_as_text_and_subtitles_and_its_progress_is_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    settings = load_settings(
        {"home": tmp_path / "home", "embedding_model": "fake:words", "workers": 1}, environ={}
    )
    first = speak(tmp_path / "first.wav", ENGLISH, "en")
    later = speak(tmp_path / "later.wav", LATER, "en")
    gap = tmp_path / "gap.wav"
    subprocess.run(["sox", str(first), str(gap), "trim", "0", "0", "pad", "0", "20"], check=True)
    diary = tmp_path / "diary.ogg"
    subprocess.run(["sox", str(first), str(gap), str(later), str(diary)], check=True)
    note = tmp_path / "note.txt"
    note.write_text("Not a recording.", encoding="utf-8")
    sabio = Sabio(settings)
    sabio.create_kb("talks")
    told: list[ReadProgress] = []

    def progress(
        result: Any, note: str, total: int | None = None, reading: ReadProgress | None = None
    ) -> None:
        if reading is not None:
            told.append(reading)

    sabio.add([diary, note], "talks", progress=progress)
    sabio.close()
    assert told and {r.what for r in told} == {"transcription"}
    assert [r.done for r in told] == sorted(r.done for r in told) and told[-1].done >= 20
    with TestClient(create_app(settings), base_url="http://127.0.0.1:11435") as client:
        ids = {d["name"]: d["id"] for d in client.get(f"{API}/documents").json()}
        url = f"{API}/documents/{ids['diary.ogg']}/transcript"
        txt = client.get(url)
        assert txt.headers["content-type"] == "text/plain; charset=utf-8"
        assert txt.headers["content-disposition"] == "attachment; filename*=UTF-8''diary.txt"
        assert txt.text.startswith("[0:00] ") and "festival" in txt.text.lower()
        srt = client.get(url, params={"format": "srt"}).text
        assert srt.startswith("1\n00:00:00,000 --> 00:00:")
        [festival] = [cue for cue in srt.split("\n\n") if "festival" in cue.lower()]
        starts = re.search(r"00:00:(\d\d),\d{3} -->", festival)
        assert starts is not None and 20 <= int(starts.group(1)) <= 40
        vtt = client.get(url, params={"format": "vtt"})
        assert vtt.headers["content-type"] == "text/vtt; charset=utf-8"
        assert vtt.text.startswith("WEBVTT\n\n00:00:00.000 --> ")
        wrong = client.get(f"{API}/documents/{ids['note.txt']}/transcript")
        assert (wrong.status_code, wrong.json()["error"]["key"]) == (404, "not_a_recording")
    monkeypatch.setenv("SABIO_HOME", str(settings.home))
    cli = CliRunner().invoke(app, ["transcript", "diary.ogg", "--kb", "talks", "-f", "vtt"])
    assert cli.exit_code == 0 and cli.stdout == vtt.text


@pytest.mark.slow
def test_an_uploaded_recording_is_transcribed_by_a_job_whose_seconds_the_list_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from sabio.jobs import JobQueue
    from sabio.worker import Worker

    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    settings = load_settings(
        {"home": tmp_path / "home", "embedding_model": "fake:words", "workers": 1}, environ={}
    )
    diary = speak(tmp_path / "diary.wav", ENGLISH, "en").read_bytes()
    sabio = Sabio(settings)
    app_ = create_app(settings, run_worker=False)  # the job is run below
    with TestClient(app_, base_url="http://127.0.0.1:11435") as client:
        client.post("/api/v1/kbs", json={"name": "talks"})
        upload = client.post(f"{API}/documents", files=[("files", ("diary.wav", diary))])
        [result] = upload.json()["files"]
        assert (result["status"], result["passages"]) == ("transcribing", 0)
        [document] = client.get(f"{API}/documents").json()
        assert document["status"] == "transcribing" and document["transcription"] is None
        # a worker at 0:12 of 0:40, which then dies: its job is taken up again
        gone = JobQueue(sabio.store, owner=f"{os.uname().nodename}:999999999")
        job = gone.claim()
        assert job is not None and job.payload["transcribe"]
        gone.heartbeat(job.id, 12, 40, "transcribing — 0:12 of 0:40: diary.wav")
        [document] = client.get(f"{API}/documents").json()
        assert document["transcription"] == {"done": 12, "total": 40}
        worker = Worker(sabio, watch=False)
        assert worker.run_pending() == 1
        worker.stop()
        [document] = client.get(f"{API}/documents").json()
        assert document["status"] == "indexed" and document["transcription"] is None
        hits = client.get(f"{API}/search", params={"q": "lighthouse keeper storm"}).json()
        assert hits["hits"] and hits["hits"][0]["document"] == "diary.wav"
    sabio.close()

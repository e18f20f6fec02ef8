"""Summaries of whole documents (sabio.tasks.summarize): extractive for the embedded model,
map-reduce for any other, every sentence checked against the page it cites."""

from __future__ import annotations

import json
from pathlib import Path

from test_extract import Scripted
from typer.testing import CliRunner

from sabio.cli import app
from sabio.tasks.summarize import extractive_summary, summarize_document

PAGES = [
    (1, "The tenant shall pay a monthly rent of 1,200 euros on the first day of each month."),
    (2, "The lease runs for five years from 1 March 2024 and may be renewed once by agreement."),
    (3, "Either party may end the lease with a notice period of sixty days given in writing."),
]


def test_extractive_summary_quotes_the_document_with_its_pages() -> None:
    summary = extractive_summary(PAGES, length="short")
    lines = summary.text.splitlines()
    assert len(lines) == 3 and summary.route.kind == "extractive" and summary.calls == 0
    for line, (page, text) in zip(lines, PAGES, strict=True):  # in the document's order
        assert line == f"- {text} [{page}]"
    assert summary.claims and not summary.unsupported
    assert all(c.page == n for c, (n, _) in zip(summary.claims, PAGES, strict=True))


def test_extractive_focus_picks_the_sentences_about_it() -> None:
    pages = [*PAGES, (4, "The landlord shall repair the roof, the walls and the heating system.")]
    summary = extractive_summary(pages, length="short", focus="notice period end lease writing")
    assert "sixty days" in summary.text.split("\n")[-1] or "sixty days" in summary.text
    assert summary.text.count("\n") == 2


def test_a_long_document_is_summarized_in_parts_then_combined_and_checked() -> None:
    filler = " ".join(f"word{i}" for i in range(400))
    pages = [(n, f"{text} {filler}") for n, text in PAGES]
    Scripted.replies = [
        "The tenant pays a monthly rent of 1,200 euros [1].",
        "The lease runs for five years from 1 March 2024 [2].",
        "Either party may end the lease with sixty days of notice [3].",
        "The tenant pays a monthly rent of 1,200 euros [1]. The lease runs for five years [2]. "
        "The landlord pays 9,999 euros of damages [3].",
    ]
    model = Scripted(1000)  # one page a call
    notes: list[str] = []
    summary = summarize_document(model, pages, length="short", progress=notes.append)
    route = summary.route  # map-reduce, because the counted tokens did not fit one call
    assert (route.kind, route.task, route.parts, route.rounds) == ("map-reduce", "summarize", 3, 1)
    assert route.tokens > route.budget and route.tokens > 3 * 400 and summary.calls == 4
    assert route.describe() == (
        f"summarize: map-reduce, 3 parts of up to {route.budget:,} tokens"
        f" ({route.tokens:,} counted), 1 round of combining"
    )
    assert notes == ["part 1 of 3", "part 2 of 3", "part 3 of 3", "combining"]
    assert "[page 2]" in model.prompts[1]  # the model sees where each page starts
    supported = [c.text for c in summary.claims if c.supported]
    assert [c.text for c in summary.unsupported] == ["The landlord pays 9,999 euros of damages."]
    assert len(supported) == 2


def test_sabio_summarize_a_file_as_json(tmp_path: Path) -> None:
    path = tmp_path / "lease.txt"
    path.write_text("\n\n".join(t for _, t in PAGES), encoding="utf-8")
    Scripted.replies = ["The lease runs for five years from 1 March 2024."]
    result = CliRunner().invoke(
        app,
        [
            "--home",
            str(tmp_path / "home"),
            "summarize",
            str(path),
            "--model",
            "scripted:4096",
            "--json",
        ],
        env={"SABIO_EMBEDDING_MODEL": "fake:words"},
    )
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["summary"] == "The lease runs for five years from 1 March 2024."
    assert found["claims"][0]["supported"]
    route = found["route"]  # the whole document: its counted tokens fit one call
    assert (route["kind"], route["task"], route["parts"]) == ("document", "summarize", 1)
    assert 0 < route["tokens"] <= route["budget"]
    bad = CliRunner().invoke(
        app,
        ["--home", str(tmp_path / "home"), "summarize", "lease.txt", "--length", "huge"],
        env={"SABIO_EMBEDDING_MODEL": "fake:words"},
    )
    assert bad.exit_code == 1 and "no summary length 'huge'" in bad.output

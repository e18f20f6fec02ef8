"""What changed between two documents (sabio.tasks.compare), with pages on both sides."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from sabio.cli import app
from sabio.tasks.compare import compare_documents

OLD = [
    (1, "# Lease\n\nThe tenant pays 1,200 euros each month. The landlord repairs the roof."),
    (2, "# Ending\n\nEither party may end the lease with thirty days of notice. Keys go back."),
]
NEW = [
    (1, "# Lease\n\nThe tenant pays 1,300 euros each month. The landlord repairs the roof."),
    (
        2,
        "# Ending\n\nEither party may end the lease with sixty days of notice. "
        "A deposit of two months is due. Keys go back.",
    ),
    (3, "# Signatures\n\nSigned in Madrid on 3 March 2024 by both parties."),
]


def test_changes_added_and_removed_with_pages_and_sections() -> None:
    changes = compare_documents(OLD, NEW)
    summary = [
        (c.kind, c.old.page if c.old else None, c.new.page if c.new else None, c.section)
        for c in changes
    ]
    assert summary == [
        ("changed", 1, 1, "Lease"),
        ("changed", 2, 2, "Ending"),
        ("added", None, 2, "Ending"),
        ("added", None, 3, "Signatures"),
    ]
    assert (changes[0].removed_words, changes[0].added_words) == ("1,200", "1,300")
    assert (changes[1].removed_words, changes[1].added_words) == ("thirty", "sixty")
    assert compare_documents(OLD, OLD) == []
    removed = compare_documents(NEW, OLD)
    assert ("removed", 3) in [(c.kind, c.old.page) for c in removed if c.old]


def test_spacing_case_and_thousands_separators_are_no_change() -> None:
    same = [
        (1, "# LEASE\n\nThe tenant pays  1200 euros each month. The landlord repairs the roof.")
    ]
    assert compare_documents(OLD[:1], same) == []


def test_sabio_compare_two_files(tmp_path: Path) -> None:
    old, new = tmp_path / "v1.md", tmp_path / "v2.md"
    old.write_text("\n\n".join(t for _, t in OLD), encoding="utf-8")
    new.write_text("\n\n".join(t for _, t in NEW), encoding="utf-8")
    result = CliRunner().invoke(
        app,
        ["--home", str(tmp_path / "home"), "compare", str(old), str(new), "--json"],
        env={"SABIO_EMBEDDING_MODEL": "fake:words"},
    )
    assert result.exit_code == 0, result.output
    changes = json.loads(result.stdout)
    assert [c["kind"] for c in changes] == ["changed", "changed", "added", "added"]
    assert changes[1]["section"] == "Ending" and changes[1]["added_words"] == "sixty"
    said = CliRunner().invoke(
        app,
        ["--home", str(tmp_path / "home"), "compare", "v1.md", "v2.md"],
        env={"SABIO_EMBEDDING_MODEL": "fake:words", "SABIO_LANGUAGE": "es"},
    )
    assert said.exit_code == 0, said.output
    assert "v1.md → v2.md: 4 cambios" in said.stdout and "añadido" in said.stdout

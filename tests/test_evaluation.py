"""`sabio eval`: BEIR folders, the metrics (against hand-computed values), the command."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest
from fake_servers import closed_port
from typer.testing import CliRunner

from sabio.cli import app
from sabio.errors import ConfigError
from sabio.evaluation import load_beir, mrr, ndcg, recall, score

DOCS = {
    "d1": ("Lighthouse", "The lighthouse of Alexandria guided ships into the harbour."),
    "d2": ("Volcano", "Mount Vesuvius buried Pompeii under ash in the year 79."),
    "d3": ("Glaciers", "Glaciers carve valleys as the ice moves slowly downhill."),
    "d4": ("Coffee", "Coffee beans are roasted seeds of the Coffea plant."),
}
QUERIES = {"q1": "which lighthouse guided ships", "q2": "volcano ash Pompeii", "q3": "unjudged"}
QRELS = [("q1", "d1", 1), ("q2", "d2", 2), ("q2", "d4", 0)]


def _write_beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as f:
        for doc_id, (title, text) in DOCS.items():
            f.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as f:
        for qid, text in QUERIES.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in QRELS]
    (folder / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return folder


def test_metrics_match_hand_computed_values() -> None:
    relevant = {"b": 1, "d": 1}
    ranking = ["a", "b", "c"]
    assert ndcg(ranking, relevant, 10) == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert recall(ranking, relevant, 10) == 0.5
    assert recall(ranking, relevant, 1) == 0.0
    assert mrr(ranking, relevant, 10) == 0.5
    assert mrr(ranking, relevant, 1) == 0.0
    # graded judgments: linear gains, ideal order first
    graded = {"a": 2, "c": 1}
    assert ndcg(["c", "a"], graded, 10) == pytest.approx(
        (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))
    )
    assert ndcg(["a", "c"], graded, 10) == pytest.approx(1.0)
    assert ndcg(["x"] * 10 + ["a"], graded, 10) == 0.0


def test_score_averages_over_judged_queries() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    metrics = score({"q1": ["a"], "q3": ["b"]}, qrels)  # q2 unanswered counts as 0
    assert metrics["ndcg@10"] == 0.5
    assert metrics["recall@100"] == 0.5
    assert metrics["mrr@10"] == 0.5


def test_load_beir_keeps_judged_queries_with_positive_grades(tmp_path: Path) -> None:
    data = load_beir(_write_beir(tmp_path / "beir"))
    assert set(data.corpus) == set(DOCS)
    assert data.corpus["d1"][0] == "Lighthouse"
    assert data.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2}}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.mkdir(), "corpus.jsonl is missing"),
        (lambda p: p.write_text("x"), "is not a folder"),
        (
            lambda p: (p.mkdir(), (p / "corpus.jsonl").write_text("not json\n")),
            "line 1 of corpus.jsonl is not JSON",
        ),
    ],
)
def test_a_folder_that_is_not_beir_is_a_clear_error(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "nope"
    make(folder)
    with pytest.raises(ConfigError, match=message):
        load_beir(folder)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SABIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SABIO_EMBEDDING_MODEL", "fake:words")
    monkeypatch.setenv("SABIO_WORKERS", "1")
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    return CliRunner()


def test_sabio_eval_runs_a_beir_folder_end_to_end(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _write_beir(tmp_path / "beir")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))  # where /tmp would be
    result = cli.invoke(app, ["eval", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert set(metrics) >= {"ndcg@10", "recall@10", "recall@100", "mrr@10"}
    assert metrics["ndcg@10"] == 1.0  # each query's words are in its document only
    # the throwaway index lived inside the data directory, and is gone: nothing else there
    assert list((tmp_path / "home").iterdir()) == [] and list(temporary.iterdir()) == []
    plain = cli.invoke(app, ["eval", str(folder)])
    assert plain.exit_code == 0
    assert "ndcg@10" in plain.stdout


def test_sabio_eval_on_a_bad_folder_exits_1_with_one_line(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = cli.invoke(app, ["eval", str(tmp_path / "empty")])
    assert result.exit_code == 1
    message = " ".join(result.output.split())  # the console wraps long lines
    assert "empty is not a BEIR-format folder: corpus.jsonl is missing" in message
    assert "Traceback" not in message

"""Retrieval evaluation on a BEIR-format folder, through the product's own pipeline.

A BEIR folder holds ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl``
(``_id``, ``text``) and ``qrels/<split>.tsv`` (``query-id``, ``corpus-id``, ``score``).
:func:`evaluate_folder` writes every corpus document as a Markdown file (the title in its
front matter) into a temporary data directory, adds them with :meth:`Sabio.add` (the real
loaders, chunking, embedding and index), asks :meth:`Sabio.search` each query and ranks
documents by their best passage: the first ones as a search of the product's depth
returns them, the rest (for recall@100) from a deeper search. The user's own data
directory is never touched.

:func:`evaluate_feedback` measures a knowledge base as it is on the judged set its users
made (``sabio eval --from-feedback KB``): each pinned answer's question, whose relevant
documents are those the answer cites, and each correction's question, whose relevant
document is its note; so a change of embedder or settings is measured on their own
questions.

Metrics follow BEIR (pytrec_eval): nDCG@k with linear gains, recall@k over the judged
relevant documents, MRR@k; each is the mean over the queries that have a relevant document.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sabio.config import Settings
from sabio.errors import ConfigError
from sabio.home import WORK_PREFIX, make_private_home
from sabio.ingest import FileResult
from sabio.search import CANDIDATES
from sabio.service import Sabio

PASSAGES = 300  # passages for the tail of the ranking: enough to rank 100 documents
METRICS = ("ndcg@10", "recall@5", "recall@10", "recall@100", "mrr@10")
EVAL_KB = "eval"

Progress = Callable[[str, int, int | None], None]  # (what, done, total)
Ranking = list[str]  # document ids, best first


@dataclass(frozen=True, slots=True)
class BeirSet:
    """Documents (id → (title, text)), queries (id → text) and judgments (query → doc → grade)."""

    name: str
    corpus: dict[str, tuple[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]

    def with_queries(self, other: BeirSet) -> BeirSet:
        """This corpus with another set's queries and judgments (e.g. Spanish questions over
        the English corpus, when document ids match)."""
        return BeirSet(f"{other.name} over {self.name}", self.corpus, other.queries, other.qrels)


def _not_beir(folder: Path, why: str) -> ConfigError:
    return ConfigError(
        f"{folder} is not a BEIR-format folder: {why} (expected corpus.jsonl, queries.jsonl "
        "and qrels/<split>.tsv)"
    )


def _read_jsonl(path: Path, folder: Path) -> Iterable[dict[str, object]]:
    if not path.is_file():
        raise _not_beir(folder, f"{path.name} is missing")
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise _not_beir(folder, f"line {number} of {path.name} is not JSON") from exc
            if not isinstance(row, dict) or "_id" not in row:
                raise _not_beir(folder, f"line {number} of {path.name} has no _id")
            yield row


def qrels_file(folder: Path, split: str | None = None) -> Path:
    """``qrels/<split>.tsv``; without a split, test.tsv, else the only file there."""
    found = sorted((folder / "qrels").glob("*.tsv"))
    if not found:
        raise _not_beir(folder, "qrels/ holds no .tsv file")
    names = {p.stem: p for p in found}
    if split is not None:
        if split not in names:
            raise ConfigError(f"{folder} has no qrels/{split}.tsv (splits: {', '.join(names)})")
        return names[split]
    if "test" in names or len(found) == 1:
        return names.get("test", found[0])
    raise ConfigError(f"{folder} has several splits ({', '.join(names)}): choose one with --split")


def load_beir(folder: Path, split: str | None = None) -> BeirSet:
    """Read a BEIR-format folder; a clear ConfigError when it is not one."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder: give a BEIR-format folder")
    corpus = {
        str(row["_id"]): (str(row.get("title") or ""), str(row.get("text") or ""))
        for row in _read_jsonl(folder / "corpus.jsonl", folder)
    }
    queries = {
        str(row["_id"]): str(row.get("text") or "")
        for row in _read_jsonl(folder / "queries.jsonl", folder)
    }
    qrels: dict[str, dict[str, int]] = {}
    path = qrels_file(folder, split)
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split("\t") if "\t" in line else line.split()
        if (number == 1 and parts[:1] == ["query-id"]) or not line.strip():
            continue
        try:
            qid, did, grade = parts[0], parts[1], int(parts[-1])
        except (IndexError, ValueError) as exc:
            raise _not_beir(
                folder, f"line {number} of qrels/{path.name} is not id, id, score"
            ) from exc
        if grade > 0:
            qrels.setdefault(qid, {})[did] = grade
    qrels = {q: docs for q, docs in qrels.items() if q in queries}
    if not corpus or not qrels:
        raise _not_beir(folder, "no document or no judged query")
    return BeirSet(folder.name, corpus, queries, qrels)


# metrics


def ndcg(ranking: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranking[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall(ranking: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    return len(set(ranking[:k]) & relevant.keys()) / len(relevant) if relevant else 0.0


def mrr(ranking: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    return next((1 / (i + 1) for i, d in enumerate(ranking[:k]) if d in relevant), 0.0)


def score(
    rankings: Mapping[str, Ranking], qrels: Mapping[str, Mapping[str, int]]
) -> dict[str, float]:
    """The mean of each metric over the judged queries (a query without a ranking scores 0)."""
    totals = dict.fromkeys(METRICS, 0.0)
    for qid, relevant in qrels.items():
        ranking = rankings.get(qid, [])
        for name in METRICS:
            kind, k = name.split("@")
            fn = {"ndcg": ndcg, "recall": recall, "mrr": mrr}[kind]
            totals[name] += fn(ranking, relevant, int(k))
    n = len(qrels) or 1
    return {name: round(total / n, 4) for name, total in totals.items()}


# running Sabio


def write_corpus(data: BeirSet, folder: Path) -> dict[str, str]:
    """One Markdown file per document (title in the front matter); {file path: document id}."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = {}
    for n, (doc_id, (title, text)) in enumerate(data.corpus.items()):
        path = folder / f"doc{n:07d}.md"
        title = " ".join(title.split()).replace('"', "'")
        path.write_text(f'---\ntitle: "{title}"\n---\n{text}\n' if title else text, "utf-8")
        sources[str(path.absolute())] = doc_id
    return sources


def rank_documents(
    sabio: Sabio,
    queries: Mapping[str, str],
    sources: Mapping[str, str],
    kb_name: str = EVAL_KB,
    progress: Progress | None = None,
) -> dict[str, Ranking]:
    """For each query, documents in the order of their best passage in Sabio's search."""
    rankings: dict[str, Ranking] = {}
    for n, (qid, text) in enumerate(queries.items()):
        hits = sabio.search(text, kb_name, k=CANDIDATES).hits  # as the product ranks
        hits += sabio.search(text, kb_name, k=PASSAGES).hits  # deeper, for recall@100
        rankings[qid] = list(dict.fromkeys(sources[h.document] for h in hits))
        if progress is not None and (n % 25 == 0 or n + 1 == len(queries)):
            progress("searching", n + 1, len(queries))
    return rankings


def run_sabio(
    data: BeirSet, settings: Settings, progress: Progress | None = None
) -> dict[str, Ranking]:
    """Ingest ``data`` into a throwaway data directory with ``settings`` and rank every
    judged query; the directory is deleted afterwards. It is made inside the data
    directory of ``settings``, where everything Sabio writes goes (not in /tmp)."""
    make_private_home(settings.home)
    with tempfile.TemporaryDirectory(prefix=f"{WORK_PREFIX}eval-", dir=settings.home) as tmp:
        sources = write_corpus(data, Path(tmp) / "corpus")
        sabio = Sabio(dataclasses.replace(settings, home=Path(tmp) / "home"))
        try:
            sabio.create_kb(EVAL_KB)
            sabio.add([Path(tmp) / "corpus"], EVAL_KB, progress=_ingest_progress(progress))
            queries = {q: data.queries[q] for q in data.qrels}
            return rank_documents(sabio, queries, sources, EVAL_KB, progress)
        finally:
            sabio.close()


def evaluate_folder(
    folder: Path, settings: Settings, split: str | None = None, progress: Progress | None = None
) -> dict[str, float]:
    """Metrics of Sabio's search with ``settings`` on a BEIR-format folder."""
    data = load_beir(folder, split)
    return score(run_sabio(data, settings, progress), data.qrels)


@dataclass(frozen=True, slots=True)
class JudgedQuestion:
    """A question of the judged set its users made: the feedback it came from, why it is
    judged (``pinned``: its answer was pinned; ``corrected``: it has a note) and the
    sources of the documents that answer it (the pinned answer's citations, the note)."""

    feedback_id: int
    question: str
    pinned: bool
    corrected: bool
    relevant: tuple[str, ...]

    @property
    def query_id(self) -> str:
        return f"feedback-{self.feedback_id}"


@dataclass(frozen=True, slots=True)
class FeedbackScores:
    """The judged set, its metrics (:data:`METRICS`) and, per question (by its feedback
    id), the place of the first document that answers it in the search (None: not in it)."""

    judged: list[JudgedQuestion]
    metrics: dict[str, float]
    ranks: dict[int, int | None]


def judged_questions(sabio: Sabio, kb_name: str) -> list[JudgedQuestion]:
    """The questions the users of ``kb_name`` judged (see the module's text), oldest first."""
    from sabio.notes import note_id, note_source

    found = []
    for judged in sabio.list_feedback(kb_name):
        relevant: dict[str, None] = {}
        if judged.pinned:
            cited = (str(c.get("document", "")) for c in judged.citations)
            relevant |= dict.fromkeys(d for d in cited if d and note_id(d) is None)
        corrected = judged.is_note and judged.status == "active"
        if corrected:
            relevant[note_source(judged.id)] = None
        if relevant and judged.question:
            found.append(
                JudgedQuestion(judged.id, judged.question, judged.pinned, corrected,
                               tuple(relevant))
            )  # fmt: skip
    return found


def score_feedback(sabio: Sabio, kb_name: str, progress: Progress | None = None) -> FeedbackScores:
    """``kb_name``'s search as it is now on its users' judged questions: the metrics and
    where each question's first answering document ranks."""
    judged = judged_questions(sabio, kb_name)
    if not judged:
        raise ConfigError(
            f"no judged questions in {kb_name!r} yet: pin good answers or correct wrong "
            "ones (sabio chat: /pin, /correct), then measure again",
            key="no_feedback",
        )
    queries = {j.query_id: j.question for j in judged}
    qrels = {j.query_id: dict.fromkeys(j.relevant, 1) for j in judged}
    sources = {d.source: d.source for d in sabio.documents(kb_name)}
    rankings = rank_documents(sabio, queries, sources, kb_name, progress)
    ranks = {
        j.feedback_id: next(
            (i + 1 for i, d in enumerate(rankings[j.query_id]) if d in j.relevant), None
        )
        for j in judged
    }
    metrics = {"questions": float(len(qrels)), **score(rankings, qrels)}
    return FeedbackScores(judged, metrics, ranks)


def evaluate_feedback(
    sabio: Sabio, kb_name: str, progress: Progress | None = None
) -> dict[str, float]:
    """Metrics of ``kb_name``'s search as it is now on its users' judged questions."""
    return score_feedback(sabio, kb_name, progress).metrics


def _ingest_progress(progress: Progress | None) -> Callable[..., None] | None:
    if progress is None:
        return None
    state = {"done": 0, "total": None}

    def notify(result: FileResult | None, note: str, total: int | None = None) -> None:
        if total is not None:
            state["total"] = total
        if result is not None:
            state["done"] = int(state["done"] or 0) + 1
        progress(note or "reading documents", int(state["done"] or 0), state["total"])

    return notify

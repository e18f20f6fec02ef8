# ruff: noqa: E501  (the questions, their hand-written SQL: one per line reads best)
"""Questions over spreadsheets answered by computation (issue 23), and the table engine's
load time and memory on a million rows.

    python bench/tables.py questions                 # the embedded chat model
    python bench/tables.py questions --model ollama:qwen2.5-coder:7b
    python bench/tables.py questions --model reference:gold   # hand-written SQL: the ceiling
    python bench/tables.py load                      # a generated 1M-row CSV
    python bench/tables.py all

``questions``: four of the shared files (../shared/data/documents/csv and xlsx: veterans'
education by state, Nebraska county populations, the Kansas and Nebraska 1033 transfers)
go into a throwaway knowledge base through ``Sabio.add``; 22 questions, in English and in
Spanish (totals, averages, counts, top-k, filters on dates), are asked through
``Sabio.ask``. Each expected answer is computed here from the files with the csv module
and openpyxl (never with Sabio's engine). Reported: the share of questions detected as
table questions, the SQL validity rate (a query that passed the validator and ran), the
exact-result rate (the result holds the expected value, or the expected rows), answers
with a figure that is not in the result (must be 0), and the latency.

``load``: a seeded CSV of 1M rows in Spanish formats (dd/mm/yyyy dates, "1.234,56"
amounts, ";" separated) goes the way a reader process takes it: loaded for its passages
(``load_document``, timed apart: the loader keeps the first 200,000 rows), then read
whole, typed (:func:`sabio.tables.extract.tables_of`) and kept
(:meth:`TableStore.replace`): ``load_s`` is these last two. Then a group-by is run; the baseline in the same run is DuckDB's own ``read_csv`` of the same
file (which reads the amounts as text: it knows no decimal comma) and the same group-by
on it. Peak RSS is this process's (``ru_maxrss``), the rows held in memory included.
Results are printed and written to bench/results/tables-*.json; see docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import random
import re
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import openpyxl

from sabio.config import Settings, load_settings
from sabio.errors import SabioError
from sabio.loaders import Blob, load_document
from sabio.models import ChatOptions, Message, register_chat_backend
from sabio.service import Sabio
from sabio.tables.engine import PRIVATE, TableStore
from sabio.tables.extract import tables_of

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "documents"
RESULTS = Path(__file__).resolve().parent / "results"
FILES = (
    DATA / "csv" / "FY09_EDU_Recipients_by_State.csv",
    DATA / "csv" / "acs2012_5yr_population.csv",
    DATA / "csv" / "ks_1033_data.csv",
    DATA / "xlsx" / "ne_1033_data.xlsx",
)


@dataclass(frozen=True)
class Question:
    text: str
    expected: Any
    """A value, or a list of row tuples."""
    shape: str = "value"  # value | ordered | rows (any order)
    gold: str = ""
    """SQL written by hand for the ``reference`` model (see :class:`ReferenceSQL`)."""


# --- the files, read here without Sabio -----------------------------------------------


def _number(text: str) -> float:
    return float(text.replace(",", "")) if text.strip() else 0.0


def _csv(name: str) -> list[dict[str, str]]:
    with (DATA / "csv" / name).open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def _ne() -> list[dict[str, Any]]:
    book = openpyxl.load_workbook(FILES[3], read_only=True, data_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    book.close()
    header = [str(h) for h in rows[0]]
    return [dict(zip(header, r, strict=False)) for r in rows[1:] if any(v is not None for v in r)]


def _ks_date(row: dict[str, str]) -> date:
    return datetime.strptime(row["ship_date"].split()[0], "%m/%d/%Y").date()


def _top(totals: dict[str, float], n: int) -> list[tuple[str, float]]:
    return sorted(totals.items(), key=lambda kv: -kv[1])[:n]


def _sums(
    rows: list[dict[str, Any]], key: str, value: Callable[[dict[str, Any]], float]
) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for row in rows:
        totals[str(row[key])] += value(row)
    return dict(totals)


def questions() -> list[Question]:
    edu = [r for r in _csv("FY09_EDU_Recipients_by_State.csv") if r["State Name"].strip()]
    pop = _csv("acs2012_5yr_population.csv")
    ks = _csv("ks_1033_data.csv")
    ne = _ne()
    total = {r["State Name"]: _number(r["TOTAL"]) for r in edu}
    active = {r["State Name"]: _number(r["Montgomery GI Bill-Active Duty"]) for r in edu}
    people = {r["name"]: float(r["total_population"]) for r in pop}
    ks_cost = _sums(ks, "county", lambda r: float(r["total_cost"]))
    ks_years = _sums(
        [{**r, "year": _ks_date(r).year} for r in ks], "year", lambda r: float(r["total_cost"])
    )
    ne_cost = _sums(ne, "federal_supply_category_name", lambda r: float(r["total_cost"]))
    ne_county = _sums(ne, "county", lambda r: float(r["total_cost"]))
    vietnam = "Post-Vietnam Era Veteran's Educational Assistance Program"
    asked = [
        Question(
            "What is the sum of the TOTAL column over all states in FY09_EDU_Recipients_by_State?",
            sum(total.values()),
        ),
        Question(
            "¿Qué estado tiene el mayor TOTAL de beneficiarios en FY09_EDU_Recipients_by_State?",
            max(total, key=total.__getitem__),
        ),
        Question(
            "Top 3 states by Montgomery GI Bill-Active Duty recipients", _top(active, 3), "ordered"
        ),
        Question(
            f"¿Cuántos beneficiarios del {vietnam} hay en total sumando todos los estados?",
            sum(_number(r[vietnam]) for r in edu),
        ),
        Question(
            "How many states have a TOTAL above 10000 recipients?",
            sum(1 for v in total.values() if v > 10000),
        ),
        Question(
            "What is the total population of all counties in acs2012_5yr_population?",
            sum(people.values()),
        ),
        Question(
            "¿Cuál es la media de total_population de los condados en acs2012_5yr_population?",
            statistics.fmean(people.values()),
        ),
        Question(
            "Which county has the largest total_population?", max(people, key=people.__getitem__)
        ),
        Question(
            "¿Cuántos condados tienen una total_population menor de 1000?",
            sum(1 for v in people.values() if v < 1000),
        ),
        Question("Top 5 counties by total_population", _top(people, 5), "ordered"),
        Question(
            "What is the sum of total_cost of all items in ks_1033_data?",
            sum(float(r["total_cost"]) for r in ks),
        ),
        Question(
            "¿Cuál es la suma de total_cost por condado en ks_1033_data? Los 5 mayores",
            _top(ks_cost, 5),
            "ordered",
        ),
        Question(
            "What is the sum of quantity for items shipped in 2013 in ks_1033_data?",
            sum(float(r["quantity"]) for r in ks if _ks_date(r).year == 2013),
        ),
        Question(
            "¿Cuántas filas de ks_1033_data tienen el item_name 'RIFLE,5.56 MILLIMETER'?",
            sum(1 for r in ks if r["item_name"] == "RIFLE,5.56 MILLIMETER"),
        ),
        Question(
            "What is the average acquisition_cost in ks_1033_data?",
            statistics.fmean(float(r["acquisition_cost"]) for r in ks),
        ),
        Question(
            "¿Cuál es la suma de total_cost por año de ship_date en ks_1033_data?",
            sorted(ks_years.items()),
            "rows",
        ),
        Question(
            "What was the most recent ship_date in ks_1033_data?", max(_ks_date(r) for r in ks)
        ),
        Question(
            "What is the total quantity of items in ne_1033_data?",
            sum(float(r["quantity"]) for r in ne),
        ),
        Question(
            "¿Cuál es la suma de total_cost por federal_supply_category_name en ne_1033_data? Los 3 mayores",
            _top(ne_cost, 3),
            "ordered",
        ),
        Question(
            "How many distinct counties appear in ne_1033_data?", len({r["county"] for r in ne})
        ),
        Question(
            "¿Cuál es la suma de quantity de los artículos enviados en 2008 en ne_1033_data?",
            sum(float(r["quantity"]) for r in ne if r["ship_date"].year == 2008),
        ),
        Question(
            "Which county in ne_1033_data has the highest sum of total_cost?",
            max(ne_county, key=ne_county.__getitem__),
        ),
    ]
    return [dataclasses.replace(q, gold=_gold(q.text)) for q in asked]


GOLD = {
    "What is the sum of the TOTAL column": "SELECT sum(total) AS total FROM fy09_edu_recipients_by_state",
    "¿Qué estado tiene el mayor TOTAL": "SELECT state_name FROM fy09_edu_recipients_by_state ORDER BY total DESC LIMIT 1",
    "Top 3 states by Montgomery": "SELECT state_name, montgomery_gi_bill_active_duty FROM fy09_edu_recipients_by_state ORDER BY 2 DESC LIMIT 3",
    "¿Cuántos beneficiarios del": "SELECT sum(post_vietnam_era_veteran_s_educational_assistance_program) AS total FROM fy09_edu_recipients_by_state",
    "How many states have a TOTAL above": "SELECT count(*) AS states FROM fy09_edu_recipients_by_state WHERE total > 10000",
    "What is the total population of all counties": "SELECT sum(total_population) AS total FROM acs2012_5yr_population",
    "¿Cuál es la media de total_population": "SELECT avg(total_population) AS media FROM acs2012_5yr_population",
    "Which county has the largest total_population": "SELECT name FROM acs2012_5yr_population ORDER BY total_population DESC LIMIT 1",
    "¿Cuántos condados tienen una total_population": "SELECT count(*) AS condados FROM acs2012_5yr_population WHERE total_population < 1000",
    "Top 5 counties by total_population": "SELECT name, total_population FROM acs2012_5yr_population ORDER BY total_population DESC LIMIT 5",
    "What is the sum of total_cost of all items in ks": "SELECT sum(total_cost) AS total FROM ks_1033_data",
    "¿Cuál es la suma de total_cost por condado": "SELECT county, sum(total_cost) AS total FROM ks_1033_data GROUP BY county ORDER BY total DESC LIMIT 5",
    "What is the sum of quantity for items shipped in 2013": "SELECT sum(quantity) AS total FROM ks_1033_data WHERE year(ship_date) = 2013",
    "¿Cuántas filas de ks_1033_data": "SELECT count(*) AS filas FROM ks_1033_data WHERE item_name = 'RIFLE,5.56 MILLIMETER'",
    "What is the average acquisition_cost": "SELECT avg(acquisition_cost) AS average FROM ks_1033_data",
    "¿Cuál es la suma de total_cost por año": "SELECT year(ship_date) AS year, sum(total_cost) AS total FROM ks_1033_data GROUP BY 1",
    "What was the most recent ship_date": "SELECT max(ship_date) AS latest FROM ks_1033_data",
    "What is the total quantity of items in ne": "SELECT sum(quantity) AS total FROM ne_1033_data",
    "¿Cuál es la suma de total_cost por federal_supply_category_name": "SELECT federal_supply_category_name, sum(total_cost) AS total FROM ne_1033_data GROUP BY 1 ORDER BY total DESC LIMIT 3",
    "How many distinct counties": "SELECT count(DISTINCT county) AS counties FROM ne_1033_data",
    "¿Cuál es la suma de quantity de los artículos enviados en 2008": "SELECT sum(quantity) AS total FROM ne_1033_data WHERE year(ship_date) = 2008",
    "Which county in ne_1033_data has the highest": "SELECT county FROM ne_1033_data GROUP BY county ORDER BY sum(total_cost) DESC LIMIT 1",
}


def _gold(text: str) -> str:
    return next(sql for start, sql in GOLD.items() if text.startswith(start))


class ReferenceSQL:
    """``reference``: a chat model that answers each question of this bench with the SQL
    written for it by hand: the pipeline's ceiling (detection, validation, the typed
    tables, the comparison) when the SQL is right. Registered as any backend is."""

    name = "reference:gold"
    context_window = 32768

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(
        self, messages: Sequence[Message], options: ChatOptions
    ) -> Generator[str, None, str | None]:
        question = next(m["content"] for m in messages if m["role"] == "user")
        yield f"```sql\n{_gold(question)}\n```"
        return "stop"


@register_chat_backend("reference")
def _reference(settings: Settings, model: str) -> ReferenceSQL:
    return ReferenceSQL()


# --- comparing ------------------------------------------------------------------------


def same(expected: Any, cell: Any) -> bool:
    if cell is None:
        return False
    if isinstance(expected, int | float):
        try:
            value = float(cell)
        except (TypeError, ValueError):
            return False
        return abs(value - expected) <= max(0.01, abs(expected) * 1e-9)
    if isinstance(expected, date):
        return str(cell)[:10] == expected.isoformat()
    return str(cell).strip().casefold() == str(expected).strip().casefold()


def _row_holds(expected: tuple[Any, ...], row: list[Any]) -> bool:
    return all(any(same(e, c) for c in row) for e in expected)


def exact(question: Question, rows: list[list[Any]]) -> bool:
    """The result holds the expected value (in its first row), or exactly the expected
    rows (in order for a top-k)."""
    if not rows:
        return False
    if question.shape == "value":
        return any(same(question.expected, c) for c in rows[0])
    wanted = [e if isinstance(e, tuple) else (e,) for e in question.expected]
    if len(rows) != len(wanted):
        return False
    if question.shape == "ordered":
        return all(_row_holds(e, r) for e, r in zip(wanted, rows, strict=True))
    left = list(rows)
    for e in wanted:
        match = next((r for r in left if _row_holds(e, r)), None)
        if match is None:
            return False
        left.remove(match)
    return True


_FIGURE = re.compile(r"\d+(?:\.\d+)?")


def invented(text: str, rows: list[list[Any]], names: list[str]) -> list[str]:
    """Figures in an answer's text that are not in its result: neither part of a cell as
    written, nor a cell's number rounded to the decimals shown (an average's "19648.45");
    the SQL, the tables' and files' names, the row count and the citation marker aside."""
    text = re.sub(r"```sql.*?```", "", text, flags=re.DOTALL)
    for name in names:
        text = text.replace(name, "")
    text = re.sub(r"\[\d+\]", "", text)
    cells = [str(c) for row in rows for c in row] + [str(len(rows))]
    numbers = [float(c) for c in cells if re.fullmatch(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?", c)]

    def found(figure: str) -> bool:
        if any(figure in cell for cell in cells):
            return True
        decimals = len(figure.partition(".")[2])
        return any(round(n, decimals) == float(figure) for n in numbers)

    return [f for f in _FIGURE.findall(text) if not found(f)]


# --- the questions through Sabio ------------------------------------------------------


def run_questions(
    model: str, embedder: str, workdir: Path | None, skip: int = 0, partial: Path | None = None
) -> dict[str, Any]:
    """``partial``: each question's row is written there as it is answered (JSON lines), so
    that a run stopped half-way (a slow model) still has what it measured."""
    home = workdir or Path(tempfile.mkdtemp(prefix="sabio-tables-"))
    folder = home / "files"
    folder.mkdir(parents=True, exist_ok=True)
    for path in FILES:
        shutil.copy(path, folder)
    settings = load_settings({"home": home / "home", "embedding_model": embedder}, environ={})
    sabio = Sabio(settings)
    started = time.perf_counter()
    sabio.add([folder])
    ingest_s = time.perf_counter() - started
    names = [t.name for t in sabio.tables()] + [p.name for p in FILES] + ["NE data"]
    per_question = []
    for question in questions()[skip:]:
        stream = sabio.ask(question.text, model=model)
        try:
            text = "".join(stream)
        except SabioError as exc:  # the model broke: counted as not computed
            print(f"  error: {exc}", flush=True)
            text = ""
        answer = stream.answer
        done = answer.computation
        rows = done.rows if done else []
        row = {
            "question": question.text,
            "language": answer.language,
            "detected": done is not None,
            "valid_sql": bool(done and done.computed),
            "attempts": done.attempts if done else 0,
            "exact": bool(done and done.computed and exact(question, rows)),
            "invented": invented(text, rows, names) if done else [],
            "sql": done.sql if done else "",
            "errors": done.errors if done else [],
            "first_rows": rows[:3],
            "expected": str(question.expected)[:200],
            "total_ms": answer.timings.get("total_ms", 0.0),
        }
        per_question.append(row)
        if partial is not None:
            with partial.open("a", encoding="utf-8") as out:
                out.write(json.dumps(row, default=str, ensure_ascii=False) + "\n")
        mark = "ok " if row["exact"] else ("sql" if row["valid_sql"] else "-- ")
        print(f"  {mark} {row['total_ms']:7.0f} ms  {question.text[:80]}", flush=True)
    sabio.close()
    if workdir is None:
        shutil.rmtree(home, ignore_errors=True)
    n = len(per_question)
    latencies = sorted(r["total_ms"] for r in per_question)
    return {
        "model": model,
        "embedder": embedder,
        "questions": n,
        "spanish": sum(1 for r in per_question if r["language"] == "es"),
        "ingest_s": round(ingest_s, 1),
        "detected_rate": round(sum(r["detected"] for r in per_question) / n, 3),
        "sql_valid_rate": round(sum(r["valid_sql"] for r in per_question) / n, 3),
        "exact_rate": round(sum(r["exact"] for r in per_question) / n, 3),
        "answers_with_invented_figures": sum(1 for r in per_question if r["invented"]),
        "latency_ms_median": round(statistics.median(latencies), 1),
        "latency_ms_p95": round(latencies[min(n - 1, int(0.95 * n))], 1),
        "per_question": per_question,
    }


# --- loading a million rows -----------------------------------------------------------


def make_big_csv(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    provinces = [f"Provincia {i}" for i in range(50)]
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow(["fecha", "provincia", "categoria", "importe", "cantidad"])
        for _ in range(rows):
            cents = rng.randint(0, 500_000)
            amount = f"{cents // 100:,}".replace(",", ".") + f",{cents % 100:02d}"
            day = f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.choice((2022, 2023, 2024))}"
            writer.writerow(
                [day, rng.choice(provinces), rng.choice("ABCDEFG"), amount, rng.randint(1, 20)]
            )


GROUP_BY = (
    "SELECT provincia, sum(importe) AS total FROM {table} GROUP BY provincia ORDER BY total DESC"
)


def _timed(fn: Callable[[], Any], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run_load(rows: int, workdir: Path | None) -> dict[str, Any]:
    folder = workdir or Path(tempfile.mkdtemp(prefix="sabio-tables-load-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "big.csv"
    if not path.exists():
        make_big_csv(path, rows)
    started = time.perf_counter()
    doc = load_document(Blob.from_path(path))  # the passages' text, as a reader loads it
    loaded_text, cpu_started = time.perf_counter(), time.process_time()
    [table] = tables_of(doc, path.stem, Blob.from_path(path))  # the file read again, whole
    typed = time.perf_counter()
    store_path = folder / "kb-1.duckdb"
    store_path.unlink(missing_ok=True)
    store = TableStore(store_path)
    store.replace(1, "hash", str(path), "big", [table])
    loaded, cpu_s = time.perf_counter(), time.process_time() - cpu_started
    passage_rows = int(doc.metadata.get("rows", 0))
    del doc, table
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sabio_query = _timed(lambda: store.run(GROUP_BY.format(table="big")))
    kinds = {c.name: c.sql_type for c in store.tables()[0].columns}
    base_path = folder / "baseline.duckdb"
    base_path.unlink(missing_ok=True)
    con = duckdb.connect(str(base_path), config=PRIVATE)
    started_base = time.perf_counter()
    con.execute("CREATE TABLE big AS SELECT * FROM read_csv(?, delim=';')", [str(path)])
    base_load = time.perf_counter() - started_base
    base_kinds = dict(
        con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name='big'"
        ).fetchall()
    )
    base_query = _timed(
        lambda: con.execute(
            GROUP_BY.replace("sum(importe)", "count(*)").format(table="big")
        ).fetchall()
    )
    con.close()
    if workdir is None:
        shutil.rmtree(folder, ignore_errors=True)
    load_s = loaded - loaded_text
    return {
        "rows": rows,
        "file_mb": round(path.stat().st_size / 2**20, 1) if path.exists() else None,
        "loader_s": round(loaded_text - started, 2),
        "loader_rows_for_passages": passage_rows,
        "read_and_type_s": round(typed - loaded_text, 2),
        "duckdb_s": round(loaded - typed, 2),
        "load_s": round(load_s, 2),
        "load_cpu_s": round(cpu_s, 2),
        "load_average_1min": round(os.getloadavg()[0], 1),
        "cores": os.cpu_count(),
        "peak_rss_mb": round(peak_mb),
        "group_by_ms": round(sabio_query * 1000, 1),
        "types": kinds,
        "baseline_duckdb_read_csv_s": round(base_load, 2),
        "baseline_types": base_kinds,
        "baseline_group_by_count_ms": round(base_query * 1000, 1),
        "load_ratio_to_baseline": round(load_s / base_load, 1),
        "targets": {
            "load_s<=20": load_s <= 20,
            "load_cpu_s<=20": cpu_s <= 20,
            "group_by_s<=1": sabio_query <= 1,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=("questions", "load", "all"))
    parser.add_argument(
        "--model", default="embedded:smollm2", help="the chat model that writes the SQL"
    )
    parser.add_argument("--embedder", default="embedded:all-minilm-l6-v2")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip", type=int, default=0, help="start at this question (0-based)")
    parser.add_argument("--workdir", type=Path, help="keep the files made here")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    if args.what in ("questions", "all"):
        name = f"questions-{args.model.replace(':', '-').replace('/', '-')}"
        partial = RESULTS / f"tables-{name}.partial.jsonl"
        partial.unlink(missing_ok=True)
        result = run_questions(args.model, args.embedder, args.workdir, args.skip, partial)
        _report(name, result)
    if args.what in ("load", "all"):
        _report("load", run_load(args.rows, args.workdir))


def _report(name: str, result: dict[str, Any]) -> None:
    summary = {k: v for k, v in result.items() if k != "per_question"}
    print(json.dumps(summary, indent=2, default=str))
    out = RESULTS / f"tables-{name}.json"
    out.write_text(json.dumps(result, indent=2, default=str, ensure_ascii=False) + "\n")
    print(f"written to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()

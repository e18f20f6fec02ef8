"""Questions answered by computation: which questions are about a table, the one SQL
query the chat model writes for it (given the tables' columns and a few rows), checked
(:mod:`sabio.tables.query`), run in the sandbox, tried once more with the error, and the
answer: a one-line sentence, the result table and the SQL that ran.

Every figure of such an answer is a value of the result: the sentence is Sabio's, made
from the result's cells (``prompts/table_answer.*.txt``), never the model's words. A model
that gives no query that runs gets "I could not compute that", with the columns it saw.
A result that is a series comes with its chart (:mod:`sabio.tables.charts`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sabio.errors import TableError
from sabio.models import ChatModel, ChatOptions, Message
from sabio.prompt_files import prompt_text
from sabio.tables.charts import Chart, chart_for, chart_svg
from sabio.tables.engine import Result, TableInfo
from sabio.tables.query import has_limit, sql_of, validate
from sabio.terms import tokens

MAX_TABLES = 3
"""Most tables described to the model in one prompt."""
SAMPLE_ROWS = 3
MAX_ROWS = 50
"""Most rows of a result shown in an answer (the rest are counted)."""
SQL_TOKENS = 256
REPLY_KEPT = 600
"""Characters of a failed reply sent back with its error."""
RETRY_TOKENS = 250
"""Room kept in the prompt for the failed reply and its error."""
ATTEMPTS = 2
"""The model's first query, and one more with the error of the first."""
COMPUTING = frozenset(
    term
    for word in """total totals totales sum suma sumar sumatorio average avg mean promedio media
    count cuántos cuántas cuantos cuantas number max maximum máximo maximo min minimum
    mínimo minimo top highest lowest largest smallest biggest most least mayor mayores menor
    menores ranking rank grouped agrupa agrupado agrupados monthly mensual yearly anual
    percentage porcentaje share proporción distinct distintos distintas""".split()
    for term in tokens(word)
)
"""Words that ask for a computation over rows, in English and Spanish ("how many" and "how
much" are phrases: :func:`asks_for_computation`; "how" alone asks nothing)."""


@dataclass(frozen=True, slots=True)
class TableAccess:
    """What an answer may do with the knowledge base's tables (the narrow door the
    service gives :class:`~sabio.answer.AnswerStream`): list them, with the passage that
    stands for each one's document (to cite it), sample a few rows, run a query."""

    tables: Callable[[], list[TableInfo]]
    run: Callable[[str], Result]
    sample: Callable[[str, int], Result]
    passage_of: Callable[[int], int | None]
    """A passage (chunk id) of a document, by the document's id."""


@dataclass(slots=True)
class Computation:
    """How an answer was computed: the SQL that ran (or was tried), the result."""

    tables: list[str]
    where: str
    document: str
    document_id: int
    sql: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    row_count: int = 0
    truncated: bool = False
    computed: bool = False
    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    query_ms: float = 0.0
    chart: Chart | None = None
    """The result drawn (:mod:`sabio.tables.charts`) when it is a series; None otherwise."""
    chart_svg: str = ""
    """That chart as an SVG document, in the answer's language."""


def _lines(name: str, language: str) -> dict[str, str]:
    text = prompt_text(name, language)
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


# --- which tables a question is about -------------------------------------------------


def _table_words(table: TableInfo) -> set[str]:
    """The words that name ``table``: of its name and its columns', those of four letters
    or more. Not numbers: a table inside "2022 Q3 AAPL.pdf" is named c_2022_q3_aapl_…, and
    every question about that quarter's figures ("total net sales in 2022") named its table
    of contents, whose failed computation then stood for the answer."""
    words = set(tokens(table.name.replace("_", " ")))
    for column in table.columns:
        words |= set(tokens(column.name.replace("_", " "))) | set(tokens(column.label))
    return {w for w in words if len(w) >= 4 and not w.isdigit()}


def asks_for_computation(question: str) -> bool:
    """Whether ``question`` asks for a computation over rows: a total, an average, a count,
    the top five…"""
    return bool(set(tokens(question)) & COMPUTING) or bool(
        re.search(r"\b(?:(?:top|los|las)\s+\d+|how\s+(?:many|much))\b", question, re.I)
    )


Place = tuple[int, int | None]
"""Where a passage the search found is: its document id and its page (None: no pages)."""


def _at(table: TableInfo, place: Place) -> bool:
    """Whether a passage at ``place`` is of ``table``'s: its document, and for a table
    inside a paged document (a PDF's) its page too — a report with one table on page 12
    is not a table for a question whose passages are on page 3."""
    document, page = place
    return document == table.document_id and (table.page is None or page == table.page)


def _rank(table: TableInfo, places: Sequence[Place]) -> int:
    return next((i for i, place in enumerate(places) if _at(table, place)), len(places))


def tables_for(
    question: str, places: Sequence[Place], tables: Sequence[TableInfo]
) -> list[TableInfo]:
    """The tables ``question`` is about, best first, or none when it is not a question
    for a computation: it asks for one (a total, an average, the top five…) over a table
    it names or whose rows the search found, or the passages found first all come from
    tables and it names one of their columns. ``places``: where the passages found are,
    best first."""
    if not tables:
        return []
    words = set(tokens(question))
    asks = asks_for_computation(question)
    ranked = []
    for table in tables:
        named = len(words & _table_words(table))
        rank = _rank(table, places)
        found = rank < min(5, len(places))
        if (asks and (named or found)) or (named and found and rank == 0):
            ranked.append((-named, rank, table.name, table))
    top = places[:3]
    if not ranked and top and all(any(_at(t, place) for t in tables) for place in top):
        ranked = [(0, r, t.name, t) for t in tables if (r := _rank(t, top)) < len(top)]
    return [t for *_, t in sorted(ranked, key=lambda r: r[:3])][:MAX_TABLES]


def named_or_first(question: str, places: Sequence[Place], table: TableInfo) -> bool:
    """Whether the question is surely about ``table``: it names the table or one of its
    columns, or the search's best passage is one of its rows. A computation that fails
    over a table only found further down gives way to the answer from passages."""
    named = bool(set(tokens(question)) & _table_words(table))
    return named or (bool(places) and _at(table, places[0]))


# --- the prompt -----------------------------------------------------------------------


def describe(table: TableInfo, sample: Result) -> str:
    """A table for the prompt: its columns with their types (and the header as the
    document has it, and the unit), then a few rows."""
    lines = [f"TABLE {table.name}  -- from {table.where}, {table.row_count} rows"]
    for column in table.columns:
        notes = [n for n in (column.label if column.label != column.name else "", column.unit) if n]
        comment = f"  -- {', '.join(notes)}" if notes else ""
        lines.append(f"  {column.name} {column.sql_type}{comment}")
    if sample.rows:
        lines.append("Sample rows:")
        lines.append(" | ".join(sample.columns))
        lines.extend(" | ".join(show(v) for v in row) for row in sample.rows)
    return "\n".join(lines)


def sql_messages(question: str, language: str, descriptions: Sequence[str]) -> list[Message]:
    system = prompt_text("sql", language).replace("{tables}", "\n\n".join(descriptions))
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


# --- computing ------------------------------------------------------------------------


def compute(
    question: str, language: str, model: ChatModel, access: TableAccess, tables: list[TableInfo]
) -> Computation:
    """Ask ``model`` for one query over ``tables`` and run it; once more with the error
    when it does not run. ``computed`` says whether a result came back."""
    first = tables[0]
    done = Computation([t.name for t in tables], first.where, first.source, first.document_id)
    messages = _fitting_messages(question, language, model, access, tables)
    allowed = {t.name for t in access.tables()}
    options = ChatOptions(max_tokens=SQL_TOKENS, temperature=0.0)
    for attempt in range(1, ATTEMPTS + 1):
        done.attempts = attempt
        reply = _reply(model, messages, options)
        done.sql = sql_of(reply)
        try:
            sql = validate(done.sql, allowed)
            started = time.perf_counter()
            result = access.run(sql)
            done.query_ms = round((time.perf_counter() - started) * 1000, 1)
        except TableError as exc:
            done.errors.append(str(exc))
            retry = prompt_text("sql_retry", language).replace("{error}", str(exc)[:300])
            messages = [
                *messages[:2],
                {"role": "assistant", "content": reply[:REPLY_KEPT]},
                {"role": "user", "content": retry},
            ]
            continue
        done.sql, done.computed = sql, True
        _record(done, result, tables)
        done.chart = chart_for(
            result.columns,
            result.rows,
            title=question,
            truncated=result.truncated,
            limited=has_limit(sql),
        )
        done.chart_svg = chart_svg(done.chart, language) if done.chart else ""
        return done
    return done


def _fitting_messages(
    question: str, language: str, model: ChatModel, access: TableAccess, tables: list[TableInfo]
) -> list[Message]:
    """The prompt with as much as fits the model's context window beside the query and a
    retry: every table with sample rows, else without them, else fewer tables."""
    room = model.context_window - SQL_TOKENS - RETRY_TOKENS
    samples = {t.name: access.sample(t.name, SAMPLE_ROWS) for t in tables}
    for count in range(len(tables), 0, -1):
        for rows in (SAMPLE_ROWS, 1, 0):
            descriptions = [describe(t, _first(samples[t.name], rows)) for t in tables[:count]]
            messages = sql_messages(question, language, descriptions)
            if sum(model.count_tokens(m["content"]) + 8 for m in messages) <= room:
                return messages
    return messages


def _first(result: Result, rows: int) -> Result:
    return Result(result.columns, result.rows[:rows], False, result.elapsed_ms)


def _reply(model: ChatModel, messages: Sequence[Message], options: ChatOptions) -> str:
    return "".join(model.stream(messages, options))


def _record(done: Computation, result: Result, tables: list[TableInfo]) -> None:
    done.columns = result.columns
    done.rows = [[_plain(v) for v in row] for row in result.rows[:MAX_ROWS]]
    done.row_count = len(result.rows)
    done.truncated = result.truncated or len(result.rows) > MAX_ROWS
    read = [t for t in tables if re.search(rf"\b{re.escape(t.name)}\b", done.sql, re.I)]
    if read:  # cite the table the query read, not merely the first one described
        done.where, done.document, done.document_id = (
            read[0].where,
            read[0].source,
            read[0].document_id,
        )
        done.tables = [t.name for t in read]


def _plain(value: Any) -> Any:
    """A result's cell as JSON carries it: numbers stay numbers (a Decimal as its exact
    text), dates as ISO text."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


def show(value: Any) -> str:
    """A cell as the answer shows it: as computed (a float rounded for reading)."""
    if value is None:
        return "—"
    if isinstance(value, float):  # an average: two decimals, or six digits under 1
        return f"{value:.2f}" if 1 <= abs(value) < 1e15 else f"{value:.6g}"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).replace("|", "\\|").replace("\n", " ")


# --- the answer -----------------------------------------------------------------------


def answer_text(done: Computation, language: str, seen: Sequence[TableInfo]) -> str:
    """The answer in Markdown: the one-line sentence, the result table, the SQL."""
    words = _lines("table_answer", language)
    if not done.computed:
        columns = ", ".join(f"{t.name}({', '.join(c.name for c in t.columns)})" for t in seen)
        # not the errors: they may quote the model's reply, and with it a made-up figure
        return words["failed"].format(where=done.where, columns=columns)
    if not done.rows:
        sentence = words["empty"].format(where=done.where)
    elif len(done.rows) == 1 and len(done.columns) == 1:
        value = show(done.rows[0][0])
        sentence = words["value"].format(label=done.columns[0], value=value, where=done.where)
    elif len(done.rows) == 1:
        sentence = words["row"].format(where=done.where)
    else:
        sentence = words["rows"].format(count=len(done.rows), where=done.where)
    parts = [sentence]
    if done.rows and not (len(done.rows) == 1 and len(done.columns) == 1):
        parts.append(markdown_table(done.columns, done.rows))
        if done.truncated:
            parts.append(words["truncated"].format(count=len(done.rows)))
    parts.append(f"```sql\n{done.sql}\n```")
    return "\n\n".join(parts)


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "| " + " | ".join(show(c) for c in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(show(v) for v in row) + " |" for row in rows]
    return "\n".join([head, rule, *body])

"""Tables as tables (sabio.tables): typed columns, the DuckDB file per knowledge base kept
in step with its documents, the SQL validator and the sandbox, over real DuckDB."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Generator, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from conftest import need_data
from fake_servers import closed_port
from typer.testing import CliRunner

from sabio.answer import Answer
from sabio.cli import app
from sabio.config import Settings, load_settings
from sabio.errors import TableError
from sabio.filters import DocumentFilter
from sabio.loaders import Blob, LoadedDocument, Section
from sabio.models import ChatOptions, Message, register_chat_backend
from sabio.service import Sabio
from sabio.tables.engine import TableStore, tables_path
from sabio.tables.extract import table_from_rows, tables_of
from sabio.tables.query import sql_of, validate
from sabio.tables.types import canonical, infer_types, python_value

SPANISH = [
    ["Informe de gastos 2023"],
    [],
    ["Fecha", "Provincia", "Importe", "IVA", "Código"],
    ["3 de enero de 2023", "Madrid", "1.234,50 €", "21 %", "01"],
    ["15/02/2023", "Sevilla", "980,00 €", "10 %", "02"],
    ["28/02/2023", "Madrid", "12,5 €", "4 %", "03"],
    ["1 de marzo de 2023", "Álava", "-", "21 %", "04"],
]


def _values(rows: list[list[str]]) -> dict[str, list[object]]:
    table = table_from_rows(rows, "t")
    assert table is not None
    return {
        c.name: [python_value(v, c.type) for v in cells]
        for c, cells in zip(table.columns, table.cells, strict=True)
    }


def test_spanish_sheet_types_title_rows_and_codes() -> None:
    table = table_from_rows(SPANISH, "gastos")
    assert table is not None
    kinds = {c.name: (c.type.kind, c.type.unit) for c in table.columns}
    assert kinds == {
        "fecha": ("date", ""),
        "provincia": ("text", ""),
        "importe": ("decimal", "EUR"),
        "iva": ("integer", "%"),
        "codigo": ("text", ""),  # leading zeros: a code, kept as text
    }
    values = _values(SPANISH)
    assert values["fecha"] == [
        date(2023, 1, 3),
        date(2023, 2, 15),
        date(2023, 2, 28),
        date(2023, 3, 1),
    ]
    assert values["importe"] == [1234.5, 980.0, 12.5, None]
    assert values["codigo"] == ["01", "02", "03", "04"]
    assert [c.label for c in table.columns][2] == "Importe"


def test_english_numbers_dates_and_a_table_wide_convention() -> None:
    rows = [
        ["date", "amount", "share", "when"],
        ["01/31/2023", "$1,234.50", "12.5%", "January 5, 2023 "],
        ["02/01/2023", "$980", "3%", "Feb 2023"],
    ]
    values = _values(rows)
    assert values["date"] == [date(2023, 1, 31), date(2023, 2, 1)]  # month first: 31 says so
    assert values["amount"] == [1234.5, 980]
    assert values["share"] == [12.5, 3]
    assert values["when_"] == [date(2023, 1, 5), date(2023, 2, 1)]
    # "1.234" alone is ambiguous; a column with "12,5" makes the table Spanish
    spanish = infer_types([["1.234", "2.500"], ["12,5", "3"]])
    assert [canonical("1.234", spanish[0]), canonical("12,5", spanish[1])] == ["1234", "12.5"]
    english = infer_types([["1,234", "2,500"], ["1.5", "3"]])
    assert canonical("1,234", english[0]) == "1234"


def test_times_mixed_columns_and_no_header() -> None:
    values = _values([["5/19/2006 13:30:00", "a"], ["5/20/2006 0:00:00", "7"], ["x", "8"]])
    # the first row holds a date and text: it is the header
    assert list(values) == ["c_5_19_2006_13_30_00", "a"]
    assert values["a"] == [7, 8]
    assert values["c_5_19_2006_13_30_00"] == ["5/20/2006 0:00:00", "x"]  # "x": text
    numbers = _values([["1", "2,5"], ["3", "4,25"]])  # only numbers: no header
    assert numbers == {"column_1": [1, 3], "column_2": [2.5, 4.25]}
    stamps = _values([["when"], ["5/19/2006 13:30:00"], ["5/20/2006 0:00:00"]])
    assert stamps["when_"] == [datetime(2006, 5, 19, 13, 30), datetime(2006, 5, 20)]


def _write_csv(path: Path, rows: list[list[str]], delimiter: str = ",") -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out, delimiter=delimiter).writerows(rows)
    return path


def test_ingest_keeps_tables_replaces_and_removes_them(sabio: Sabio, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    sales = _write_csv(
        folder / "ventas.csv",
        [["provincia", "importe"], ["Madrid", "10,5"], ["Sevilla", "4"], ["Madrid", "1,5"]],
        ";",
    )
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "2023"
    sheet.append(["month", "amount"])
    sheet.append([datetime(2023, 1, 1), 100.25])
    sheet.append([datetime(2023, 2, 1), 50])
    other = book.create_sheet("notes")
    other.append(["who", "what"])
    other.append(["ana", "paid"])
    book.save(folder / "book.xlsx")
    (folder / "plain.txt").write_text("no table here")
    sabio.add([folder])
    tables = {t.name: t for t in sabio.tables()}
    assert set(tables) == {"ventas", "book_2023", "book_notes"}
    assert tables["book_2023"].where == "book.xlsx, 2023"
    assert tables["ventas"].row_count == 3
    store = sabio.kb_tables(sabio.kb())
    total = store.run("SELECT provincia, sum(importe) FROM ventas GROUP BY 1 ORDER BY 1")
    assert total.rows == [("Madrid", Decimal("12.0")), ("Sevilla", Decimal("4.0"))]
    assert store.run("SELECT sum(amount) FROM book_2023").rows == [(Decimal("150.25"),)]

    _write_csv(sales, [["provincia", "importe"], ["Cádiz", "7"]], ";")  # changed: replaced
    sabio.add([folder])
    assert sabio.kb_tables(sabio.kb()).run("SELECT * FROM ventas").rows == [("Cádiz", 7)]
    assert (
        len([t for t in sabio.kb_tables(sabio.kb()).tables() if t.name.startswith("ventas")]) == 1
    )

    shutil.rmtree(sabio.settings.home / "tables")  # as after an import, or an older Sabio
    sabio.add([folder])  # the spreadsheets are read again for their tables, once
    assert {t.name for t in sabio.tables()} == {"ventas", "book_2023", "book_notes"}
    assert sabio.add([folder]).count("unchanged") == 3

    sabio.remove_document(str(folder / "book.xlsx"))
    assert {t.name for t in sabio.kb_tables(sabio.kb()).tables()} == {"ventas"}
    (folder / "book.xlsx").unlink()
    sales.unlink()  # gone from its folder: removed with its tables
    sabio.add([folder])
    assert sabio.tables() == []
    sabio.delete_kb(sabio.kb().name)
    assert not tables_path(sabio.settings.home, 1).exists()


def test_the_shared_spreadsheets_become_tables(sabio: Sabio, tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    shutil.copy(need_data("documents", "csv", "ks_1033_data.csv"), folder)
    shutil.copy(need_data("documents", "xlsx", "ne_1033_data.xlsx"), folder)
    sabio.add([folder])
    tables = {t.name: t for t in sabio.tables()}
    assert set(tables) == {"ks_1033_data", "ne_1033_data"}
    types = {c.name: c.sql_type for c in tables["ks_1033_data"].columns}
    assert types["ship_date"] == "DATE" and types["total_cost"].startswith("DECIMAL")
    assert types["nsn"] == "VARCHAR" and types["quantity"] == "BIGINT"
    with need_data("documents", "csv", "ks_1033_data.csv").open(encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    expected = round(sum(float(r["total_cost"]) for r in rows), 2)
    result = sabio.kb_tables(sabio.kb()).run("SELECT sum(total_cost) FROM ks_1033_data")
    assert float(result.rows[0][0]) == pytest.approx(expected, abs=0.005)


# --- the validator and the sandbox ----------------------------------------------------

REFUSED = [
    "DELETE FROM ventas",
    "UPDATE ventas SET importe = 0",
    "INSERT INTO ventas VALUES ('x', 1)",
    "DROP TABLE ventas",
    "CREATE TABLE copia AS SELECT * FROM ventas",
    "SELECT 1; SELECT 2",
    "SELECT * FROM ventas; DROP TABLE ventas",
    "SELECT * FROM gastos",
    "SELECT * FROM ventas WHERE provincia IN (SELECT name FROM otra)",
    "SELECT * FROM sabio.catalog",
    "SELECT * FROM information_schema.tables",
    "SELECT * FROM duckdb_tables()",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM read_text('/etc/hostname')",
    "ATTACH '/tmp/other.duckdb' AS other",
    "COPY ventas TO '/tmp/out.csv'",
    "COPY (SELECT * FROM ventas) TO '/tmp/out.csv'",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "PRAGMA database_list",
    "SELECT current_setting('memory_limit')",
    "SELECT * FROM query('SELECT 1')",
    "SELECT * FROM SABIO.CATALOG",
    "SELECT * FROM Other",
    "SELEC * FROM ventas",
    "",
]


@pytest.mark.parametrize("sql", REFUSED)
def test_the_validator_refuses(sql: str) -> None:
    with pytest.raises(TableError):
        validate(sql, {"ventas"})


def test_the_validator_lets_selects_over_the_tables_through() -> None:
    tables = {"ventas", "gastos"}
    for sql in (
        "SELECT provincia, sum(importe) AS total FROM ventas GROUP BY provincia;",
        "WITH m AS (SELECT * FROM ventas) SELECT count(*) FROM m",
        "SELECT * FROM ventas v JOIN gastos g USING (provincia)",
        "FROM main.ventas SELECT importe ORDER BY importe DESC LIMIT 5",
        "SELECT sum(importe) FROM Ventas",  # DuckDB's names are case-insensitive: it runs
        "WITH M AS (SELECT * FROM MAIN.VENTAS) SELECT count(*) FROM m",
    ):
        assert validate(sql, tables) == sql.rstrip(";")
    assert sql_of("Here it is:\n```sql\nSELECT 1;\n```\nDone") == "SELECT 1"
    assert sql_of("Query:\nSELECT count(*) FROM t;") == "SELECT count(*) FROM t"
    assert sql_of("DELETE FROM t") == "DELETE FROM t"  # not its "FROM t"


def test_the_sandbox_holds_even_without_the_validator(tmp_path: Path) -> None:
    store = TableStore(tmp_path / "kb-1.duckdb")
    table = table_from_rows([["a"], ["1"], ["2"]], "t")
    assert table is not None
    store.replace(1, "hash", "t.csv", "t", [table])
    secret = tmp_path / "secret.csv"
    secret.write_text("x\n1\n")
    for sql in (
        f"SELECT * FROM read_csv('{secret}')",
        "CREATE TABLE u AS SELECT 1",
        "DELETE FROM t",
        f"ATTACH '{tmp_path / 'x.duckdb'}'",
        f"COPY t TO '{tmp_path / 'out.csv'}'",
        "SET enable_external_access = true",
        "INSTALL httpfs",
    ):
        with pytest.raises(TableError):
            store.run(sql)
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "x.duckdb").exists()
    assert store.run("SELECT sum(a) FROM t").rows == [(3,)]


def test_row_and_time_limits(tmp_path: Path) -> None:
    store = TableStore(tmp_path / "kb-1.duckdb")
    table = table_from_rows([["n"], *[[str(i)] for i in range(500)]], "t")
    assert table is not None
    store.replace(1, "hash", "t.csv", "t", [table])
    result = store.run("SELECT n FROM t ORDER BY n", max_rows=10)
    assert result.truncated and [r[0] for r in result.rows] == list(range(10))
    slow = "SELECT count(*) FROM range(100000000) a, range(100000) b WHERE a.range + b.range = 7"
    with pytest.raises(TableError) as caught:
        store.run(slow, timeout=0.3)
    assert caught.value.key == "query_timeout"


# --- questions answered by computation ------------------------------------------------


class ScriptedSQL:
    """A chat model that replies, in turn, with the replies in ``<home>/<name>.sql``
    (separated by lines of ``---``), and keeps the messages it was sent; ``sql:name@600``
    has a context window of 600 tokens."""

    def __init__(self, path: Path, context_window: int = 8192) -> None:
        self.name = f"sql:{path.stem}"
        self.context_window = context_window
        self.replies = path.read_text(encoding="utf-8").split("\n---\n")
        self.requests: list[list[dict[str, str]]] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 1

    def stream(
        self, messages: Sequence[Message], options: ChatOptions
    ) -> Generator[str, None, str | None]:
        self.requests.append([dict(m) for m in messages])
        yield self.replies[min(len(self.requests), len(self.replies)) - 1]
        return "stop"


@register_chat_backend("sql")
def _scripted(settings: Settings, model: str) -> ScriptedSQL:
    name, _, window = model.partition("@")
    return ScriptedSQL(settings.home / f"{name}.sql", int(window or 8192))


@pytest.fixture
def sales(sabio: Sabio, tmp_path: Path) -> Sabio:
    folder = tmp_path / "docs"
    folder.mkdir()
    _write_csv(
        folder / "ventas.csv",
        [
            ["fecha", "provincia", "importe"],
            ["03/01/2023", "Madrid", "1.234,50"],
            ["15/02/2023", "Sevilla", "980,00"],
            ["28/02/2023", "Madrid", "12,50"],
            ["01/03/2024", "Sevilla", "100,00"],
        ],
        ";",
    )
    (folder / "nota.txt").write_text("Las ventas de Madrid crecieron mucho en 2023.")
    sabio.add([folder])
    return sabio


def _script(sabio: Sabio, name: str, *replies: str) -> str:
    (sabio.settings.home / f"{name}.sql").write_text("\n---\n".join(replies), encoding="utf-8")
    return f"sql:{name}"


def _ask(sabio: Sabio, question: str, model: str) -> Answer:
    stream = sabio.ask(question, model=model)
    text = "".join(stream)
    assert text == stream.answer.text
    return stream.answer


def test_a_total_by_province_is_computed_cited_and_shown_with_its_sql(sales: Sabio) -> None:
    sql = "SELECT provincia, sum(importe) AS total FROM ventas GROUP BY provincia ORDER BY 1"
    model = _script(sales, "by_province", f"```sql\n{sql};\n```")
    answer = _ask(sales, "¿Cuál fue el total de importe por provincia?", model)
    done = answer.computation
    assert done is not None and done.computed and done.attempts == 1
    assert done.rows == [["Madrid", "1247.00"], ["Sevilla", "1080.00"]]
    assert done.chart is not None and done.chart.kind == "pie"  # a total over every provincia
    assert "Madrid: 1.247 (53,6 %)" in done.chart_svg and "Gráfico circular" in done.chart_svg
    assert answer.language == "es"
    assert answer.text.startswith("2 filas calculadas a partir de ventas.csv [1].")
    assert "| Madrid | 1247.00 |" in answer.text and f"```sql\n{sql}\n```" in answer.text
    [citation] = answer.citations
    assert (
        citation.document.endswith("ventas.csv") and "fecha, provincia, importe" in citation.snippet
    )
    # the model was shown the schema with types and sample rows, in Spanish
    prompt = sales.chat_model(model).requests[0][0]["content"]  # type: ignore[attr-defined]
    assert "TABLE ventas" in prompt and "importe DECIMAL(38,2)" in prompt
    assert "Madrid | 1234.50" in prompt and "Escribes una consulta SQL" in prompt


def test_a_single_value_is_the_one_line_answer(sales: Sabio) -> None:
    model = _script(
        sales, "total", "SELECT sum(importe) AS total FROM ventas WHERE year(fecha) = 2023"
    )
    answer = _ask(sales, "What is the total importe in 2023?", model)
    assert answer.text.startswith("total: **2227.00**, computed from ventas.csv [1].")


def test_table_names_are_read_whatever_their_case(sales: Sabio, tmp_path: Path) -> None:
    _write_csv(tmp_path / "gastos.csv", [["concepto", "importe"], ["luz", "50"]])
    sales.add([tmp_path / "gastos.csv"])
    model = _script(sales, "upper", "SELECT sum(importe) AS total FROM VENTAS")
    answer = _ask(sales, "¿Cuál es el total de importe de los gastos y las ventas?", model)
    assert answer.computation is not None and answer.computation.computed
    assert answer.computation.tables == ["ventas"]
    assert answer.text.startswith("total: **2327.00**, calculado a partir de ventas.csv [1].")


def test_a_failed_query_goes_back_once_with_its_error(sales: Sabio) -> None:
    model = _script(
        sales,
        "retry",
        "SELECT sum(amount) AS total FROM ventas",
        "SELECT count(*) AS filas FROM ventas WHERE provincia = 'Sevilla'",
    )
    answer = _ask(sales, "¿Cuántas ventas hubo en Sevilla?", model)
    done = answer.computation
    assert done is not None and done.computed and done.attempts == 2
    assert "amount" in done.errors[0]
    assert answer.text.startswith("filas: **2**")
    retry = sales.chat_model(model).requests[1]  # type: ignore[attr-defined]
    assert retry[-2]["content"] == "SELECT sum(amount) AS total FROM ventas"
    assert "no se pudo ejecutar" in retry[-1]["content"] and "amount" in retry[-1]["content"]


@pytest.mark.parametrize(
    "replies",
    [
        ("DELETE FROM ventas", "DROP TABLE ventas"),
        ("The total is 5,000 euros.", "I think it is about 5,000."),
        ("SELECT * FROM read_csv('/etc/passwd')", "SELECT 1; SELECT 2"),
    ],
)
def test_no_query_that_runs_is_an_honest_no_never_a_figure(
    sales: Sabio, replies: tuple[str, str]
) -> None:
    model = _script(sales, "bad", *replies)
    answer = _ask(sales, "What is the total importe by provincia?", model)
    done = answer.computation
    assert done is not None and not done.computed and done.attempts == 2
    assert answer.text.startswith("I could not compute that from ventas.csv.")
    assert "ventas(fecha, provincia, importe)" in answer.text
    assert "5,000" not in answer.text and "5000" not in answer.text
    assert sales.kb_tables(sales.kb()).run("SELECT count(*) FROM ventas").rows == [(4,)]


def test_the_prompt_fits_a_small_context_window(sales: Sabio) -> None:
    _script(sales, "small", "SELECT 1 AS x FROM nowhere", "SELECT count(*) AS n FROM ventas")
    answer = _ask(sales, "How many rows (count) does ventas have?", "sql:small@560")
    assert answer.computation is not None and answer.computation.computed
    model = sales.chat_model("sql:small@560")
    for request in model.requests:  # type: ignore[attr-defined]
        used = sum(model.count_tokens(m["content"]) + 8 for m in request)
        assert used + 256 <= model.context_window
    assert "Sample rows" not in model.requests[0][0]["content"]  # type: ignore[attr-defined]


def test_questions_that_are_not_about_a_table_are_answered_as_before(sales: Sabio) -> None:
    model = _script(sales, "unused", "SELECT 1")
    stream = sales.ask("¿Qué pasó con las ventas de Madrid según la nota?", model="fake:cite")
    "".join(stream)
    assert stream.answer.computation is None
    filtered = sales.ask(
        "What is the total importe by provincia?",
        model=model,
        filters=DocumentFilter.parse(["nota.txt"], None, None),
    )
    "".join(filtered)
    assert filtered.answer.computation is None  # the table's document is filtered out


def test_no_connection_may_fetch_an_extension(tmp_path: Path) -> None:
    store = TableStore(tmp_path / "kb-1.duckdb")
    table = table_from_rows([["a"], ["1"]], "t")
    assert table is not None
    store.replace(1, "hash", "t.csv", "t", [table])
    settings = (
        "autoload_known_extensions",
        "autoinstall_known_extensions",
        "enable_external_access",
    )
    sql = "SELECT " + ", ".join(f"current_setting('{s}')" for s in settings)
    assert store.run(sql).rows == [(False, False, False)]


def test_the_cli_lists_tables_and_answers_with_the_result_and_sql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("SABIO_HOME", str(home))
    monkeypatch.setenv("SABIO_EMBEDDING_MODEL", "fake:words")
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    cli = CliRunner()
    data = _write_csv(
        tmp_path / "gastos.csv",
        [["mes", "importe"], ["enero 2024", "10 €"], ["febrero 2024", "5 €"]],
    )
    assert cli.invoke(app, ["add", str(data)]).exit_code == 0
    listed = cli.invoke(app, ["tables"])
    assert "gastos  gastos.csv  2 rows" in listed.output
    assert "mes DATE" in listed.output and "importe BIGINT (EUR)" in listed.output
    (home / "monthly.sql").write_text("SELECT mes, importe FROM gastos ORDER BY mes")
    asked = cli.invoke(app, ["ask", "¿Cuál es el importe total por mes?", "--model", "sql:monthly"])
    assert asked.exit_code == 0, asked.output
    assert "2 filas calculadas a partir de gastos.csv [1]." in asked.output
    assert (
        "| 2024-01-01 | 10 |" in asked.output and "SELECT mes, importe FROM gastos" in asked.output
    )
    assert "Sources" in asked.output and "gastos.csv" in asked.output
    drawn = home / "mensual.svg"
    charted = cli.invoke(
        app,
        [
            "ask",
            "¿Cuál es el importe total por mes?",
            "--model",
            "sql:monthly",
            "--chart",
            str(drawn),
        ],
    )
    assert charted.exit_code == 0 and "chart (bar) written" in charted.output
    assert 'aria-label="Gráfico de barras: importe por mes (2)"' in drawn.read_text(
        encoding="utf-8"
    )
    (home / "total.sql").write_text("SELECT sum(importe) AS total FROM gastos")
    plain = cli.invoke(  # one value: nothing to draw
        app,
        [
            "ask",
            "¿Cuál es el importe total?",
            "--model",
            "sql:total",
            "--chart",
            str(home / "no.svg"),
        ],
    )
    assert "no chart" in plain.output and not (home / "no.svg").exists()


def test_a_chat_answers_by_computation_and_keeps_the_table(sales: Sabio) -> None:
    model = _script(
        sales, "chat", "SELECT provincia, count(*) AS n FROM ventas GROUP BY 1 ORDER BY 1"
    )
    chat = sales.create_chat(sales.kb().name, model)
    stream = sales.ask_in_chat(chat.id, "How many sales (count) per provincia in ventas?")
    "".join(stream)
    assert stream.answer.computation is not None and stream.answer.computation.computed
    saved = sales.get_chat(chat.id).messages[-1]
    assert saved.role == "assistant" and "| Madrid | 2 |" in saved.content
    assert "SELECT provincia, count(*)" in saved.content
    from sabio.chats import chat_markdown

    assert saved.chart.startswith("<svg") and "Pie chart: n by provincia (2)" in saved.chart
    assert "![Gráfico](data:image/svg+xml;base64," in chat_markdown(sales.get_chat(chat.id), "es")


def test_an_ods_sheet_is_read_and_kept_as_a_table(sabio: Sabio, tmp_path: Path) -> None:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    book = OpenDocumentSpreadsheet()
    sheet = Table(name="Gastos 2024")
    for cells in (["Mes", "Importe"], ["enero 2024", "1.234,50 €"], ["febrero 2024", "99,50 €"]):
        row = TableRow()
        for text in cells:
            cell = TableCell()
            cell.addElement(P(text=text))
            row.addElement(cell)
        row.addElement(TableCell(numbercolumnsrepeated=1000))  # how ODS writes the empty rest
        sheet.addElement(row)
    book.spreadsheet.addElement(sheet)
    book.save(str(tmp_path / "cuentas.ods"))
    sabio.add([tmp_path / "cuentas.ods"])
    [table] = sabio.tables()
    assert table.where == "cuentas.ods, Gastos 2024"
    assert [(c.name, c.sql_type, c.unit) for c in table.columns] == [
        ("mes", "DATE", ""),
        ("importe", "DECIMAL(38,2)", "EUR"),
    ]
    result = sabio.kb_tables(sabio.kb()).run("SELECT sum(importe) FROM cuentas")
    assert result.rows == [(Decimal("1334.00"),)]


def test_an_odt_table_is_named_by_its_caption(sabio: Sabio, tmp_path: Path) -> None:
    from odf.opendocument import OpenDocumentText
    from odf.table import Table, TableCell, TableColumn, TableRow
    from odf.text import H, P

    document = OpenDocumentText()
    document.text.addElement(H(outlinelevel=1, text="Resultados"))
    for caption, rows in (
        ("Tabla 1. Ventas por región", [["Región", "Ventas"], ["Norte", "1.200,50"]]),
        ("", [["Año", "Total"], ["2023", "7"]]),
    ):
        if caption:
            document.text.addElement(P(text=caption))
        grid = Table()
        grid.addElement(TableColumn(numbercolumnsrepeated=2))
        for cells in rows:
            row = TableRow()
            for text in cells:
                cell = TableCell()
                cell.addElement(P(text=text))
                row.addElement(cell)
            grid.addElement(row)
        document.text.addElement(grid)
        document.text.addElement(P(text="Un párrafo después del cuadro."))
    document.save(str(tmp_path / "informe.odt"))
    sabio.add([tmp_path / "informe.odt"])
    assert {t.name: t.where for t in sabio.tables()} == {
        "informe_tabla_1_ventas_por_region": "informe.odt, Tabla 1. Ventas por región",
        "informe_resultados": "informe.odt, Resultados",
    }


def test_a_csv_table_is_read_whole_and_a_cut_sheet_says_so(tmp_path: Path) -> None:
    rows = [["n", "x"], *[[str(i), f"{i},5"] for i in range(50)]]
    path = _write_csv(tmp_path / "muchas.csv", rows, ";")
    first_rows = "\n".join(" | ".join(r) for r in rows[:11])  # as a loader that stopped early
    doc = LoadedDocument([Section(first_rows, kind="table")], "muchas")
    [table] = tables_of(doc, "muchas", Blob.from_path(path))
    assert table.row_count == 50 and table.columns[1].type.kind == "decimal"
    cut = LoadedDocument(
        [Section(first_rows, heading="Hoja1", kind="table")],
        "libro",
        {"truncated:Hoja1": "first 10 rows"},
    )
    [sheet] = tables_of(cut, "libro")
    assert sheet.sheet == "Hoja1 (first 10 rows)" and sheet.row_count == 10


def test_a_failed_computation_over_a_table_found_further_down_gives_way(sales: Sabio) -> None:
    model = _script(sales, "nothing", "I do not know.", "Still no.")
    stream = sales.ask("¿Cuánto crecieron en total según la nota?", model=model, style="extractive")
    text = "".join(stream)
    done = stream.answer.computation
    assert done is not None and not done.computed  # tried: the question asks for a total
    assert "No pude calcularlo" not in text  # answered from the passages, as before


def test_table_names_are_unique_and_never_sabio_s_own(tmp_path: Path) -> None:
    store = TableStore(tmp_path / "kb-1.duckdb")
    table = table_from_rows([["a"], ["1"]], "sabio_notes")
    other = table_from_rows([["a"], ["2"]], "t_sabio_notes")
    assert table is not None and other is not None
    assert store.replace(1, "h", "sabio_notes.csv", "x", [table]) == ["t_sabio_notes"]
    assert store.replace(2, "h", "t_sabio_notes.csv", "y", [other]) == ["t_sabio_notes_2"]
    assert store.replace(3, "h", "sabio_notes.csv", "z", [table]) == ["t_sabio_notes_3"]
    assert store.replace(1, "h2", "sabio_notes.csv", "x", [table]) == ["t_sabio_notes"]


def test_the_api_streams_the_computed_answer_with_its_computation(tmp_path: Path) -> None:
    import json

    from fastapi.testclient import TestClient

    from sabio.server import create_app

    settings = load_settings(
        {
            "home": tmp_path / "home",
            "embedding_model": "fake:words",
            "ollama_host": f"127.0.0.1:{closed_port()}",
        },
        environ={},
    )
    service = Sabio(settings)
    service.create_kb("cuentas")
    data = _write_csv(tmp_path / "ventas.csv", [["provincia", "importe"], ["Jaén", "3,5"]], ";")
    service.add([data], "cuentas")
    service.close()
    (settings.home / "api.sql").write_text("SELECT sum(importe) AS total FROM ventas")
    with TestClient(create_app(settings), base_url="http://127.0.0.1:11435") as client:
        body = {"question": "¿Cuál es el importe total?", "model": "sql:api"}
        response = client.post("/api/v1/kbs/cuentas/ask", json=body)
    assert response.status_code == 200
    blocks = [b for b in response.text.split("\n\n") if b.strip()]
    done = json.loads(dict(line.split(": ", 1) for line in blocks[-1].splitlines())["data"])
    assert done["text"].startswith("total: **3.5**, calculado a partir de ventas.csv [1].")
    assert done["computation"]["rows"] == [["3.5"]] and done["computation"]["computed"]
    assert done["citations"][0]["document"] == "ventas.csv"


def test_a_table_inside_a_docx_is_kept_under_its_heading(sabio: Sabio, tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Resultados", level=1)
    document.add_paragraph("Las ventas del trimestre, por región:")
    grid = document.add_table(rows=3, cols=2)
    for r, cells in enumerate((["Región", "Ventas"], ["Norte", "1.200,50"], ["Sur", "800"])):
        for c, text in enumerate(cells):
            grid.cell(r, c).text = text
    document.save(str(tmp_path / "informe.docx"))
    sabio.add([tmp_path / "informe.docx"])
    [table] = sabio.tables()
    assert table.name == "informe" and table.where == "informe.docx, Resultados"
    rows = sabio.kb_tables(sabio.kb()).run("SELECT region, ventas FROM informe ORDER BY 1")
    assert rows.rows == [("Norte", Decimal("1200.50")), ("Sur", Decimal("800.00"))]


def test_a_docx_table_is_named_by_its_caption_above_or_below(sabio: Sabio, tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Resultados", level=1)
    document.add_paragraph("Ventas por región", style="Caption")
    for rows in ([["Región", "Ventas"], ["Norte", "1.200,50"]], [["Año", "Total"], ["2023", "7"]]):
        grid = document.add_table(rows=2, cols=2)
        for r, cells in enumerate(rows):
            for c, text in enumerate(cells):
                grid.cell(r, c).text = text
        document.add_paragraph("Tabla 2. Totales por año" if rows[0][0] == "Año" else "Texto.")
    document.add_paragraph("Un párrafo que no nombra ningún cuadro.")
    last = document.add_table(rows=2, cols=2)
    for (r, c), text in zip([(0, 0), (0, 1), (1, 0), (1, 1)], "ab18", strict=True):
        last.cell(r, c).text = text
    document.save(str(tmp_path / "informe.docx"))
    sabio.add([tmp_path / "informe.docx"])
    tables = {t.name: t.where for t in sabio.tables()}
    assert tables == {
        "informe_ventas_por_region": "informe.docx, Ventas por región",
        "informe_tabla_2_totales_por_ano": "informe.docx, Tabla 2. Totales por año",
        "informe_resultados": "informe.docx, Resultados",
    }


def test_an_html_table_is_named_by_its_caption_or_the_heading_above(
    sabio: Sabio, tmp_path: Path
) -> None:
    body = (
        "<h1>Informe anual</h1><p>{intro}</p><h2>Ventas</h2><p>{intro}</p>"
        "<table><caption>Cuadro 1. Ventas por región</caption>"
        "<tr><th>Región</th><th>Ventas</th></tr><tr><td>Norte</td><td>1.200,50</td></tr></table>"
        "<h2>Plantilla</h2><p>{intro}</p>"
        "<table><tr><th>Año</th><th>Personas</th></tr>{years}</table>"
    ).format(
        years="".join(f"<tr><td>{y}</td><td>{y - 2000}</td></tr>" for y in range(2010, 2024)),
        intro="Un párrafo con bastante texto para que la página tenga un cuerpo. " * 3,
    )
    for name, wrap in (("suelta", "{}"), ("articulo", "<article>{}</article>")):
        page = tmp_path / f"{name}.html"
        page.write_text(f"<html><body>{wrap.format(body)}</body></html>", encoding="utf-8")
        sabio.add([page])
        tables = {t.name: t.where for t in sabio.tables() if t.source == str(page)}
        assert tables == {
            f"{name}_cuadro_1_ventas_por_region": f"{name}.html, Cuadro 1. Ventas por región",
            f"{name}_plantilla": f"{name}.html, Plantilla",
        }
    _, result = sabio.query_tables("SELECT region, ventas FROM suelta_cuadro_1_ventas_por_region")
    assert result.rows == [("Norte", Decimal("1200.50"))]  # the caption is not a row


def test_a_removed_document_s_cells_are_gone_from_the_file(sabio: Sabio, tmp_path: Path) -> None:
    secret = "Zarzaparrillaunica"
    folder = tmp_path / "docs"
    folder.mkdir()
    _write_csv(
        folder / "secreto.csv", [["quien", "n"], *[[f"{secret} {i}", str(i)] for i in range(5)]]
    )
    _write_csv(folder / "otro.csv", [["a", "b"], ["x", "1"]])
    sabio.add([folder])
    path = tables_path(sabio.settings.home, sabio.kb().id)
    assert secret.encode() in path.read_bytes()  # so that the check below can fail
    sabio.remove_document(str(folder / "secreto.csv"))
    assert secret.encode() not in path.read_bytes()
    assert [t.name for t in sabio.tables()] == ["otro"]
    assert sabio.kb_tables(sabio.kb()).run("SELECT * FROM otro").rows == [("x", 1)]


def test_a_query_waits_while_another_thread_writes(tmp_path: Path) -> None:
    import threading

    store = TableStore(tmp_path / "kb-1.duckdb")
    table = table_from_rows([["a"], *[[str(i)] for i in range(1000)]], "t")
    assert table is not None
    store.replace(1, "h", "t.csv", "t", [table])
    errors: list[Exception] = []

    def write() -> None:
        try:
            for n in range(2, 6):
                store.replace(n, "h", f"t{n}.csv", "t", [table])
        except TableError as exc:
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    sums = [store.run("SELECT sum(a) FROM t").rows for _ in range(20)]
    writer.join()
    assert errors == [] and sums == [[(499500,)]] * 20


def test_a_table_inside_an_html_page_is_kept_typed(sabio: Sabio, tmp_path: Path) -> None:
    page = tmp_path / "ventas.html"
    page.write_text(
        "<html><head><title>Ventas</title></head><body><h1>Informe</h1>"
        "<p>Las ventas por región en el trimestre fueron las siguientes, según el cuadro.</p>"
        "<table><tr><th>Región</th><th>Ventas</th><th>Fecha</th></tr>"
        "<tr><td>Norte</td><td>1.200,50 €</td><td>3 de enero de 2024</td></tr>"
        "<tr><td>Sur</td><td>800 €</td><td>15/02/2024</td></tr></table>"
        "<p>Más texto después del cuadro, para que la página tenga un cuerpo.</p></body></html>",
        encoding="utf-8",
    )
    sabio.add([page])
    [table] = sabio.tables()
    assert table.name == "ventas" and table.where == "ventas.html, Informe"  # the heading above
    assert [(c.name, c.sql_type, c.unit) for c in table.columns] == [
        ("region", "VARCHAR", ""),
        ("ventas", "DECIMAL(38,2)", "EUR"),
        ("fecha", "DATE", ""),
    ]
    _, result = sabio.query_tables("SELECT region, ventas, fecha FROM ventas ORDER BY 1")
    assert result.rows == [
        ("Norte", Decimal("1200.50"), date(2024, 1, 3)),
        ("Sur", Decimal("800.00"), date(2024, 2, 15)),
    ]


def test_the_collector_is_held_off_only_while_a_table_is_read(tmp_path: Path) -> None:
    import gc

    from sabio.loaders import load_document

    data = _write_csv(tmp_path / "n.csv", [["a", "b"], *[[str(i), f"{i},5"] for i in range(50)]])
    for enabled in (True, False):
        (gc.enable if enabled else gc.disable)()
        try:
            [table] = tables_of(load_document(Blob.from_path(data)), "n", Blob.from_path(data))
            assert gc.isenabled() is enabled  # as it was, whatever it was
        finally:
            gc.enable()
        assert table.row_count == 50 and table.cells[1][:2] == ["0.5", "1.5"]


def test_a_table_inside_a_report_is_asked_about_only_where_its_page_is_found() -> None:
    from sabio.tables.answers import tables_for
    from sabio.tables.engine import TableInfo

    inside = TableInfo("t_12", 7, "h", "/r/informe.pdf", "informe", "Tabla 1", 12, 4, ())
    sheet = TableInfo("t_ventas", 9, "h", "/r/ventas.csv", "ventas", "", None, 4, ())
    about_page_3 = [(7, 3), (7, 4), (7, 5)]  # the report's prose, not its table
    assert tables_for("How does the company describe its business?", about_page_3, [inside]) == []
    assert tables_for("How does it describe it?", [(7, 12), (7, 12)], [inside]) == [inside]
    assert tables_for("How does it describe it?", [(9, None)], [inside, sheet]) == [sheet]


def test_a_year_in_a_table_s_name_does_not_name_the_table() -> None:
    """A 10-Q's table of contents is c_2022_q3_aapl_part_i: "total net sales in the third
    quarter of 2022" named it by its year, and its failed computation was the answer."""
    from sabio.tables.answers import named_or_first, tables_for
    from sabio.tables.engine import ColumnInfo, TableInfo

    columns = tuple(ColumnInfo(n, n, "VARCHAR", "") for n in ("item_1", "financial_statements"))
    contents = TableInfo(
        "c_2022_q3_aapl_part_i", 7, "h", "/r/2022 Q3 AAPL.pdf", "2022 Q3 AAPL", "Part I", 3, 4,
        columns,
    )  # fmt: skip
    question = "What were Apple's total net sales in the third quarter of 2022?"
    prose = [(7, 17), (7, 18), (7, 4)]
    assert tables_for(question, prose, [contents]) == []
    assert not named_or_first(question, prose, contents)
    assert tables_for("Total of the financial statements", prose, [contents]) == [contents]


def test_a_question_naming_a_column_without_a_computation_falls_back_to_the_passages(
    sales: Sabio,
) -> None:
    """ "When was it founded?" over a page whose infobox is a table with a Founded column:
    when no query runs, the passages answer instead of "I could not compute that"."""
    model = _script(sales, "vague", "I do not know.", "Still no query.")
    answer = _ask(sales, "¿Qué pasó con la provincia de Madrid?", model)
    assert answer.computation is not None and not answer.computation.computed
    assert not answer.text.startswith("No pude calcularlo")
    assert answer.route is not None and answer.route.kind != "table"

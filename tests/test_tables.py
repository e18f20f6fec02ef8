"""Tables as tables (sabio.tables): typed columns, the DuckDB file per knowledge base kept
in step with its documents, the SQL validator and the sandbox, over real DuckDB."""

from __future__ import annotations

import csv
import shutil
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from conftest import need_data

from sabio.errors import TableError
from sabio.service import Sabio
from sabio.tables.engine import TableStore, tables_path
from sabio.tables.extract import table_from_rows
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
    ):
        assert validate(sql, tables) == sql.rstrip(";")
    assert sql_of("Here it is:\n```sql\nSELECT 1;\n```\nDone") == "SELECT 1"
    assert sql_of("SQL: SELECT count(*) FROM t;") == "SELECT count(*) FROM t"


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

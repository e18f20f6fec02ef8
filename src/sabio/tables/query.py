"""Which SQL may run over a knowledge base's tables: one read-only ``SELECT`` that reads
only those tables, checked with DuckDB's own parser (``extract_statements`` for the
statements and their kind, ``json_serialize_sql`` for the tables each one reads).

Refused, each with a message that says why (a model gets it back once to try again):
anything that is not a ``SELECT`` (writes, ``ATTACH``, ``COPY``, ``INSTALL``, ``LOAD``,
``PRAGMA``, ``SET``), more than one statement, table functions (``read_csv``, ``glob``,
``query``…), files named as tables (``FROM 'x.csv'``) and any table that is not one of
the knowledge base's (system catalogues, Sabio's own ``sabio.catalog``). What passes still
runs in :class:`~sabio.tables.engine.TableStore`'s sandbox (read-only, no external access).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import duckdb

from sabio.errors import TableError
from sabio.tables.engine import PRIVATE, Config

_FENCE = re.compile(r"```(?:sql|duckdb)?\s*(.*?)(?:```|$)", re.DOTALL | re.IGNORECASE)
_PARSER: Config = {**PRIVATE, "enable_external_access": False}
FUNCTIONS_REFUSED = frozenset({"current_setting", "getvariable", "query", "query_table"})


def sql_of(reply: str) -> str:
    """The SQL in a model's reply: inside a code fence when there is one, else the reply
    from the first line that starts with SELECT, WITH or FROM (the whole reply when none
    does: never a part of another statement, "FROM t" of "DELETE FROM t")."""
    if match := _FENCE.search(reply):
        text = match.group(1)
    else:
        start = re.search(r"^\s*(SELECT|WITH|FROM)\b", reply, re.IGNORECASE | re.MULTILINE)
        text = reply[start.start() :] if start else reply
    return text.strip().rstrip(";").strip()


def validate(sql: str, tables: set[str]) -> str:
    """``sql`` without its trailing semicolon when it is one ``SELECT`` over ``tables``;
    a :class:`TableError` that says what is wrong otherwise."""
    sql = sql.strip().rstrip(";").strip()
    if not sql:
        raise TableError("there is no SQL query", key="query_invalid", detail="")
    parser = duckdb.connect(":memory:", config=_PARSER)
    try:
        try:
            statements = parser.extract_statements(sql)
        except duckdb.Error as exc:
            raise TableError(
                f"the SQL does not parse: {exc}", key="query_invalid", detail=str(exc)
            ) from exc
        if len(statements) != 1:
            raise TableError(
                f"give one SELECT statement, not {len(statements)}",
                key="query_not_select",
                detail=f"{len(statements)} statements",
            )
        kind = statements[0].type
        if kind != duckdb.StatementType.SELECT:
            name = kind.name if hasattr(kind, "name") else str(kind)
            raise TableError(
                f"only a read-only SELECT may run, not {name}",
                key="query_not_select",
                detail=name,
            )
        serialized = parser.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()
        tree = json.loads(serialized[0] if serialized else "{}")
    finally:
        parser.close()
    if tree.get("error"):
        raise TableError(
            f"only a SELECT may run: {tree.get('error_message')}",
            key="query_not_select",
            detail=str(tree.get("error_message")),
        )
    _check_tree(tree, tables)
    return sql


def _check_tree(tree: dict[str, Any], tables: set[str]) -> None:
    """Names compared as DuckDB resolves them, whatever their case ("FROM Ventas")."""
    named = {key.lower() for node in _nodes(tree) for key in _cte_names(node)}
    known = {table.lower() for table in tables}
    for node in _nodes(tree):
        kind = node.get("type")
        if kind == "TABLE_FUNCTION":
            name = node.get("function", {}).get("function_name", "?")
            raise TableError(
                f"table functions such as {name}() may not be used: read the "
                f"tables {_listed(tables)}",
                key="query_table_refused",
                table=f"{name}()",
                tables=_listed(tables),
            )
        if kind == "BASE_TABLE":
            name, schema = node.get("table_name", ""), node.get("schema_name", "")
            catalog = node.get("catalog_name", "")
            local = schema.lower() in ("", "main") and not catalog
            lowered = name.lower()
            if not (
                (local and lowered in known) or (not schema and not catalog and lowered in named)
            ):
                shown = ".".join(p for p in (catalog, schema, name) if p)
                raise TableError(
                    f"the query reads {shown!r}, which is not one of the tables {_listed(tables)}",
                    key="query_table_refused",
                    table=shown,
                    tables=_listed(tables),
                )
        if node.get("class") == "FUNCTION" and node.get("function_name") in FUNCTIONS_REFUSED:
            name = node["function_name"]
            raise TableError(
                f"the function {name}() may not be used",
                key="query_table_refused",
                table=f"{name}()",
                tables=_listed(tables),
            )


def _listed(tables: set[str]) -> str:
    return ", ".join(sorted(tables)) or "(none)"


def _cte_names(node: dict[str, Any]) -> Iterator[str]:
    cte = node.get("cte_map")
    if isinstance(cte, dict):
        for entry in cte.get("map", []):
            yield str(entry.get("key", ""))


def _nodes(value: Any) -> Iterator[dict[str, Any]]:
    """Every object in the parse tree, depth first."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def has_limit(sql: str) -> bool:
    """Whether a checked query keeps only some of its rows (a ``LIMIT`` outside quotes)."""
    return bool(re.search(r"\blimit\b", re.sub(r"'[^']*'|\"[^\"]*\"", "", sql), re.I))

"""A report over a knowledge base's tables, under ``/api/v1/kbs/{name}/report``
(:mod:`sabio.tables.report`): computed without a model, as one HTML page with its charts
inline, or as Markdown without them."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import Response

from sabio.server.api import ERRORS, ServicesDep
from sabio.server.links import API_PREFIX
from sabio.tables.report import report_html, report_markdown

router = APIRouter(
    prefix=f"{API_PREFIX}/kbs/{{name}}/report", tags=["knowledge bases"], responses=ERRORS
)


@router.get(
    "",
    summary="A report over the tables of a knowledge base",
    response_class=Response,
    responses={200: {"content": {"text/html": {}, "text/markdown": {}}}},
)
def table_report(
    name: str,
    services: ServicesDep,
    format: Literal["html", "markdown"] = "html",
    language: Literal["en", "es"] = "en",
) -> Response:
    """Each table's size and columns, the totals and means of its measures, totals by
    month or year, the top five of a category: each figure with the SQL that computed it
    and the table it cites, and in HTML its chart. The page runs nothing (it is served
    sandboxed)."""
    made = services.reader.table_report(name, language)
    if format == "markdown":
        return Response(report_markdown(made, None), media_type="text/markdown; charset=utf-8")
    headers = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}
    return Response(report_html(made), media_type="text/html; charset=utf-8", headers=headers)

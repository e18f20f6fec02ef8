"""Charts of result tables (sabio.tables.charts): the kind chosen from the result's shape,
the SVG and the PNG drawn from one layout, and `sabio tables --sql … --chart`."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from fake_servers import closed_port
from PIL import Image
from typer.testing import CliRunner

from sabio.cli import app
from sabio.tables.charts import PALETTE, chart_for, chart_png, chart_svg, format_number, layout
from sabio.tables.query import has_limit

SVG = "{http://www.w3.org/2000/svg}"
BY_PROVINCE = [("Madrid", Decimal("1247.00")), ("Sevilla", Decimal("1080.00")), ("Jaén", 3)]


def test_the_kind_follows_the_result_s_shape() -> None:
    months = [(date(2024, m, 1), m * 10.0) for m in range(1, 7)]
    assert (line := chart_for(["mes", "importe"], months)) and line.kind == "line"
    assert line.labels[0] == "2024-01-01" and line.series[0].values[:2] == (10.0, 20.0)
    years = [(2021, 5), (2022, 7), (2023, 9)]  # two number columns, the first one years
    assert (by_year := chart_for(["año", "total"], years)) and by_year.kind == "line"
    assert by_year.labels == ("2021", "2022", "2023") and by_year.series[0].name == "total"
    assert (pie := chart_for(["provincia", "total"], BY_PROVINCE)) and pie.kind == "pie"
    # a LIMIT keeps only some rows: not parts of a whole, so bars
    assert (top := chart_for(["provincia", "total"], BY_PROVINCE, limited=True))
    assert top.kind == "bar"
    averages = chart_for(["provincia", "avg(importe)"], BY_PROVINCE)
    assert averages and averages.kind == "bar"
    both = chart_for(
        ["provincia", "sum(importe)", "count_star()"], [(p, v, 1) for p, v in BY_PROVINCE]
    )
    assert (
        both
        and both.kind == "bar"
        and [s.name for s in both.series] == ["sum(importe)", "count_star()"]
    )


@pytest.mark.parametrize(
    ("columns", "rows", "truncated"),
    [
        (["provincia", "total"], [("Madrid", 3)], False),  # one row
        (["provincia", "ciudad"], [("Madrid", "Getafe"), ("Sevilla", "Écija")], False),
        (["a", "b"], [(1.5, 2), (2.5, 3)], False),  # numbers without labels or periods
        (["provincia", "total"], [("Madrid", 3), ("Sevilla", 4)], True),  # cut short
    ],
)
def test_a_result_that_is_not_a_series_gets_no_chart(
    columns: list[str], rows: list[tuple[object, ...]], truncated: bool
) -> None:
    assert chart_for(columns, rows, truncated=truncated) is None


def test_the_svg_is_well_formed_escaped_and_has_a_bar_per_value() -> None:
    rows = [("<script>alert(1)</script>", 5), ("Tom & Jerry", -2), ("Ñandú", 7)]
    chart = chart_for(["name", "avg(score)"], rows, title="Scores <by> name")
    assert chart is not None and chart.kind == "bar"
    svg = chart_svg(chart, "en")
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "Tom &amp; Jerry" in svg
    root = ET.fromstring(svg)
    bars = [r for r in root.iter(f"{SVG}rect") if r.get("fill") == PALETTE[0]]
    assert len(bars) == 3
    widths = [float(b.get("width", 0)) for b in bars]
    assert widths[2] > widths[0] > widths[1]  # 7 > 5 > |-2|
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "Scores <by> name" in texts and "-2" in texts
    assert root.get("aria-label") == "Bar chart: avg(score) by name (3)"


def test_numbers_are_written_as_each_language_writes_them() -> None:
    assert format_number(1234567.5, "es") == "1.234.567,50"
    assert format_number(1234567.5, "en") == "1,234,567.50"
    assert format_number(0.125, "es") == "0,125" and format_number(40, "en") == "40"
    chart = chart_for(["provincia", "total"], BY_PROVINCE)
    assert chart is not None
    spanish = chart_svg(chart, "es")
    assert "Madrid: 1.247 (53,5 %)" in spanish and "Gráfico circular" in spanish
    assert "Madrid: 1,247 (53.5 %)" in chart_svg(chart, "en")


def test_the_png_draws_the_same_layout() -> None:
    rows = [(datetime(2024, m, 1), float(m * m)) for m in range(1, 13)]
    chart = chart_for(["month", "sum(amount)"], rows)
    assert chart is not None and chart.kind == "line"
    plan = layout(chart, "en")
    image = Image.open(io.BytesIO(chart_png(chart, "en")))  # in memory: nothing to close
    assert image.format == "PNG" and image.size == (plan.width, plan.height)
    dots = [s for s in plan.shapes if s.kind == "dot"]
    assert len(dots) == 12
    x, y = dots[-1].numbers[:2]  # the last month's dot is drawn in the series' colour
    red, green, blue = image.convert("RGB").getpixel((round(x), round(y)))  # type: ignore[misc]
    assert (red, green, blue) != (255, 255, 255)
    assert abs(blue - int(PALETTE[0][5:7], 16)) < 40 and red < 60


def test_a_limit_is_told_apart_from_the_word_in_a_string() -> None:
    assert has_limit("SELECT a FROM t ORDER BY 1 LIMIT 5")
    assert not has_limit("SELECT a FROM t WHERE b = 'no limit'")


def test_the_cli_draws_a_query_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SABIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SABIO_EMBEDDING_MODEL", "fake:words")
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    data = tmp_path / "gastos.csv"
    data.write_text(
        "mes;categoria;importe\nenero 2024;luz;10,5\nfebrero 2024;luz;5\n"
        "febrero 2024;agua;7\nmarzo 2024;agua;1\n",
        encoding="utf-8",
    )
    cli = CliRunner()
    assert cli.invoke(app, ["add", str(data)]).exit_code == 0
    sql = "SELECT mes, sum(importe) AS total FROM gastos GROUP BY mes ORDER BY mes"
    out = tmp_path / "mensual.svg"
    done = cli.invoke(app, ["tables", "--sql", sql, "--chart", str(out), "--language", "es"])
    assert done.exit_code == 0, done.output
    assert "2024-02-01" in done.output and "12.0 " in done.output
    assert "chart (line) written" in done.output
    spanish = cli.invoke(app, ["tables", "--sql", sql, "--chart", str(out)], env={"LANG": "es_ES"})
    assert "gráfico (line) escrito en" in spanish.output, spanish.output
    listed = cli.invoke(app, ["tables"], env={"SABIO_LANGUAGE": "es"}).output
    assert "gastos  gastos.csv  4 filas" in listed, listed
    root = ET.fromstring(out.read_text(encoding="utf-8"))
    assert root.get("aria-label") == "Gráfico de líneas: total por mes (3)"
    png = tmp_path / "categorias.png"
    by = "SELECT categoria, sum(importe) AS total FROM gastos GROUP BY 1 ORDER BY 1"
    assert cli.invoke(app, ["tables", "--sql", by, "--chart", str(png)]).exit_code == 0
    with Image.open(png) as image:
        assert image.format == "PNG"
    refused = cli.invoke(app, ["tables", "--sql", "DELETE FROM gastos"])
    assert refused.exit_code != 0 and "SELECT" in refused.output
    listed = cli.invoke(app, ["tables", "--sql", "SELECT count(*) FROM gastos"])
    assert listed.exit_code == 0 and "4" in listed.output


def test_the_same_result_always_draws_the_same_chart() -> None:
    rows = [(date(2024, m, 1), Decimal(m) * 10) for m in range(1, 5)]
    first, again = chart_for(["mes", "total"], rows), chart_for(["mes", "total"], list(rows))
    assert first is not None and again is not None and first == again
    assert chart_svg(first, "es") == chart_svg(again, "es")
    assert chart_png(first, "en") == chart_png(again, "en")

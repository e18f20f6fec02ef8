"""Search in a folder of look-alike documents: the question names one report among many
that share their boilerplate (real store, real index, the word-hash embedder)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import need_data

from sabio.document_field import field_tokens, latest_date
from sabio.search import document_terms, strip_instructions
from sabio.service import Sabio

BOILERPLATE = "\n\n".join(
    [
        "This quarterly report contains forward-looking statements within the meaning of the "
        "securities laws. Forward-looking statements are not guarantees of future performance. "
        "Readers are cautioned not to place undue reliance on them. " * 4
    ]
    * 6
)  # six passages of the same words in every report


def _report(company: str, quarter: str, cogs: str, statement_repeats: int) -> str:
    """A cover page naming the company and the period, boilerplate, and an income
    statement that never repeats the company's name."""
    statement = (
        "Condensed consolidated income statement (in USD millions). "
        + "Net revenue, cost of goods sold and gross margin for the quarter. " * statement_repeats
        + f"Cost of goods sold: {cogs}."
    )
    return (
        f"{company} Inc.\n\nQuarterly report on Form 10-Q for the quarter ended {quarter}.\n\n"
        f"{BOILERPLATE}\n\n{statement}\n"
    )


def _write(tmp_path: Path, reports: dict[str, str]) -> list[Path]:
    paths = []
    for name, text in reports.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


@pytest.fixture
def reports(sabio: Sabio, tmp_path: Path) -> Sabio:
    # Contoso's statements match the question's boilerplate words more often than Fabrikam's
    paths = _write(
        tmp_path,
        {
            "2023 Q1 CONTOSO.txt": _report("Contoso", "April 1, 2023", "41,100", 3),
            "2023 Q3 CONTOSO.txt": _report("Contoso", "September 30, 2023", "43,300", 3),
            "2023 Q1 FABRIKAM.txt": _report("Fabrikam", "April 1, 2023", "17,100", 1),
            "2023 Q3 FABRIKAM.txt": _report("Fabrikam", "September 30, 2023", "17,300", 1),
        },
    )
    sabio.add(paths)
    return sabio


def _top_document(sabio: Sabio, question: str) -> str:
    hits = sabio.search(question, k=3).hits
    assert hits
    return Path(hits[0].document).name


def test_the_named_company_wins_over_boilerplate_matches(reports: Sabio) -> None:
    question = "What was Fabrikam's cost of goods sold in the income statement in USD millions?"
    assert _top_document(reports, question).endswith("FABRIKAM.txt")
    hit = reports.search(question, k=1).hits[0]
    assert "Cost of goods sold: 17," in hit.text  # the statement, not the cover page


def test_a_word_on_one_companys_cover_pages_does_not_name_its_reports(
    sabio: Sabio, tmp_path: Path
) -> None:
    """Contoso's cover pages say "filing" (Fabrikam's never do): as rare among the covers
    as "Fabrikam", but the question names Fabrikam and only mentions a filing."""
    covers = {"Contoso": "Electronic filing with the SEC, accelerated filer. ", "Fabrikam": ""}
    reports = {
        f"2023 {q} {company.upper()}.txt": covers[company] + _report(company, day, cogs, 3)
        for company in covers
        for q, day, cogs in (
            ("Q1", "April 1, 2023", "1,100"),
            ("Q3", "September 30, 2023", "3,300"),
        )
    }
    sabio.add(_write(tmp_path, reports))
    question = "What was Fabrikam's cost of goods sold in its most recent electronic filing?"
    assert _top_document(sabio, question) == "2023 Q3 FABRIKAM.txt"
    weights = document_terms(question)
    assert weights["fabrikam"] == 1.0 and weights["filing"] < 1.0
    assert set(document_terms("fabrikam most recent filing").values()) == {1.0}  # lowercase


def test_strip_instructions_keeps_the_question() -> None:
    assert strip_instructions("What was X's revenue? Provide a response in USD.") == (
        "What was X's revenue?"
    )
    assert strip_instructions("¿Cuál fue el plazo?\nResponde en español. Cita la página.") == (
        "¿Cuál fue el plazo?"
    )
    assert strip_instructions("Provide the revenue of X.") == "Provide the revenue of X."
    assert strip_instructions("Explain the change. Include the figures.") == "Explain the change."


def test_periods_are_matched_as_reports_name_them(reports: Sabio) -> None:
    english = "Fabrikam's cost of goods sold in the third quarter of 2023, income statement"
    assert _top_document(reports, english) == "2023 Q3 FABRIKAM.txt"
    spanish = "¿Cuál fue el cost of goods sold de Fabrikam en el primer trimestre de 2023?"
    assert _top_document(reports, spanish) == "2023 Q1 FABRIKAM.txt"


def test_the_latest_report_answers_a_question_about_the_most_recent(reports: Sabio) -> None:
    for question in (
        "Contoso's cost of goods sold in its most recent 10-Q income statement",
        "Coste de ventas (cost of goods sold) de Contoso en el último informe",
    ):
        assert _top_document(reports, question) == "2023 Q3 CONTOSO.txt"


def test_document_terms_name_periods_in_both_languages() -> None:
    assert {"q3", "2023"} <= set(document_terms("the third quarter of 2023"))
    assert {"q1", "2023"} <= set(document_terms("el primer trimestre de 2023"))
    assert "fy2016" in document_terms("Contoso's fiscal year 2016 revenue")
    assert {"fy2016", "fy", "2016"} <= set(field_tokens("AAPL_FY2016_10K"))


def test_latest_date_reads_english_spanish_iso_and_quarter_dates() -> None:
    assert latest_date("period ended July 1, 2023; as of July 21, 2023") == 20230721
    assert latest_date("a 30 de septiembre de 2022") == 20220930
    assert latest_date("2021-03-31 and 2020-12-31") == 20210331
    assert latest_date("2023 Q2 NVDA") == 20230631
    assert latest_date("no date here") == 0


APPLE = ("rag_qa", "docugami_sec10q", "docs", "2023 Q3 AAPL.pdf")


def test_cited_page_is_the_pdf_page_holding_the_passage(sabio: Sabio) -> None:
    """On a real 29-page 10-Q: each passage found for a sentence of page N says page N
    (1-based), and its words are that page's words."""
    import pypdfium2 as pdfium

    path = need_data(*APPLE)
    pdf = pdfium.PdfDocument(path)
    pages = [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]
    pdf.close()
    sabio.add([path])
    words = [set(re.findall(r"\w+", p.lower())) for p in pages]
    for number in (8, 17, 20, 24):
        others = "\n".join(p for n, p in enumerate(pages, 1) if n != number)
        lines = [
            line
            for line in pages[number - 1].splitlines()
            if len(line.split()) >= 12 and line.strip() not in others
        ]
        hit = sabio.search(lines[len(lines) // 2], k=1).hits[0]
        assert hit.page == number
        found = set(re.findall(r"\w+", hit.text.lower()))
        assert len(found - words[number - 1]) <= 0.02 * len(found)


def test_a_knowledge_base_of_short_documents_has_no_document_field(
    sabio: Sabio, tmp_path: Path
) -> None:
    """Abstracts, notes, paragraphs: a field repeating their one passage would only count
    their keywords twice."""
    paths = _write(tmp_path, {"a.txt": "Fabrikam costs rose.", "b.txt": "Contoso costs fell."})
    sabio.add(paths)
    kb = sabio.kb()
    assert sabio.index.document_scores(kb, ["fabrikam"]) == {}
    assert Path(sabio.search("Fabrikam costs", k=1).hits[0].document).name == "a.txt"


def test_results_spread_over_pages_before_a_page_repeats() -> None:
    from sabio.search import spread_pages
    from sabio.store import StoredChunk

    def chunk(cid: int, document: int, page: int | None) -> StoredChunk:
        return StoredChunk(cid, document, f"d{document}.pdf", "", page, 0, 1, "", "text")

    # best first: three passages of page 4, one of page 9, two without pages, one of the
    # same page number in another document
    chunks = {
        1: chunk(1, 1, 4),
        2: chunk(2, 1, 4),
        3: chunk(3, 1, 9),
        4: chunk(4, 1, 4),
        5: chunk(5, 2, None),
        6: chunk(6, 2, None),
        7: chunk(7, 3, 4),
    }
    order = [1, 2, 3, 4, 5, 6, 7]
    assert spread_pages(order, chunks, 4) == [1, 3, 5, 6]
    assert spread_pages(order, chunks, 5) == [1, 3, 5, 6, 7]
    # fewer distinct pages than places: the repeated ones come back, in order
    assert spread_pages(order, chunks, 7) == [1, 3, 5, 6, 7, 2, 4]
    assert spread_pages([9, 1], chunks, 2) == [1]  # a chunk gone from the store is skipped


def test_figure_density_tells_a_statement_from_the_prose_about_it() -> None:
    from sabio.search import figure_density

    statement = (
        "Net sales: Products $ 60,584 $ 63,355 $ 230,901 $ 245,241\n"
        "Other income/(expense), net (265) (10) (594) (97)\n"
        "Diluted $ 1.26 $ 1.20 $ 4.67 $ 4.82 and 12% 3.5%"
    )
    prose = "Net sales decreased 1% or $1.2 billion compared to the same quarter of 2022."
    assert figure_density(statement) > 0.4  # "$" signs are words too
    assert figure_density(prose) < 0.25
    assert figure_density("") == 0.0
    assert figure_density("(a) $ 10-Q Q3") == 0.0  # signs, codes and periods are not figures

"""Tables as tables: every CSV/TSV file, spreadsheet sheet and table inside a document is
also kept typed in a DuckDB file per knowledge base, so that a question about it is
answered by computation, not by reading a few rows.

    extract   a loaded document's table sections → typed columns (in the reader process)
    types     a column's type from its cells: numbers with either decimal separator,
              currencies, percentages, dates in Spanish and English
    engine    the DuckDB file: keep, replace and drop a document's tables; run a query
              read-only, sandboxed, within a row and a time limit
    query     which SQL may run: one SELECT over the knowledge base's tables
    answers   a question → the chat model's SQL → checked, run, retried once → the answer
"""

"""Whole-document tasks: work over a document rather than an answer to a question
(:mod:`sabio.tasks.extract`: JSON that validates against a schema)."""

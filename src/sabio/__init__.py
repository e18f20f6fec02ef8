"""Sabio: a private AI knowledge base that runs on your own machine."""

__version__ = "0.1.0"

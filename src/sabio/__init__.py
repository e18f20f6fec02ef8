"""Sabio: a private AI knowledge base that runs on your own machine."""

from sabio.offline import switch_off_telemetry

switch_off_telemetry()  # before any dependency is imported, in every process (sabio.offline)

__version__ = "0.1.0"

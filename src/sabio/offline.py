"""What keeps Sabio's dependencies from contacting anyone: switches set in the
environment before any of them is imported.

:func:`switch_off_telemetry` runs when the ``sabio`` package is imported
(``sabio/__init__.py``), so before any dependency in every process Sabio runs: the CLI,
``sabio serve`` (its server and worker threads), ``sabio worker``, and the file readers
(forked ones inherit the environment; spawned ones import ``sabio`` first). The values
are forced, not defaults: a ``ORT_DISABLE_TELEMETRY=0`` left in a shell does not turn
telemetry back on. Child processes Sabio starts inherit them.

Each switch, and why (``docs/privacy.md`` has the audit of every runtime dependency):

- ONNX Runtime (the embedded embedding model) writes a device id and queues usage
  events under ``~/.cache/Microsoft`` and uploads them to Microsoft unless
  ``ORT_DISABLE_TELEMETRY`` is set *before it is imported*
  (``onnxruntime.disable_telemetry_events()`` afterwards still sends the first event).
- huggingface_hub (installed with ``tokenizers``) is never called by Sabio; offline and
  without telemetry it could not reach the Hub even if a library called it.
- OpenTelemetry (FastAPI depends on its API): the SDK disabled, so that an
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` in the environment exports nothing; the server also
  turns FastAPI's own instrumentation off (:func:`sabio.server.create_app`).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

NO_TELEMETRY = {
    "ORT_DISABLE_TELEMETRY": "1",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "OTEL_SDK_DISABLED": "true",
    "FASTAPI_OTEL_AUTO_CONFIGURE": "false",
}
"""Environment variables and the values that switch each dependency's telemetry off."""


def switch_off_telemetry(environ: MutableMapping[str, str] | None = None) -> None:
    """Set :data:`NO_TELEMETRY` in ``environ`` (default: this process's environment)."""
    env = os.environ if environ is None else environ
    env.update(NO_TELEMETRY)

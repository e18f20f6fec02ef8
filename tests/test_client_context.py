"""The prompts that carry a client's own passages (Page Assist's Knowledge and chat with
a page, LangChain's "stuff" chain): recognised, the question and the context taken apart
(:mod:`sabio.server.client_context`); tests/test_ollama_api.py answers one for real."""

from __future__ import annotations

from client_templates import LANGCHAIN_STUFF as LANGCHAIN
from client_templates import PAGE_ASSIST_CONDENSE
from client_templates import PAGE_ASSIST_RAG as PAGE_ASSIST

from sabio.server.client_context import CONTEXT_TITLE, given_context, standalone_question

DOCS = (
    "<doc id='0'>Las mareas vivas de Brest\nllegan dos veces al mes.</doc>\n"
    "<doc id='1'>Question: what is a neap tide? It is the weakest tide.</doc>"
)


def _filled(template: str, context: str, question: str) -> str:
    return template.replace("{context}", context).replace("{question}", question)


def test_page_assist_knowledge_prompt_gives_its_question_and_passages() -> None:
    given = given_context(_filled(PAGE_ASSIST, DOCS, "¿Cuándo llegan las mareas vivas?"))
    assert given is not None
    assert given.question == "¿Cuándo llegan las mareas vivas?"
    assert given.text == (
        "Las mareas vivas de Brest llegan dos veces al mes.\n\n"
        "Question: what is a neap tide? It is the weakest tide."  # a passage's own "Question:"
    )
    assert given.title == CONTEXT_TITLE["es"]


def test_a_page_sent_whole_and_langchains_prompt_are_recognised_too() -> None:
    page = "Brest is a port city in Brittany.  Its tides are among the strongest in Europe."
    whole = given_context(_filled(PAGE_ASSIST, page, "Where is Brest?"))
    assert whole is not None and whole.text == page and whole.question == "Where is Brest?"
    assert whole.title == CONTEXT_TITLE["en"]
    chain = given_context(_filled(LANGCHAIN, DOCS, "When do spring tides come?"))
    assert chain is not None and chain.question == "When do spring tides come?"
    assert chain.text.startswith("Las mareas vivas de Brest")


def test_other_prompts_are_questions_as_they_are() -> None:
    assert given_context("When do spring tides come? Helpful answer:") is None
    assert given_context("Question: when? Helpful answer:") is None
    assert given_context(_filled(PAGE_ASSIST, "   ", "Where is Brest?")) is None
    assert given_context(_filled(PAGE_ASSIST, DOCS, " ")) is None
    own = "Answer from these notes only.\n\nBrest: tides.\n\nQuestion: when?\nHelpful answer:"
    assert given_context(own) is None  # a template of the user's own: not taken apart


def _condense(history: str, question: str) -> str:
    return PAGE_ASSIST_CONDENSE.replace("{chat_history}", history).replace("{question}", question)


def test_page_assist_follow_up_rephrasing_is_answered_without_a_model() -> None:
    history = "Human: What is Obama's biggest frustration?\nAssistant: Gun laws [1].\n\n---"
    short = standalone_question(_condense(history, "and why?"))
    assert short == "What is Obama's biggest frustration? and why?"  # after the last question
    whole = "Which state did the cinema shooting happen in?"
    assert standalone_question(_condense(history, whole)) == whole  # enough words: as it is
    assert standalone_question(_condense("", "and why?")) == "and why?"
    assert standalone_question("Rephrase this: and why? Standalone question:") is None


def test_hostile_prompts_are_read_in_one_pass() -> None:
    """A page of questions (an FAQ) or a flood of cues: the regular expressions before took
    0.6 s for 80 "Question:" lines and never finished for 1,000; read with str.find now."""
    faq = "".join(
        f"Question: how do tides work, part {i}?  Answer: the moon.\n" for i in range(5000)
    )
    given = given_context(_filled(PAGE_ASSIST, faq, "Why do tides change?"))
    assert given is not None and given.question == "Why do tides change?"
    assert given.text.count("Question:") == 5000
    unanswered = "Use the following pieces of context to answer.\n\n" + "question: a  " * 20000
    assert given_context(unanswered) is None
    opened = _filled(PAGE_ASSIST, "<doc id='1'>" * 20000 + "tides", "When?")
    assert given_context(opened) is not None
    spaces = _filled(PAGE_ASSIST, "\n" + " " * 100_000 + "tides", "When?")
    assert given_context(spaces) is not None
    flood = _condense("Human: " + "\n" * 50_000 + "follow up input: " * 5000, "and why?")
    assert standalone_question(flood) is not None

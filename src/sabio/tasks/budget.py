"""What a whole-document task shares: a document's pages cut into parts that fit the
model's context with the task's prompt and answer."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sabio.models import ChatModel

Page = tuple[int | None, str]
"""(1-based page, or None for a document without pages; its text)."""
MIN_PART_TOKENS = 256


def text_budget(model: ChatModel, fixed: str, answer_tokens: int, margin: int = 64) -> int:
    """Tokens of document text one call may carry next to ``fixed`` (prompt, schema…) and
    an answer of ``answer_tokens``."""
    used = model.count_tokens(fixed) + answer_tokens + margin
    return max(MIN_PART_TOKENS, model.context_window - used)


def split_parts(model: ChatModel, pages: Sequence[Page], budget: int) -> Iterator[str]:
    """The pages' text in parts of at most ``budget`` tokens, whole pages where they fit
    (a page longer than that is cut at paragraph ends, or at the budget's characters)."""
    part: list[str] = []
    used = 0
    for _, text in pages:
        for piece in pieces(model, text, budget):
            cost = model.count_tokens(piece)
            if part and used + cost > budget:
                yield "\n\n".join(part)
                part, used = [], 0
            part.append(piece)
            used += cost
    if part or not pages:
        yield "\n\n".join(part)


def pieces(model: ChatModel, text: str, budget: int) -> Iterator[str]:
    if model.count_tokens(text) <= budget:
        yield text
        return
    chars = max(1, len(text) * budget // max(1, model.count_tokens(text)))
    for start in range(0, len(text), chars):
        yield text[start : start + chars]

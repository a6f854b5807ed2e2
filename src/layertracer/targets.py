"""The target token of a (prompt, answer) pair, by the model's own tokenizer (DESIGN §1).

The target is the first token of ``tokenize(p + a)`` that is not a token of
``tokenize(p)``. If ``tokenize(p)`` is not a prefix of ``tokenize(p + a)`` (a merge across
the boundary), the first token of ``tokenize(a)`` without special tokens is used and a
warning is recorded for that item.
"""

from __future__ import annotations

from dataclasses import dataclass

from layertracer.errors import TaskError


@dataclass(frozen=True)
class Encoded:
    """One prompt, tokenized.

    Attributes:
        input_ids: Token ids of the prompt (special tokens as the tokenizer adds them).
        target_id: The target token id.
        answer_ids: Token ids of the whole answer after the prompt (teacher forcing).
        warning: Why the fallback rule was used, or ``None``.
    """

    input_ids: tuple[int, ...]
    target_id: int
    answer_ids: tuple[int, ...]
    warning: str | None = None


def encode(tokenizer: object, prompt: str, answer: str, item_id: str = "") -> Encoded:
    """Tokenizes a prompt and finds its target token.

    Raises:
        TaskError: The answer adds no token, or the prompt encodes to nothing.
    """
    p = list(tokenizer(prompt)["input_ids"])
    pa = list(tokenizer(prompt + answer)["input_ids"])
    if not p:
        raise TaskError(f"item {item_id!r}: the prompt encodes to no tokens")
    if len(pa) > len(p) and pa[: len(p)] == p:
        return Encoded(tuple(p), pa[len(p)], tuple(pa[len(p) :]))
    alone = list(tokenizer(answer, add_special_tokens=False)["input_ids"])
    if not alone:
        raise TaskError(f"item {item_id!r}: the target {answer!r} encodes to no tokens")
    warning = (
        f"item {item_id!r}: prompt tokens are not a prefix of prompt+target tokens "
        f"(merge across the boundary); target = first token of the target alone"
    )
    return Encoded(tuple(p), alone[0], tuple(alone), warning)

"""The target token of a (prompt, answer) pair, by the model's own tokenizer
(docs/method.md#target-token).

The target is the first token of ``tokenize(p + a)`` that is not a token of
``tokenize(p)``. If ``tokenize(p)`` is not a prefix of ``tokenize(p + a)`` (a merge across
the boundary), the first token of ``tokenize(a)`` without special tokens is used and a
warning is recorded for that item.

With ``--chat-template`` the prompt is first wrapped as one user turn of the tokenizer's
chat template (:func:`chat_prompt`); that text already holds its special tokens, so it is
encoded with ``add_special_tokens=False`` (no second BOS), and the same rule applies to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from layertracer.errors import ConfigError, TaskError


@dataclass(frozen=True)
class Encoded:
    """One prompt, tokenized.

    Attributes:
        input_ids: Token ids of the prompt (special tokens as the tokenizer adds them).
        target_id: The target token id.
        answer_ids: Token ids of the whole answer after the prompt (teacher forcing).
        warning: Why the fallback rule was used, or ``None``.
        truncated: Tokens removed from the prompt's start to fit the model's context
            (``--truncate left``).
    """

    input_ids: tuple[int, ...]
    target_id: int
    answer_ids: tuple[int, ...]
    warning: str | None = None
    truncated: int = 0


def encode(
    tokenizer: Any, prompt: str, answer: str, item_id: str = "", special: bool = True
) -> Encoded:
    """Tokenizes a prompt and finds its target token.

    Args:
        tokenizer: The model's tokenizer.
        prompt: The text fed to the model.
        answer: The expected continuation, as written.
        item_id: Named in messages.
        special: Let the tokenizer add its special tokens (False for chat-templated text).

    Raises:
        TaskError: The answer adds no token, or the prompt encodes to nothing.
    """
    p = list(tokenizer(prompt, add_special_tokens=special)["input_ids"])
    pa = list(tokenizer(prompt + answer, add_special_tokens=special)["input_ids"])
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


def chat_prompt(tokenizer: Any, prompt: str) -> str:
    """``prompt`` as a single user turn of the tokenizer's chat template, ready for the
    assistant's reply (``add_generation_prompt=True``).

    Raises:
        ConfigError: The tokenizer has no chat template.
    """
    if not getattr(tokenizer, "chat_template", None):
        name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
        raise ConfigError(f"--chat-template: the tokenizer of {name!r} has no chat template")
    messages = [{"role": "user", "content": prompt}]
    text: str = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return text

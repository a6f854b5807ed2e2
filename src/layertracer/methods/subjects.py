"""Where the subject of a prompt is, in tokens, and ROME's alignment of token positions.

Causal tracing corrupts the subject's tokens (docs/method.md#causal-tracing). The subject is
the item's ``subject`` field; its LAST occurrence in the prompt is used (few-shot
demonstrations come before the real question). Its tokens are those whose character span
overlaps the subject's (offsets mapping of a fast tokenizer; otherwise by tokenizing prompt
prefixes). Without a subject, or when it cannot be found, every prompt token but the last is
corrupted (special tokens such as BOS excepted; if nothing is left, the last token itself).

Also the noise scale's statistic: the std of the subject tokens' embedding values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from layertracer.engine.batching import Batch
from layertracer.model.anatomy import Anatomy
from layertracer.model.capture import capture_blocks, forward
from layertracer.tasks import TaskItem
from layertracer.tasks.encode import Encoded

# ROME's aligned token categories, plus the tokens before the subject (ROME's prompts
# mostly start with it; ours, e.g. "The capital of France is", do not).
CATEGORIES = (
    "before subject",
    "first subject token",
    "middle subject tokens",
    "last subject token",
    "first subsequent token",
    "further tokens",
    "last token",
)


@dataclass(frozen=True)
class Span:
    """The corrupted tokens of one prompt: positions ``start .. end-1``.

    Attributes:
        start: First corrupted position.
        end: One past the last corrupted position.
        found: Whether it is the subject (else the fallback span).
    """

    start: int
    end: int
    found: bool

    @property
    def last(self) -> int:
        """The last corrupted position (ROME restores here for the per-layer summary)."""
        return self.end - 1


def subject_span(
    tokenizer: Any,
    prompt: str,
    subject: str | None,
    input_ids: Sequence[int],
    use_offsets: bool = True,
) -> Span:
    """The token span of the last occurrence of ``subject`` in ``prompt``.

    Args:
        tokenizer: The model's tokenizer (``input_ids == tokenizer(prompt)["input_ids"]``).
        prompt: The prompt text.
        subject: The subject text, or ``None``.
        input_ids: The prompt's tokens, as the run encoded them.
        use_offsets: Use the offsets mapping when the tokenizer is fast.
    """
    where = prompt.rfind(subject) if subject else -1
    span = None
    if subject and where >= 0:
        chars = (where, where + len(subject))
        if use_offsets and getattr(tokenizer, "is_fast", False):
            span = _by_offsets(tokenizer, prompt, chars, input_ids)
        else:
            span = _by_prefixes(tokenizer, prompt, chars, input_ids)
    if span is not None and span[0] < span[1]:
        return Span(span[0], span[1], True)
    return fallback_span(input_ids, set(getattr(tokenizer, "all_special_ids", ()) or ()))


def fallback_span(input_ids: Sequence[int], special: set[int]) -> Span:
    """Every token but the last, after any leading special tokens (the last if none)."""
    start = 0
    while start < len(input_ids) - 1 and input_ids[start] in special:
        start += 1
    end = len(input_ids) - 1
    return Span(start, end, False) if start < end else Span(end, end + 1, False)


def _by_offsets(
    tokenizer: Any, prompt: str, chars: tuple[int, int], input_ids: Sequence[int]
) -> tuple[int, int] | None:
    """Tokens whose character span overlaps ``chars``, by the offsets mapping."""
    enc = tokenizer(prompt, return_offsets_mapping=True)
    if list(enc["input_ids"]) != list(input_ids):
        return None
    hits = [
        t
        for t, (a, b) in enumerate(enc["offset_mapping"])
        if b > a and a < chars[1] and b > chars[0]
    ]
    return (hits[0], hits[-1] + 1) if hits else None


def _by_prefixes(
    tokenizer: Any, prompt: str, chars: tuple[int, int], input_ids: Sequence[int]
) -> tuple[int, int] | None:
    """The span by tokenizing ``prompt[:start]`` and ``prompt[:end]``: the subject begins
    where the first prefix stops matching the prompt's tokens (a token that straddles the
    boundary belongs to the subject), and ends after the second prefix's last match."""
    ids = list(input_ids)
    before = _common(list(tokenizer(prompt[: chars[0]])["input_ids"]), ids)
    upto = list(tokenizer(prompt[: chars[1]])["input_ids"])
    end = _common(upto, ids)
    if end < len(upto):  # the last subject token merges with what follows
        end += 1
    return (before, min(end, len(ids)))


def _common(a: list[int], b: list[int]) -> int:
    """Length of the common prefix of two token lists."""
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def categories(span: Span, length: int) -> list[list[int]]:
    """The positions of a prompt of ``length`` tokens in each of :data:`CATEGORIES`.

    A position can be in two categories only when the subject has one token (first and
    last subject token) or ends the prompt (last subject token and last token).
    """
    last = length - 1
    after = list(range(span.end, last))
    return [
        list(range(span.start)),
        [span.start],
        list(range(span.start + 1, span.end - 1)),
        [span.last],
        after[:1],
        after[1:],
        [last],
    ]


def subject_sums(
    model: nn.Module, anatomy: Anatomy, batch: Batch, spans: dict[int, Span]
) -> dict[int, tuple[float, float, int]]:
    """Per prompt, ``(sum, sum of squares, count)`` of its subject-token embedding values
    (the clean layer-0 state at its span), in float64."""
    with capture_blocks(anatomy.blocks, anatomy.slot, keep_inputs=False) as cap:
        forward(model, batch.input_ids, batch.attention_mask, keep=batch.last[:1])
    state0 = cap.states()[0]  # [B, T, d]
    out: dict[int, tuple[float, float, int]] = {}
    for row, n in enumerate(batch.index):
        values = state0[row, spans[n].start : spans[n].end].double()
        out[n] = (float(values.sum()), float((values**2).sum()), values.numel())
    return out


def embedding_std(sums: dict[int, tuple[float, float, int]]) -> float:
    """The std (ddof 1, as ROME's ``torch.std``) of every subject-token embedding value of
    the task, from the per-prompt sums of :func:`subject_sums`."""
    total = sum(s for s, _, _ in sums.values())
    squares = sum(q for _, q, _ in sums.values())
    count = sum(c for _, _, c in sums.values())
    if count < 2:
        return 0.0
    return float(np.sqrt(max(squares - total * total / count, 0.0) / (count - 1)))


def spans_of(
    tokenizer: Any, items: Sequence[TaskItem], encoded: Sequence[Encoded]
) -> dict[int, Span]:
    """The corrupted span of every prompt, keyed by prompt index."""
    return {
        n: subject_span(tokenizer, item.prompt, item.subject, enc.input_ids)
        for n, (item, enc) in enumerate(zip(items, encoded, strict=True))
    }


def aligned_map(maps: dict[int, list[list[float]]], spans: dict[int, Span]) -> dict[str, Any]:
    """The mapped prompts' effects aligned by token category: per category, the mean over
    prompts of the mean over its positions (``None`` where no prompt has the category).

    Returns:
        ``{prompts, categories [K], effect [K][L+1], counts [K]}`` (counts: prompts with
        that category).
    """
    sums: list[np.ndarray | None] = [None] * len(CATEGORIES)
    counts = [0] * len(CATEGORIES)
    for n, rows in maps.items():
        grid = np.array(rows)  # [T, L+1]
        for k, positions in enumerate(categories(spans[n], len(grid))):
            if positions:
                value = grid[positions].mean(axis=0)
                current = sums[k]
                sums[k] = value if current is None else current + value
                counts[k] += 1
    return {
        "prompts": len(maps),
        "positions": "all prompt positions, aligned into categories",
        "categories": list(CATEGORIES),
        "effect": [
            None if s is None else (s / c).tolist() for s, c in zip(sums, counts, strict=True)
        ],
        "counts": counts,
    }

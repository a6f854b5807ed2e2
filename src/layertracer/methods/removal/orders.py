"""Removal orders: every criterion ranks the removable blocks from least to most critical
(docs/method.md#layer-removal).

Each criterion's run-level curve (its ``agreement`` curve: the mean over prompts of the
per-prompt values; CKA ``1 − δ``) is read at the blocks ``1..L`` (layer ``i`` = block
``i``: JS and tracing act on state ``i``, block ``i``'s output). Higher = more critical,
so blocks are removed in increasing order of it; undefined (NaN) values go last and ties
go to the lower block. A windowed criterion (``angular``) with span ``n > 1`` rates windows
of ``n`` blocks and removes window by window (so the first ``n`` removed blocks are Gromov et
al.'s choice); ``random`` is a seeded permutation. Which criteria rank blocks, and which by
windows, is said by each criterion (:mod:`layertracer.results.criteria`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

RANDOM = "random"


def default_max_blocks(num_layers: int) -> int:
    """``K`` when not given: ``max(1, floor(L / 4))``."""
    return max(1, num_layers // 4)


def least_critical_first(score: np.ndarray, blocks: Sequence[int]) -> list[int]:
    """``blocks`` by increasing ``score[block]``: NaN last, ties to the lower block."""
    return sorted(blocks, key=lambda block: least_key(score, block))


def window_order(score: np.ndarray, removable: Sequence[int], span: int) -> list[int]:
    """The removable blocks, window by window: ``score[i]`` rates the window of blocks
    ``i−span+1..i`` (``i = span..L``); windows of removable blocks only come first, each by
    increasing score, and each adds its blocks not yet listed in increasing order. With
    ``span = 1`` this is :func:`least_critical_first`."""
    allowed = set(removable)
    windows = range(span, len(score))

    def key(end: int) -> tuple[bool, tuple[int, float, int]]:
        whole = all(b in allowed for b in range(end - span + 1, end + 1))
        return (not whole, least_key(score, end))

    order: list[int] = []
    for end in sorted(windows, key=key):
        order += [b for b in range(end - span + 1, end + 1) if b in allowed and b not in order]
    return order


def least_key(score: np.ndarray, index: int) -> tuple[int, float, int]:
    """The sort key of :func:`least_critical_first` for one entry."""
    value = float(score[index])
    return (0, value, index) if np.isfinite(value) else (1, 0.0, index)


def criterion_orders(
    curves: dict[str, np.ndarray],
    removable: Sequence[int],
    span: int,
    windowed: Collection[str] = (),
) -> dict[str, list[int]]:
    """Every criterion's removal order of the removable blocks from its run-level curve
    ``[L+1]`` (those in ``windowed`` by windows of ``span``)."""
    return {
        name: window_order(curve, removable, span)
        if name in windowed
        else least_critical_first(curve, removable)
        for name, curve in curves.items()
    }


def random_orders(removable: Sequence[int], count: int, seed: int) -> list[list[int]]:
    """``count`` random orders: order ``r`` is ``default_rng([seed, r]).permutation``."""
    blocks = np.asarray(list(removable), dtype=int)
    return [
        [int(b) for b in np.random.default_rng([seed, r]).permutation(blocks)] for r in range(count)
    ]


def pruned_sets(orders: Sequence[Sequence[int]], max_blocks: int) -> list[frozenset[int]]:
    """The distinct sets of removed blocks of every order for ``k = 1..K`` (first-seen
    order): the pruned models to evaluate, at most ``len(orders) · K``."""
    seen: dict[frozenset[int], None] = {}
    for order in orders:
        for k in range(1, min(max_blocks, len(order)) + 1):
            seen.setdefault(frozenset(order[:k]), None)
    return list(seen)

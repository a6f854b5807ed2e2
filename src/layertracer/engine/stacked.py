"""Several suffix replays in one call per block: copies that start at different layers,
stacked on the batch dimension (used by layer ablation, causal tracing and layer removal).

Ablation (skip block ``i``) and causal tracing (restore a clean state at layer ``i``) each
replay blocks ``i+1..L`` from an edited layer-``i`` state, for every ``i``. Run one after
another, that is ``L−i`` block calls per layer; stacked, each block is called once for all
the copies, which fills a GPU far better. Until a copy reaches its start layer its rows
carry the *unedited* state of their own run (captured beforehand, so nothing changes); the
block outputs computed for those rows are discarded. That waste is why a CPU, where a
bigger batch is not faster, replays one copy at a time
(:func:`layertracer.engine.scan.per_replay`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from layertracer.engine.replay import SuffixRunner

TOKEN_BUDGET = 2**16  # rows × sequence length of one stacked replay


def replay_from(
    runner: SuffixRunner,
    starts: Sequence[int],
    first: Callable[[int], torch.Tensor],
    track: Callable[[int], torch.Tensor],
) -> torch.Tensor:
    """Final states of several replays, stacked on the batch dimension.

    Copy ``k`` replays blocks ``starts[k]+1..L`` from the edited state ``first(k)``;
    equal to ``runner.run(starts[k], first(k))``.

    Args:
        runner: The suffix runner of the captured batch.
        starts: Start layer (0..L) of every copy.
        first: Copy ``k``'s edited state at its start layer. ``[G, T, d]``
        track: The unedited layer-``j`` state that a copy's rows hold before it starts.
            ``[G, T, d]``

    Returns:
        The final states, copy ``k`` in rows ``k·G .. (k+1)·G``. ``[F·G, T, d]``
    """
    lo, hi = min(starts), max(starts)
    hidden = _enter(starts, lo, first, track, None)
    for j in range(lo, len(runner.blocks)):  # block j+1 consumes layer state j
        hidden = runner.step(j, hidden)
        if j + 1 <= hi:
            hidden = _enter(starts, j + 1, first, track, hidden)
    return hidden


def replay_skipping(
    runner: SuffixRunner,
    skips: Sequence[frozenset[int]],
    track: Callable[[int], torch.Tensor],
) -> torch.Tensor:
    """Final states of several pruned models, stacked on the batch dimension.

    Copy ``k`` skips the blocks ``skips[k]`` (1-based; a skipped block's output equals its
    input, so state ``i`` := state ``i−1``) and runs every other block from its first
    skipped block on; before it, its rows hold the clean states ``track(j)``. A block is
    called only when some copy needs its output.

    Args:
        runner: The suffix runner of the captured batch.
        skips: The skipped blocks of every copy (each non-empty).
        track: The clean layer-``j`` state of the batch. ``[G, T, d]``

    Returns:
        The final states, copy ``k`` in rows ``k·G .. (k+1)·G``. ``[F·G, T, d]``
    """
    starts = [min(skip) - 1 for skip in skips]  # state fed to the first skipped block
    lo = min(starts)
    size = track(lo).shape[0]
    hidden = torch.cat([track(lo)] * len(skips))  # [F·G, T, d]
    for j in range(lo, len(runner.blocks)):  # block j+1 consumes layer state j
        ran = (
            runner.step(j, hidden)
            if any(s <= j and j + 1 not in skip for s, skip in zip(starts, skips, strict=True))
            else None
        )
        parts = []
        for k, (start, skip) in enumerate(zip(starts, skips, strict=True)):
            if j + 1 <= start:  # not started: the clean state
                parts.append(track(j + 1))
            elif j + 1 in skip:  # output = input
                parts.append(hidden[k * size : (k + 1) * size])
            elif ran is None:  # unreachable: a started copy that does not skip runs j+1
                raise RuntimeError(f"block {j + 1} was not run for copy {k}")
            else:
                parts.append(ran[k * size : (k + 1) * size])
        hidden = torch.cat(parts)
    return hidden


def _enter(
    starts: Sequence[int],
    layer: int,
    first: Callable[[int], torch.Tensor],
    track: Callable[[int], torch.Tensor],
    hidden: torch.Tensor | None,
) -> torch.Tensor:
    """Layer state ``layer`` of every copy: unedited before its start, edited at it."""
    unedited = track(layer)
    size = unedited.shape[0]
    parts = []
    for k, start in enumerate(starts):
        if start > layer:
            parts.append(unedited)
        elif start == layer:
            parts.append(first(k))
        elif hidden is None:
            raise ValueError(f"copy {k} started before layer {layer}: the running state is needed")
        else:
            parts.append(hidden[k * size : (k + 1) * size])
    return torch.cat(parts)


def groups(
    items: Sequence[tuple[int, int]], max_layers: int, max_items: int
) -> list[list[tuple[int, int]]]:
    """Cuts ``(layer, position)`` items, ordered by layer, into consecutive groups of at
    most ``max_items`` items spanning at most ``max_layers`` layers."""
    out: list[list[tuple[int, int]]] = []
    for item in items:
        group = out[-1] if out else None
        if (
            group is None
            or len(group) >= max_items
            or len({layer for layer, _ in group} | {item[0]}) > max_layers
        ):
            out.append([item])
        else:
            group.append(item)
    return out


def items_per_replay(rows: int, length: int) -> int:
    """How many copies of ``rows`` sequences of ``length`` tokens fit the token budget."""
    return max(1, TOKEN_BUDGET // max(1, rows * length))

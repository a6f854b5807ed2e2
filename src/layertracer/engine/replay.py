"""Suffix replay (DESIGN §3): run only blocks ``i+1..L`` from an edited layer-``i`` state.

A clean forward captures every block's call arguments; replay calls the blocks directly,
reusing all captured arguments but the residual one. Several edited copies (seeds) are
stacked on the batch dimension: the captured tensors that are batch-major (found at
discovery by doubling the batch, ``Anatomy.batch_major``) are repeated, shared ones stay.
The hooked full pass is the fallback and baseline.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from layertracer.model.anatomy import Anatomy
from layertracer.model.capture import (
    BlockCapture,
    edit_state,
    first_tensor,
    forward,
    hooks_removed,
    with_slot,
)


def _repeat(value: object, rule: _BatchMajor, factor: int, path: tuple = ()) -> object:
    """Repeats the batch-major tensors inside ``value`` ``factor`` times along dim 0."""
    if isinstance(value, torch.Tensor):
        if factor > 1 and rule(path, value):
            return value.repeat(factor, *([1] * (value.dim() - 1)))
        return value
    if isinstance(value, (tuple, list)):
        items = [_repeat(v, rule, factor, (*path, i)) for i, v in enumerate(value)]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, dict):
        return {k: _repeat(v, rule, factor, (*path, k)) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class _BatchMajor:
    """Is the tensor at a path batch-major? As measured at discovery, else by its shape."""

    paths: frozenset[tuple]
    seen: frozenset[tuple]
    batch: int

    def __call__(self, path: tuple, value: torch.Tensor) -> bool:
        if path in self.seen:
            return path in self.paths
        return value.dim() >= 1 and value.shape[0] == self.batch


class SuffixRunner:
    """Replays the blocks after a layer, from the call arguments of one clean batch."""

    def __init__(self, anatomy: Anatomy, capture: BlockCapture) -> None:
        self.blocks = anatomy.blocks
        self.slot = anatomy.slot
        self.inputs = capture.inputs
        self.batch = capture.outputs[0].shape[0]
        self.batch_major, self.seen = anatomy.batch_major, anatomy.batch_seen
        self._cache: dict[int, list[tuple[tuple, dict]]] = {}

    def _inputs(self, factor: int) -> list[tuple[tuple, dict]]:
        if factor not in self._cache:
            calls = zip(self.inputs, self.batch_major, self.seen, strict=True)
            self._cache = {  # keep one expansion alive at a time
                factor: [
                    _repeat(call, _BatchMajor(paths, seen, self.batch), factor)
                    for call, paths, seen in calls
                ]
            }
        return self._cache[factor]

    def run(self, layer: int, state: torch.Tensor) -> torch.Tensor:
        """The final state (layer ``L``) from state ``layer``. ``[F·B, T, d] -> [F·B, T, d]``"""
        inputs = self._inputs(state.shape[0] // self.batch)
        hidden = state
        for j in range(layer, len(self.blocks)):  # block j+1 consumes layer state j
            args, kwargs = with_slot(*inputs[j], self.slot, hidden)
            hidden = first_tensor(self.blocks[j](*args, **kwargs))
        return hidden

    def step(self, block: int, state: torch.Tensor) -> torch.Tensor:
        """Block ``block + 1`` alone: layer state ``block + 1`` from state ``block``, with the
        captured arguments (0-based ``block``). ``[F·B, T, d] -> [F·B, T, d]``"""
        inputs = self._inputs(state.shape[0] // self.batch)
        args, kwargs = with_slot(*inputs[block], self.slot, state)
        return first_tensor(self.blocks[block](*args, **kwargs))


def full_pass(
    model: nn.Module,
    anatomy: Anatomy,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    layer: int | None = None,
    edit: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """The final state of a whole hooked forward in which state ``layer`` is ``edit(state)``
    (no state edit when ``layer`` is ``None``: other hooks may be active).

    ``edit`` receives the state of the (possibly repeated) batch and may return a batch of
    the same size. Logits are limited to one position where the model allows it.
    """
    final: list[torch.Tensor] = []
    with contextlib.ExitStack() as stack:
        if layer is not None and edit is not None:
            stack.enter_context(edit_state(anatomy.blocks, anatomy.slot, layer, edit))
        handles = stack.enter_context(hooks_removed())
        handles.append(
            anatomy.blocks[-1].register_forward_hook(
                lambda _m, _a, out: final.append(first_tensor(out))
            )
        )
        forward(
            model,
            input_ids,
            attention_mask,
            keep=torch.zeros(1, dtype=torch.long, device=input_ids.device),
        )
    return final[-1]

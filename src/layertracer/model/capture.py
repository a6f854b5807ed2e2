"""Forward hooks as context managers: always removed, even when the forward raises.

Layer convention (docs/method.md#layers): a model with ``L`` blocks has ``L+1`` layer states;
state ``0`` is the input of block 1 (the embedding output), state ``i`` the residual
stream after block ``i``.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

Slot = int | str  # where a block receives its residual input: positional index or kwarg


def first_tensor(output: object) -> torch.Tensor | None:
    """Returns the first tensor of a module output (Tensor, tuple, list or ModelOutput)."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        for item in output:
            if isinstance(item, torch.Tensor):
                return item
    return None


def output_tensor(output: object) -> torch.Tensor:
    """The first tensor of a module output (:func:`first_tensor`) that must hold one.

    Raises:
        TypeError: The output holds no tensor.
    """
    tensor = first_tensor(output)
    if tensor is None:
        raise TypeError(f"a module output of type {type(output).__name__} holds no tensor")
    return tensor


def replace_first_tensor(output: object, new: torch.Tensor) -> object:
    """Returns ``output`` with its first tensor replaced by ``new`` (same container type)."""
    if isinstance(output, torch.Tensor):
        return new
    if isinstance(output, dict):
        key = next(k for k, v in output.items() if isinstance(v, torch.Tensor))
        output[key] = new
        return output
    if not isinstance(output, (tuple, list)):
        raise TypeError(f"cannot replace the tensor of a {type(output).__name__}")
    items = list(output)
    index = next(i for i, v in enumerate(items) if isinstance(v, torch.Tensor))
    items[index] = new
    return type(output)(items) if isinstance(output, tuple) else items


Args = tuple[Any, ...]  # a module call's positional arguments, as the hook receives them
Kwargs = dict[str, Any]  # its keyword arguments
ArgPath = tuple[object, ...]  # where a value sits inside nested call arguments


def get_slot(args: Args, kwargs: Kwargs, slot: Slot) -> torch.Tensor:
    """Reads the residual input of a block call.

    Raises:
        TypeError: The slot does not hold a tensor.
    """
    value = args[slot] if isinstance(slot, int) else kwargs[slot]
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"the residual slot {slot!r} holds a {type(value).__name__}")
    return value


def with_slot(args: Args, kwargs: Kwargs, slot: Slot, value: torch.Tensor) -> tuple[Args, Kwargs]:
    """Returns ``(args, kwargs)`` with the residual input replaced by ``value``."""
    if isinstance(slot, int):
        return (*args[:slot], value, *args[slot + 1 :]), kwargs
    return args, {**kwargs, slot: value}


@dataclass
class BlockCapture:
    """What every block received and returned in one clean forward.

    Attributes:
        residual_in: Per block, a clone of its residual input. ``[batch, seq, d]``
        inputs: Per block, ``(args, kwargs)`` exactly as called (when kept).
        outputs: Per block, the first tensor of its output. ``[batch, seq, d]``
    """

    residual_in: list[torch.Tensor | None] = field(default_factory=list)
    inputs: list[tuple[Args, Kwargs] | None] = field(default_factory=list)
    outputs: list[torch.Tensor | None] = field(default_factory=list)

    def states(self) -> list[torch.Tensor]:
        """The ``L+1`` layer states: the residual input of every block, then the last output.

        Inputs are cloned when captured, so an in-place edit inside a later block cannot
        change a recorded state.
        """
        states = [*self.residual_in, self.outputs[-1]]
        missing = [i for i, s in enumerate(states) if s is None]
        if missing:
            raise RuntimeError(f"layer states {missing[:4]} were not captured")
        return [s for s in states if s is not None]


@contextlib.contextmanager
def capture_blocks(
    blocks: Sequence[nn.Module], slot: Slot, keep_inputs: bool = True
) -> Iterator[BlockCapture]:
    """Records each block's residual input, call arguments and output.

    Args:
        blocks: The ``L`` blocks in order.
        slot: Residual slot of the blocks' calls.
        keep_inputs: Also keep every block's full call arguments (replay needs them).
    """
    n = len(blocks)
    record = BlockCapture([None] * n, [None] * n, [None] * n)

    def pre_hook(index: int) -> Callable[[nn.Module, Args, Kwargs], None]:
        def hook(_module: nn.Module, args: Args, kwargs: Kwargs) -> None:
            residual = get_slot(args, kwargs, slot).clone()
            record.residual_in[index] = residual
            if keep_inputs:
                record.inputs[index] = with_slot(args, dict(kwargs), slot, residual)

        return hook

    def post_hook(index: int) -> Callable[[nn.Module, Args, object], None]:
        def hook(_module: nn.Module, _args: Args, output: object) -> None:
            record.outputs[index] = first_tensor(output)

        return hook

    with hooks_removed() as handles:
        for i, block in enumerate(blocks):
            handles.append(block.register_forward_pre_hook(pre_hook(i), with_kwargs=True))
            handles.append(block.register_forward_hook(post_hook(i)))
        yield record


@contextlib.contextmanager
def edit_state(
    blocks: Sequence[nn.Module],
    slot: Slot,
    layer: int,
    edit: Callable[[torch.Tensor], torch.Tensor],
) -> Iterator[None]:
    """Replaces layer state ``layer`` by ``edit(state)`` during the forwards in the block.

    Layer 0 edits the residual input of block 1; layer ``i >= 1`` edits block ``i``'s output.
    """

    def pre_hook(_module: nn.Module, args: Args, kwargs: Kwargs) -> tuple[Args, Kwargs]:
        return with_slot(args, kwargs, slot, edit(get_slot(args, kwargs, slot)))

    def post_hook(_module: nn.Module, _args: Args, output: object) -> object:
        return replace_first_tensor(output, edit(output_tensor(output)))

    with hooks_removed() as handles:
        if layer == 0:
            handles.append(blocks[0].register_forward_pre_hook(pre_hook, with_kwargs=True))
        else:
            handles.append(blocks[layer - 1].register_forward_hook(post_hook))
        yield


@contextlib.contextmanager
def skip_blocks(
    blocks: Sequence[nn.Module],
    slot: Slot,
    skipped: Sequence[int],
    feed: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Iterator[None]:
    """Makes blocks ``skipped`` (1-based) return their own residual input during the
    forwards in the block: each still runs, but its output is replaced by (a copy of) what
    it received, so layer state ``i`` equals state ``i−1``.

    Args:
        blocks: The ``L`` blocks.
        slot: Residual slot of the blocks' calls.
        skipped: The skipped blocks, 1-based.
        feed: What a skipped block computes on instead of its input (``None``: its input);
            its output is discarded either way, so only a side channel can see it.
    """
    given: dict[int, torch.Tensor] = {}

    def pre_hook(index: int) -> Callable[[nn.Module, Args, Kwargs], tuple[Args, Kwargs] | None]:
        def hook(_module: nn.Module, args: Args, kwargs: Kwargs) -> tuple[Args, Kwargs] | None:
            given[index] = get_slot(args, kwargs, slot).clone()
            if feed is None:
                return None
            return with_slot(args, kwargs, slot, feed(given[index]))

        return hook

    def post_hook(index: int) -> Callable[[nn.Module, Args, object], object]:
        def hook(_module: nn.Module, _args: Args, output: object) -> object:
            return replace_first_tensor(output, given.pop(index))

        return hook

    with hooks_removed() as handles:
        for i in skipped:
            block = blocks[i - 1]
            handles.append(block.register_forward_pre_hook(pre_hook(i), with_kwargs=True))
            handles.append(block.register_forward_hook(post_hook(i)))
        yield


@contextlib.contextmanager
def edit_outputs(
    modules: Sequence[nn.Module], edit: Callable[[torch.Tensor, int], torch.Tensor]
) -> Iterator[None]:
    """Replaces the (first tensor) output of ``modules[m]`` by ``edit(output, m)`` during
    the forwards in the block."""

    def hook(m: int) -> Callable[[nn.Module, Args, object], object]:
        def replace(_module: nn.Module, _args: Args, output: object) -> object:
            return replace_first_tensor(output, edit(output_tensor(output), m))

        return replace

    with hooks_removed() as handles:
        for m, module in enumerate(modules):
            handles.append(module.register_forward_hook(hook(m)))
        yield


@contextlib.contextmanager
def hooks_removed() -> Iterator[list[RemovableHandle]]:
    """Yields a list for hook handles; every handle in it is removed on exit."""
    handles: list[RemovableHandle] = []
    try:
        yield handles
    finally:
        for handle in handles:
            handle.remove()


def forward(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    keep: torch.Tensor | None = None,
) -> tuple[object, bool]:
    """Calls the model without a cache; ``keep`` limits logits to those positions if supported.

    Args:
        model: The causal LM.
        input_ids: ``[batch, seq]`` token ids.
        attention_mask: ``[batch, seq]`` 1 for real tokens.
        keep: Sorted sequence positions whose logits are needed (``None``: all).

    Returns:
        The model output, and whether its logits hold only the ``keep`` positions.
    """
    params = inspect.signature(model.forward).parameters
    kwargs: Kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if "use_cache" in params or takes_kwargs:  # a live cache must never reach replay
        kwargs["use_cache"] = False
    kept = keep is not None and "logits_to_keep" in params
    if kept:
        kwargs["logits_to_keep"] = keep
    return model(**kwargs), kept


def model_logprobs(
    model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, last: torch.Tensor
) -> torch.Tensor:
    """The model's own float32 log-probs at each row's position ``last``. ``[batch, vocab]``"""
    keep = torch.unique(last)  # sorted
    output, kept = forward(model, input_ids, attention_mask, keep)
    logits = output_tensor(output.logits if hasattr(output, "logits") else output)
    column = torch.searchsorted(keep, last) if kept else last
    rows = logits[torch.arange(len(last), device=logits.device), column.to(logits.device)]
    return torch.log_softmax(rows.float(), dim=-1)

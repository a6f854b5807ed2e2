"""One probe forward with a hook on every module, and tensor tracing through its record.

The record says which modules ran, in what order, on what and with what result; the final
norm is traced backwards from the unembedding's input to the last block's output by tensor
equality (docs/method.md#anatomy, docs/decisions.md "Final norm").
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from layertracer.errors import AnatomyError, first_line
from layertracer.model.capture import (
    ArgPath,
    Args,
    Kwargs,
    Slot,
    capture_blocks,
    first_tensor,
    forward,
    hooks_removed,
    output_tensor,
)
from layertracer.model.hf import as_hf

PROBE_TEXT = "The capital of France is Paris, and the capital of Italy is"
MAX_CHAIN = 8  # modules between the last block and the head, at most


@dataclass
class Call:
    """A module's first call in the probe forward."""

    name: str
    module: nn.Module
    order: int
    inp: torch.Tensor | None
    out: torch.Tensor | None
    args: Args = ()
    kwargs: Kwargs = field(default_factory=dict)


@dataclass
class Probe:
    """The record of the probe forward.

    Attributes:
        calls: Every module call, in order of completion (a shared module may appear twice).
        ran: Each module's first call, keyed by module.
        names: Dotted path of every module.
        logits: The model's own logits. ``[1, seq, vocab]``
    """

    calls: list[Call]
    ran: dict[nn.Module, Call]
    names: dict[nn.Module, str]
    logits: torch.Tensor


def run_probe(model: nn.Module, tokenizer: Any) -> Probe:
    """Runs the probe sentence through the model with every module hooked.

    Raises:
        AnatomyError: The model's forward fails on plain text input.
    """
    names = {m: n for n, m in model.named_modules()}
    enc = tokenizer(PROBE_TEXT, return_tensors="pt")
    device = next(model.parameters()).device
    ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
    with torch.inference_mode(), _record_calls(model, names) as calls:
        try:
            output, _ = forward(model, ids, mask)
        except (RuntimeError, TypeError, ValueError, IndexError, KeyError) as exc:
            line = first_line(exc)
            raise AnatomyError(
                f"{as_hf(model).config.model_type}: the model's forward fails on plain text "
                f"input ({type(exc).__name__}: {line[:200]})"
            ) from None
    logits = output_tensor(output.logits if hasattr(output, "logits") else output)
    first: dict[nn.Module, Call] = {}
    for call in calls:
        first.setdefault(call.module, call)
    return Probe(calls, first, names, logits)


@contextlib.contextmanager
def _record_calls(model: nn.Module, names: dict[nn.Module, str]) -> Iterator[list[Call]]:
    """Records every module call, in order of completion."""
    calls: list[Call] = []

    def hook(module: nn.Module, args: Args, kwargs: Kwargs, output: object) -> None:
        inp = _first_float(args, kwargs)
        calls.append(
            Call(names[module], module, len(calls), inp, first_tensor(output), args, kwargs)
        )

    with hooks_removed() as handles:
        for module in names:
            handles.append(module.register_forward_hook(hook, with_kwargs=True))
        yield calls


def _first_float(args: Args, kwargs: Kwargs) -> torch.Tensor | None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            return value
    return None


def same(a: torch.Tensor | None, b: torch.Tensor | None) -> bool:
    """Both tensors exist, have one shape and equal values."""
    return a is not None and b is not None and a.shape == b.shape and torch.equal(a, b)


def trace_final_norm(probe: Probe, last: Call, unembed: nn.Module) -> list[nn.Module]:
    """Modules from the last block's output to the head's input, traced back by equality.

    Only modules that finished after the last block count. If a functional op breaks the
    chain, falls back to the modules that consume the last block's output in sequence; the
    fidelity check then decides.
    """
    last_out = last.out
    head = set(unembed.modules())  # the head's own parts run when the head is called
    after = [
        c
        for c in probe.calls
        if c.order > last.order and c.inp is not None and c.out is not None and c.module not in head
    ]
    chain: list[nn.Module] = []
    current = probe.ran[unembed].inp
    while not same(current, last_out):
        producers = [c for c in after if same(c.out, current) and not same(c.inp, current)]
        if not producers or len(chain) >= MAX_CHAIN:
            return _forward_chain(after, last_out)
        step = min(producers, key=lambda c: (c.name.count("."), -c.order))
        chain.append(step.module)
        current = step.inp
    return chain[::-1]


def _forward_chain(after: list[Call], last_out: torch.Tensor | None) -> list[nn.Module]:
    """The modules that consume the last block's output in sequence."""
    chain: list[nn.Module] = []
    current = last_out
    for _ in range(MAX_CHAIN):
        if current is None:
            break
        nexts = [
            c
            for c in after
            if c.out is not None
            and same(c.inp, current)
            and not same(c.out, current)
            and c.out.shape == current.shape
        ]
        if not nexts:
            break
        step = min(nexts, key=lambda c: (c.name.count("."), c.order))
        chain.append(step.module)
        current = step.out
    return chain


def leaves(value: object, path: ArgPath = ()) -> Iterator[tuple[ArgPath, torch.Tensor]]:
    """Every tensor inside nested tuples, lists and dicts, with its path."""
    if isinstance(value, torch.Tensor):
        yield path, value
    elif isinstance(value, (tuple, list)):
        for i, item in enumerate(value):
            yield from leaves(item, (*path, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))


def batch_major_paths(
    model: nn.Module, tokenizer: Any, blocks: list[nn.Module], slot: Slot
) -> tuple[list[frozenset[ArgPath]], list[frozenset[ArgPath]]]:
    """Per block, the argument paths whose first dimension scales with the batch, and the
    paths the probes saw at all (an argument only present with padding may be unseen).

    Captures the blocks' calls for right-padded batches of 2 and of 3 probe sentences; a
    tensor is batch-major if its first dimension grows by 3/2. Shapes alone cannot tell a
    batch-major ``[B·heads, ...]`` bias from a shared ``[heads, ...]`` one when ``B``
    equals the head count; two batch sizes can.
    """
    sizes = (2, 3)
    found = [_block_calls(model, tokenizer, blocks, slot, n) for n in sizes]
    major: list[frozenset[ArgPath]] = []
    seen: list[frozenset[ArgPath]] = []
    for two, three in zip(*found, strict=True):
        a, b = dict(leaves(two)), dict(leaves(three))
        both = {p for p in b if p in a and b[p].dim() == a[p].dim() >= 1}
        seen.append(frozenset(both))
        major.append(
            frozenset(p for p in both if sizes[0] * b[p].shape[0] == sizes[1] * a[p].shape[0])
        )
    return major, seen


def _block_calls(
    model: nn.Module, tokenizer: Any, blocks: list[nn.Module], slot: Slot, size: int
) -> list[tuple[Args, Kwargs] | None]:
    """The blocks' call arguments for a right-padded batch of ``size`` probe sentences."""
    texts = [PROBE_TEXT[: len(PROBE_TEXT) - 7 * i] for i in range(size)]  # unequal lengths
    enc = tokenizer(texts, return_tensors="pt", padding=True)
    device = next(model.parameters()).device
    with torch.inference_mode(), capture_blocks(blocks, slot) as cap:
        forward(model, enc["input_ids"].to(device), enc["attention_mask"].to(device))
    return cap.inputs

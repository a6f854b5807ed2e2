"""Suffix replay: run only blocks ``i+1..L`` from an edited layer-``i`` state
(docs/method.md#replay).

A clean forward captures every block's call arguments; replay calls the blocks directly,
reusing all captured arguments but the residual one. Several edited copies (seeds) are
stacked on the batch dimension: the captured tensors that are batch-major (found at
discovery by doubling the batch, ``Anatomy.batch_major``) are repeated, shared ones stay.
The hooked full pass is the fallback and baseline; :class:`ReplayPath` is the one rule
that decides between them, for every method (docs/method.md#replay).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

import torch
from torch import nn

from layertracer.engine.batch_size import OOM_ERRORS
from layertracer.model.anatomy import Anatomy
from layertracer.model.capture import (
    ArgPath,
    Args,
    BlockCapture,
    Kwargs,
    edit_state,
    forward,
    hooks_removed,
    output_tensor,
    with_slot,
)
from layertracer.model.lens import gather_rows, lens_logprobs


def _repeat(value: object, rule: _BatchMajor, factor: int, path: ArgPath = ()) -> object:
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


def _repeat_call(
    call: tuple[Args, Kwargs] | None, rule: _BatchMajor, factor: int
) -> tuple[Args, Kwargs]:
    """:func:`_repeat` of a block's captured ``(args, kwargs)`` (paths ``(0, i)`` and
    ``(1, name)``, as the probes record them).

    Raises:
        RuntimeError: The block's call arguments were not captured.
    """
    if call is None:
        raise RuntimeError("a block's call arguments were not captured (keep_inputs=False)")
    args, kwargs = call
    return (
        tuple(_repeat(v, rule, factor, (0, i)) for i, v in enumerate(args)),
        {k: _repeat(v, rule, factor, (1, k)) for k, v in kwargs.items()},
    )


@dataclass(frozen=True)
class _BatchMajor:
    """Is the tensor at a path batch-major? As measured at discovery, else by its shape."""

    paths: frozenset[ArgPath]
    seen: frozenset[ArgPath]
    batch: int

    def __call__(self, path: ArgPath, value: torch.Tensor) -> bool:
        if path in self.seen:
            return path in self.paths
        return value.dim() >= 1 and value.shape[0] == self.batch


class SuffixRunner:
    """Replays the blocks after a layer, from the call arguments of one clean batch."""

    def __init__(self, anatomy: Anatomy, capture: BlockCapture) -> None:
        self.blocks = anatomy.blocks
        self.slot = anatomy.slot
        self.inputs = capture.inputs
        self.batch = capture.states()[0].shape[0]
        self.batch_major, self.seen = anatomy.batch_major, anatomy.batch_seen
        self._cache: dict[int, list[tuple[Args, Kwargs]]] = {}

    def _inputs(self, factor: int) -> list[tuple[Args, Kwargs]]:
        if factor not in self._cache:
            calls = zip(self.inputs, self.batch_major, self.seen, strict=True)
            self._cache = {  # keep one expansion alive at a time
                factor: [
                    _repeat_call(call, _BatchMajor(paths, seen, self.batch), factor)
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
            hidden = output_tensor(self.blocks[j](*args, **kwargs))
        return hidden

    def step(self, block: int, state: torch.Tensor) -> torch.Tensor:
        """Block ``block + 1`` alone: layer state ``block + 1`` from state ``block``, with the
        captured arguments (0-based ``block``). ``[F·B, T, d] -> [F·B, T, d]``"""
        inputs = self._inputs(state.shape[0] // self.batch)
        args, kwargs = with_slot(*inputs[block], self.slot, state)
        return output_tensor(self.blocks[block](*args, **kwargs))


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
                lambda _m, _a, out: final.append(output_tensor(out))
            )
        )
        forward(
            model,
            input_ids,
            attention_mask,
            keep=torch.zeros(1, dtype=torch.long, device=input_ids.device),
        )
    return final[-1]


def replay_tolerance(dtype: torch.dtype) -> float:
    """Max ``|Δ log-prob|`` a clean replay may differ from the clean output by."""
    return 1e-4 if dtype in (torch.float32, torch.float64) else 2e-2


def _stacked(tensor: torch.Tensor, factor: int) -> torch.Tensor:
    """``factor`` copies of ``tensor`` on the batch dimension. ``[B, ...] -> [F·B, ...]``"""
    return tensor.repeat(factor, *([1] * (tensor.dim() - 1)))


@dataclass
class ReplayPath:
    """Which path a scan computes with, and why: the one exactness rule of every method.

    Each batch first replays its clean layer-0 state (stacked like the scan's copies) and
    compares the final log-probs with the clean output. While that holds (within
    :func:`replay_tolerance`), the scan uses suffix replay; the first mismatch, or a replay
    that raises, switches this and every later batch to hooked full passes and records why.
    An out-of-memory error is never a mismatch: it propagates, so that the batch is halved
    and retried (:class:`layertracer.engine.batch_size.BatchSizer`) and replay is kept.

    Attributes:
        path: ``replay``, ``full`` (hooked full passes) or ``cache-step`` (the state site).
        fallback_reason: Why replay was abandoned, if it was.
        max_err: Largest ``|Δ log-prob|`` of a clean replay (or cache step) seen.
    """

    path: str = "replay"
    fallback_reason: str | None = None
    max_err: float = 0.0

    @classmethod
    def start(cls, replay: bool, blocked: str | None = None) -> ReplayPath:
        """The path a scan starts on: ``replay`` unless replay was switched off, or
        ``blocked`` says why it cannot be used (full passes from the start, with the reason:
        e.g. a block with a side channel, :mod:`layertracer.engine.channels`)."""
        if replay and blocked:
            return cls("full", blocked)
        return cls("replay" if replay else "full")

    def runner(
        self, anatomy: Anatomy, capture: BlockCapture, clean: torch.Tensor, last: torch.Tensor,
        factor: int = 1,
    ) -> SuffixRunner | None:  # fmt: skip
        """The suffix runner of a captured batch if replay is in use and still exact.

        Args:
            anatomy: The model's parts.
            capture: The clean forward's capture (with the blocks' call arguments).
            clean: The clean output's log-probs at the rows ``last``. ``[B, V]``
            last: Each row's last real position. ``[B]``
            factor: Copies stacked on the batch by the scan (seeds, layers, noisy copies).

        Raises:
            torch.OutOfMemoryError: The check ran out of memory (halve the batch).
        """
        if self.path != "replay":
            return None
        runner = SuffixRunner(anatomy, capture)
        state0 = capture.states()[0]
        try:
            final = runner.run(0, _stacked(state0, factor))
            replayed = lens_logprobs(anatomy, gather_rows(final, last.repeat(factor)))
            err = float((replayed - _stacked(clean, factor)).abs().max())
        except OOM_ERRORS:
            raise  # the batch is halved and retried, not a mismatch
        except (RuntimeError, TypeError, ValueError, IndexError) as exc:
            err, reason = float("inf"), f"replay raised {type(exc).__name__}: {exc}"
        else:
            reason = f"clean replay differs from the clean output by {err:.3g}"
        self.max_err = max(self.max_err, err)
        if err <= replay_tolerance(state0.dtype):
            return runner
        self.path, self.fallback_reason = "full", reason
        return None

    def warning(self, method: str) -> str | None:
        """The run's warning when ``method``'s scan used full passes instead of replay
        (``None`` when it did not fall back): the one wording of every method."""
        if not self.fallback_reason:
            return None
        return f"{method}: suffix replay not used, full passes: {self.fallback_reason}"

    def section(self) -> dict[str, str | float | None]:
        """The keys every method's results section records about its path."""
        return {
            "path": self.path,
            "replay_max_abs_err": self.max_err,
            "fallback_reason": self.fallback_reason,
        }

    @classmethod
    def merged(cls, parts: Sequence[ReplayPath]) -> ReplayPath:
        """The path of several processes: ``full`` if any fell back, the first reason, the
        largest error (``cache-step`` stays as it is)."""
        reasons = [p.fallback_reason for p in parts if p.fallback_reason]
        path = "full" if any(p.path == "full" for p in parts) else parts[0].path
        return cls(path, reasons[0] if reasons else None, max(p.max_err for p in parts))


class _Scan(Protocol):
    """A scan state: a dataclass with per-prompt ``dict`` fields and a ``replay`` path."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
    replay: ReplayPath


S = TypeVar("S", bound=_Scan)


def gather_scan(
    state: S,
    gather: Callable[[dict[int, Any]], dict[int, Any]],
    all_gather: Callable[[ReplayPath], list[ReplayPath]],
) -> S:
    """A scan state of the whole run: every per-prompt ``dict`` field gathered from all
    processes and its ``replay`` path merged (:meth:`ReplayPath.merged`)."""
    fields = {
        f.name: gather(getattr(state, f.name))
        for f in dataclasses.fields(state)
        if isinstance(getattr(state, f.name), dict)
    }
    return dataclasses.replace(state, **fields, replay=ReplayPath.merged(all_gather(state.replay)))

"""Blocks that reach later blocks other than through the residual stream, which suffix
replay and removal by position cannot handle (docs/method.md#replay).

Replay recomputes blocks ``i+1..L`` from an edited layer-``i`` state with the call
arguments of the clean forward; removal makes a block's output equal its input. Both assume
that a block acts on later blocks only through its output. Two things break that:

- **structure**: the same module object at two positions (shared weights called twice), so
  a hook cannot tell the positions apart;
- **a side channel**, found by measurement: block ``i`` is skipped twice (its output is its
  input), once computing on its input and once on its negated input. Without a side channel
  nothing downstream can tell the two apart; if the final log-probs differ by more than the
  replay tolerance, block ``i`` hands something to later blocks outside the residual stream
  (e.g. keys and values another layer reuses), which a replay from a later layer would not
  recompute.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from layertracer.engine.batch_size import OOM_ERRORS
from layertracer.engine.batching import Batch
from layertracer.engine.replay import full_pass, replay_tolerance
from layertracer.model.anatomy import Anatomy
from layertracer.model.capture import skip_blocks
from layertracer.model.lens import gather_rows, lens_logprobs


def shared_modules(blocks: list[nn.Module]) -> dict[int, str]:
    """Blocks (1-based) whose module object also sits at another position, with why."""
    reasons: dict[int, str] = {}
    for i, block in enumerate(blocks, 1):
        twins = [j for j, other in enumerate(blocks, 1) if other is block and j != i]
        if twins:
            reasons[i] = f"the same module as block {twins[0]}: a hook cannot tell them apart"
    return reasons


def side_channels(model: nn.Module, anatomy: Anatomy, batch: Batch) -> dict[int, str]:
    """Blocks (1-based) that pass something to later blocks outside the residual stream:
    skipped (output = input) once as they are and once fed their negated input, the final
    log-probs at the last positions differ by more than :func:`replay_tolerance`. Costs
    ``2L`` full passes of ``batch`` (one prompt is enough)."""
    ids, mask = batch.input_ids, batch.attention_mask
    tolerance = replay_tolerance(next(model.parameters()).dtype)

    def logprobs(
        block: int, feed: Callable[[torch.Tensor], torch.Tensor] | None
    ) -> torch.Tensor:  # [B, V]
        with skip_blocks(anatomy.blocks, anatomy.slot, [block], feed=feed):
            final = full_pass(model, anatomy, ids, mask)
        return lens_logprobs(anatomy, gather_rows(final, batch.last))

    reasons: dict[int, str] = {}
    for i in range(1, anatomy.num_layers + 1):
        try:
            err = float((logprobs(i, torch.negative) - logprobs(i, None)).abs().max())
        except OOM_ERRORS:
            raise  # the batch is halved and retried
        except (RuntimeError, TypeError, ValueError, IndexError) as exc:
            reasons[i] = f"could not be probed for a side channel ({type(exc).__name__}: {exc})"
            continue
        if not err <= tolerance:
            reasons[i] = (
                f"passes state to later blocks outside the residual stream (output moved by "
                f"{err:.3g} when only its discarded computation changed)"
            )
    return reasons


def replay_blocker(reasons: dict[int, str]) -> str | None:
    """Why suffix replay cannot be used, from the blocks' reasons (``None``: it can)."""
    if not reasons:
        return None
    block = min(reasons)
    more = f" (and {len(reasons) - 1} more blocks)" if len(reasons) > 1 else ""
    return f"block {block} {reasons[block]}{more}; suffix replay would not carry it"

"""The clean lens pass, the first stage of every run: the lens trajectory of every prompt
(target probability and top tokens per layer), the fidelity check of the last layer
against the model's own output, the clean activation statistics, and Block Influence and
angular distance (docs/method.md#logit-lens, docs/method.md#block-influence)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from layertracer.engine.batching import Batch
from layertracer.engine.flops import clean_pass_flops
from layertracer.errors import FidelityError
from layertracer.methods import similarity
from layertracer.methods.vulnerability.stats import ActivationStats
from layertracer.model.anatomy import Anatomy
from layertracer.model.capture import capture_blocks, model_logprobs
from layertracer.model.lens import trajectories
from layertracer.model.transforms import FIDELITY_TOLERANCE
from layertracer.run import CleanPass, Run
from layertracer.stages.tuned_lens import readers

TOP_K = 5  # top tokens per layer kept for each prompt (the classic logit-lens table)


class _Row(NamedTuple):
    """One prompt's share of the clean pass (each ``[L+1]``, top tokens ``[L+1, k]``)."""

    target_prob: torch.Tensor
    topk_ids: torch.Tensor
    topk_probs: torch.Tensor
    bi: torch.Tensor
    angular: torch.Tensor
    other: torch.Tensor  # the target's probability under the other lens (NaN: none)


def clean_pass(run: Run) -> None:
    """Sets ``run.clean`` and the stage's FLOPs: the clean pass over every batch (of every
    process: per-prompt rows are gathered, the statistics summed over processes in rank
    order).

    Raises:
        FidelityError: The last layer's lens differs from the model's output by more than
            :data:`~layertracer.model.transforms.FIDELITY_TOLERANCE`.
    """
    anatomy, lm, span = run.anatomy, run.lm, run.config.removal.span
    rows: dict[int, _Row] = {}
    errors: list[torch.Tensor] = []  # per batch, max |Δ log-prob| (kept on the device)
    stats = ActivationStats()
    chosen, other = readers(run)
    with run.stage("lens", run.num_batches) as step:

        def work(batch: Batch) -> None:
            with capture_blocks(anatomy.blocks, anatomy.slot, keep_inputs=False) as cap:
                own = model_logprobs(lm.model, batch.input_ids, batch.attention_mask, batch.last)
            states = cap.states()
            traj = trajectories(anatomy, states, batch.last, batch.targets, TOP_K, chosen)
            second = _other_lens(anatomy, states, batch, other, traj.target_prob)
            errors.append((traj.final_logprobs - own.to(traj.final_logprobs.device)).abs().max())
            stats.add(states, batch.attention_mask)
            bi = similarity.block_influence(states, batch.attention_mask)  # [B, L+1]
            angular = similarity.angular_distance(states, batch.last, span)  # [B, L+1]
            for row, n in enumerate(batch.index):
                rows[n] = _Row(
                    traj.target_prob[row], traj.topk_ids[row], traj.topk_probs[row],
                    bi[row], angular[row], second[row],
                )  # fmt: skip
            step()

        run.each_batch("lens", work)
    run.clean = _finish(run, rows, errors, stats, other is not None)
    lenses = 1 if other is None else 2
    run.flops["lens"] = clean_pass_flops(run.cost, run.lengths, run.batch_size, lenses)


def _finish(
    run: Run, rows: dict[int, _Row], errors: list[torch.Tensor], stats: ActivationStats, other: bool
) -> CleanPass:
    """The gathered rows stacked by prompt, after the fidelity check of every process."""
    mine = float(torch.stack([e.to(errors[0].device) for e in errors]).max()) if errors else 0.0
    fidelity = max(run.world.all_gather(mine))
    if not fidelity <= FIDELITY_TOLERANCE:
        raise FidelityError(
            f"logit lens of the last layer differs from the output of model type "
            f"{run.lm.model_type!r} by {fidelity:.3g} > {FIDELITY_TOLERANCE:g} on this task"
        )
    gathered = run.gather(rows)
    ordered = [_Row(*gathered[n]) for n in range(len(run.encoded))]
    column = {name: torch.stack([getattr(r, name) for r in ordered]) for name in _Row._fields}
    merged = ActivationStats()  # every rank sums the ranks' sums in rank order: same plan
    for part in run.world.all_gather(stats.finish()):
        merged.merge(part)
    return CleanPass(
        column["target_prob"], column["topk_ids"], column["topk_probs"], fidelity, merged,
        column["bi"], column["angular"], column["other"] if other else None,
    )  # fmt: skip


def _other_lens(
    anatomy: Anatomy,
    states: list[torch.Tensor],
    batch: Batch,
    other: tuple[str, Callable[..., torch.Tensor] | None] | None,
    like: torch.Tensor,
) -> torch.Tensor:
    """The target's probability under the other lens ``[B, L+1]`` (NaN when none)."""
    if other is None:
        return like.new_full(like.shape, float("nan"))
    return trajectories(anatomy, states, batch.last, batch.targets, 1, other[1]).target_prob

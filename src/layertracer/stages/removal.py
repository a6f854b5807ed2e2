"""The layer-removal stage: remove the least critical blocks of every criterion
(docs/method.md#layer-removal)."""

from __future__ import annotations

import math

from layertracer.engine.replay import ReplayPath, gather_scan
from layertracer.engine.scan import per_replay
from layertracer.methods import removal as method
from layertracer.results.criteria import measure_all, registered
from layertracer.run import Run
from layertracer.schema.sections import RemovalSection
from layertracer.stages.registry import stage

DEFINITION = (
    "the k least critical blocks of each criterion removed (output = input), k = 0..K; "
    "accuracy = final top-1 = target, target_logprob and kl = KL(full ‖ pruned) at the last "
    "position, means over prompts"
)


@stage("removal")
def removal(run: Run) -> None:
    """The ``removal`` section: orders, curves for ``k = 0..K``, areas, best criterion."""
    cfg, anatomy, L = run.config.removal, run.anatomy, run.anatomy.num_layers
    reasons = run.blocks_outside_the_stream()
    removable = [i for i in range(1, L + 1) if i not in reasons]
    ranking = [c for c in registered() if c.ranks_blocks]
    measured = measure_all(run.results, run.kept)
    scores = {c.name: measured[c.name].curve for c in ranking if c.name in measured}
    windowed = {c.name for c in ranking if c.windows}
    orders = method.criterion_orders(scores, removable, cfg.span, windowed)
    random = method.random_orders(removable, cfg.random_orders, cfg.random_seed)
    K = min(cfg.max_blocks or method.default_max_blocks(L), len(removable))
    sets = method.pruned_sets([*orders.values(), *random], K)
    replay = ReplayPath.start(cfg.replay, run.replay_blocker(cfg.replay))
    stack = per_replay(cfg.sets_per_replay, run.device, len(sets))
    scan = method.RemovalScan(run.lm.model, anatomy, sets, stack, replay)
    with run.stage("removal", run.num_batches * math.ceil(len(sets) / stack)) as step:
        run.each_batch("removal", lambda batch: scan.add(batch, step))
    state = gather_scan(scan.state, run.gather, run.world.all_gather)
    section = {
        "definition": DEFINITION,
        "max_blocks": K,
        "span": cfg.span,
        "criteria": [*orders, method.RANDOM],
        "missing": [c.name for c in ranking if c.name not in orders],
        "removable": [None, *[i in removable for i in range(1, L + 1)]],
        "not_removable": {str(i): reasons[i] for i in sorted(reasons)},
        "scores": {name: curve.tolist() for name, curve in scores.items()},
        "orders": orders,
        "random_orders": random,
        "random_seed": cfg.random_seed,
        **method.summarize_curves(state, sets, orders, random, K),
        "prompts": len(state.clean_logprob),
        "pruned_models": len(sets),
        **state.replay.section(),
        "sets_per_replay": stack,
    }
    run.results.removal = RemovalSection.model_validate(section)
    _warn(run, reasons, state.replay)


def _warn(run: Run, reasons: dict[int, str], replay: ReplayPath) -> None:
    """Warnings: blocks left out of the orders, and a fallback to full passes."""
    for block, reason in sorted(reasons.items()):
        run.results.warnings.append(
            f"removal: block {block} cannot be removed by position ({reason}); "
            "left out of every order"
        )
    run.warn_fallback("removal", replay)

"""The ablation stage: skip every block in turn (docs/method.md#layer-ablation)."""

from __future__ import annotations

from layertracer.engine.replay import gather_scan
from layertracer.engine.scan import per_replay
from layertracer.methods.ablation import AblationScan
from layertracer.methods.ablation import summarize as summarize_ablation
from layertracer.run import Run
from layertracer.stages.registry import stage


@stage("ablation")
def ablation(run: Run) -> None:
    """The ``ablation`` section and each prompt's drops (the ``ablation`` criterion)."""
    cfg, anatomy, results = run.config.ablation, run.anatomy, run.results
    stack = per_replay(cfg.layers_per_replay, run.device, anatomy.num_layers + 1)
    scan = AblationScan(run.lm.model, anatomy, cfg, stack, run.replay_blocker(cfg.replay))
    with run.stage("ablation", run.num_batches * anatomy.num_layers) as step:
        run.each_batch("ablation", lambda batch: scan.add(batch, step), scan.state)
    state = gather_scan(scan.state, run.gather, run.world.all_gather)
    results.ablation = summarize_ablation(state)
    results.ablation.layers_per_replay = stack
    for n, row in enumerate(results.prompts):
        row.ablation_drop, row.ablation_correct = state.drop[n], state.correct[n]
    run.warn_fallback("ablation", state.replay)

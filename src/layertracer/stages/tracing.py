"""The causal-tracing stage (docs/method.md#causal-tracing)."""

from __future__ import annotations

from typing import Any

from layertracer.engine.batching import Batch
from layertracer.engine.replay import gather_scan
from layertracer.engine.scan import per_replay
from layertracer.methods.causal_tracing import TracingScan, prompt_fields
from layertracer.methods.causal_tracing import summarize as summarize_tracing
from layertracer.methods.subjects import embedding_std, spans_of, subject_sums
from layertracer.run import Run
from layertracer.stages.registry import stage


@stage("tracing")
def tracing(run: Run) -> None:
    """ROME causal tracing: indirect effect per layer at the last subject token, and the
    layer × position map of the first prompts; each prompt's effects (the ``tracing``
    criterion)."""
    cfg, anatomy, results, model = run.config.tracing, run.anatomy, run.results, run.lm.model
    spans = spans_of(run.lm.tokenizer, run.task.items, run.encoded)
    stack = per_replay(cfg.layers_per_replay, run.device, anatomy.num_layers + 1)
    layers = anatomy.num_layers + 1
    with run.stage("tracing", run.num_batches * (layers + 1)) as step:
        sums: dict[int, Any] = {}  # per prompt: sums of its subject-token embedding values

        def add_sums(batch: Batch) -> None:
            sums.update(subject_sums(model, anatomy, batch, spans))
            step()

        run.each_batch("tracing", add_sums)
        std = embedding_std(run.gather(sums))
        blocked = run.replay_blocker(cfg.replay)
        scan = TracingScan(model, anatomy, cfg, cfg.noise_multiplier * std, spans, stack, blocked)
        run.each_batch("tracing", lambda batch: scan.add(batch, step), scan.state)
    if cfg.map_prompts != 0:
        with run.stage("tracing_map", run.num_batches * layers) as step:
            run.each_batch(
                "tracing_map", lambda b: scan.add_map(b, step, cfg.map_prompts), scan.state
            )
    state = gather_scan(scan.state, run.gather, run.world.all_gather)
    results.causal_tracing = summarize_tracing(state, spans, cfg, std)
    results.causal_tracing.layers_per_replay = stack
    for n, row in enumerate(results.prompts):
        for key, value in prompt_fields(state, spans, n).items():
            setattr(row, key, value)
    run.warn_fallback("tracing", state.replay)

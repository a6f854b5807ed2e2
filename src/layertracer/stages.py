"""The analysis stages of a run, in the order they run: ``STAGES[name](run)`` adds the
``name`` section to ``run.results``. Each stage is a thin adapter from :class:`Run` to
the pure functions of its own module.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from layertracer.engine.batching import Batch, build_batch
from layertracer.engine.replay import gather_scan
from layertracer.engine.stacked import layers_per_replay
from layertracer.methods.ablation import AblationScan
from layertracer.methods.ablation import summarize as summarize_ablation
from layertracer.methods.agreement import agreement_section
from layertracer.methods.causal_tracing import TracingScan, prompt_fields
from layertracer.methods.causal_tracing import summarize as summarize_tracing
from layertracer.methods.cka import collect as cka_collect
from layertracer.methods.cka.core import summarize as summarize_cka
from layertracer.methods.full_target import (
    answer_inputs,
    answer_logprobs,
    answer_positions,
    model_answer_logprobs,
)
from layertracer.methods.particles import particles_for
from layertracer.methods.particles import summarize as summarize_particles
from layertracer.methods.subjects import embedding_std, spans_of, subject_sums
from layertracer.methods.vulnerability.perturb import MaskPlan, module_plans, plan_masks
from layertracer.methods.vulnerability.scan import VulnerabilityScan
from layertracer.methods.vulnerability.scan import summarize as summarize_vulnerability
from layertracer.methods.vulnerability.state import StateScan, StateStats, state_dims, state_stats
from layertracer.methods.vulnerability.stats import ActivationStats, massive_dims, module_stats
from layertracer.model.capture import capture_blocks, forward
from layertracer.run import Run


def lens(run: Run) -> None:
    """After the clean lens pass: with ``--full-target``, the teacher-forced lens log-prob
    of every prompt's whole answer per layer, ``prompts[*].answer_logprob [L+1]``."""
    if not run.config.inputs.full_target:
        return
    anatomy, encoded = run.anatomy, run.encoded
    pad = run.lm.tokenizer.pad_token_id or 0
    sequences, targets = answer_inputs(encoded)
    values: dict[int, list[float]] = {}
    errors = [0.0]
    with run.stage("full_target", run.num_batches) as step:

        def work(batch: Batch) -> None:
            full = build_batch(sequences, targets, batch.index, pad, run.device)
            where = answer_positions(encoded, batch.index)
            with capture_blocks(anatomy.blocks, anatomy.slot, keep_inputs=False) as cap:
                output, _ = forward(run.lm.model, full.input_ids, full.attention_mask)
            logprob = answer_logprobs(anatomy, cap.states(), where, full.size)  # [B, L+1]
            own = model_answer_logprobs(output.logits, where, full.size)  # [B]
            errors.append(float((logprob[:, -1] - own).abs().max()))
            values.update({n: logprob[row].tolist() for row, n in enumerate(batch.index)})
            step()

        run.each_batch("full_target", work)
    gathered = run.gather(values)
    for n, row in enumerate(run.results.prompts):
        row["answer_logprob"] = gathered[n]
        row["answer_tokens"] = len(encoded[n].answer_ids)
    run.results.lens["answer_logprob_max_abs_err"] = max(run.world.all_gather(max(errors)))


def particles(run: Run) -> None:
    """Task particle of every prompt, and the run's particle summary (DESIGN §1)."""
    with run.stage("particles", 1) as step:
        curves = run.clean.target_prob.tolist()
        cfg = run.config.particles
        run.results.particles = summarize_particles(curves, cfg, run.anatomy.num_layers)
        for row, layer in zip(run.results.prompts, particles_for(curves, cfg), strict=True):
            row["particle_layer"] = layer
        step()


def vulnerability(run: Run) -> None:
    """The JS vulnerability scan over layers and seeds (DESIGN §1, §3) at ``--site``."""
    cfg, anatomy, results = run.config.vulnerability, run.anatomy, run.results
    scan, plan, massive = _scan_for_site(run)
    total = run.num_batches * (anatomy.num_layers + 1)
    with run.stage("vulnerability", total) as step:
        run.each_batch("vulnerability", lambda batch: scan.add(batch, step))
    state = gather_scan(scan.state, run.gather, run.world.all_gather)
    results.vulnerability = summarize_vulnerability(state, plan, cfg, massive)
    results.vulnerability["site_layers"] = [bool(d) for d in plan.dims[0]]
    if isinstance(scan, StateScan):
        scan.describe(results.vulnerability)
    for n, row in enumerate(results.prompts):
        row["js_mean"] = state.per_prompt[n].mean(axis=0).tolist()
    if state.replay.fallback_reason:
        results.warnings.append(
            f"suffix replay not exact, used full passes: {state.replay.fallback_reason}"
        )
    if results.vulnerability["warning"]:
        results.warnings.append(results.vulnerability["warning"])


def _scan_for_site(run: Run) -> tuple[VulnerabilityScan | StateScan, MaskPlan, list[int]]:
    """The scan, its masks and the massive channels for the configured site."""
    cfg, anatomy, model = run.config.vulnerability, run.anatomy, run.lm.model
    if cfg.site == "residual":
        stats = run.clean.stats
        massive = massive_dims(stats.mean_abs(), cfg.massive_ratio)
        plan = plan_masks(cfg, stats, anatomy.num_layers, anatomy.hidden_size, massive)
        return VulnerabilityScan(model, anatomy, cfg, plan), plan, massive
    with run.stage("sites", run.num_batches):
        sites = run.scratch["sites"]  # found (and required) before the lens pass
        if cfg.site == "state":
            stats = StateStats.merged(
                run.world.all_gather(state_stats(model, sites, run.batches()))
            )
            dims, per_layer = state_dims(cfg, sites, stats)
            plan = MaskPlan(cfg.seeds, dims, torch.zeros(0), torch.zeros(0))
            return StateScan(model, cfg, sites, stats, dims, per_layer), plan, []
        mine = module_stats(model, sites, run.batches(), anatomy.hidden_size)
        stats = [
            ActivationStats.merged(slot) for slot in zip(*run.world.all_gather(mine), strict=True)
        ]
        plans, massive = module_plans(cfg, sites, stats, anatomy.hidden_size)
    return VulnerabilityScan(model, anatomy, cfg, plans[0], sites, plans), plans[0], massive


def cka(run: Run) -> None:
    """Linear CKA between all layer states, δ_ℓ and the critical layers (DESIGN §1)."""
    cfg, anatomy = run.config.cka, run.anatomy
    collector = cka_collect.Collector(
        len(run.encoded), anatomy.hidden_size, anatomy.num_layers + 1, cfg.representation
    )
    with run.stage("cka", run.num_batches) as step:

        def add(batch: Batch) -> None:
            states = cka_collect.clean_states(run.lm.model, anatomy, batch)
            collector.add(states, batch.attention_mask, batch.last, batch.index)
            step()

        run.each_batch("cka", add)
        matrix, grams, n = cka_collect.finish(
            collector, cfg.estimator, run.gather, run.world.all_gather
        )
    section = summarize_cka(matrix, cfg.estimator, cfg.representation, n, collector.form)
    run.results.extra["cka"] = section
    run.scratch["cka_grams"] = grams
    if section["critical_layer"] is None:
        run.results.warnings.append(f"CKA undefined ({cfg.estimator} estimator, n = {n})")


def ablation(run: Run) -> None:
    """Skip every block in turn: drop in target log-prob and top-1 accuracy (DESIGN §1)."""
    cfg, anatomy, results = run.config.ablation, run.anatomy, run.results
    stack = layers_per_replay(cfg.layers_per_replay, run.device, anatomy.num_layers)
    scan = AblationScan(run.lm.model, anatomy, cfg, stack)
    with run.stage("ablation", run.num_batches * anatomy.num_layers) as step:
        run.each_batch("ablation", lambda batch: scan.add(batch, step))
    state = gather_scan(scan.state, run.gather, run.world.all_gather)
    results.extra["ablation"] = {**summarize_ablation(state), "layers_per_replay": stack}
    for n, row in enumerate(results.prompts):
        row["ablation_drop"], row["ablation_correct"] = state.drop[n], state.correct[n]
    if state.replay.fallback_reason:
        results.warnings.append(
            f"ablation: suffix replay not exact, used full passes: {state.replay.fallback_reason}"
        )


def tracing(run: Run) -> None:
    """ROME causal tracing: indirect effect per layer at the last subject token, and the
    layer × position map of the first prompts (DESIGN §1)."""
    cfg, anatomy, results, model = run.config.tracing, run.anatomy, run.results, run.lm.model
    spans = spans_of(run.lm.tokenizer, run.task.items, run.encoded)
    stack = layers_per_replay(cfg.layers_per_replay, run.device, anatomy.num_layers)
    layers = anatomy.num_layers + 1
    with run.stage("tracing", run.num_batches * (layers + 1)) as step:
        sums: dict = {}  # per prompt: sums of its subject-token embedding values

        def add_sums(batch: Batch) -> None:
            sums.update(subject_sums(model, anatomy, batch, spans))
            step()

        run.each_batch("tracing", add_sums)
        std = embedding_std(run.gather(sums))
        scan = TracingScan(model, anatomy, cfg, cfg.noise_multiplier * std, spans, stack)
        run.each_batch("tracing", lambda batch: scan.add(batch, step))
    if cfg.map_prompts != 0:
        with run.stage("tracing_map", run.num_batches * layers) as step:
            run.each_batch("tracing_map", lambda b: scan.add_map(b, step, cfg.map_prompts))
    state = gather_scan(scan.state, run.gather, run.world.all_gather)
    section = summarize_tracing(state, spans, cfg, std)
    results.extra["causal_tracing"] = {**section, "layers_per_replay": stack}
    for n, row in enumerate(results.prompts):
        row.update(prompt_fields(state, spans, n))
    if state.replay.fallback_reason:
        results.warnings.append(
            f"tracing: suffix replay not exact, used full passes: {state.replay.fallback_reason}"
        )


def agreement(run: Run) -> None:
    """Agreement between every pair of per-layer criteria, bootstrap over prompts."""
    cfg, results = run.config.agreement, run.results
    with run.stage("agreement", 1) as step:
        results.extra["agreement"] = agreement_section(
            results.prompts,
            results.particles is not None,
            results.extra.get("cka"),
            run.scratch.get("cka_grams"),
            cfg.samples,
            cfg.seed,
        )
        step()


STAGES: dict[str, Callable[[Run], None]] = {
    "lens": lens,  # extras of the clean lens pass (nothing unless --full-target)
    "particles": particles,
    "vulnerability": vulnerability,
    "cka": cka,
    "ablation": ablation,
    "tracing": tracing,
    "agreement": agreement,  # last: compares the criteria of every stage before it
}

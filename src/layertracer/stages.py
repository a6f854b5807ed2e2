"""The analysis stages of a run, in the order they run: ``STAGES[name](run)`` adds the
``name`` section to ``run.results``. Each stage is a thin adapter from :class:`Run` to
the pure functions of its own module.
"""

from __future__ import annotations

from collections.abc import Callable

from layertracer.context import Run
from layertracer.particles import particles_for
from layertracer.particles import summarize as summarize_particles
from layertracer.perturb import massive_dims, plan_masks
from layertracer.vulnerability import VulnerabilityScan
from layertracer.vulnerability import summarize as summarize_vulnerability


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
    """The JS vulnerability scan over layers and seeds (DESIGN §1, §3)."""
    cfg, anatomy, results = run.config.vulnerability, run.anatomy, run.results
    stats = run.clean.stats
    massive = massive_dims(stats.mean_abs(), cfg.massive_ratio)
    plan = plan_masks(cfg, stats, anatomy.num_layers, anatomy.hidden_size, massive)
    scan = VulnerabilityScan(run.lm.model, anatomy, cfg, plan)
    total = run.num_batches * (anatomy.num_layers + 1)
    with run.stage("vulnerability", total) as step:
        for batch in run.batches():
            scan.add(batch, step)
    results.vulnerability = summarize_vulnerability(scan.state, plan, cfg, massive)
    for n, row in enumerate(results.prompts):
        row["js_mean"] = scan.state.per_prompt[n].mean(axis=0).tolist()
    if scan.state.fallback_reason:
        results.warnings.append(
            f"suffix replay not exact, used full passes: {scan.state.fallback_reason}"
        )
    if results.vulnerability["warning"]:
        results.warnings.append(results.vulnerability["warning"])


STAGES: dict[str, Callable[[Run], None]] = {
    "particles": particles,
    "vulnerability": vulnerability,
}

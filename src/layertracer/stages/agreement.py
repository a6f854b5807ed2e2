"""The agreement stage: every pair of the per-layer criteria measured before it
(docs/method.md#agreement; the criteria: :mod:`layertracer.results.criteria`)."""

from __future__ import annotations

from layertracer.methods.agreement import agreement_section
from layertracer.results.criteria import measure_all
from layertracer.run import Run
from layertracer.schema.sections import AgreementSection
from layertracer.stages.registry import stage


@stage("agreement")
def agreement(run: Run) -> None:
    """The ``agreement`` section of every registered criterion measured in the run,
    bootstrap over prompts."""
    cfg, results = run.config.agreement, run.results
    with run.stage("agreement", 1) as step:
        measured = measure_all(run.results, run.kept)
        section = agreement_section(measured, len(results.prompts), cfg.samples, cfg.seed)
        results.agreement = AgreementSection.model_validate(section)
        step()

"""The agreement stage: every pair of per-layer criteria measured before it
(docs/method.md#agreement)."""

from __future__ import annotations

from layertracer.methods.agreement import agreement_section
from layertracer.results.sections import AgreementSection
from layertracer.run import Run


def agreement(run: Run) -> None:
    """The ``agreement`` section from ``run.criteria``, bootstrap over prompts."""
    cfg, criteria = run.config.agreement, run.criteria
    with run.stage("agreement", 1) as step:
        section = agreement_section(
            criteria.per_prompt,
            criteria.cka_delta,
            criteria.cka_grams,
            criteria.cka_estimator,
            cfg.samples,
            cfg.seed,
        )
        run.results.agreement = AgreementSection.model_validate(section)
        step()

"""The CKA stage: linear CKA between all layer states, δ_ℓ and the critical layers
(docs/method.md#cka)."""

from __future__ import annotations

from layertracer.engine.batching import Batch
from layertracer.methods.cka import collect as cka_collect
from layertracer.methods.cka.core import summarize as summarize_cka
from layertracer.run import Run
from layertracer.stages.registry import stage


@stage("cka")
def cka(run: Run) -> None:
    """The ``cka`` section; the Gram matrices are kept for the ``cka`` criterion."""
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
    run.results.cka = section
    run.kept["cka_grams"] = grams
    if section.critical_layer is None:
        run.results.warnings.append(f"CKA undefined ({cfg.estimator} estimator, n = {n})")

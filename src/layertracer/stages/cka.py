"""The CKA stage: linear CKA between all layer states, δ_ℓ and the critical layers
(docs/method.md#cka)."""

from __future__ import annotations

from collections.abc import Callable

from layertracer.engine.batching import Batch
from layertracer.methods.cka import collect as cka_collect
from layertracer.methods.cka.core import summarize as summarize_cka
from layertracer.run import Run
from layertracer.stages.registry import stage


@stage("cka")
def cka(run: Run) -> None:
    """The ``cka`` section; the Gram matrices are kept for the ``cka`` criterion and, in
    the ``gram`` form, the representations for the ``spectral`` stage."""
    cfg = run.config.cka
    with run.stage("cka", run.num_batches) as step:
        collector = collect(run, "cka", step)
        matrix, grams, n = cka_collect.finish(
            collector, cfg.estimator, run.gather, run.world.all_gather
        )
    section = summarize_cka(matrix, cfg.estimator, cfg.representation, n, collector.form)
    run.results.cka = section
    run.kept["cka_grams"] = grams
    if collector.form == "gram":  # this process's rows, read again by the spectral stage
        run.kept["cka_rows"] = collector.rows
    if section.critical_layer is None:
        run.results.warnings.append(f"CKA undefined ({cfg.estimator} estimator, n = {n})")


def collect(
    run: Run, name: str, step: Callable[[], None], form: str = "auto"
) -> cka_collect.Collector:
    """Every prompt's ``cka.representation`` at every layer state, from one clean pass over
    this process's batches (checkpointed as stage ``name``), in ``form``
    (:mod:`layertracer.methods.cka.collect`)."""
    anatomy = run.anatomy
    collector = cka_collect.Collector(
        len(run.encoded), anatomy.hidden_size, anatomy.num_layers + 1,
        run.config.cka.representation, form,
    )  # fmt: skip

    def add(batch: Batch) -> None:
        states = cka_collect.clean_states(run.lm.model, anatomy, batch)
        collector.add(states, batch.attention_mask, batch.last, batch.index)
        step()

    run.each_batch(name, add)
    return collector

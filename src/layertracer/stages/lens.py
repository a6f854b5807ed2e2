"""Stages on the clean lens pass: the whole answer's log-prob (``--full-target``), the
task particles, and the similarity of consecutive states (Block Influence, angular
distance; always, the pipeline calls it after the clean pass)."""

from __future__ import annotations

from layertracer.engine.batching import Batch, build_batch
from layertracer.methods import similarity as similarity_method
from layertracer.methods.full_target import (
    answer_inputs,
    answer_logprobs,
    answer_positions,
    model_answer_correct,
    model_answer_logprobs,
)
from layertracer.methods.particles import particle_stats, particles_for
from layertracer.methods.particles import summarize as summarize_particles
from layertracer.model.capture import capture_blocks, forward, output_tensor
from layertracer.run import Run
from layertracer.schema.methods import OtherLensParticles, ParticlesSection, ParticleStats
from layertracer.stages.registry import stage


@stage("lens")
def lens(run: Run) -> None:
    """After the clean lens pass: with ``--full-target``, the teacher-forced lens log-prob
    of every prompt's whole answer per layer, ``prompts[*].answer_logprob [L+1]``, whether
    the model's greedy answer is the whole answer (``answer_correct``) and the run's
    ``answer_accuracy`` (docs/method.md#target-token)."""
    if not run.config.inputs.full_target:
        return
    anatomy, encoded = run.anatomy, run.encoded
    pad = run.lm.tokenizer.pad_token_id or 0
    sequences, targets = answer_inputs(encoded)
    values: dict[int, tuple[list[float | None], bool]] = {}
    errors = [0.0]
    with run.stage("full_target", run.num_batches) as step:

        def work(batch: Batch) -> None:
            full = build_batch(sequences, targets, batch.index, pad, run.device)
            where = answer_positions(encoded, batch.index)
            with capture_blocks(anatomy.blocks, anatomy.slot, keep_inputs=False) as cap:
                output, _ = forward(run.lm.model, full.input_ids, full.attention_mask)
            logits = output_tensor(output.logits if hasattr(output, "logits") else output)
            logprob = answer_logprobs(anatomy, cap.states(), where, full.size)  # [B, L+1]
            own = model_answer_logprobs(logits, where, full.size)  # [B]
            correct = model_answer_correct(logits, where, full.size)  # [B]
            errors.append(float((logprob[:, -1] - own).abs().max()))
            for row, n in enumerate(batch.index):
                values[n] = (logprob[row].tolist(), bool(correct[row]))
            step()

        run.each_batch("full_target", work)
    gathered = run.gather(values)
    for n, row in enumerate(run.results.prompts):
        row.answer_logprob, row.answer_correct = gathered[n]
        row.answer_tokens = len(encoded[n].answer_ids)
    run.results.lens.answer_logprob_max_abs_err = max(run.world.all_gather(max(errors)))
    rows = run.results.prompts
    run.results.answer_accuracy = sum(bool(r.answer_correct) for r in rows) / len(rows)


@stage("particles")
def particles(run: Run) -> None:
    """Task particle of every prompt, and the run's particle summary
    (docs/method.md#task-particle)."""
    with run.stage("particles", 1) as step:
        curves = run.clean.target_prob.tolist()
        cfg, L = run.config.particles, run.anatomy.num_layers
        section = summarize_particles(curves, cfg, L)
        layers = particles_for(curves, cfg)
        rows = run.results.prompts
        correct = [layer for layer, row in zip(layers, rows, strict=True) if row.correct]
        section.correct = ParticleStats.model_validate(particle_stats(correct))  # answered
        section.lens = run.config.lens.kind
        others = _other_lens(run, section)
        run.results.particles = section
        for n, (row, layer) in enumerate(zip(rows, layers, strict=True)):
            row.particle_layer = layer
            row.particle_layer_other = others[n] if others else None
        step()


def _other_lens(run: Run, section: ParticlesSection) -> list[int | None] | None:
    """The particles under the other lens (``run.clean.other_target_prob``), summarised
    into ``section.other_lens``; ``None`` when the run has no other lens."""
    if run.clean.other_target_prob is None:
        return None
    layers = particles_for(run.clean.other_target_prob.tolist(), run.config.particles)
    other = "logit" if run.config.lens.kind == "tuned" else "tuned"
    stats = particle_stats(layers)
    section.other_lens = OtherLensParticles.model_validate({"lens": other, **stats})
    return layers


def similarity(run: Run) -> None:
    """Block Influence and angular distance of the clean pass: the ``similarity`` section,
    and each prompt's values (the ``bi`` and ``angular`` criteria,
    docs/method.md#block-influence). No forward: the clean pass computed them."""
    bi, angular = run.clean.bi.numpy(), run.clean.angular.numpy()  # [N, L+1] each
    run.results.similarity = similarity_method.summarize(bi, angular, run.config.removal.span)
    for row, b, a in zip(run.results.prompts, bi, angular, strict=True):
        row.bi, row.angular = b.tolist(), a.tolist()

"""The one pipeline: ``trace(model, task, config) -> Results``.

Steps: load the task, load the model, discover its anatomy, the clean lens pass (target
probability per layer, fidelity check, activation statistics), then the selected
analysis stages of :mod:`layertracer.stages` in order (particles, vulnerability, ...).
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable

import torch

from layertracer import __version__
from layertracer.anatomy import Anatomy, discover
from layertracer.capture import capture_blocks, model_logprobs
from layertracer.config import RunConfig
from layertracer.context import CleanPass, Progress, Run, SilentProgress, timed
from layertracer.errors import FidelityError
from layertracer.lens import trajectories
from layertracer.models import LoadedModel, load_model
from layertracer.perturb import ActivationStats
from layertracer.results import Results
from layertracer.stages import STAGES
from layertracer.targets import Encoded, encode
from layertracer.tasks import Task, few_shot, load_task
from layertracer.transforms import FIDELITY_TOLERANCE

TOP_K = 5  # top tokens per layer kept for each prompt (the classic logit-lens table)


def trace(
    model: str | LoadedModel,
    task: str | Task,
    config: RunConfig | None = None,
    progress: Progress | None = None,
) -> Results:
    """Analyses where in the model the task is decided.

    Args:
        model: A model spec (see :func:`layertracer.models.load_model`) or a loaded model.
        task: A built-in suite name, a ``.jsonl``/``.csv`` path, or a :class:`Task`.
        config: Options; defaults to :class:`RunConfig` defaults (with this model/task).
        progress: Progress reporter (silent by default).

    Returns:
        The run's results (not yet written; call ``Results.save``).

    Raises:
        LayerTracerError: Bad task or model, or a lens that fails the fidelity check.
    """
    config = config or RunConfig(
        model=model if isinstance(model, str) else model.spec,
        task=task if isinstance(task, str) else task.name,
    )
    timing: dict[str, float] = {}
    task, lm, anatomy, encoded = _prepare(model, task, config, timing)
    run = Run(lm, anatomy, config, task, encoded, progress or SilentProgress(), timing)
    with run.stage("lens", run.num_batches) as step:
        run.clean = _clean_pass(run, step)
    run.results = _base_results(run)
    for name, stage in STAGES.items():
        if name in config.methods:
            stage(run)
    run.results.timing = timing
    return run.results


def _prepare(
    model: str | LoadedModel, task: str | Task, config: RunConfig, timing: dict[str, float]
) -> tuple[Task, LoadedModel, Anatomy, list[Encoded]]:
    """Loads the task (first, so a bad file fails before a model loads), the model, its
    anatomy, and tokenizes every item."""
    with timed(timing, "load_task"):
        if isinstance(task, str):  # demonstrations may come from beyond --max-prompts
            task = load_task(task, None if config.shots else config.max_prompts)
        task = few_shot(task, config.shots)
        if config.max_prompts is not None:
            task = Task(task.name, task.source, task.items[: config.max_prompts], task.warnings)
    with timed(timing, "load_model"):
        if not isinstance(model, LoadedModel):
            model = load_model(model, config.device, config.dtype, config.trust_remote_code)
    with timed(timing, "anatomy"), torch.inference_mode():
        anatomy = discover(model.model, model.tokenizer, config.anatomy)
        encoded = [encode(model.tokenizer, it.prompt, it.target, it.id) for it in task.items]
    return task, model, anatomy, encoded


def _clean_pass(run: Run, step: Callable[[], None]) -> CleanPass:
    """Lens trajectories, fidelity and activation statistics over every batch."""
    anatomy, lm = run.anatomy, run.lm
    count, layers, k = len(run.encoded), anatomy.num_layers + 1, TOP_K
    target_prob = torch.zeros(count, layers)
    topk_ids = torch.zeros(count, layers, k, dtype=torch.long)
    topk_probs = torch.zeros(count, layers, k)
    stats, fidelity = ActivationStats(), 0.0
    for batch in run.batches():
        with capture_blocks(anatomy.blocks, anatomy.slot, keep_inputs=False) as cap:
            own = model_logprobs(lm.model, batch.input_ids, batch.attention_mask, batch.last)
        states = cap.states()
        traj = trajectories(anatomy, states, batch.last, batch.targets, k)
        fidelity = max(fidelity, float((traj.final_logprobs - own).abs().max()))
        stats.update(states, batch.attention_mask)
        target_prob[batch.index] = traj.target_prob
        topk_ids[batch.index], topk_probs[batch.index] = traj.topk_ids, traj.topk_probs
        step()
    if not fidelity <= FIDELITY_TOLERANCE:
        raise FidelityError(
            f"logit lens of the last layer differs from the output of model type "
            f"{lm.model_type!r} by {fidelity:.3g} > {FIDELITY_TOLERANCE:g} on this task"
        )
    return CleanPass(target_prob, topk_ids, topk_probs, fidelity, stats)


def _base_results(run: Run) -> Results:
    """The run's results before any analysis stage: config, model, lens, prompt rows."""
    lm, clean, task, encoded = run.lm, run.clean, run.task, run.encoded
    tokenizer, L = lm.tokenizer, run.anatomy.num_layers
    rows = []
    for n, (item, enc) in enumerate(zip(task.items, encoded, strict=True)):
        top = int(clean.topk_ids[n, L, 0])
        rows.append(
            {
                "id": item.id,
                "prompt": item.prompt,
                "target": item.target,
                "subject": item.subject,
                "target_token_id": enc.target_id,
                "target_token": tokenizer.decode([enc.target_id]),
                "num_tokens": len(enc.input_ids),
                "target_prob": clean.target_prob[n].tolist(),
                "final_prob": float(clean.target_prob[n, L]),
                "top1_token_id": top,
                "top1_token": tokenizer.decode([top]),
                "correct": top == enc.target_id,
                "particle_layer": None,
                "topk": _topk_rows(tokenizer, clean.topk_ids[n], clean.topk_probs[n]),
            }
        )
    warnings = list(task.warnings) + [e.warning for e in encoded if e.warning]
    return Results(
        tool={"name": "layertracer", "version": __version__},
        config=run.config.to_dict(),
        environment=_environment(lm, run.config),
        model=_model_info(lm, run.anatomy),
        task={"name": task.name, "source": task.source, "items": len(task.items)},
        lens={
            "fidelity_max_abs_err": clean.fidelity,
            "tolerance": FIDELITY_TOLERANCE,
            "positions": "last real token of each prompt",
            "dtype": "float32",
        },
        prompts=rows,
        accuracy=sum(r["correct"] for r in rows) / len(rows),
        warnings=warnings,
    )


def _topk_rows(tokenizer: object, ids: torch.Tensor, probs: torch.Tensor) -> list[list]:
    """Per layer, the top tokens as ``[[token, prob], ...]``. ids/probs: ``[L+1, k]``"""
    words = tokenizer.batch_decode(ids.reshape(-1, 1).tolist())
    k = ids.shape[1]
    return [
        [[words[layer * k + j], round(float(probs[layer, j]), 6)] for j in range(k)]
        for layer in range(ids.shape[0])
    ]


def _model_info(lm: LoadedModel, anatomy: Anatomy) -> dict:
    config = lm.model.config
    return {
        "spec": lm.spec,
        "model_type": lm.model_type,
        "num_layers": anatomy.num_layers,
        "hidden_size": anatomy.hidden_size,
        "layer_types": anatomy.layer_types,
        "vocab_size": int(anatomy.unembed.weight.shape[0])
        if hasattr(anatomy.unembed, "weight")
        else getattr(config, "vocab_size", None),
        "num_parameters": sum(p.numel() for p in lm.model.parameters()),
        "blocks": anatomy.block_path,
        "residual_slot": anatomy.slot,
        "final_norm": anatomy.final_norm_paths,
        "unembed": anatomy.unembed_path,
        "logit_transform": anatomy.transform.describe(),
    }


def _environment(lm: LoadedModel, config: RunConfig) -> dict:
    import transformers

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": str(next(lm.model.parameters()).device),
        "dtype": config.dtype,
    }

"""The one pipeline: ``trace(model, task, config) -> Results``.

Stages: load the task, load the model, discover its anatomy, the clean lens pass (target
probability per layer, fidelity check, activation statistics), particles, and the
vulnerability scan.
"""

from __future__ import annotations

import contextlib
import platform
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import torch

from layertracer import __version__
from layertracer.anatomy import Anatomy, discover
from layertracer.batching import Batch, make_batches, num_batches
from layertracer.capture import capture_blocks, model_logprobs
from layertracer.config import RunConfig
from layertracer.errors import FidelityError
from layertracer.lens import trajectories
from layertracer.models import LoadedModel, load_model
from layertracer.particles import particles_for
from layertracer.particles import summarize as summarize_particles
from layertracer.perturb import ActivationStats, massive_dims, plan_masks
from layertracer.results import Results
from layertracer.targets import Encoded, encode
from layertracer.tasks import Task, few_shot, load_task
from layertracer.transforms import FIDELITY_TOLERANCE
from layertracer.vulnerability import VulnerabilityScan
from layertracer.vulnerability import summarize as summarize_vulnerability


class Progress(Protocol):
    """Receives progress: ``with progress.stage(name, total) as advance: advance()``."""

    def stage(self, name: str, total: int) -> contextlib.AbstractContextManager[Callable[[], None]]:
        """A context for one stage of ``total`` steps; yields a function to call per step."""


TOP_K = 5  # top tokens per layer kept for each prompt (the classic logit-lens table)


class SilentProgress:
    """A :class:`Progress` that shows nothing."""

    @contextlib.contextmanager
    def stage(self, name: str, total: int) -> Iterator[Callable[[], None]]:
        """Yields a no-op step function."""
        yield lambda: None


@dataclass
class _Clean:
    """What the clean lens pass returns."""

    target_prob: torch.Tensor  # [N, L+1]
    topk_ids: torch.Tensor  # [N, L+1, k]
    topk_probs: torch.Tensor  # [N, L+1, k]
    fidelity: float
    stats: ActivationStats


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
    progress = progress or SilentProgress()
    timing: dict[str, float] = {}
    task, lm, anatomy, encoded = _prepare(model, task, config, timing)
    device = next(lm.model.parameters()).device

    def batches() -> Iterator[Batch]:
        pad = lm.tokenizer.pad_token_id or 0
        ids, targets = [e.input_ids for e in encoded], [e.target_id for e in encoded]
        return make_batches(ids, targets, config.batch_size, pad, device)

    steps = num_batches(len(encoded), config.batch_size)
    with _timed(timing, "lens"), torch.inference_mode(), progress.stage("lens", steps) as step:
        clean = _clean_pass(lm, anatomy, batches(), len(encoded), step)
    results = _base_results(lm, anatomy, task, config, encoded, clean)
    if "particles" in config.methods:
        with _timed(timing, "particles"):
            _add_particles(results, clean, config, anatomy.num_layers)
    if "vulnerability" in config.methods:
        total = steps * (anatomy.num_layers + 1)
        with (
            _timed(timing, "vulnerability"),
            torch.inference_mode(),
            progress.stage("vulnerability", total) as step,
        ):
            _add_vulnerability(results, lm, anatomy, config, clean.stats, batches(), step)
    results.timing = timing
    return results


def _prepare(
    model: str | LoadedModel, task: str | Task, config: RunConfig, timing: dict[str, float]
) -> tuple[Task, LoadedModel, Anatomy, list[Encoded]]:
    """Loads the task (first, so a bad file fails before a model loads), the model, its
    anatomy, and tokenizes every item."""
    with _timed(timing, "load_task"):
        if isinstance(task, str):  # demonstrations may come from beyond --max-prompts
            task = load_task(task, None if config.shots else config.max_prompts)
        task = few_shot(task, config.shots)
        if config.max_prompts is not None:
            task = Task(task.name, task.source, task.items[: config.max_prompts], task.warnings)
    with _timed(timing, "load_model"):
        if not isinstance(model, LoadedModel):
            model = load_model(model, config.device, config.dtype, config.trust_remote_code)
    with _timed(timing, "anatomy"), torch.inference_mode():
        anatomy = discover(model.model, model.tokenizer, config.anatomy)
        encoded = [encode(model.tokenizer, it.prompt, it.target, it.id) for it in task.items]
    return task, model, anatomy, encoded


def _clean_pass(
    lm: LoadedModel, anatomy: Anatomy, batches: Iterator[Batch], count: int, step: Callable
) -> _Clean:
    """Lens trajectories, fidelity and activation statistics over every batch."""
    layers, k = anatomy.num_layers + 1, TOP_K
    target_prob = torch.zeros(count, layers)
    topk_ids = torch.zeros(count, layers, k, dtype=torch.long)
    topk_probs = torch.zeros(count, layers, k)
    stats, fidelity = ActivationStats(), 0.0
    for batch in batches:
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
    return _Clean(target_prob, topk_ids, topk_probs, fidelity, stats)


def _base_results(
    lm: LoadedModel,
    anatomy: Anatomy,
    task: Task,
    config: RunConfig,
    encoded: list[Encoded],
    clean: _Clean,
) -> Results:
    tokenizer, L = lm.tokenizer, anatomy.num_layers
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
        config=config.to_dict(),
        environment=_environment(lm, config),
        model=_model_info(lm, anatomy),
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


def _add_particles(results: Results, clean: _Clean, config: RunConfig, num_layers: int) -> None:
    curves = clean.target_prob.tolist()
    results.particles = summarize_particles(curves, config.particles, num_layers)
    for row, layer in zip(results.prompts, particles_for(curves, config.particles), strict=True):
        row["particle_layer"] = layer


def _add_vulnerability(
    results: Results,
    lm: LoadedModel,
    anatomy: Anatomy,
    config: RunConfig,
    stats: ActivationStats,
    batches: Iterator[Batch],
    step: Callable,
) -> None:
    cfg = config.vulnerability
    massive = massive_dims(stats.mean_abs(), cfg.massive_ratio)
    plan = plan_masks(cfg, stats, anatomy.num_layers, anatomy.hidden_size, massive)
    scan = VulnerabilityScan(lm.model, anatomy, cfg, plan)
    for batch in batches:
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


@contextlib.contextmanager
def _timed(timing: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timing[name] = round(time.perf_counter() - start, 4)

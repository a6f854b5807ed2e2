"""The one pipeline: ``trace(model, task, config) -> Results``.

Steps: load the task, load the model, discover its anatomy, the clean lens pass (target
probability per layer, fidelity check, activation statistics, Block Influence and angular
distance), then the selected
analysis stages of :mod:`layertracer.stages` in order (particles, vulnerability, ...).
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable

import torch

from layertracer._version import __version__
from layertracer.config import RunConfig
from layertracer.engine.batch_size import auto_batch_size, per_prompt_bytes
from layertracer.engine.batching import Batch
from layertracer.engine.distributed import World, rank_device, world_from_env
from layertracer.errors import ConfigError, FidelityError
from layertracer.methods import similarity
from layertracer.methods.agreement import lens_slope
from layertracer.methods.suite_summary import suite_summaries
from layertracer.methods.vulnerability.stats import ActivationStats
from layertracer.model.anatomy import Anatomy, discover
from layertracer.model.capture import capture_blocks, model_logprobs
from layertracer.model.lens import trajectories
from layertracer.model.load import LoadedModel, input_device, load_model
from layertracer.model.sites import require_site
from layertracer.model.transforms import FIDELITY_TOLERANCE
from layertracer.results import Results
from layertracer.results.sections import (
    LensSection,
    ModelInfo,
    PromptRow,
    SuiteSummary,
    TaskInfo,
    Tool,
)
from layertracer.run import CleanPass, Progress, Run, SilentProgress, timed
from layertracer.stages import STAGES
from layertracer.stages.lens import similarity as similarity_stage
from layertracer.tasks import Task
from layertracer.tasks.encode import Encoded
from layertracer.tasks.inputs import encode_input, load_input

TOP_K = 5  # top tokens per layer kept for each prompt (the classic logit-lens table)


def trace(
    model: str | LoadedModel,
    task: str | Task | None,
    config: RunConfig | None = None,
    progress: Progress | None = None,
) -> Results:
    """Analyses where in the model the task is decided.

    Args:
        model: A model spec (see :func:`layertracer.model.load.load_model`) or a loaded model.
        task: A built-in suite name, a ``.jsonl``/``.csv`` path, a dataset folder, a comma
            list of these, or a :class:`Task`; None in text mode (``config.inputs.text``).
        config: Options; defaults to :class:`RunConfig` defaults (with this model/task).
        progress: Progress reporter (silent by default).

    Returns:
        The run's results (not yet written; call ``Results.save``).

    Raises:
        LayerTracerError: Bad task or model, or a lens that fails the fidelity check.
    """
    config = config or RunConfig(
        model=model if isinstance(model, str) else model.spec,
        task=task if isinstance(task, str) or task is None else task.name,
    )
    timing: dict[str, float] = {}
    world = world_from_env(config.device)  # torchrun: this rank's share of the prompts
    task, lm, anatomy, encoded = _prepare(model, task, config, timing, world)
    progress = progress if progress is not None and world.is_main else SilentProgress()
    run = Run(lm, anatomy, config, task, encoded, progress, timing, world=world)
    run.batch_size = _batch_size(run)
    if "vulnerability" in config.methods:  # a missing site fails before any pass
        with timed(timing, "anatomy"), torch.inference_mode():
            run.sites = require_site(lm, anatomy, config.vulnerability.site)
    with run.stage("lens", run.num_batches) as step:
        run.clean = _clean_pass(run, step)
    run.results = _base_results(run)
    run.criteria.per_prompt["lens_slope"] = lens_slope(run.clean.target_prob.numpy())
    similarity_stage(run)
    for name, stage in STAGES.items():
        if name in config.methods:
            stage(run)
    with_particles = "particles" in config.methods
    rows = [row.model_dump() for row in run.results.prompts]
    suites = suite_summaries(rows, with_particles)
    run.results.suites = {name: SuiteSummary.model_validate(s) for name, s in suites.items()}
    run.results.timing = timing
    run.results.environment["batching"] = _batching(run)
    return run.results


def _prepare(
    model: str | LoadedModel,
    task: str | Task | None,
    config: RunConfig,
    timing: dict[str, float],
    world: World | None = None,
) -> tuple[Task, LoadedModel, Anatomy, list[Encoded]]:
    """Loads the task (first, so a bad file fails before a model loads), the model, its
    anatomy, and tokenizes every item."""
    with timed(timing, "load_task"):
        source = load_input(task, config)  # a task (few-shot, max-prompts applied) or a text
    with timed(timing, "load_model"):
        if not isinstance(model, LoadedModel):
            device = rank_device(config.device, world or World())
            model = load_model(
                model, device, config.dtype, config.trust_remote_code, config.device_map
            )
    with timed(timing, "anatomy"), torch.inference_mode():
        anatomy = discover(model.model, model.tokenizer, config.anatomy)
        task, encoded = encode_input(source, model.tokenizer, config)
    if config.removal.span > anatomy.num_layers:
        raise ConfigError(
            f"--removal-span {config.removal.span} exceeds the model's {anatomy.num_layers} blocks"
        )
    return task, model, anatomy, encoded


def _clean_pass(run: Run, step: Callable[[], None]) -> CleanPass:
    """Lens trajectories, fidelity and activation statistics over every batch (of every
    process: per-prompt rows are gathered, the statistics summed over processes)."""
    anatomy, lm, span = run.anatomy, run.lm, run.config.removal.span
    rows: dict[int, tuple[torch.Tensor, ...]] = {}
    errors: list[torch.Tensor] = []  # per batch, max |Δ log-prob| (kept on the device)
    stats = ActivationStats()

    def work(batch: Batch) -> None:
        with capture_blocks(anatomy.blocks, anatomy.slot, keep_inputs=False) as cap:
            own = model_logprobs(lm.model, batch.input_ids, batch.attention_mask, batch.last)
        states = cap.states()
        traj = trajectories(anatomy, states, batch.last, batch.targets, TOP_K)
        error = (traj.final_logprobs - own.to(traj.final_logprobs.device)).abs().max()
        stats.add(states, batch.attention_mask)
        errors.append(error)
        bi = similarity.block_influence(states, batch.attention_mask)  # [B, L+1]
        angular = similarity.angular_distance(states, batch.last, span)  # [B, L+1]
        for row, n in enumerate(batch.index):
            rows[n] = (
                traj.target_prob[row], traj.topk_ids[row], traj.topk_probs[row],
                bi[row], angular[row],
            )  # fmt: skip
        step()

    run.each_batch("lens", work)
    mine = float(torch.stack([e.to(errors[0].device) for e in errors]).max()) if errors else 0.0
    fidelity = max(run.world.all_gather(mine))
    if not fidelity <= FIDELITY_TOLERANCE:
        raise FidelityError(
            f"logit lens of the last layer differs from the output of model type "
            f"{lm.model_type!r} by {fidelity:.3g} > {FIDELITY_TOLERANCE:g} on this task"
        )
    gathered = run.gather(rows)
    target_prob, topk_ids, topk_probs, bi, angular = (
        torch.stack([gathered[n][j] for n in range(len(run.encoded))]) for j in range(5)
    )  # [N, L+1], [N, L+1, k], [N, L+1, k], [N, L+1], [N, L+1]
    merged = ActivationStats()  # every rank sums the ranks' sums in rank order: same plan
    for part in run.world.all_gather(stats.finish()):
        merged.merge(part)
    return CleanPass(target_prob, topk_ids, topk_probs, fidelity, merged, bi, angular)


def _batch_size(run: Run) -> int:
    """``--batch-size``, or for ``auto`` an estimate from free GPU memory (:mod:`batchsize`)."""
    if run.config.batch_size != "auto":
        return int(run.config.batch_size)
    anatomy, model = run.anatomy, run.lm.model
    tokens = max((len(e.input_ids) for e in run.encoded), default=1)
    itemsize = next(model.parameters()).element_size()
    seeds = len(run.config.vulnerability.seeds)
    need = per_prompt_bytes(
        model.config, anatomy.num_layers, anatomy.hidden_size, tokens, seeds, itemsize
    )
    return auto_batch_size(run.device, need)


def _batching(run: Run) -> dict:
    """Batch size in effect per stage (smallest over processes) and out-of-memory retries."""
    stages: dict[str, dict] = {}
    for part in run.world.all_gather({k: s.record() for k, s in run.sizers.items()}):
        for name, rec in part.items():
            have = stages.setdefault(name, {"size": rec["size"], "oom_retries": 0})
            have["size"] = min(have["size"], rec["size"])
            have["oom_retries"] += rec["oom_retries"]
    return {
        "requested": run.config.batch_size,
        "start": run.batch_size,
        "world_size": run.world.size,
        "stages": stages,
    }


def _base_results(run: Run) -> Results:
    """The run's results before any analysis stage: config, model, lens, prompt rows."""
    lm, clean, task, encoded = run.lm, run.clean, run.task, run.encoded
    tokenizer, L = lm.tokenizer, run.anatomy.num_layers
    rows = []
    for n, (item, enc) in enumerate(zip(task.items, encoded, strict=True)):
        top = int(clean.topk_ids[n, L, 0])
        rows.append(
            PromptRow(
                id=item.id,
                suite=item.suite or task.name,
                prompt=item.prompt,
                target=item.target,
                subject=item.subject,
                target_token_id=enc.target_id,
                target_token=tokenizer.decode([enc.target_id]),
                num_tokens=len(enc.input_ids),
                target_prob=clean.target_prob[n].tolist(),
                final_prob=float(clean.target_prob[n, L]),
                top1_token_id=top,
                top1_token=tokenizer.decode([top]),
                correct=top == enc.target_id,
                particle_layer=None,
                topk=_topk_rows(tokenizer, clean.topk_ids[n], clean.topk_probs[n]),
            )
        )
    warnings = list(task.warnings) + [e.warning for e in encoded if e.warning]
    return Results(
        tool=Tool(name="layertracer", version=__version__),
        config=run.config.to_dict(),
        environment=_environment(lm, run.config, run.world.size),
        model=ModelInfo.model_validate(_model_info(lm, run.anatomy)),
        task=TaskInfo.model_validate(_task_info(run)),
        lens=LensSection(
            fidelity_max_abs_err=clean.fidelity,
            tolerance=FIDELITY_TOLERANCE,
            positions="last real token of each prompt",
            dtype="float32",
        ),
        prompts=rows,
        accuracy=sum(bool(r.correct) for r in rows) / len(rows),
        warnings=warnings,
    )


def _task_info(run: Run) -> dict:
    """Name, source and size of the task; text mode and chat template when used."""
    task, inputs = run.task, run.config.inputs
    info = {"name": task.name, "source": task.source, "items": len(task.items)}
    if inputs.text:
        info.update(mode="text", text_window=inputs.text_window)
    if inputs.chat_template:
        first = run.lm.tokenizer.decode(list(run.encoded[0].input_ids))
        info.update(chat_template=True, example_input=first)
    return info


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


def _environment(lm: LoadedModel, config: RunConfig, world_size: int = 1) -> dict:
    import transformers

    device_map = getattr(lm.model, "hf_device_map", None)
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": str(input_device(lm.model)),
        "devices": sorted({str(d) for d in device_map.values()}) if device_map else None,
        "dtype": config.dtype,
        "world_size": world_size,
    }

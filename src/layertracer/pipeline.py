"""The one pipeline: ``trace(model, task, config, tokenizer, progress) -> Results``.

Steps: load the task, load the model, discover its anatomy, the clean lens pass (target
probability per layer, fidelity check, activation statistics, Block Influence and angular
distance), then the selected
analysis stages of :mod:`layertracer.stages` in order (particles, vulnerability, ...).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from layertracer.config import RunConfig, as_config
from layertracer.describe import base_results
from layertracer.engine.batch_size import auto_batch_size, per_prompt_bytes
from layertracer.engine.checkpoint import Checkpoints
from layertracer.engine.distributed import World, rank_device, world_from_env
from layertracer.errors import ConfigError
from layertracer.methods.suite_summary import suite_summaries
from layertracer.model.anatomy import Anatomy, discover
from layertracer.model.borrowed import as_given, borrowed, model_spec
from layertracer.model.limits import context_length
from layertracer.model.load import LoadedModel, load_model
from layertracer.model.sites import require_site
from layertracer.preflight import check_memory, check_vocabulary, fit_context
from layertracer.results import Results
from layertracer.results.timing import with_work
from layertracer.run import Progress, Run, SilentProgress, timed
from layertracer.stages import STAGES
from layertracer.stages.clean import clean_pass
from layertracer.stages.lens import similarity as similarity_stage
from layertracer.stages.tuned_lens import prepare_lens
from layertracer.tasks import Task
from layertracer.tasks.encode import Encoded
from layertracer.tasks.inline import describe
from layertracer.tasks.inputs import encode_input, load_input


def trace(
    model: str | LoadedModel | torch.nn.Module,
    task: object,
    config: RunConfig | dict[str, Any] | None = None,
    tokenizer: object | None = None,
    progress: Progress | None = None,
    checkpoints: Checkpoints | None = None,
) -> Results:
    """Analyses where in the model the task is decided.

    Args:
        model: A model spec (see :func:`layertracer.model.load.load_model`), a
            :class:`LoadedModel`, or a ``transformers`` model already loaded (a
            ``PreTrainedModel``; pass its ``tokenizer``). A loaded model is handed back
            as it was (training mode, gradient flags, padding side:
            :mod:`layertracer.model.borrowed`).
        task: A built-in suite name, a ``.jsonl``/``.csv`` path, a dataset folder, a comma
            list of these, a :class:`Task`, a list of ``{"prompt", "target"}`` dicts
            (optional ``id``, ``subject``) or ``(prompt, target)`` pairs, or a pandas
            DataFrame with those columns; None in text mode (``config.inputs.text``).
        config: Options: a :class:`RunConfig`, or a dict of flat options (as
            ``RunConfig.from_options``: ``{"max_prompts": 2, "methods": "lens"}``) or of
            nested ones (``RunConfig.from_dict``); defaults to :class:`RunConfig` defaults.
            Its ``model`` and ``task`` are replaced by what was actually given
            (``<loaded LlamaForCausalLM>``, ``<list of 12 items>``), so results.json
            records the run honestly.
        tokenizer: The tokenizer of a loaded ``transformers`` model; None otherwise.
        progress: Progress reporter (silent by default; ``ConsoleProgress()`` shows bars).
        checkpoints: Where stages checkpoint finished batches, and whence a resumed run
            loads them (``layertracer run --resume``); ``None``: no checkpoints.

    Returns:
        The run's results (not yet written; call ``Results.save``).

    Raises:
        LayerTracerError: Bad task or model, or a lens that fails the fidelity check.
    """
    spec = model_spec(model, tokenizer)
    config = replace(as_config(config), model=spec, task=describe(task))
    if not isinstance(model, torch.nn.Module):  # model_spec: then there is no tokenizer
        return _trace(model, task, config, progress, checkpoints)
    with borrowed(model, tokenizer, spec) as lent:
        return _trace(lent, task, config, progress, checkpoints)


def _trace(
    model: str | LoadedModel,
    task: object,
    config: RunConfig,
    progress: Progress | None,
    checkpoints: Checkpoints | None,
) -> Results:
    """The run itself (see :func:`trace`)."""
    timing: dict[str, float] = {}
    if isinstance(model, LoadedModel):  # lent as it is: record its own dtype
        config = as_given(config, model)
    world = world_from_env(config.device)  # torchrun: this rank's share of the prompts
    task, lm, anatomy, encoded = _prepare(model, task, config, timing, world)
    progress = progress if progress is not None and world.is_main else SilentProgress()
    run = Run(lm, anatomy, config, task, encoded, progress, timing, world=world)
    run.checkpoints = checkpoints
    if checkpoints is not None:  # a checkpoint is reused only for these options and prompts
        items = zip(encoded, [item.subject for item in task.items], strict=False)
        checkpoints.bind(
            config.to_dict(), [(e.input_ids, e.target_id, e.answer_ids, s) for e, s in items]
        )
    run.batch_size = _batch_size(run)
    check_memory(run)
    if "vulnerability" in config.methods:  # a missing site fails before any pass
        with timed(timing, "anatomy"), torch.inference_mode():
            run.sites = require_site(lm, anatomy, config.vulnerability.site)
    prepare_lens(run)
    clean_pass(run)
    run.results = base_results(run)
    similarity_stage(run)
    for name, stage in STAGES.items():
        if name in config.methods:
            stage(run)
    with_particles = "particles" in config.methods
    rows = [row.model_dump() for row in run.results.prompts]
    vcfg = config.vulnerability
    run.results.suites = suite_summaries(
        rows, with_particles, vcfg.layer_rule, vcfg.interior_margin
    )
    run.results.timing = with_work(timing, run.flops)
    run.results.environment["batching"] = _batching(run)
    if checkpoints is not None and checkpoints.resumed:
        run.results.environment["resumed_batches"] = dict(checkpoints.resumed)
    return run.results


def _prepare(
    model: str | LoadedModel,
    task: object,
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
    limit = context_length(model.model, anatomy.layer_types)
    inputs = config.inputs
    encoded = fit_context(task, encoded, limit, inputs.truncate, inputs.full_target)
    check_vocabulary(model, encoded)
    return task, model, anatomy, encoded


def _batch_size(run: Run) -> int:
    """``--batch-size``, or for ``auto`` an estimate from free GPU memory
    (:mod:`~layertracer.engine.batch_size`)."""
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


def _batching(run: Run) -> dict[str, Any]:
    """Batch size in effect per stage (smallest over processes) and out-of-memory retries."""
    stages: dict[str, dict[str, int]] = {}
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

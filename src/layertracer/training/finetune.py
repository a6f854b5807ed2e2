"""One fine-tuning experiment from its options to its typed result (docs/training.md)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from torch import nn

from layertracer.config.training import FinetuneConfig
from layertracer.errors import ConfigError
from layertracer.model.anatomy import discover
from layertracer.model.load import LoadedModel, load_model
from layertracer.results.training import (
    Arm,
    ArmsSection,
    DataInfo,
    FinetuneResults,
    SensitivitySection,
)
from layertracer.run import Progress, SilentProgress
from layertracer.tasks import load_task
from layertracer.training.arms import ArmSpec, default_k, plan, read_curves, select
from layertracer.training.data import batch_order, split_task
from layertracer.training.experiments import Checkpoint, Setup, run_arm, run_arms
from layertracer.training.loop import EVAL_BATCH, Snapshot
from layertracer.training.measures import cka_before_after, last_states
from layertracer.training.memory import check_memory
from layertracer.training.sections import effects, sensitivity_section

MIN_ASR = 0.5  # below it, the undefended arm did not learn the backdoor (a warning)


@dataclass
class Resume:
    """Finished arms: ``done(name)`` gives one back (``--resume``), ``keep(arm)`` saves one."""

    done: Checkpoint = field(default=lambda name: None)
    keep: Callable[[Arm], None] = field(default=lambda arm: None)


def finetune(
    config: FinetuneConfig,
    lm: LoadedModel | None = None,
    progress: Progress | None = None,
    resume: Resume | None = None,
) -> FinetuneResults:
    """Runs the experiment of ``config``.

    Args:
        config: The options.
        lm: The model already loaded (float32, gradients off), else ``config.model``.
        progress: Where arms report their steps.
        resume: The arms finished before, and where a finished arm goes.

    Raises:
        LayerTracerError: A bad option, task, criteria run, or too little memory.
    """
    started = time.perf_counter()
    if config.criteria and config.criteria_from is None:
        raise ConfigError("--criteria needs --criteria-from RUN_DIR (a run with agreement)")
    lm = lm or load_model(config.model, config.device, "float32")
    setup = _setup(config, lm)
    curves = _curves(config, setup.num_layers)
    results = FinetuneResults(
        experiment=config.experiment,  # type: ignore[arg-type]  # one of EXPERIMENTS
        config=config.to_dict(),
        model=_model_info(lm, setup.blocks),
        data=_data_info(setup),
        criteria_from=config.criteria_from,
        criteria={name: [v if np.isfinite(v) else None for v in c] for name, c in curves.items()},
    )
    progress = progress or SilentProgress()
    if config.experiment == "sensitivity":
        results.sensitivity = _sensitivity(setup, curves, progress)
    else:
        section = _arms(setup, curves, progress, resume or Resume())
        setattr(results, config.experiment, section)
        results.warnings = _warnings(config, section, bool(curves))
    results.timing = {"total": round(time.perf_counter() - started, 3)}
    return results


def _setup(config: FinetuneConfig, lm: LoadedModel) -> Setup:
    """The blocks, the data, the batch order and the snapshot; the memory preflight."""
    blocks = list(discover(lm.model, lm.tokenizer).blocks)
    poison = None
    if config.experiment == "backdoor":
        poison = (config.poison_rate, config.trigger, config.attack_target)
    task = load_task(config.task)
    split = split_task(lm.tokenizer, task, config.heldout, config.seed, config.max_train, poison)
    every = (*split.train, *split.heldout, *split.triggered)
    tokens = max(len(e.prompt_ids) + len(e.answer_ids) for e in every)
    device = next(lm.model.parameters()).device
    check_memory(lm.model, blocks, max(config.batch_size, EVAL_BATCH), tokens, device)
    batches = batch_order(len(split.train), config.steps, config.batch_size, config.seed)
    return Setup(lm, blocks, Snapshot(blocks), split, batches, config)


def _curves(config: FinetuneConfig, num_layers: int) -> dict[str, list[float]]:
    """The selected criteria's curves (none without ``--criteria-from``)."""
    if config.criteria_from is None:
        return {}
    return select(read_curves(config.criteria_from, num_layers), config.criteria)


def _sensitivity(
    setup: Setup, curves: dict[str, list[float]], progress: Progress
) -> SensitivitySection:
    """Every block trained; the states before and after on the held-out prompts."""
    model, heldout = setup.lm.model, setup.split.heldout
    before = last_states(model, heldout)
    after: list[np.ndarray] = []

    def look(trained: nn.Module) -> None:
        after.extend(last_states(trained, heldout))

    spec = ArmSpec("all", "all", tuple(range(setup.num_layers)))
    with progress.stage("sensitivity: 1 arm", len(setup.batches)) as advance:
        arm = run_arm(setup, spec, advance, look)
    c = setup.config
    return sensitivity_section(arm, cka_before_after(before, after), curves, c.bootstrap, c.seed)


def _arms(
    setup: Setup, curves: dict[str, list[float]], progress: Progress, resume: Resume
) -> ArmsSection:
    """Every arm of ``adapt`` or ``backdoor`` with the effects against the random band."""
    c = setup.config
    k = c.k or default_k(setup.num_layers)
    specs = plan(curves, setup.num_layers, k, c.random, c.seed)
    arms = run_arms(setup, specs, progress, resume.done, resume.keep)
    return ArmsSection(k=k, arms=arms, effects=effects(arms, c.experiment))


def _warnings(config: FinetuneConfig, section: ArmsSection, criteria: bool) -> list[str]:
    """What makes the comparison weak: no criteria, an undefended arm without the backdoor."""
    found = []
    if not criteria:
        found.append("no --criteria-from: only the none, all and random arms ran")
    if config.experiment == "backdoor":
        undefended = next(a for a in section.arms if a.which == "none")
        if undefended.asr is not None and undefended.asr < MIN_ASR:
            found.append(
                f"the undefended arm's attack success rate is {undefended.asr:.2f} < "
                f"{MIN_ASR}: the backdoor was not learnt (raise --steps, --lr or --poison-rate)"
            )
    return found


def _model_info(lm: LoadedModel, blocks: list[nn.Module]) -> dict[str, object]:
    """The model's spec, type, blocks and parameter counts."""
    return {
        "spec": lm.spec,
        "model_type": lm.model_type,
        "num_layers": len(blocks),
        "parameters": sum(p.numel() for p in lm.model.parameters()),
        "block_parameters": sum(p.numel() for b in blocks for p in b.parameters()),
    }


def _data_info(setup: Setup) -> DataInfo:
    """The data's sizes, the held-out ids and targets, the trigger and the attack."""
    split, c = setup.split, setup.config
    backdoor = c.experiment == "backdoor"
    return DataInfo(
        task=c.task,
        train=len(split.train),
        poisoned=split.poisoned,
        heldout_ids=[e.item_id for e in split.heldout],
        heldout_target_ids=[e.target_id for e in split.heldout],
        triggered_ids=[e.item_id for e in split.triggered],
        trigger=c.trigger if backdoor else None,
        attack_target=c.attack_target if backdoor else None,
        attack_token_id=split.triggered[0].target_id if split.triggered else None,
    )

"""The three experiments of ``layertracer finetune`` (docs/training.md): ``sensitivity``
(train every block: which blocks moved, and which criteria predict it), ``adapt`` (train
chosen blocks only: held-out loss) and ``backdoor`` (freeze chosen blocks while training
on a poisoned set: attack success rate and clean accuracy).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from layertracer.config.training import FinetuneConfig
from layertracer.model.load import LoadedModel
from layertracer.results.training import Arm, Predictions
from layertracer.run import Progress
from layertracer.training.arms import ArmSpec
from layertracer.training.data import Split
from layertracer.training.loop import Schedule, Snapshot, evaluate, train
from layertracer.training.measures import share_equal

Checkpoint = Callable[[str], Arm | None]  # a finished arm by name (``--resume``), or None


@dataclass
class Setup:
    """What every arm of an experiment shares.

    Attributes:
        lm: The model (parameters without gradients) and tokenizer.
        blocks: Its ``L`` blocks.
        snapshot: The blocks' initial parameters; every arm starts from them.
        split: The training and held-out examples.
        batches: Each step's training example indices (the same for every arm).
        config: The experiment's options.
    """

    lm: LoadedModel
    blocks: list[nn.Module]
    snapshot: Snapshot
    split: Split
    batches: list[list[int]]
    config: FinetuneConfig

    @property
    def schedule(self) -> Schedule:
        """The optimiser settings of every arm."""
        c = self.config
        return Schedule(c.lr, c.weight_decay, c.eval_every, c.seed)

    @property
    def num_layers(self) -> int:
        """``L``."""
        return len(self.blocks)


def _skip(model: nn.Module) -> None:
    """Looks at nothing."""


def trained_blocks(spec: ArmSpec, experiment: str, num_layers: int) -> list[int]:
    """The blocks an arm trains: the chosen ones (``adapt``, ``sensitivity``), or all but
    the chosen ones (``backdoor`` freezes them)."""
    if experiment == "backdoor":
        return [b for b in range(num_layers) if b not in spec.blocks]
    return list(spec.blocks)


def run_arm(
    setup: Setup,
    spec: ArmSpec,
    advance: Callable[[], None],
    inspect: Callable[[nn.Module], None] = _skip,
) -> Arm:
    """Trains one arm from the initial weights and measures it (``inspect`` sees the
    trained model); the model is restored to its initial weights afterwards."""
    started, cpu = time.perf_counter(), time.process_time()
    trained = trained_blocks(spec, setup.config.experiment, setup.num_layers)
    split, model = setup.split, setup.lm.model
    setup.snapshot.restore()
    try:
        data = (split.train, setup.batches, split.heldout)
        curve = train(model, setup.blocks, trained, data, setup.schedule, advance)
        change = setup.snapshot.weight_change()
        predictions = _predictions(model, split)
        inspect(model)
    finally:
        setup.snapshot.restore()
    seconds = (time.perf_counter() - started, time.process_time() - cpu)
    return _arm(spec, trained, setup, curve, change, predictions, seconds)


def _predictions(model: nn.Module, split: Split) -> Predictions:
    """The trained model's held-out losses and greedy first tokens."""
    clean = evaluate(model, split.heldout)
    triggered = evaluate(model, split.triggered).predicted if split.triggered else []
    return Predictions(clean_loss=clean.loss, clean_top1=clean.predicted, triggered_top1=triggered)


def _arm(
    spec: ArmSpec,
    trained: list[int],
    setup: Setup,
    curve: list[list[float]],
    change: list[float],
    predictions: Predictions,
    seconds: tuple[float, float],
) -> Arm:
    """The arm's section from what it measured."""
    split = setup.split
    final = sum(predictions.clean_loss) / len(predictions.clean_loss)
    asr = None
    if split.triggered:
        attack = [e.target_id for e in split.triggered]
        asr = share_equal(predictions.triggered_top1, attack)
    return Arm(
        name=spec.name,
        criterion=spec.criterion,
        which=spec.which,  # type: ignore[arg-type]  # one of WHICH
        trained=trained,
        frozen=[b for b in range(setup.num_layers) if b not in trained],
        loss_curve=curve,
        heldout_loss_start=curve[0][1],
        heldout_loss_final=final,
        loss_reduction=curve[0][1] - final,
        clean_accuracy=share_equal(predictions.clean_top1, [e.target_id for e in split.heldout]),
        asr=asr,
        weight_change=change,
        seconds=round(seconds[0], 3),
        cpu_seconds=round(seconds[1], 3),
        predictions=predictions,
    )


def run_arms(
    setup: Setup,
    specs: list[ArmSpec],
    progress: Progress,
    done: Checkpoint,
    keep: Callable[[Arm], None],
) -> list[Arm]:
    """Every arm in order, with one progress bar over the steps of the arms to train; an
    arm finished before (``done``) is reused, a new one is passed to ``keep``."""
    found = {spec.name: done(spec.name) for spec in specs}
    pending = [spec for spec in specs if found[spec.name] is None]
    experiment, num_layers = setup.config.experiment, setup.num_layers
    training = [s for s in pending if trained_blocks(s, experiment, num_layers)]
    name = f"{experiment}: {len(pending)} arms"
    with progress.stage(name, len(training) * len(setup.batches)) as advance:
        for spec in pending:
            arm = run_arm(setup, spec, advance)
            keep(arm)
            found[spec.name] = arm
    return [arm for arm in found.values() if arm is not None]

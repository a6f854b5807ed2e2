"""The options of ``layertracer finetune`` (docs/training.md): one frozen dataclass, the one
source of their defaults, saved into the experiment's results.json.

The defaults are sized for SmolLM2-135M on the CPU (an arm of 10 steps takes about 20 s of
CPU time) and make its undefended backdoor arm learn the backdoor, and its all-blocks arm
lower the held-out loss (docs/training.md#defaults).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from layertracer.config.checks import DEVICES, MAX_REPEATS, check, choice, seed_ok

EXPERIMENTS = ("sensitivity", "adapt", "backdoor")


@dataclass(frozen=True)
class FinetuneConfig:
    """One fine-tuning experiment.

    Attributes:
        experiment: ``sensitivity`` (train every block; which blocks moved),
            ``adapt`` (train chosen blocks; held-out loss), ``backdoor`` (freeze chosen
            blocks while training on a poisoned set; attack success rate).
        model: The model spec, as for ``run``.
        task: The task suite or file whose prompts and targets are the training data.
        criteria_from: A ``run`` folder whose results.json holds the criteria's curves.
        criteria: The criteria whose arms run (empty: every one in ``criteria_from``).
        random: The number of random draws of ``k`` blocks.
        k: Blocks per arm (``None``: ``max(1, L // 4)``).
        steps: Optimiser steps per arm.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        batch_size: Training examples per step.
        heldout: Prompts held out for evaluation (the rest train).
        max_train: At most this many training prompts (``None``: all the rest).
        eval_every: Steps between two held-out losses of a curve (step 0 and the last too).
        poison_rate: ``p``, the fraction of training prompts poisoned (``backdoor``).
        trigger: The trigger string put before a poisoned prompt.
        attack_target: The target of every poisoned prompt.
        bootstrap: Resamples of the blocks for the Spearman intervals (``sensitivity``).
        seed: Seeds the split, the poisoned prompts, the batch order and the random draws.
        device: ``auto``, ``cpu`` or ``cuda``.
    """

    experiment: str = "adapt"
    model: str = "smollm2-135m"
    task: str = "capitals"
    criteria_from: str | None = None
    criteria: tuple[str, ...] = ()
    random: int = 5
    k: int | None = None
    steps: int = 10
    lr: float = 1e-4
    weight_decay: float = 0.0
    batch_size: int = 8
    heldout: int = 24
    max_train: int | None = None
    eval_every: int = 5
    poison_rate: float = 0.3
    trigger: str = "cf"
    attack_target: str = " banana"
    bootstrap: int = 1000
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        choice("--experiment", self.experiment, EXPERIMENTS)
        choice("--device", self.device, DEVICES)
        check(0 <= self.random <= MAX_REPEATS, f"--random must be in [0, {MAX_REPEATS}]")
        check(self.k is None or self.k >= 1, f"--k must be at least 1, got {self.k}")
        check(self.steps >= 1, f"--steps must be at least 1, got {self.steps}")
        check(self.lr > 0, f"--lr must be positive, got {self.lr}")
        check(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        check(self.batch_size >= 1, f"--batch-size must be at least 1, got {self.batch_size}")
        check(self.heldout >= 4, f"--heldout must be at least 4, got {self.heldout}")
        check(self.max_train is None or self.max_train >= 1, "--max-train must be at least 1")
        check(self.eval_every >= 1, f"eval_every must be at least 1, got {self.eval_every}")
        check(0 < self.poison_rate <= 1, f"--poison-rate must be in (0, 1], got {self.poison_rate}")
        check(bool(self.trigger.strip()), "--trigger must not be blank")
        check(bool(self.attack_target.strip()), "--attack-target must not be blank")
        check(self.bootstrap >= 0, f"bootstrap must be >= 0, got {self.bootstrap}")
        seed_ok("--seed", self.seed)

    def to_dict(self) -> dict[str, Any]:
        """Every option as plain JSON values (saved into results.json)."""
        values = dataclasses.asdict(self)
        values["criteria"] = list(self.criteria)
        return values

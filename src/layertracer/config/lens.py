"""Which lens reads the layer states, and how the tuned lens is trained
(docs/method.md#tuned-lens, docs/lens.md)."""

from __future__ import annotations

from dataclasses import dataclass

from layertracer.config.checks import check, choice

LENS_KINDS = ("logit", "tuned")
LENS_OPTIMIZERS = ("adamw", "sgd")


@dataclass(frozen=True)
class LensConfig:
    """The lens of trajectories, top-k tables and particles, and the tuned lens's training.

    The training fields (all but ``kind``) are part of the tuned lens's cache key: a lens
    trained under other settings is another lens.

    Attributes:
        kind: ``logit`` (the paper's logit lens, docs/method.md#logit-lens) or ``tuned``
            (one trained affine translator per layer state, docs/method.md#tuned-lens).
        tokens: Training budget: token positions of the training text, each seen once
            (``steps = tokens // batch``); training time grows linearly with it.
        batch: Token positions per optimiser step.
        heldout: Token positions of the held-out text on which ``kl_bits`` is measured.
        window: Tokens per window of the corpus (each window is read from its start).
        optimizer: ``adamw`` or ``sgd`` (Nesterov momentum, as the tuned-lens package).
        lr: Peak learning rate (linear warm-up over ``warmup`` of the steps, then linear
            decay to 0).
        momentum: SGD momentum (``sgd`` only).
        weight_decay: Decoupled weight decay of the translators.
        warmup: Fraction of the steps spent warming up the learning rate.
        seed: Seed of the order in which training positions are visited.
    """

    kind: str = "logit"
    tokens: int = 4096
    batch: int = 32
    heldout: int = 512
    window: int = 128
    optimizer: str = "adamw"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    warmup: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        choice("--lens", self.kind, LENS_KINDS)
        choice("lens optimizer", self.optimizer, LENS_OPTIMIZERS)
        check(self.batch >= 1, f"lens batch must be >= 1, got {self.batch}")
        check(
            self.tokens >= self.batch,
            f"--lens-tokens must be >= the lens batch ({self.batch}), got {self.tokens}",
        )
        check(self.heldout >= 1, f"lens held-out tokens must be >= 1, got {self.heldout}")
        check(self.window >= 2, f"lens window must be >= 2, got {self.window}")
        check(self.lr > 0, f"lens lr must be positive, got {self.lr}")
        check(0 <= self.momentum < 1, f"lens momentum must be in [0, 1), got {self.momentum}")
        check(self.weight_decay >= 0, f"lens weight decay must be >= 0, got {self.weight_decay}")
        check(0 <= self.warmup < 1, f"lens warmup must be in [0, 1), got {self.warmup}")

    @property
    def steps(self) -> int:
        """Optimiser steps: ``tokens // batch``."""
        return self.tokens // self.batch

    def training(self) -> dict[str, object]:
        """The settings that define a trained lens (its cache key), without ``kind``."""
        return {k: v for k, v in self.__dict__.items() if k != "kind"}

"""Which blocks each arm of an experiment trains or freezes (docs/training.md#arms).

A criterion's curve ``[L+1]`` comes from a ``run``'s results.json
(:func:`layertracer.results.criteria.curves_of`: its agreement curves, else its removal
scores) and is read at the blocks as removal reads it: block ``b`` (0-based) is rated by
state ``b + 1``, its output. Its ``k`` most critical blocks are the ``k`` highest finite
values (ties to the lower block), its ``k`` least critical the ``k`` lowest
(:func:`layertracer.methods.removal.orders.least_critical_first`); a random draw ``r`` is
the first ``k`` blocks of ``default_rng([seed, r]).permutation(L)``
(:func:`layertracer.methods.removal.orders.random_orders`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from layertracer.errors import ConfigError
from layertracer.methods.removal.orders import least_critical_first, random_orders
from layertracer.results import load
from layertracer.results.criteria import curves_of, lookup

WHICH = ("most", "least", "random", "all", "none")


@dataclass(frozen=True)
class ArmSpec:
    """One arm: the blocks it chooses.

    Attributes:
        criterion: The criterion that chose the blocks (``random``, ``all``, ``none``).
        which: ``most``, ``least``, ``random``, ``all`` or ``none``.
        blocks: The chosen blocks, 0-based and sorted (trained by ``adapt``, frozen by
            ``backdoor``).
        draw: The random draw's number (``-1`` otherwise).
    """

    criterion: str
    which: str
    blocks: tuple[int, ...]
    draw: int = -1

    @property
    def name(self) -> str:
        """``criterion/which`` (``random/3`` for a draw): the arm's key."""
        return f"random/{self.draw}" if self.which == "random" else f"{self.criterion}/{self.which}"


def read_curves(run_dir: str | Path, num_layers: int) -> dict[str, list[float]]:
    """The curve ``[L+1]`` of every block-ranking criterion of the run in ``run_dir``
    (null → NaN).

    Raises:
        ResultsError: No readable results.json there.
        ConfigError: The run's model has another number of blocks, or no criteria.
    """
    results = load(run_dir)
    if results.model.num_layers != num_layers:
        raise ConfigError(
            f"--criteria-from {run_dir}: its model has {results.model.num_layers} blocks, "
            f"this one {num_layers}; give a run of the same model"
        )
    curves = {}
    for name, curve in curves_of(results.to_dict(arrays=False)).items():
        criterion = lookup(name)
        if criterion is None or criterion.ranks_blocks:
            curves[name] = [math.nan if v is None else float(v) for v in curve]
    if not curves:
        raise ConfigError(f"--criteria-from {run_dir}: the run has no criteria (run agreement)")
    return curves


def select(curves: dict[str, list[float]], names: Sequence[str]) -> dict[str, list[float]]:
    """The curves of the criteria ``names`` (all when empty), in the run's order.

    Raises:
        ConfigError: A name the run has no curve of.
    """
    missing = [n for n in names if n not in curves]
    if missing:
        raise ConfigError(
            f"--criteria: the run has no criterion {', '.join(map(repr, missing))}; "
            f"it has {', '.join(curves)}"
        )
    return {n: c for n, c in curves.items() if not names or n in names}


def ranked(curve: Sequence[float], num_layers: int) -> tuple[list[int], list[int]]:
    """The blocks with a finite value, least critical first, and most critical first."""
    score = np.asarray([math.nan, *curve[1:]], dtype=float)  # index = state = block + 1
    states = [s for s in range(1, num_layers + 1) if math.isfinite(score[s])]
    least = [s - 1 for s in least_critical_first(score, states)]
    most = [s - 1 for s in sorted(states, key=lambda s: (-score[s], s))]
    return least, most


def criterion_arms(curves: dict[str, list[float]], num_layers: int, k: int) -> list[ArmSpec]:
    """Each criterion's ``most`` and ``least`` arm of ``k`` blocks (a criterion with fewer
    than ``k`` finite blocks is left out)."""
    arms = []
    for name, curve in curves.items():
        least, most = ranked(curve, num_layers)
        if len(least) >= k:
            arms.append(ArmSpec(name, "most", tuple(sorted(most[:k]))))
            arms.append(ArmSpec(name, "least", tuple(sorted(least[:k]))))
    return arms


def random_arms(num_layers: int, k: int, count: int, seed: int) -> list[ArmSpec]:
    """``count`` random draws of ``k`` blocks."""
    orders = random_orders(range(num_layers), count, seed)
    return [ArmSpec("random", "random", tuple(sorted(o[:k])), r) for r, o in enumerate(orders)]


def plan(
    curves: dict[str, list[float]], num_layers: int, k: int, count: int, seed: int
) -> list[ArmSpec]:
    """Every arm of an experiment: ``none`` (no block chosen), ``all``, the criteria's
    arms, then the random draws.

    Raises:
        ConfigError: ``k`` not below the number of blocks.
    """
    if k >= num_layers:
        raise ConfigError(f"--k {k} must be below the model's {num_layers} blocks")
    base = [ArmSpec("none", "none", ()), ArmSpec("all", "all", tuple(range(num_layers)))]
    return base + criterion_arms(curves, num_layers, k) + random_arms(num_layers, k, count, seed)


def default_k(num_layers: int) -> int:
    """``k`` when not given: ``max(1, L // 4)`` (as removal's ``K``)."""
    return max(1, num_layers // 4)

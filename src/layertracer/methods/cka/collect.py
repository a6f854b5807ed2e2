"""Collecting a run's layer representations for CKA, in bounded memory (docs/method.md#cka).

Representation per prompt: the state at its ``last`` real token, or the ``mean`` over its
real tokens (padding never enters). Two exact forms, chosen by shape (:func:`choose_form`):

- ``gram``: keep each prompt's ``[L+1, d]`` rows (gathered across processes), then the
  per-layer Gram matrices ``[n, n]``: ``(L+1)·n·(d+n)`` floats. The agreement bootstrap
  resamples prompts from them (:func:`layertracer.methods.cka.core.neighbour_delta`).
- ``features``: streamed sums over the prompts, per pair of layers ``Σ x yᵀ [d, d]`` and
  the few vectors and scalars the debiased estimator needs: ``(L+1)(L+2)/2·d²`` floats
  whatever ``n`` (added across processes). Chosen when smaller; no bootstrap of CKA then.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from layertracer.engine.batching import Batch
from layertracer.methods.cka.core import cka_from_grams, grams_from_rows, ratio
from layertracer.model.anatomy import Anatomy
from layertracer.model.capture import capture_blocks, forward
from layertracer.model.lens import gather_rows


def representation(
    states: list[torch.Tensor], mask: torch.Tensor, last: torch.Tensor, kind: str
) -> np.ndarray:
    """Per prompt and layer, the representation CKA compares. ``-> [B, L+1, d]`` float64

    Args:
        states: The ``L+1`` layer states. ``[B, T, d]`` each
        mask: 1 on real tokens. ``[B, T]``
        last: Each row's last real token. ``[B]``
        kind: ``last`` (the last real token) or ``mean`` (mean over real tokens).
    """
    if kind == "last":
        rows = [gather_rows(s, last) for s in states]  # [B, d] each
    else:
        weights = mask.to(states[0].device, torch.float64)[:, :, None]  # [B, T, 1]
        rows = [(s.double() * weights).sum(1) / weights.sum(1) for s in states]
    return torch.stack(rows, dim=1).double().cpu().numpy()


def choose_form(count: int, hidden: int, num_states: int) -> str:
    """``gram`` unless the per-pair feature sums take less memory than rows + Grams."""
    gram = num_states * count * (hidden + count)
    features = num_states * (num_states + 1) // 2 * hidden * (hidden + 2)
    return "gram" if gram <= features else "features"


@dataclass
class _PairSums:
    """The sums of one pair of layers ``(i ≤ j)`` (see :class:`FeatureSums`)."""

    c: npt.NDArray[np.float64]  # Σ x_i x_jᵀ [d, d]
    v: npt.NDArray[np.float64]  # Σ ‖x_j‖² x_i [d]
    u: npt.NDArray[np.float64]  # Σ ‖x_i‖² x_j [d]
    w: float = 0.0  # Σ ‖x_i‖²‖x_j‖²

    def merge(self, other: _PairSums) -> None:
        """Adds another process's sums."""
        self.c = self.c + other.c
        self.v = self.v + other.v
        self.u = self.u + other.u
        self.w = self.w + other.w


class FeatureSums:
    """Streamed sums over prompts from which both estimators follow (the ``features`` form).

    Per layer ``s = Σ x`` and ``q = Σ ‖x‖²``; per pair ``(i ≤ j)`` ``C = Σ x_i x_jᵀ``,
    ``v = Σ ‖x_j‖² x_i``, ``u = Σ ‖x_i‖² x_j`` and ``w = Σ ‖x_i‖²‖x_j‖²`` (float64).
    """

    def __init__(self, num_states: int, hidden: int) -> None:
        self.n = 0
        self.s = np.zeros((num_states, hidden))
        self.q = np.zeros(num_states)
        pairs = [(i, j) for i in range(num_states) for j in range(i, num_states)]
        self.pairs = {
            p: _PairSums(np.zeros((hidden, hidden)), np.zeros(hidden), np.zeros(hidden))
            for p in pairs
        }

    def add(self, reps: np.ndarray) -> None:
        """Adds prompts' representations. ``[B, L+1, d]``"""
        sq = (reps * reps).sum(-1)  # [B, L+1]
        self.n += reps.shape[0]
        self.s += reps.sum(0)
        self.q += sq.sum(0)
        for (i, j), acc in self.pairs.items():
            x, y = reps[:, i], reps[:, j]
            acc.c += x.T @ y
            acc.v = acc.v + sq[:, j] @ x
            acc.u = acc.u + sq[:, i] @ y
            acc.w += float(sq[:, i] @ sq[:, j])

    def merge(self, other: FeatureSums) -> None:
        """Adds another process's sums over its prompts."""
        self.n += other.n
        self.s += other.s
        self.q += other.q
        for key, acc in self.pairs.items():
            acc.merge(other.pairs[key])

    def hsic(self, i: int, j: int, estimator: str) -> float:
        """HSIC of layers ``i`` and ``j`` (same scale as :func:`.core._hsic`)."""
        n, pair = self.n, self.pairs[(min(i, j), max(i, j))]
        c, v, u, w = pair.c, pair.v, pair.u, pair.w
        sx, sy, qx, qy = self.s[i], self.s[j], float(self.q[i]), float(self.q[j])
        if i > j:
            c, v, u = c.T, u, v
        if estimator == "biased":
            return math.nan if n < 2 else float((np.square(c - np.outer(sx, sy) / n)).sum())
        if n < 4:
            return math.nan
        trace = float(np.square(c).sum()) - w
        kx, ky = float(sx @ sx) - qx, float(sy @ sy) - qy  # 1ᵀK̃1, 1ᵀL̃1
        cross = float(sx @ c @ sy) - float(sx @ v) - float(sy @ u) + w  # 1ᵀK̃L̃1
        return trace + kx * ky / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * cross

    def matrix(self, estimator: str) -> np.ndarray:
        """The CKA matrix. ``[L+1, L+1]``"""
        count = len(self.q)
        hsic = np.full((count, count), math.nan)
        for i in range(count):
            for j in range(i, count):
                hsic[i, j] = hsic[j, i] = self.hsic(i, j, estimator)
        diag = np.diag(hsic)
        return ratio(hsic, diag[:, None], diag[None, :])


class Collector:
    """Streams a run's representations batch by batch into the chosen form.

    Attributes:
        form: ``gram`` or ``features`` (see the module docstring).
        rows: ``gram`` form: each prompt's representations by prompt index. ``[L+1, d]``
        sums: ``features`` form: the streamed sums.
    """

    def __init__(
        self, count: int, hidden: int, num_states: int, representation: str, form: str = "auto"
    ) -> None:
        self.form = choose_form(count, hidden, num_states) if form == "auto" else form
        self.kind = representation
        self.rows: dict[int, np.ndarray] = {}
        self.sums = FeatureSums(num_states, hidden) if self.form == "features" else None

    def add(
        self, states: list[torch.Tensor], mask: torch.Tensor, last: torch.Tensor, index: list[int]
    ) -> None:
        """Adds one batch: its ``L+1`` states ``[B, T, d]``, mask ``[B, T]``, last ``[B]``."""
        reps = representation(states, mask, last, self.kind)  # [B, L+1, d]
        if self.sums is not None:
            self.sums.add(reps)
        else:
            self.rows.update(zip(index, reps, strict=True))


def clean_states(model: torch.nn.Module, anatomy: Anatomy, batch: Batch) -> list[torch.Tensor]:
    """The ``L+1`` layer states of one clean forward of ``batch``. ``[B, T, d]`` each"""
    with capture_blocks(anatomy.blocks, anatomy.slot, keep_inputs=False) as cap:
        forward(model, batch.input_ids, batch.attention_mask, torch.unique(batch.last))
    return cap.states()


def finish(
    collector: Collector,
    estimator: str,
    gather: Callable[[dict[int, Any]], dict[int, Any]] = lambda rows: rows,
    all_gather: Callable[[FeatureSums], list[FeatureSums]] = lambda value: [value],
) -> tuple[np.ndarray, list[np.ndarray] | None, int]:
    """The CKA matrix ``[L+1, L+1]``, the Gram matrices (``gram`` form, else ``None``) and n.

    Args:
        collector: The filled collector.
        estimator: ``biased`` or ``debiased``.
        gather: Joins per-prompt rows of every process (``Run.gather``).
        all_gather: Every process's value (``World.all_gather``); feature sums are added.
    """
    if collector.sums is not None:
        parts = all_gather(collector.sums)
        total = parts[0]
        for part in parts[1:]:
            total.merge(part)
        return total.matrix(estimator), None, total.n
    grams = grams_from_rows(gather(collector.rows))
    return cka_from_grams(grams, estimator), grams, grams[0].shape[0]

"""The criteria of "critical layers", one registered object each (docs/method.md#agreement).

A criterion is a curve over the ``L+1`` layer states, oriented so that **higher = more
critical**, measured from a run's results: per-prompt values ``[N, L+1]`` (NaN where a
layer does not apply) whose mean over prompts is the curve and which the bootstrap
resamples with the prompts, or a run-level curve with a resampler of its own (CKA).

:func:`registered` is the one list of criteria: agreement, the removal orders, the report's
colours and criteria table, the summary, ``to_frame("criteria")`` and ``run --json``
iterate it or the sections built from it; nothing else names a criterion. Adding one is
one :func:`register` call (docs/method.md#adding-a-criterion).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from layertracer.methods.agreement import (
    CKA_BOOTSTRAP_MAX_N,
    Measured,
    chosen_layer,
    cka_criterion,
    lens_slope,
    particle_onehot,
)

if TYPE_CHECKING:  # the document imports the frames, which read the criteria
    from layertracer.results.document import Results

Measure = Callable[["Results", Mapping[str, Any]], Measured | None]
ALWAYS = "lens"  # the method of a criterion of the clean lens pass, which every run has


@dataclass(frozen=True)
class Criterion:
    """One criterion of "critical layers".

    Attributes:
        name: Its key in every section (``agreement.curves``, ``removal.orders``, ...).
        label: What it measures, in a few words (report, frames).
        higher: What a higher value means (higher = more critical), in words.
        colour: Its colour in every figure (``#rrggbb``).
        method: The method whose run measures it (:data:`ALWAYS`: every run).
        measure: ``(results, kept) -> Measured`` (``None``: not measured in this run);
            ``kept`` holds what stages keep for criteria without publishing it (CKA's
            Gram matrices). :func:`from_prompts` builds it from per-prompt values.
        ranks_blocks: Whether layer removal ranks blocks by it (a histogram does not).
        windows: Whether removal reads it by windows of ``removal.span`` blocks.
    """

    name: str
    label: str
    higher: str
    colour: str
    method: str
    measure: Measure
    ranks_blocks: bool = True
    windows: bool = False

    def measured(self, results: Results, kept: Mapping[str, Any]) -> Measured | None:
        """This criterion in the run of ``results``, or ``None`` when its method did not run."""
        if self.method != ALWAYS and self.method not in results.config.get("methods", ()):
            return None
        return self.measure(results, kept)


_REGISTRY: dict[str, Criterion] = {}


def register(criterion: Criterion) -> Criterion:
    """Adds ``criterion`` after those registered (its name must be new); returns it."""
    if criterion.name in _REGISTRY:
        raise ValueError(f"criterion {criterion.name!r} is registered already")
    _REGISTRY[criterion.name] = criterion
    return criterion


def unregister(name: str) -> None:
    """Removes the criterion ``name`` (a test's own, registered for the test)."""
    _REGISTRY.pop(name, None)


def registered() -> Iterator[Criterion]:
    """Every criterion, in the order of registration (the order of every section)."""
    return iter(list(_REGISTRY.values()))


def lookup(name: str) -> Criterion | None:
    """The criterion ``name``; ``None`` for one not registered (a file of another version)."""
    return _REGISTRY.get(name)


def colour(name: str, default: str = "#444444") -> str:
    """The colour of criterion ``name`` (``default`` when not registered)."""
    found = _REGISTRY.get(name)
    return default if found is None else found.colour


def curves_of(data: dict[str, Any]) -> dict[str, list[float | None]]:
    """The run-level curve of every criterion of a results.json object: the agreement
    curves, else the removal scores (``{}`` when neither ran)."""
    for section, key in (("agreement", "curves"), ("removal", "scores")):
        found = (data.get(section) or {}).get(key)
        if isinstance(found, dict) and found:
            return found
    return {}


def chosen_layers(data: dict[str, Any]) -> dict[str, int | None]:
    """The most critical layer of every criterion of a results.json object (the argmax of
    its curve, lowest on ties; ``None`` without a finite value)."""
    return {
        name: chosen_layer(np.array([math.nan if v is None else v for v in curve], dtype=float))
        for name, curve in curves_of(data).items()
    }


def measure_all(results: Results, kept: Mapping[str, Any]) -> dict[str, Measured]:
    """Every registered criterion measured in the run, in registration order."""
    found = ((c.name, c.measured(results, kept)) for c in registered())
    return {name: value for name, value in found if value is not None}


def prompt_array(results: Results, field: str) -> np.ndarray | None:
    """The per-prompt per-layer field ``prompts[*].field`` as floats ``[N, L+1]`` (null →
    NaN); ``None`` when a prompt lacks it."""
    rows = [getattr(row, field, None) for row in results.prompts]
    if not rows or any(row is None for row in rows):
        return None
    table = [[math.nan if v is None else v for v in row or ()] for row in rows]
    return np.array(table, dtype=float)


def from_prompts(values: Callable[[Results], np.ndarray | None]) -> Measure:
    """The measure of a criterion given by per-prompt values ``[N, L+1]``."""

    def measure(results: Results, kept: Mapping[str, Any]) -> Measured | None:
        found = values(results)
        return None if found is None else Measured.of_prompts(found)

    return measure


def field(name: str) -> Measure:
    """The measure of a criterion whose per-prompt values are ``prompts[*].name``."""
    return from_prompts(lambda results: prompt_array(results, name))


def _particles(results: Results) -> np.ndarray:
    layers = [row.particle_layer for row in results.prompts]
    return particle_onehot(layers, results.model.num_layers + 1)


def _lens_slope(results: Results) -> np.ndarray | None:
    probs = prompt_array(results, "target_prob")
    return None if probs is None else lens_slope(probs)


def _cka(results: Results, kept: Mapping[str, Any]) -> Measured | None:
    """``1 − δ_ℓ``, resampled from the Gram matrices the CKA stage kept (``n ≤``
    :data:`CKA_BOOTSTRAP_MAX_N`), else held fixed."""
    if results.cka is None:
        return None
    delta, grams = results.cka.delta, kept.get("cka_grams")
    if grams is not None and len(results.prompts) > CKA_BOOTSTRAP_MAX_N:
        grams = None
    fixed = cka_criterion(delta, None, results.cka.estimator)
    curves = cka_criterion(delta, grams, results.cka.estimator)
    bootstrap = "resampled" if grams is not None else "fixed"
    return Measured(curves, fixed(np.ones((1, 1)))[0], bootstrap)


def _cka_text(results: Results, kept: Mapping[str, Any]) -> Measured | None:
    """``1 − δ_ℓ`` of the generic text's windows (docs/method.md#data-oblivious-critical-
    layers): not the run's prompts, so held fixed under their bootstrap."""
    text = results.spectral.text if results.spectral is not None else None
    if text is None:
        return None
    curves = cka_criterion(text.delta, None, results.cka.estimator if results.cka else "biased")
    return Measured(curves, curves(np.ones((1, 1)))[0], "fixed")


for _criterion in (
    Criterion(
        "particles", "task particles per layer", "more prompts' task particle here",
        "#e377c2", "particles", from_prompts(_particles), ranks_blocks=False,
    ),
    Criterion(
        "js", "JS divergence when the layer is perturbed",
        "perturbing the layer moves the output more", "#d62728", "vulnerability",
        field("js_mean"),
    ),
    Criterion(
        "cka", "1 − δ (CKA with the neighbouring layers)",
        "the layer's representation differs more from its neighbours'", "#1f77b4", "cka", _cka,
    ),
    Criterion(
        "cka_text", "1 − δ of generic text (CKA, no task data)",
        "the layer's representation of plain text differs more from its neighbours'",
        "#aec7e8", "spectral", _cka_text,
    ),
    Criterion(
        "ablation", "log-prob drop when the block is skipped",
        "skipping the block costs more target log-prob", "#2ca02c", "ablation",
        field("ablation_drop"),
    ),
    Criterion(
        "tracing", "causal-tracing indirect effect",
        "restoring the state recovers more target probability", "#9467bd", "tracing",
        field("tracing_effect"),
    ),
    Criterion(
        "lens_slope", "rise of the lens target probability",
        "the block raises the target's lens probability more", "#ff7f0e", ALWAYS,
        from_prompts(_lens_slope),
    ),
    Criterion(
        "bi", "Block Influence (1 − cosine over tokens)",
        "the block turns its input more", "#17becf", ALWAYS, field("bi"),
    ),
    Criterion(
        "angular", "angular distance across removal.span blocks",
        "the window of blocks turns the last token's state more", "#8c564b", ALWAYS,
        field("angular"), windows=True,
    ),
):  # fmt: skip
    register(_criterion)

"""Tests for layertracer.methods.particles: the task-particle rule and its summary."""

from __future__ import annotations

import numpy as np
import pytest

from layertracer.config import SENSITIVITY_DELTAS, ParticleConfig
from layertracer.methods.particles import find_particle, particles_for, summarize

DELTA, DELTA_MIN = 0.05, 0.01


def step(at: int, height: float, length: int = 9, base: float = 0.0) -> list[float]:
    """A flat curve at ``base`` that jumps by ``height`` at layer ``at`` and stays there."""
    return [base if i < at else base + height for i in range(length)]


def reference_particle(p, delta=0.05, z=2.0, sigma_min=1e-3, delta_min=0.01):
    """docs/method.md#task-particle written out independently (population std)."""
    for i in range(1, len(p)):
        if p[i] - p[i - 1] >= delta:
            return i
        if i >= 3:
            prev = p[:i]
            mean = sum(prev) / i
            std = (sum((x - mean) ** 2 for x in prev) / i) ** 0.5
            if p[i] > mean + z * max(std, sigma_min) and p[i] - p[i - 1] >= delta_min:
                return i
    return None


# ---------------------------------------------------------------- the rule


@pytest.mark.parametrize("at", [1, 2, 3, 5, 8])
def test_step_of_delta_fires_at_the_step_layer(at: int) -> None:
    assert find_particle(step(at, 0.05)) == at
    assert find_particle(step(at, 0.5)) == at
    assert find_particle(step(at, 0.3, base=0.4)) == at


@pytest.mark.parametrize("at", [1, 2])
def test_step_just_below_delta_does_not_fire_where_z_rule_cannot_apply(at: int) -> None:
    assert find_particle(step(at, 0.049)) is None


def test_step_just_below_delta_does_not_fire_via_delta() -> None:
    # With an unreachable z threshold only the delta rule is left.
    curve = step(5, 0.049)
    assert find_particle(curve, z=1e9) is None
    assert find_particle(curve, delta=0.049, z=1e9) == 5


def test_z_rule_fires_on_outlier_after_flat_prefix() -> None:
    # Flat near-zero prefix, jump 0.03 (>= delta_min, < delta): an outlier at i >= 3.
    assert find_particle(step(3, 0.03)) == 3
    assert find_particle(step(6, 0.03)) == 6


def test_z_rule_fires_on_slow_rising_curve_with_outlier() -> None:
    curve = [0.000, 0.002, 0.004, 0.006, 0.008, 0.040, 0.045, 0.050]
    # Every step before layer 5 is below delta_min; layer 5 jumps 0.032 < delta.
    assert find_particle(curve) == 5
    assert reference_particle(curve) == 5


@pytest.mark.parametrize("at", [1, 2])
def test_z_rule_needs_three_preceding_layers(at: int) -> None:
    curve = step(at, 0.03)
    assert find_particle(curve) is None
    # Same curve with a longer flat prefix fires: the jump itself is big enough.
    assert find_particle(step(at + 2, 0.03)) == at + 2


def test_z_rule_needs_jump_of_delta_min() -> None:
    # 0.008 is a clear outlier over a flat zero prefix but the jump is < delta_min.
    curve = [0.0, 0.0, 0.0, 0.0, 0.008, 0.008, 0.008]
    assert find_particle(curve) is None
    assert find_particle(curve, delta_min=0.005) == 4


def test_z_rule_uses_the_std_of_preceding_layers() -> None:
    # Prefix (0, .02, 0, .02, 0): mean 0.008, population std ~0.0098, so the z threshold
    # is ~0.0276 (with the sample std, ddof 1, it would be ~0.0299).
    prefix = [0.0, 0.02, 0.0, 0.02, 0.0]
    assert find_particle([*prefix, 0.025]) is None  # hidden by the prefix's noise
    assert find_particle([0.0] * 5 + [0.025]) == 5  # the same jump over a quiet prefix
    assert find_particle([*prefix, 0.0285]) == 5  # population std, as documented


def test_flat_noise_near_zero_is_none() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        curve = np.clip(1e-3 + rng.uniform(-0.004, 0.004, size=25), 0, 1)
        assert find_particle(curve) is None


def test_monotone_decreasing_is_none() -> None:
    assert find_particle(np.linspace(0.9, 0.0, 13)) is None
    assert find_particle([0.9, 0.5, 0.2, 0.1, 0.05, 0.0]) is None


def test_particle_is_never_zero() -> None:
    # A high probability already at the embedding layer is not a particle at 0.
    assert find_particle([0.9] * 8) is None
    assert find_particle([0.8, 0.9, 0.95]) == 1
    rng = np.random.default_rng(1)
    for _ in range(300):
        curve = rng.uniform(0, 1, size=rng.integers(1, 12))
        layer = find_particle(curve)
        assert layer is None or 1 <= layer <= len(curve) - 1


def test_single_layer_curve_is_none() -> None:
    assert find_particle([0.7]) is None


def test_matches_reference_on_random_curves() -> None:
    rng = np.random.default_rng(2)
    for _ in range(300):
        n = int(rng.integers(2, 15))
        curve = list(np.cumsum(rng.exponential(rng.choice([0.002, 0.01, 0.03]), size=n)))
        curve = [min(x, 1.0) for x in curve]
        assert find_particle(curve) == reference_particle(curve)


def test_particles_for_uses_config_and_delta_override() -> None:
    curves = [step(4, 0.06), step(2, 0.04), [0.1] * 9]
    cfg = ParticleConfig()
    assert particles_for(curves, cfg) == [4, None, None]
    assert particles_for(curves, cfg, delta=0.03) == [4, 2, None]
    assert particles_for(curves, ParticleConfig(delta=0.07)) == [4, None, None]


# ---------------------------------------------------------------- summarize


def curves_with_particles(layers: list[int | None], length: int = 11) -> list[list[float]]:
    """One curve per requested particle layer (``None``: flat)."""
    return [[0.0] * length if at is None else step(at, 0.5, length) for at in layers]


def test_summarize_histogram_and_known_statistics() -> None:
    layers = [1, 2, 2, 4, 8, None, None, None]
    L = 10
    s = summarize(curves_with_particles(layers, L + 1), ParticleConfig(), num_layers=L)
    assert s["layers"] == layers
    assert len(s["histogram"]) == L + 1
    assert sum(s["histogram"]) == 5
    assert s["histogram"][0] == 0
    assert s["histogram"][2] == 2 and s["histogram"][8] == 1
    # numpy's linear percentiles of [1, 2, 2, 4, 8]: 25% = 2, 50% = 2, 75% = 4.
    assert s["median"] == 2
    assert s["quartiles"] == [2, 4]
    assert s["iqr"] == 2
    assert s["none_fraction"] == pytest.approx(3 / 8)
    assert s["delta"] == 0.05 and s["z"] == 2.0


def test_summarize_interpolated_quartiles() -> None:
    layers = [1, 2, 3, 4]
    s = summarize(curves_with_particles(layers), ParticleConfig(), num_layers=10)
    assert s["median"] == pytest.approx(2.5)
    assert s["quartiles"] == pytest.approx([1.75, 3.25])
    assert s["iqr"] == pytest.approx(1.5)
    assert s["none_fraction"] == 0


def test_summarize_sensitivity_keys() -> None:
    s = summarize(curves_with_particles([3, None]), ParticleConfig(), num_layers=10)
    assert list(s["sensitivity"]) == ["0.03", "0.04", "0.05", "0.06", "0.07", "0.08"]
    assert len(SENSITIVITY_DELTAS) == 6
    for entry in s["sensitivity"].values():
        assert entry.model_fields_set == {"median", "none_fraction"}
    # The table entry of the run's own delta agrees with the headline numbers.
    own = s["sensitivity"]["0.05"]
    assert (own.median, own.none_fraction) == (s["median"], s["none_fraction"])


def test_sensitivity_detects_delta_dependence() -> None:
    curves = [step(2, 0.035), step(3, 0.045), step(2, 0.065), step(1, 0.2)]
    s = summarize(curves, ParticleConfig(), num_layers=8)
    sens = s["sensitivity"]
    assert sens["0.03"]["none_fraction"] == 0
    assert sens["0.04"]["none_fraction"] == pytest.approx(0.25)
    assert sens["0.05"]["none_fraction"] == pytest.approx(0.25)  # the 0.045 step fires via z
    assert sens["0.07"]["none_fraction"] == pytest.approx(0.5)
    assert sens["0.08"]["none_fraction"] == pytest.approx(0.5)
    assert sens["0.08"]["median"] == 2  # layers (None, 3, None, 1)
    assert sens["0.03"]["median"] == 2  # layers (2, 3, 2, 1)


def test_larger_delta_never_gives_fewer_none() -> None:
    rng = np.random.default_rng(3)
    curves = [
        np.clip(np.cumsum(rng.normal(0.01, 0.03, size=13)), 0, 1).tolist() for _ in range(200)
    ]
    s = summarize(curves, ParticleConfig(), num_layers=12)
    fractions = [s["sensitivity"][f"{d:g}"]["none_fraction"] for d in SENSITIVITY_DELTAS]
    assert fractions == sorted(fractions)
    assert fractions[0] < fractions[-1]  # the set is not degenerate


def test_summarize_all_none() -> None:
    s = summarize([[0.0] * 5, [0.3] * 5], ParticleConfig(), num_layers=4)
    assert s["median"] is None and s["iqr"] is None and s["quartiles"] is None
    assert s["none_fraction"] == 1.0
    assert s["histogram"] == [0] * 5
    assert all(v["median"] is None for v in s["sensitivity"].values())


def test_summarize_is_json_ready() -> None:
    import json

    s = summarize(curves_with_particles([1, 3, None]), ParticleConfig(), num_layers=10)
    again = json.loads(json.dumps(s.model_dump(mode="json", exclude_unset=True), allow_nan=False))
    assert again["histogram"] == s["histogram"]
    assert isinstance(s["median"], float)

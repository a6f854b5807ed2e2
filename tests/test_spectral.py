"""The spectral split of CKA shifts (docs/method.md#spectral): its invariants on synthetic
representations, against independent re-computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from layertracer.config import RunConfig
from layertracer.errors import ConfigError
from layertracer.methods.cka.core import linear_cka
from layertracer.methods.spectral import oblivious
from layertracer.methods.spectral.core import (
    capped_k,
    decompose,
    pair_angles,
    pca,
    principal_angles,
    summarize,
)
from layertracer.methods.suite_summary import suite_groups


def _data(seed: int, n: int = 30, d: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Two related representations with decaying spectra."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * np.geomspace(5.0, 0.1, d)
    y = x @ rng.normal(size=(d, d)) * 0.3 + rng.normal(size=(n, d)) * np.geomspace(3.0, 0.2, d)
    return x, y


def _orthogonal(d: int, seed: int) -> np.ndarray:
    """A random orthogonal matrix (QR of a Gaussian one). ``[d, d]``"""
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def _gram_split(x: np.ndarray, y: np.ndarray, k: int) -> dict[str, float]:
    """The three terms from the n × n normalised Grams, written out from the definition."""

    def grams(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = z - z.mean(0)
        u, s, _ = np.linalg.svd(z, full_matrices=False)
        top, rest = u[:, :k] * s[:k], u[:, k:] * s[k:]
        whole = np.linalg.norm(z @ z.T)
        return top @ top.T / whole, rest @ rest.T / whole

    (kk, kr), (lk, lr) = grams(x), grams(y)
    return {
        "shift_top": 0.5 * np.linalg.norm(kk - lk) ** 2,
        "shift_rest": 0.5 * np.linalg.norm(kr - lr) ** 2,
        "shift_cross": -float((kk * lr).sum() + (kr * lk).sum()),
    }


@pytest.mark.parametrize("k", [1, 3, 7])
def test_terms_sum_to_the_shift_and_match_the_gram_definition(k: int) -> None:
    x, y = _data(1)
    part = decompose(pca(x, k), pca(y, k), k)
    assert math.isclose(part["cka"], linear_cka(x, y), rel_tol=1e-10)
    total = part["shift_top"] + part["shift_rest"] + part["shift_cross"]
    assert math.isclose(total, 1.0 - linear_cka(x, y), abs_tol=1e-12)
    for name, value in _gram_split(x, y, k).items():
        assert math.isclose(part[name], value, abs_tol=1e-12), name
    assert part["shift_top"] >= 0 and part["shift_rest"] >= 0 and part["shift_cross"] <= 0
    xs, ys = (z - z.mean(0) for z in (x, y))
    cx, cy = (np.linalg.svd(z, full_matrices=False) for z in (xs, ys))
    top_x, top_y = xs @ cx[2][:k].T, ys @ cy[2][:k].T  # projections on the top-k PCs
    assert math.isclose(part["cka_top"], linear_cka(top_x, top_y), rel_tol=1e-9)
    rest_x, rest_y = xs - top_x @ cx[2][:k], ys - top_y @ cy[2][:k]
    assert math.isclose(part["cka_rest"], linear_cka(rest_x, rest_y), rel_tol=1e-9)


def test_full_rank_reproduces_cka() -> None:
    x, y = _data(2, n=10, d=12)  # rank n − 1 = 9
    k = capped_k(50, 10, 12)
    assert k == 9
    part = decompose(pca(x, k), pca(y, k), k)
    assert math.isclose(part["cka_top"], linear_cka(x, y), rel_tol=1e-10)
    assert math.isclose(part["shift_top"], 1.0 - linear_cka(x, y), abs_tol=1e-12)
    assert part["shift_rest"] == 0.0 and part["shift_cross"] == 0.0
    assert math.isnan(part["cka_rest"]) and math.isclose(part["energy_top"], 1.0)


def test_invariant_to_rotation_and_isotropic_scale() -> None:
    x, y = _data(3)
    q1, q2 = _orthogonal(12, 0), _orthogonal(12, 1)
    k = 3
    ref = decompose(pca(x, k), pca(y, k), k)
    moved = decompose(pca(4.0 * x @ q1, k), pca(0.1 * y @ q2, k), k)
    for name, value in ref.items():
        assert math.isclose(moved[name], value, rel_tol=1e-8, abs_tol=1e-12), name
    # a rotation of both layers together keeps the angles between their subspaces
    angles = pair_angles(pca(x, k), pca(y, k), k)
    together = pair_angles(pca(2.0 * x @ q1, k), pca(2.0 * y @ q1, k), k)
    np.testing.assert_allclose(together, angles, atol=1e-6)
    ratios = pca(x, k).ratio
    np.testing.assert_allclose(pca(7.0 * x @ q1, k).ratio, ratios, rtol=1e-10)


def test_a_rotated_top_direction_gives_its_angle_and_no_shift() -> None:
    rng = np.random.default_rng(4)
    n, d, theta = 40, 6, math.radians(35.0)
    x = rng.normal(size=(n, d)) * np.array([10.0, 1.0, 0.8, 0.6, 0.4, 0.2])
    rotation = np.eye(d)
    rotation[:2, :2] = [[math.cos(theta), math.sin(theta)], [-math.sin(theta), math.cos(theta)]]
    y = x @ rotation  # the top direction e1 turns by θ towards e2
    a, b = pca(x, 1), pca(y, 1)
    assert math.isclose(pair_angles(a, b, 1)[0], 35.0, abs_tol=0.5)
    part = decompose(a, b, 1)
    assert math.isclose(part["shift"], 0.0, abs_tol=1e-12) and abs(part["shift_top"]) < 1e-12


def test_new_top_scores_put_the_shift_in_the_top_part() -> None:
    rng = np.random.default_rng(5)
    n = 50
    rest = rng.normal(size=(n, 4)) * np.array([1.0, 0.8, 0.5, 0.3])
    rest -= rest.mean(0)
    basis = np.linalg.qr(np.column_stack([np.ones(n), rest]))[0]  # [n, 5]

    def scores() -> np.ndarray:  # centred, uncorrelated with the rest, norm 40
        z = rng.normal(size=n)
        z -= basis @ (basis.T @ z)
        return z / np.linalg.norm(z) * 40.0

    first, second = scores(), scores()
    x = np.column_stack([first, rest])  # top component: first, along e1
    y = np.column_stack([second, rest])  # same direction and variance, new scores
    part = decompose(pca(x, 1), pca(y, 1), 1)
    assert part["shift"] > 0.3
    assert abs(part["shift_rest"]) < 1e-12  # the rest is the same on both sides
    assert part["shift_top"] > 0.9 * part["shift"]
    assert pair_angles(pca(x, 1), pca(y, 1), 1)[0] < 1e-6  # same top direction


def test_pca_equals_numpy_and_caps_k() -> None:
    x, _ = _data(6, n=5, d=12)
    spectrum = pca(x, 8)
    assert len(spectrum.ratio) == capped_k(8, 5, 12) == 4 and spectrum.rank == 4
    eig = np.sort(np.linalg.eigvalsh(np.cov(x.T)))[::-1]
    np.testing.assert_allclose(spectrum.ratio, eig[:4] / eig.sum(), rtol=1e-9)
    np.testing.assert_allclose(spectrum.std**2, eig[:4], rtol=1e-9)
    np.testing.assert_allclose(spectrum.components @ spectrum.components.T, np.eye(4), atol=1e-12)
    constant = pca(np.ones((5, 3)), 2)
    assert constant.rank == 0 and np.isnan(constant.ratio).all()
    assert np.isnan(pair_angles(constant, spectrum, 2)).all()


def test_principal_angles_of_known_subspaces() -> None:
    e = np.eye(4)
    np.testing.assert_allclose(principal_angles(e[:2], e[:2]), [0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(principal_angles(e[:2], e[2:]), [90.0, 90.0], atol=1e-6)
    tilted = np.array([[1.0, 0, 0, 0], [0, math.cos(0.5), math.sin(0.5), 0]])
    np.testing.assert_allclose(principal_angles(e[:2], tilted), [0.0, math.degrees(0.5)], atol=1e-6)


def test_summary_shapes_and_nan_for_a_constant_layer() -> None:
    rng = np.random.default_rng(7)
    reps = rng.normal(size=(9, 4, 6))
    reps[:, 0] = 1.0  # layer 0 the same for every prompt
    fields, _ = summarize(reps, 3)
    assert fields["k"] == 3 and len(fields["explained_variance_ratio"]) == 4
    assert len(fields["principal_angles_deg"]) == 3 and len(fields["top_share"]) == 3
    assert all(math.isnan(v) for v in fields["explained_variance_ratio"][0])
    assert math.isnan(fields["pairs"]["cka"][0]) and math.isfinite(fields["pairs"]["cka"][1])
    assert math.isclose(fields["pairs"]["cka"][2], linear_cka(reps[:, 2], reps[:, 3]))


def test_profiles_of_the_same_representations_agree_and_resampling_is_seeded() -> None:
    rng = np.random.default_rng(8)
    reps = np.cumsum(rng.normal(size=(20, 7, 5)), axis=1)
    grams = oblivious.grams_of(reps)
    a = oblivious.compare(grams, grams, "biased", 50, np.random.default_rng(0))
    b = oblivious.compare(grams, grams, "biased", 50, np.random.default_rng(0))
    assert a == b and math.isclose(a["spearman"], 1.0) and a["same_layer"]
    low, high = a["spearman_ci95"]
    assert -1.0 <= low <= high <= 1.0
    groups = suite_groups(["a", "b", "a", None], missing="task")
    assert groups == {"a": [0, 2], "b": [1], "task": [3]}


def test_config_checks_and_set_path() -> None:
    config = RunConfig.from_options(methods="spectral", spectral_k="4")
    assert config.methods == ("cka", "spectral") and config.spectral.k == 4
    with pytest.raises(ConfigError, match=r"spectral\.readout"):
        RunConfig.from_options(**{"spectral.k": "2", "spectral.readout": "3"})
    with pytest.raises(ConfigError, match=r"spectral\.k"):
        RunConfig.from_options(**{"spectral.k": "0"})

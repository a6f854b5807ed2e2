"""Linear CKA (``cka`` and ``cka_collect``): invariants, a plain-numpy reference, both
forms, δ_ℓ, the weighted bootstrap, and the stage."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from layertracer import RunConfig, trace
from layertracer.config import CKAConfig
from layertracer.errors import ConfigError
from layertracer.methods.cka.collect import (
    Collector,
    FeatureSums,
    choose_form,
    finish,
    representation,
)
from layertracer.methods.cka.core import (
    cka_from_grams,
    critical_layers,
    delta,
    grams_from_rows,
    linear_cka,
    neighbour_delta,
)
from tests.conftest import tiny

ESTIMATORS = ("biased", "debiased")


def reference_biased(x: np.ndarray, y: np.ndarray) -> float:
    """docs/method.md#cka literally: ‖YᵀX‖_F² / (‖XᵀX‖_F ‖YᵀY‖_F) on column-centred X, Y."""
    x, y = x - x.mean(0), y - y.mean(0)
    fro = np.linalg.norm
    return fro(y.T @ x) ** 2 / (fro(x.T @ x) * fro(y.T @ y))


def unbiased_hsic(x: np.ndarray, y: np.ndarray) -> float:
    """Song et al. (2012), eq. 5, with linear kernels and zeroed diagonals."""
    n = len(x)
    k, l = x @ x.T, y @ y.T  # noqa: E741
    np.fill_diagonal(k, 0)
    np.fill_diagonal(l, 0)
    one = np.ones(n)
    value = np.trace(k @ l) + (one @ k @ one) * (one @ l @ one) / ((n - 1) * (n - 2))
    value -= 2 / (n - 2) * (one @ k @ l @ one)
    return value / (n * (n - 3))


def reference_debiased(x: np.ndarray, y: np.ndarray) -> float:
    return unbiased_hsic(x, y) / math.sqrt(unbiased_hsic(x, x) * unbiased_hsic(y, y))


def data(n: int = 12, d: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) + 3.0  # not centred
    y = x @ rng.normal(size=(d, d + 2)) + 0.5 * rng.normal(size=(n, d + 2))
    return x, y


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_cka_of_x_with_itself_is_one(estimator: str) -> None:
    x, _ = data()
    assert linear_cka(x, x, estimator) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_invariant_to_rotation_and_isotropic_scaling(estimator: str) -> None:
    x, y = data()
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(x.shape[1], x.shape[1])))
    base = linear_cka(x, y, estimator)
    assert linear_cka(x @ q, y, estimator) == pytest.approx(base, abs=1e-12)
    assert linear_cka(7.5 * x, 0.01 * y, estimator) == pytest.approx(base, abs=1e-12)
    assert linear_cka(x + 100.0, y, estimator) == pytest.approx(base, abs=1e-9)
    assert linear_cka(y, x, estimator) == pytest.approx(base, abs=1e-12)
    assert linear_cka(x * np.arange(1, 6), y, estimator) != pytest.approx(base, abs=1e-3)


@pytest.mark.parametrize(("n", "d"), [(12, 5), (6, 20)])
def test_matches_plain_numpy_references(n: int, d: int) -> None:
    x, y = data(n, d)
    assert linear_cka(x, y, "biased") == pytest.approx(reference_biased(x, y), abs=1e-12)
    assert linear_cka(x, y, "debiased") == pytest.approx(reference_debiased(x, y), abs=1e-10)
    assert 0.0 <= linear_cka(x, y, "biased") <= 1.0
    assert linear_cka(x, y, "debiased") != pytest.approx(linear_cka(x, y, "biased"), abs=1e-6)


def test_undefined_cases_are_nan() -> None:
    x, y = data()
    assert math.isnan(linear_cka(np.ones_like(x), y))  # a constant representation
    assert math.isnan(linear_cka(x[:3], y[:3], "debiased"))  # n < 4
    assert not math.isnan(linear_cka(x[:3], y[:3], "biased"))


def layered(n: int, d: int, layers: int, seed: int = 0) -> np.ndarray:
    """Representations of a random 'network': each layer a noisy map of the previous one."""
    rng = np.random.default_rng(seed)
    reps = [rng.normal(size=(n, d))]
    for _ in range(layers - 1):
        reps.append(np.tanh(reps[-1] @ rng.normal(size=(d, d)) / 2) + 0.3 * rng.normal(size=(n, d)))
    return np.stack(reps, axis=1)  # [n, L+1, d]


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_streamed_forms_equal_all_at_once(estimator: str) -> None:
    reps = layered(n=14, d=4, layers=4)
    direct = np.array(
        [[linear_cka(reps[:, i], reps[:, j], estimator) for j in range(4)] for i in range(4)]
    )
    rows = {n: reps[n] for n in range(14)}
    from_grams = cka_from_grams(grams_from_rows(rows), estimator)
    whole, halves = FeatureSums(4, 4), FeatureSums(4, 4)
    for start in range(0, 14, 5):  # streamed in uneven chunks
        whole.add(reps[start : start + 5])
    halves.add(reps[:6])
    other = FeatureSums(4, 4)
    other.add(reps[6:])
    halves.merge(other)  # two data-parallel processes
    np.testing.assert_allclose(from_grams, direct, atol=1e-10)
    np.testing.assert_allclose(whole.matrix(estimator), direct, atol=1e-10)
    np.testing.assert_allclose(halves.matrix(estimator), direct, atol=1e-10)
    np.testing.assert_allclose(np.diag(direct), 1.0, atol=1e-12)


def test_form_is_chosen_by_memory() -> None:
    assert choose_form(count=166, hidden=576, num_states=31) == "gram"
    assert choose_form(count=100_000, hidden=64, num_states=5) == "features"


def test_delta_window_and_ranking() -> None:
    m = np.array([[1.0, 0.9, 0.1], [0.9, 1.0, 0.5], [0.1, 0.5, 1.0]])
    np.testing.assert_allclose(delta(m), [0.95, 0.8, 0.75])  # clipped at both ends
    assert critical_layers(delta(m)) == [2, 1]  # blocks only: layer 0 is never ranked
    m[0, :] = m[:, 0] = math.nan  # layer 0 constant: left out of the windows
    np.testing.assert_allclose(delta(m), [math.nan, 0.75, 0.75])
    assert critical_layers(delta(m)) == [1, 2]  # ties: lower layer first


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_weighted_delta_equals_delta_of_the_resampled_prompts(estimator: str) -> None:
    reps = layered(n=10, d=6, layers=5)  # [n, L+1, d]
    grams = grams_from_rows(dict(enumerate(reps)))
    full = delta(cka_from_grams(grams, estimator))
    np.testing.assert_allclose(neighbour_delta(grams, estimator, np.ones((1, 10)))[0], full)
    rng = np.random.default_rng(0)
    draws = [rng.integers(0, 10, 10) for _ in range(3)]
    weights = np.array([np.bincount(idx, minlength=10) for idx in draws], dtype=float)
    got = neighbour_delta(grams, estimator, weights)  # [3, L+1]
    for row, idx in zip(got, draws, strict=True):  # explicit resample, duplicates included
        layers = range(reps.shape[1])
        matrix = np.array([[linear_cka(reps[idx, i], reps[idx, j], estimator) for j in layers]
                           for i in layers])  # fmt: skip
        np.testing.assert_allclose(row, delta(matrix), atol=1e-10)
    assert not np.allclose(got[0], full)


@pytest.mark.parametrize("kind", ["last", "mean"])
def test_padding_does_not_change_the_representation(kind: str) -> None:
    states = [torch.randn(2, 3, 4) for _ in range(3)]
    mask, last = torch.tensor([[1, 1, 1], [1, 1, 0]]), torch.tensor([2, 1])
    padded = [torch.cat([s, torch.randn(2, 2, 4)], dim=1) for s in states]
    wider = torch.cat([mask, torch.zeros(2, 2, dtype=torch.long)], dim=1)
    out = representation(states, mask, last, kind)
    np.testing.assert_allclose(representation(padded, wider, last, kind), out, atol=1e-12)
    assert out.shape == (2, 3, 4) and out.dtype == np.float64
    want = states[1][1, :2].double().mean(0) if kind == "mean" else states[1][1, 1].double()
    np.testing.assert_allclose(out[1, 1], want.numpy(), atol=1e-12)


def test_collector_forms_agree() -> None:
    reps = layered(n=9, d=3, layers=3)
    states = [torch.tensor(reps[:, i])[:, None, :] for i in range(3)]  # [n, 1, d]
    mask, last = torch.ones(9, 1, dtype=torch.long), torch.zeros(9, dtype=torch.long)
    results = []
    for form in ("gram", "features"):
        collector = Collector(9, 3, 3, "last", form)
        for part in (slice(0, 4), slice(4, 9)):
            index = list(range(9))[part]
            collector.add([s[part] for s in states], mask[part], last[part], index)
        matrix, grams, n = finish(collector, "debiased")
        assert n == 9 and (grams is None) == (form == "features")
        results.append(matrix)
    np.testing.assert_allclose(results[0], results[1], atol=1e-10)


def test_config_rejects_unknown_values() -> None:
    with pytest.raises(ConfigError, match="--cka-estimator"):
        CKAConfig(estimator="unbiased")
    with pytest.raises(ConfigError, match="--cka-representation"):
        CKAConfig(representation="first")


@pytest.mark.parametrize("kind", ["last", "mean"])
def test_stage_batch_equals_one_by_one(small_task, kind: str) -> None:
    methods = ("lens", "cka")
    runs = [
        trace(tiny("llama"), small_task, RunConfig(batch_size=b, methods=methods, cka=CKAConfig(
            estimator="debiased", representation=kind)))
        for b in (6, 1)
    ]  # fmt: skip
    a, b = (r.cka for r in runs)
    assert a["n"] == b["n"] == len(small_task.items) and a["form"] == "gram"
    assert a["estimator"] == "debiased" and a["representation"] == kind
    np.testing.assert_allclose(
        np.array(a["matrix"], dtype=float), np.array(b["matrix"], dtype=float), atol=1e-5
    )
    assert a["critical_layers"] == b["critical_layers"]


def test_too_few_prompts_give_null_cka_and_a_warning() -> None:
    cfg = RunConfig(max_prompts=3, methods=("lens", "cka"), cka=CKAConfig(estimator="debiased"))
    results = trace(tiny("llama"), "capitals", cfg)
    section = results.to_dict()["cka"]
    assert section["n"] == 3 and section["critical_layer"] is None
    assert all(v is None for v in section["delta"])
    assert "CKA undefined (debiased estimator, n = 3)" in results.warnings

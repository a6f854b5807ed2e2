"""Tests for layertracer.methods.metrics: Jensen–Shannon divergence and rank statistics."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
import torch

from layertracer.methods.metrics import (
    bca_interval,
    js_divergence,
    kl_divergence,
    pearson,
    spearman,
)


def log(p: np.ndarray) -> torch.Tensor:
    """Log-probabilities of a probability array (``-inf`` where p is 0)."""
    with np.errstate(divide="ignore"):
        return torch.from_numpy(np.log(np.asarray(p, dtype=np.float64)))


def random_probs(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Random distributions along the last axis."""
    return rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])


def js_reference(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """JS in bits straight from the definition (docs/method.md#vulnerable-layer), numpy float64."""
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        safe = np.where(a > 0, a, 1.0)
        return np.where(a > 0, a * np.log2(safe / np.where(a > 0, b, 1.0)), 0.0).sum(-1)

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


# ---------------------------------------------------------------- Kullback–Leibler


def test_kl_matches_the_definition_and_is_not_symmetric() -> None:
    rng = np.random.default_rng(1)
    p, q = random_probs(rng, 5, 7), random_probs(rng, 5, 7)
    want = (p * np.log(p / q)).sum(-1)  # nats
    np.testing.assert_allclose(kl_divergence(log(p), log(q)).numpy(), want, rtol=1e-12)
    assert not np.allclose(kl_divergence(log(p), log(q)), kl_divergence(log(q), log(p)))


def test_kl_range_zero_terms_and_infinity() -> None:
    rng = np.random.default_rng(2)
    p = random_probs(rng, 4, 6)
    assert torch.all(kl_divergence(log(p), log(p)) == 0)
    assert torch.all(kl_divergence(log(p), log(random_probs(rng, 4, 6))) >= 0)
    sparse = np.array([0.5, 0.5, 0.0])
    assert float(kl_divergence(log(sparse), log(np.array([0.25, 0.25, 0.5])))) == pytest.approx(
        math.log(2.0)
    )  # the p = 0 term counts 0
    assert math.isinf(float(kl_divergence(log(np.array([0.5, 0.5])), log(np.array([1.0, 0.0])))))
    out = kl_divergence(log(p).float(), log(p).float())
    assert out.dtype == torch.float64 and out.shape == (4,)


# ---------------------------------------------------------------- Jensen–Shannon


def test_js_matches_numpy_definition_on_random_distributions() -> None:
    rng = np.random.default_rng(0)
    p, q = random_probs(rng, 64, 50), random_probs(rng, 64, 50)
    got = js_divergence(log(p), log(q)).numpy()
    np.testing.assert_allclose(got, js_reference(p, q), rtol=0, atol=1e-10)


def test_js_matches_definition_on_peaked_distributions() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(scale=8.0, size=(32, 200))
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    q = np.roll(p, 1, axis=-1)
    got = js_divergence(log(p), log(q)).numpy()
    np.testing.assert_allclose(got, js_reference(p, q), rtol=0, atol=1e-10)


def test_js_is_symmetric() -> None:
    rng = np.random.default_rng(2)
    p, q = log(random_probs(rng, 16, 30)), log(random_probs(rng, 16, 30))
    torch.testing.assert_close(js_divergence(p, q), js_divergence(q, p), rtol=0, atol=1e-15)


def test_js_is_in_unit_interval() -> None:
    rng = np.random.default_rng(3)
    for alpha in (0.01, 0.1, 1.0, 10.0):
        p = rng.dirichlet(np.full(20, alpha), size=100)
        q = rng.dirichlet(np.full(20, alpha), size=100)
        js = js_divergence(log(p), log(q))
        assert torch.all(js >= 0) and torch.all(js <= 1)
        assert torch.all(torch.isfinite(js))


def test_js_of_a_distribution_with_itself_is_zero() -> None:
    rng = np.random.default_rng(4)
    p = log(random_probs(rng, 10, 40))
    assert torch.all(js_divergence(p, p) == 0)
    p32 = p.float()
    assert torch.all(js_divergence(p32, p32).abs() < 1e-12)


def test_js_of_disjoint_supports_is_one_bit() -> None:
    p = np.array([0.5, 0.5, 0.0, 0.0])
    q = np.array([0.0, 0.0, 0.1, 0.9])
    js = js_divergence(log(p), log(q))
    assert js.item() == pytest.approx(1.0, abs=1e-12)


def test_js_with_zero_probability_entries_is_finite_and_correct() -> None:
    p = np.array([0.7, 0.3, 0.0, 0.0])  # the last entry is zero in both
    q = np.array([0.2, 0.0, 0.8, 0.0])
    js = js_divergence(log(p), log(q))
    assert torch.isfinite(js).all()
    assert js.item() == pytest.approx(js_reference(p, q), abs=1e-12)
    assert 0 < js.item() < 1


def test_js_keeps_the_batch_shape() -> None:
    rng = np.random.default_rng(5)
    p, q = random_probs(rng, 2, 3, 7), random_probs(rng, 2, 3, 7)
    js = js_divergence(log(p), log(q))
    assert js.shape == (2, 3)
    np.testing.assert_allclose(js.numpy(), js_reference(p, q), rtol=0, atol=1e-10)
    single = js_divergence(log(p[0, 0]), log(q[0, 0]))
    assert single.shape == ()
    assert single.item() == pytest.approx(js[0, 0].item(), abs=1e-15)


def test_js_rows_are_independent() -> None:
    rng = np.random.default_rng(6)
    p, q = random_probs(rng, 5, 9), random_probs(rng, 5, 9)
    full = js_divergence(log(p), log(q))
    for row in range(5):
        one = js_divergence(log(p[row : row + 1]), log(q[row : row + 1]))
        assert one.item() == pytest.approx(full[row].item(), abs=1e-15)


def test_js_accepts_float32_input_and_returns_float64() -> None:
    rng = np.random.default_rng(7)
    p, q = random_probs(rng, 4, 11), random_probs(rng, 4, 11)
    js = js_divergence(log(p).float(), log(q).float())
    assert js.dtype == torch.float64
    np.testing.assert_allclose(js.numpy(), js_reference(p, q), rtol=0, atol=1e-6)


# ---------------------------------------------------------------- correlations


def numpy_pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def test_pearson_matches_numpy() -> None:
    rng = np.random.default_rng(8)
    for _ in range(5):
        a, b = rng.normal(size=30), rng.normal(size=30)
        b = b + 0.5 * a
        assert pearson(a, b) == pytest.approx(numpy_pearson(a, b), abs=1e-12)


def test_pearson_extremes_and_symmetry() -> None:
    a = [1.0, 2.0, 4.0, 8.0]
    assert pearson(a, [2 * x + 3 for x in a]) == pytest.approx(1.0, abs=1e-12)
    assert pearson(a, [-x for x in a]) == pytest.approx(-1.0, abs=1e-12)
    b = [3.0, -1.0, 2.0, 0.5]
    assert pearson(a, b) == pytest.approx(pearson(b, a), abs=1e-15)


def test_spearman_without_ties_matches_numpy_ranks() -> None:
    rng = np.random.default_rng(9)
    for _ in range(5):
        a, b = rng.normal(size=25), rng.normal(size=25)
        b = b + a
        ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
        assert spearman(a, b) == pytest.approx(numpy_pearson(ra, rb), abs=1e-12)


def test_spearman_is_invariant_to_monotone_transforms() -> None:
    rng = np.random.default_rng(10)
    a, b = rng.uniform(0.1, 5, size=20), rng.uniform(0.1, 5, size=20)
    assert spearman(a, b) == pytest.approx(spearman(np.exp(a), np.log(b)), abs=1e-12)
    assert spearman(a, np.exp(a)) == pytest.approx(1.0, abs=1e-12)
    assert spearman(a, -(a**3)) == pytest.approx(-1.0, abs=1e-12)


def test_spearman_uses_average_ranks_for_ties() -> None:
    # a has a tie: ranks (0, 1.5, 1.5, 3); b ranks (0, 1, 2, 3).
    # deviations: (-1.5, 0, 0, 1.5) and (-1.5, -0.5, 0.5, 1.5)
    # r = 4.5 / sqrt(4.5 * 5) = sqrt(0.9)
    assert spearman([1, 2, 2, 3], [10, 20, 30, 40]) == pytest.approx(math.sqrt(0.9), abs=1e-12)


def test_spearman_ties_on_both_sides() -> None:
    # ranks a = (0.5, 0.5, 2, 3), b = (0, 2, 2, 2) -> hand computed.
    # dev a: (-1, -1, 0.5, 1.5); dev b: (-1.5, 0.5, 0.5, 0.5)
    # cov = 1.5 - 0.5 + 0.25 + 0.75 = 2; var a = 1 + 1 + 0.25 + 2.25 = 4.5; var b = 3
    expected = 2 / math.sqrt(4.5 * 3)
    assert spearman([5, 5, 6, 7], [0, 9, 9, 9]) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("fn", [spearman, pearson])
def test_constant_input_gives_nan(fn) -> None:
    assert math.isnan(fn([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert math.isnan(fn([1.0, 2.0, 3.0], [4.0, 4.0, 4.0]))
    assert math.isnan(fn([2.0] * 5, [2.0] * 5))


def test_spearman_constant_non_integer_input_gives_nan() -> None:
    assert math.isnan(spearman([0.1] * 3, [1.0, 2.0, 3.0]))
    assert math.isnan(spearman([0.7] * 7, list(range(7))))


def test_pearson_constant_non_integer_input_gives_nan() -> None:
    assert math.isnan(pearson([0.1] * 3, [1.0, 2.0, 3.0]))
    assert math.isnan(pearson([0.7] * 7, list(range(7))))


# ---------------------------------------------------------------- bca_interval


def test_bca_without_bias_or_acceleration_is_the_percentile_interval() -> None:
    draws = np.arange(100.0)  # half the draws below 49.5: z0 = 0
    jack = [1.0, -1.0, 2.0, -2.0]  # symmetric: a = 0
    assert bca_interval(draws, 49.5, jack) == pytest.approx(np.quantile(draws, [0.025, 0.975]))


def test_bca_corrects_for_bias_and_acceleration_as_efron_writes_it() -> None:
    draws = np.random.default_rng(0).gamma(2.0, size=4000)
    point, jack = 1.5, np.random.default_rng(1).gamma(2.0, size=50)
    z0 = NormalDist().inv_cdf(float(np.mean(draws < point)))
    d = jack.mean() - jack
    a = (d**3).sum() / (6 * ((d**2).sum()) ** 1.5)
    alphas = [NormalDist().cdf(z0 + (z0 + z) / (1 - a * (z0 + z))) for z in (-1.959964, 1.959964)]
    want = np.quantile(draws, alphas)
    assert bca_interval(draws, point, jack) == pytest.approx(want, rel=1e-4)
    assert bca_interval(draws, point, jack) != pytest.approx(np.quantile(draws, [0.025, 0.975]))


def test_bca_is_undefined_when_every_draw_is_on_one_side() -> None:
    assert bca_interval([3.0] * 50, 2.0, [2.0] * 5) is None
    assert bca_interval([1.0, 2.0], math.nan, [1.0]) is None
    assert bca_interval([math.nan], 0.5, [0.5]) is None
    assert bca_interval([2.0] * 50, 2.0, [2.0] * 5) == [2.0, 2.0]  # all draws equal the point


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("rows", [1, 2, 3, 7, 48])
def test_js_in_blocks_of_rows_equals_all_rows_at_once(
    rows: int, threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from layertracer.methods import metrics

    rng = np.random.default_rng(rows)
    p32 = torch.log_softmax(torch.from_numpy(rng.normal(size=(rows, 4096)) * 4).float(), -1)
    q32 = torch.log_softmax(torch.from_numpy(rng.normal(size=(rows, 4096)) * 4).float(), -1)
    p32[0, :3] = -math.inf  # a zero probability takes the other branch
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        once = metrics._js(p32, q32)
        monkeypatch.setattr(metrics, "JS_BLOCK", 2 * 4096)  # blocks of 2 (or 3) rows
        blocks = js_divergence(p32, q32)
        stacked = js_divergence(p32.view(1, rows, -1), q32.view(1, rows, -1))
    finally:
        torch.set_num_threads(before)
    assert torch.equal(blocks, once)  # bit for bit
    assert torch.equal(stacked[0], once)

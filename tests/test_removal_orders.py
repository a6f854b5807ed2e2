"""Removal orders (methods/removal/orders.py): least critical first, NaN last, windows of
the angular span, seeded random orders, the distinct pruned models."""

from __future__ import annotations

import math

import numpy as np

from layertracer.methods.agreement import Measured
from layertracer.methods.removal.orders import (
    criterion_orders,
    default_max_blocks,
    least_critical_first,
    pruned_sets,
    random_orders,
    window_order,
)

NAN = math.nan


def test_least_critical_first_puts_nan_last_and_ties_low() -> None:
    score = np.array([9.0, 0.3, NAN, 0.1, 0.3, -1.0])
    assert least_critical_first(score, [1, 2, 3, 4, 5]) == [5, 3, 1, 4, 2]
    assert least_critical_first(score, [2, 4]) == [4, 2]


def test_window_order_span_one_is_least_critical_first() -> None:
    score = np.random.default_rng(0).random(9)
    blocks = [1, 2, 4, 5, 7, 8]
    assert window_order(score, blocks, 1) == least_critical_first(score, blocks)


def test_window_order_starts_with_the_best_whole_window() -> None:
    # windows of 2 ending at i: d(h_{i-2}, h_i); the smallest is blocks (4, 5), then (3, 4)
    score = np.array([NAN, NAN, 0.5, 0.9, 0.2, 0.1, 0.7])  # L = 6
    assert window_order(score, range(1, 7), 2) == [4, 5, 3, 1, 2, 6]
    # block 5 not removable: windows (4, 5) and (5, 6) come after the whole ones
    assert window_order(score, [1, 2, 3, 4, 6], 2) == [3, 4, 1, 2, 6]


def test_orders_read_the_run_level_curves_and_windows_only_where_asked() -> None:
    bi = Measured.of_prompts(np.array([[NAN, 0.2, 0.4, 0.1], [NAN, 0.4, NAN, 0.3]]))
    np.testing.assert_allclose(bi.curve[1:], [0.3, 0.4, 0.2])  # the mean of finite entries
    curves = {"bi": bi.curve, "angular": np.array([NAN, NAN, 0.5, 0.1])}
    orders = criterion_orders(curves, [1, 2, 3], span=2, windowed={"angular"})
    assert orders["bi"] == least_critical_first(bi.curve, [1, 2, 3]) == [3, 1, 2]
    assert orders["angular"] == window_order(curves["angular"], [1, 2, 3], 2) == [2, 3, 1]
    assert criterion_orders(curves, [1, 2, 3], span=2)["angular"] == [3, 2, 1]


def test_random_orders_are_seeded_permutations() -> None:
    blocks = [1, 2, 3, 5, 8, 9]
    first, again = random_orders(blocks, 5, 3), random_orders(blocks, 5, 3)
    assert first == again and len(first) == 5
    assert all(sorted(order) == blocks for order in first)
    assert first[0] == [int(b) for b in np.random.default_rng([3, 0]).permutation(blocks)]
    assert random_orders(blocks, 5, 4) != first


def test_pruned_sets_are_distinct_prefixes_and_at_most_orders_times_k() -> None:
    orders = [[3, 1, 2, 4], [3, 2, 1, 4], [4, 3, 2, 1]]
    sets = pruned_sets(orders, 2)
    assert sets == [frozenset({3}), frozenset({1, 3}), frozenset({2, 3}), frozenset({4}),
                    frozenset({3, 4})]  # fmt: skip
    assert len(sets) <= len(orders) * 2
    assert pruned_sets([[1]], 3) == [frozenset({1})]  # an order shorter than K


def test_default_k_is_a_quarter_of_the_blocks_at_least_one() -> None:
    assert [default_max_blocks(L) for L in (1, 3, 4, 18, 30)] == [1, 1, 1, 4, 7]

"""Tests for layertracer.methods.vulnerability.stats: clean statistics, massive channels."""

from __future__ import annotations

import torch

from layertracer.methods.vulnerability.stats import ActivationStats, massive_dims

L, D = 3, 16  # blocks, hidden size

# ---------------------------------------------------------------- massive_dims


def test_massive_dims_on_synthetic_magnitudes() -> None:
    mean_abs = torch.ones(L + 1, 9)
    mean_abs[1, 4] = 10.5  # > 10 x median at one layer only
    mean_abs[2, 7] = 10.0  # exactly 10 x: not "exceeds"
    mean_abs[3, 0] = 50.0
    mean_abs[0, 2] = 9.9
    assert massive_dims(mean_abs, 10.0) == [0, 4]
    assert massive_dims(mean_abs, 5.0) == [0, 2, 4, 7]
    assert massive_dims(torch.ones(L + 1, 9), 10.0) == []


def test_massive_dims_relative_to_each_layers_median() -> None:
    mean_abs = torch.ones(2, 5)
    mean_abs[1] *= 100.0  # a uniformly loud layer has no massive channel
    mean_abs[1, 3] = 2000.0  # 20 x its own layer's median
    mean_abs[0, 1] = 50.0  # 50 x layer 0's median
    assert massive_dims(mean_abs, 10.0) == [1, 3]


# ---------------------------------------------------------------- ActivationStats


def test_activation_stats_use_real_tokens_only() -> None:
    g = torch.Generator().manual_seed(0)
    stats, rows = ActivationStats(), []
    for lengths, seq in (([3, 5], 5), ([2, 4, 1], 6)):
        mask = torch.tensor([[1] * n + [0] * (seq - n) for n in lengths])
        states = [torch.randn(len(lengths), seq, D, generator=g) * (i + 1) for i in range(L + 1)]
        for s in states:
            s[mask == 0] = 1e6  # padding garbage must not leak into the stats
        stats.add(states, mask)
        rows.append(torch.stack([s[mask.bool()] for s in states]).double())
    stats.finish()
    real = torch.cat(rows, dim=1)  # [L+1, n_real, d]
    assert stats.count == real.shape[1] == 3 + 5 + 2 + 4 + 1
    torch.testing.assert_close(stats.mean(), real.mean(1), rtol=0, atol=1e-12)
    torch.testing.assert_close(stats.std(), real.std(1, correction=0), rtol=0, atol=1e-9)
    torch.testing.assert_close(stats.mean_abs(), real.abs().mean(1), rtol=0, atol=1e-12)
    assert stats.mean().shape == (L + 1, D)

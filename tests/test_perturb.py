"""Tests for layertracer.methods.vulnerability.perturb: mask dims, statistics, perturbation."""

from __future__ import annotations

import math

import pytest
import torch

from layertracer.config import VulnerabilityConfig
from layertracer.methods.vulnerability.perturb import (
    MaskPlan,
    mask_dims,
    norm_noise,
    num_masked,
    perturb,
    plan_masks,
)
from layertracer.methods.vulnerability.stats import ActivationStats

L, D = 3, 16  # blocks, hidden size


def make_plan(seeds=(0, 1), d: int = D, k: int = 4, exclude=()) -> MaskPlan:
    """A plan with distinct dims per (seed, layer) and easily recognised statistics."""
    dims = [[mask_dims(s, i, d, k, exclude) for i in range(L + 1)] for s in seeds]
    mean = torch.arange((L + 1) * d, dtype=torch.float32).reshape(L + 1, d) + 100.0
    std = torch.linspace(0.5, 2.0, (L + 1) * d).reshape(L + 1, d)
    return MaskPlan(tuple(seeds), dims, mean, std)


def state(batch: int = 3, seq: int = 5, d: int = D, seed: int = 0) -> torch.Tensor:
    """A clean layer state without zeros. ``[B, T, d]``"""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, seq, d, generator=g) + 1.0


def cfg(**kw) -> VulnerabilityConfig:
    """The paper's protocol (masked dims) with two seeds, unless ``kw`` says otherwise."""
    return VulnerabilityConfig.preset("paper", **{"seeds": (0, 1), **kw})


def others(dims: list[int], d: int = D) -> list[int]:
    return [c for c in range(d) if c not in dims]


# ---------------------------------------------------------------- num_masked


@pytest.mark.parametrize(
    ("ratio", "d", "k"),
    [
        (0.25, 10, 3),  # 2.5 -> 3 (round half up, not to even)
        (0.5, 5, 3),  # 2.5 -> 3
        (0.375, 4, 2),  # 1.5 -> 2
        (0.625, 4, 3),  # 2.5 -> 3
        (0.2, 576, 115),  # 115.2
        (0.2, 10, 2),
        (0.24, 10, 2),  # 2.4 -> 2
        (0.125, 4, 1),  # 0.5 -> 1
        (0.01, 10, 1),  # 0.1 -> at least 1
        (0.001, 4, 1),
    ],
)
def test_num_masked(ratio: float, d: int, k: int) -> None:
    assert num_masked(ratio, d) == k


# ---------------------------------------------------------------- mask_dims


def test_mask_dims_deterministic_sorted_unique() -> None:
    for seed in (0, 1, 7):
        for layer in range(5):
            dims = mask_dims(seed, layer, 64, 13)
            assert dims == mask_dims(seed, layer, 64, 13)
            assert dims == sorted(dims)
            assert len(dims) == len(set(dims)) == 13
            assert all(isinstance(c, int) and 0 <= c < 64 for c in dims)


def test_mask_dims_differ_across_layers_and_seeds() -> None:
    by_layer = {tuple(mask_dims(0, i, 64, 13)) for i in range(10)}
    by_seed = {tuple(mask_dims(s, 2, 64, 13)) for s in range(10)}
    assert len(by_layer) == 10
    assert len(by_seed) == 10
    assert mask_dims(1, 2, 64, 13) != mask_dims(2, 1, 64, 13)  # (s, i) is not symmetric


def test_mask_dims_never_contain_excluded() -> None:
    exclude = [0, 5, 17, 63]
    for seed in range(5):
        for layer in range(6):
            dims = mask_dims(seed, layer, 64, 30, exclude)
            assert len(dims) == 30
            assert not set(dims) & set(exclude)


def test_mask_dims_can_use_every_allowed_channel() -> None:
    dims = mask_dims(0, 0, 8, 6, exclude=[2, 3])
    assert dims == [0, 1, 4, 5, 6, 7]


def test_plan_masks_protect_massive() -> None:
    stats = ActivationStats()
    states = [
        torch.randn(2, 4, 32, generator=torch.Generator().manual_seed(i)) for i in range(L + 1)
    ]
    stats.add(states, torch.ones(2, 4))
    stats.finish()
    massive = [3, 9]
    auto = plan_masks(
        VulnerabilityConfig.preset("paper", protect_massive="auto"), stats, L, 32, massive
    )
    none = plan_masks(VulnerabilityConfig.preset("paper"), stats, L, 32, massive)
    k = num_masked(0.2, 32)
    assert auto.seeds == none.seeds == (0, 1, 2)
    for plan in (auto, none):
        assert len(plan.dims) == 3 and all(len(per_layer) == L + 1 for per_layer in plan.dims)
        assert all(len(d) == k for per_layer in plan.dims for d in per_layer)
    assert all(not set(d) & set(massive) for per_layer in auto.dims for d in per_layer)
    assert none.dims[1][2] == mask_dims(1, 2, 32, k)
    torch.testing.assert_close(none.mean, stats.mean().float())
    torch.testing.assert_close(none.std, stats.std().float())


# ---------------------------------------------------------------- perturb


def test_perturb_output_shape_and_seed_major_order() -> None:
    plan, h = make_plan(seeds=(0, 1, 2)), state(batch=2)
    c = VulnerabilityConfig.preset("paper")
    out = perturb(h, 1, plan, c, torch.tensor([4, 4]), [0, 1])
    assert out.shape == (3 * 2, 5, D)
    for s_index in range(3):
        dims = plan.dims[s_index][1]
        block = out[s_index * 2 : (s_index + 1) * 2]
        assert torch.all(block[..., dims] == 0)
        torch.testing.assert_close(block[..., others(dims)], h[..., others(dims)], rtol=0, atol=0)


def test_perturb_zero_all_positions() -> None:
    plan, h = make_plan(), state()
    clean = h.clone()
    for layer in range(L + 1):
        out = perturb(h, layer, plan, cfg(), torch.tensor([4, 2, 3]), [0, 1, 2])
        for s_index in range(2):
            dims = plan.dims[s_index][layer]
            block = out[s_index * 3 : (s_index + 1) * 3]
            assert torch.all(block[..., dims] == 0)
            assert torch.equal(block[..., others(dims)], h[..., others(dims)])
    assert torch.equal(h, clean)  # the input is not modified in place


def test_perturb_last_position_only() -> None:
    plan, h = make_plan(), state()
    last = torch.tensor([4, 1, 2])
    out = perturb(h, 2, plan, cfg(positions="last"), last, [0, 1, 2])
    for s_index in range(2):
        dims = plan.dims[s_index][2]
        block = out[s_index * 3 : (s_index + 1) * 3]
        changed = (block != h).any(-1)  # [B, T]
        expected = torch.zeros_like(changed)
        expected[torch.arange(3), last] = True
        assert torch.equal(changed, expected)
        for row, pos in enumerate(last.tolist()):
            assert torch.all(block[row, pos, dims] == 0)
            assert torch.equal(block[row, pos, others(dims)], h[row, pos, others(dims)])


def test_perturb_mean_mode_sets_planned_means() -> None:
    plan, h = make_plan(), state()
    layer = 3
    out = perturb(h, layer, plan, cfg(mask_mode="mean"), torch.tensor([4, 4, 4]), [0, 1, 2])
    for s_index in range(2):
        dims = plan.dims[s_index][layer]
        block = out[s_index * 3 : (s_index + 1) * 3]
        expected = plan.mean[layer, dims].expand(3, 5, len(dims))
        assert torch.equal(block[..., dims], expected)
        assert torch.equal(block[..., others(dims)], h[..., others(dims)])


def test_perturb_gaussian_changes_only_planned_dims() -> None:
    plan, h = make_plan(), state()
    out = perturb(h, 1, plan, cfg(mask_mode="gaussian"), torch.tensor([4, 4, 4]), [0, 1, 2])
    for s_index in range(2):
        dims = plan.dims[s_index][1]
        block = out[s_index * 3 : (s_index + 1) * 3]
        assert torch.equal(block[..., others(dims)], h[..., others(dims)])
        assert torch.all(block[..., dims] != h[..., dims])
    # The two seeds draw different noise, and the same call gives the same noise.
    assert not torch.equal(out[:3], out[3:])
    again = perturb(h, 1, plan, cfg(mask_mode="gaussian"), torch.tensor([4, 4, 4]), [0, 1, 2])
    assert torch.equal(out, again)


def test_perturb_gaussian_noise_scales_with_std() -> None:
    d, k = 64, 32
    dims = [[list(range(k))] * (L + 1)]
    std = torch.ones(L + 1, d) * 3.0
    plan = MaskPlan((0,), dims, torch.zeros(L + 1, d), std)
    h = torch.zeros(4, 200, d)
    out = perturb(
        h,
        0,
        plan,
        VulnerabilityConfig(seeds=(0,), mask_mode="gaussian"),
        torch.full((4,), 199),
        [0, 1, 2, 3],
    )
    noise = out[..., :k]
    assert noise.mean().abs() < 0.1
    assert noise.std().item() == pytest.approx(3.0, rel=0.05)


def test_perturb_gaussian_independent_of_batch_and_padding() -> None:
    plan = make_plan()
    c = cfg(mask_mode="gaussian")
    n, real = 7, 3  # the prompt's index in the run and its number of real tokens
    alone = state(batch=1, seq=real, seed=1)
    batch = state(batch=3, seq=6, seed=2)
    batch[1, :real] = alone[0]
    out_alone = perturb(alone, 2, plan, c, torch.tensor([real - 1]), [n])
    out_batch = perturb(batch, 2, plan, c, torch.tensor([5, real - 1, 4]), [4, n, 9])
    for s_index in range(2):
        torch.testing.assert_close(
            out_batch[s_index * 3 + 1, :real], out_alone[s_index, :real], rtol=0, atol=0
        )
    # The other rows of the batch get noise of their own.
    assert not torch.equal(
        out_batch[0, :real] - batch[0, :real], out_batch[1, :real] - batch[1, :real]
    )


def test_perturb_gaussian_last_position_independent_of_batch() -> None:
    plan = make_plan()
    c = cfg(mask_mode="gaussian", positions="last")
    alone = state(batch=1, seq=4, seed=3)
    batch = state(batch=2, seq=7, seed=4)
    batch[0, :4] = alone[0]
    out_alone = perturb(alone, 0, plan, c, torch.tensor([3]), [5])
    out_batch = perturb(batch, 0, plan, c, torch.tensor([3, 6]), [5, 6])
    for s_index in range(2):
        assert torch.equal(out_batch[s_index * 2, :4], out_alone[s_index, :4])
        assert not torch.equal(out_alone[s_index, 3], alone[0, 3])


# ---------------------------------------------------------------- norm mode


def test_norm_noise_has_the_stated_norm_and_spares_padding() -> None:
    h = state(batch=2, seq=5)
    last = torch.tensor([4, 2])  # the second prompt has 3 real tokens, then padding
    noise = norm_noise(h, 3, 0, 0.2, last, [0, 1])
    norms = noise.norm(dim=-1)  # [B, T]
    want = math.sqrt(0.2) * h.norm(dim=-1)
    torch.testing.assert_close(norms[0], want[0])
    torch.testing.assert_close(norms[1, :3], want[1, :3])
    assert (noise[1, 3:] == 0).all()


def test_norm_noise_does_not_depend_on_batching_or_padding() -> None:
    h = state(batch=2, seq=6)
    both = norm_noise(h, 1, 5, 0.2, torch.tensor([5, 3]), [7, 8])
    alone = norm_noise(h[1:, :4], 1, 5, 0.2, torch.tensor([3]), [8])
    torch.testing.assert_close(both[1, :4], alone[0])
    other_seed = norm_noise(h[1:, :4], 1, 6, 0.2, torch.tensor([3]), [8])
    other_layer = norm_noise(h[1:, :4], 2, 5, 0.2, torch.tensor([3]), [8])
    assert not torch.allclose(alone, other_seed) and not torch.allclose(alone, other_layer)


def test_perturb_norm_mode_stacks_seeds_and_respects_positions() -> None:
    h, last = state(batch=2, seq=5), torch.tensor([4, 2])
    plan = plan_masks(cfg(mask_mode="norm"), ActivationStats(), L, D, [])
    assert all(d == [] for per in plan.dims for d in per)  # no dims are masked
    out = perturb(h, 2, plan, cfg(mask_mode="norm"), last, [0, 1])  # [S·B, T, d]
    assert out.shape == (4, 5, D)
    for s in range(2):
        torch.testing.assert_close(
            out[2 * s : 2 * s + 2] - h, norm_noise(h, 2, s, 0.2, last, [0, 1])
        )
    only_last = perturb(h, 2, plan, cfg(mask_mode="norm", positions="last"), last, [0, 1])
    changed = (only_last[:2] != h).any(dim=-1)  # [B, T]
    assert changed.tolist() == [[False] * 4 + [True], [False, False, True, False, False]]


def test_norm_mode_with_protection_spares_the_massive_channels_and_ignores_their_size() -> None:
    h, last = state(batch=2, seq=5), torch.tensor([4, 2])
    massive = [1, 6]
    h[..., massive] *= 1000.0  # they hold nearly all of ‖h‖
    c = cfg(mask_mode="norm", protect_massive="auto")
    plan = plan_masks(c, ActivationStats(), L, D, massive)
    assert plan.protected == (1, 6)
    noise = perturb(h, 2, plan, c, last, [0, 1])[:2] - h  # seed 0, [B, T, d]
    assert (noise[..., massive] == 0).all()
    rest = [ch for ch in range(D) if ch not in massive]
    want = math.sqrt(0.2) * h[..., rest].norm(dim=-1)  # [B, T]
    torch.testing.assert_close(noise[0].norm(dim=-1), want[0], rtol=1e-4, atol=1e-3)
    unprotected = plan_masks(cfg(mask_mode="norm"), ActivationStats(), L, D, massive)
    assert unprotected.protected == ()

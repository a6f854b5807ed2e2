"""Block Influence and angular distance (docs/method.md#block-influence): invariants of the
pure functions, batch == one by one, and the clean pass's ``similarity`` section."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from layertracer import RunConfig, trace
from layertracer.config import RemovalConfig
from layertracer.engine.batching import make_batches
from layertracer.errors import ConfigError
from layertracer.methods.similarity import angular_distance, block_influence, cosine, summarize
from layertracer.model.anatomy import discover
from layertracer.model.capture import capture_blocks, forward
from tests.conftest import tiny

F64 = torch.float64


def _states(seed: int, layers: int = 4, batch: int = 3, tokens: int = 5) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, tokens, 8, generator=gen) for _ in range(layers + 1)]


def test_block_influence_of_identical_states_is_zero_and_in_range() -> None:
    same = [torch.ones(2, 3, 4) * (1 + i) for i in range(4)]  # positive multiples: cos = 1
    mask = torch.ones(2, 3)
    bi = block_influence(same, mask)
    assert torch.isnan(bi[:, 0]).all() and torch.allclose(bi[:, 1:], torch.zeros(2, 3, dtype=F64))
    flipped = [torch.ones(2, 3, 4), -torch.ones(2, 3, 4)]  # opposite: cos = -1, BI = 2
    assert torch.allclose(block_influence(flipped, mask)[:, 1], torch.full((2,), 2.0, dtype=F64))
    random = block_influence(_states(0), torch.ones(3, 5))[:, 1:]
    assert ((random >= 0) & (random <= 2)).all()


def test_block_influence_averages_real_tokens_only() -> None:
    states = _states(1)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    bi = block_influence(states, mask)
    for b in range(3):
        n = int(mask[b].sum())
        alone = block_influence([s[b : b + 1, :n] for s in states], torch.ones(1, n))
        torch.testing.assert_close(bi[b : b + 1], alone, equal_nan=True)
    padded = [s.clone() for s in states]
    for s in padded:
        s[0, 3:] = 1e6  # padding values cannot matter
    torch.testing.assert_close(block_influence(padded, mask), bi, equal_nan=True)


def test_angular_distance_range_symmetry_scaling_and_zero() -> None:
    a, b = _states(2, layers=1)
    last = torch.tensor([4, 2, 0])
    d = angular_distance([a, b], last)[:, 1]
    assert ((d >= 0) & (d <= 1)).all()
    torch.testing.assert_close(angular_distance([b, a], last)[:, 1], d)
    torch.testing.assert_close(angular_distance([3.0 * a, 0.5 * b], last)[:, 1], d)
    assert torch.allclose(
        angular_distance([a, 2 * a], last)[:, 1], torch.zeros(3, dtype=F64), atol=1e-7
    )
    assert torch.allclose(angular_distance([a, -a], last)[:, 1], torch.ones(3, dtype=F64))
    rows = torch.stack([a[0, 4], b[0, 4]]).double()
    want = math.acos(float(rows[0] @ rows[1] / rows[0].norm() / rows[1].norm())) / math.pi
    assert float(d[0]) == pytest.approx(want, abs=1e-12)


def test_angular_span_compares_states_n_apart() -> None:
    states = _states(3, layers=5)
    last = torch.tensor([4, 4, 4])
    two = angular_distance(states, last, span=2)
    assert torch.isnan(two[:, :2]).all()
    for i in range(2, 6):
        torch.testing.assert_close(
            two[:, i], angular_distance([states[i - 2], states[i]], last)[:, 1]
        )


def test_cosine_of_a_zero_vector_is_undefined() -> None:
    assert torch.isnan(cosine(torch.zeros(3), torch.ones(3)))
    assert cosine(torch.ones(3), torch.ones(3)).dtype == torch.float64


@torch.inference_mode()
def test_batch_equals_one_by_one_on_a_real_forward() -> None:
    lm = tiny("llama")
    anatomy = discover(lm.model, lm.tokenizer)
    ids = [lm.tokenizer(p)["input_ids"] for p in ("The capital of France is", "Rome", "A b c")]

    def values(batch_size: int) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
        out = {}
        for batch in make_batches(ids, [1, 2, 3], batch_size, 0):
            with capture_blocks(anatomy.blocks, anatomy.slot, keep_inputs=False) as cap:
                forward(lm.model, batch.input_ids, batch.attention_mask)
            bi = block_influence(cap.states(), batch.attention_mask)
            ang = angular_distance(cap.states(), batch.last, 2)
            out.update({n: (bi[r], ang[r]) for r, n in enumerate(batch.index)})
        return out

    batched, single = values(3), values(1)
    for n in range(3):
        for a, b in zip(batched[n], single[n], strict=True):
            torch.testing.assert_close(a, b, equal_nan=True, atol=1e-6, rtol=0)


def test_summary_means_over_prompts_leaving_out_nan() -> None:
    bi = np.array([[np.nan, 0.2, 0.4], [np.nan, 0.4, np.nan]])
    section = summarize(bi, bi, 1)
    assert section["bi"][0] is None or math.isnan(section["bi"][0])
    assert section["bi"][1:] == pytest.approx([0.3, 0.4])


@pytest.mark.parametrize("model_type", ["llama", "mamba", "qwen3_5"])
def test_the_clean_pass_writes_the_section_rows_and_criteria(model_type, small_task) -> None:
    config = RunConfig(batch_size=3, methods=("lens", "agreement"), removal=RemovalConfig(span=2))
    results = trace(tiny(model_type), small_task, config)
    sim, L = results.similarity, results.model["num_layers"]
    assert sim["span"] == 2 and len(sim["bi"]) == len(sim["angular"]) == L + 1
    bi = np.array([row["bi"] for row in results.prompts], dtype=float)
    angular = np.array([row["angular"] for row in results.prompts], dtype=float)
    assert np.isnan(bi[:, 0]).all() and np.isnan(angular[:, :2]).all()
    assert ((bi[:, 1:] >= 0) & (bi[:, 1:] <= 2)).all()
    assert ((angular[:, 2:] >= 0) & (angular[:, 2:] <= 1)).all()
    np.testing.assert_allclose(sim["bi"][1:], bi[:, 1:].mean(0), rtol=1e-12)
    assert {"bi", "angular"} <= set(results.agreement["criteria"])
    np.testing.assert_allclose(results.agreement["curves"]["bi"][1:], sim["bi"][1:], rtol=1e-12)


def test_a_span_longer_than_the_model_is_a_config_error(small_task) -> None:
    with pytest.raises(ConfigError, match="removal-span"):
        trace(tiny("llama"), small_task, RunConfig(removal=RemovalConfig(span=9)))

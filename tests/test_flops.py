"""FLOP accounting (docs/performance.md#flop-accounting): the cost model of a tiny model
against a hand count from its config, and the counts of a forward and of a vulnerability
scan against torch's own FLOP counter (an independent count of the matmuls run)."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from layertracer import VulnerabilityConfig
from layertracer.engine.batching import make_batches
from layertracer.engine.flops import model_cost, suffix_sums
from layertracer.methods.vulnerability.flops import scan_flops
from layertracer.methods.vulnerability.perturb import plan_masks
from layertracer.methods.vulnerability.scan import VulnerabilityScan
from layertracer.methods.vulnerability.stats import ActivationStats
from layertracer.model.anatomy import discover
from layertracer.results.timing import rate, stage_seconds, with_work
from tests.conftest import tiny


def _counted(fn) -> int:
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        fn()
    return counter.get_total_flops()


def test_a_tiny_llama_costs_its_hand_count() -> None:
    lm = tiny("llama")
    c = lm.model.config
    d, inter, heads, kv, vocab = (
        c.hidden_size, c.intermediate_size, c.num_attention_heads, c.num_key_value_heads,
        c.vocab_size,
    )  # fmt: skip
    hd = getattr(c, "head_dim", None) or d // heads
    macs = d * heads * hd + 2 * d * kv * hd + heads * hd * d + 3 * d * inter  # q k v o, MLP
    cost = model_cost(lm.model, discover(lm.model, lm.tokenizer))
    assert len(cost.blocks) == c.num_hidden_layers
    for block in cost.blocks:
        assert (block.macs, block.score_width, block.state) == (macs, heads * hd, 0)
    T = 7
    by_hand = c.num_hidden_layers * (2 * macs * T + 2 * 2 * heads * hd * T * T)
    assert cost.forward([T, 3]) == by_hand + cost.forward([3])
    assert cost.unembed(5) == 2 * d * vocab * 5
    assert suffix_sums([1.0, 2.0, 4.0]) == [7.0, 6.0, 4.0, 0.0]


@pytest.mark.parametrize("model_type", ["llama", "mixtral"])  # dense; routed experts
def test_a_forward_costs_what_torch_counts(model_type: str) -> None:
    lm = tiny(model_type)
    cost = model_cost(lm.model, discover(lm.model, lm.tokenizer))
    ids = torch.randint(4, 900, (1, 9))
    ran = _counted(
        lambda: lm.model(input_ids=ids, attention_mask=torch.ones_like(ids), logits_to_keep=1)
    )
    assert cost.forward([9]) + cost.unembed(1) == ran


@pytest.mark.parametrize("replay", [True, False])
def test_a_scan_costs_what_torch_counts(replay: bool) -> None:
    lm = tiny("llama")
    anatomy = discover(lm.model, lm.tokenizer)
    L, d = anatomy.num_layers, anatomy.hidden_size
    cfg = VulnerabilityConfig(seeds=(0, 1, 2), replay=replay)
    plan = plan_masks(cfg, ActivationStats(), L, d, [])
    scan = VulnerabilityScan(lm.model, anatomy, cfg, plan)
    sequences = [[5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 15, 16], [20, 21, 22, 23, 24, 25]]
    ran = sum(_counted(lambda b=b: scan.add(b)) for b in make_batches(sequences, [1, 2, 3], 2, 0))
    path = scan.state.replay.path
    assert path == ("replay" if replay else "full")
    counted = scan_flops(model_cost(lm.model, anatomy), [6, 6, 6], 3, list(range(L + 1)), path=path)
    assert counted == ran


def test_the_timing_section_puts_work_beside_seconds() -> None:
    timing = with_work({"lens": 2.0, "vulnerability": 0.0}, {"lens": 4e9, "vulnerability": 1e9})
    assert timing["flops"] == {"lens": 4e9, "vulnerability": 1e9}
    assert timing["gflop_per_s"] == {"lens": 2.0, "vulnerability": None}
    assert stage_seconds(timing) == {"lens": 2.0, "vulnerability": 0.0}
    assert rate(None, 1.0) is None
    assert with_work({"lens": 1.0}, {}) == {"lens": 1.0}

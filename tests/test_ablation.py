"""Layer ablation: skipping a block == zeroing its output projections, replay == full passes,
batch == one-by-one, stacked layers == one at a time, on Transformer, SSM and hybrid."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from layertracer import RunConfig, trace
from layertracer.config import AblationConfig
from layertracer.engine.replay import SuffixRunner
from layertracer.engine.stacked import replay_from
from layertracer.model.anatomy import discover
from layertracer.model.capture import capture_blocks, forward
from layertracer.model.lens import gather_rows, lens_logprobs
from tests.conftest import tiny

ONLY = ("lens", "ablation")


def _ablate(lm, task, **cfg) -> dict:
    config = RunConfig(batch_size=cfg.pop("batch_size", 3), methods=ONLY, **cfg)
    return trace(lm, task, config)


def _drops(results) -> np.ndarray:
    return np.array([row["ablation_drop"][1:] for row in results.prompts])  # [N, L]


@torch.inference_mode()
def test_replaying_unedited_states_from_any_layers_is_clean() -> None:
    """Ablating nothing: the stacked replay of the clean states reproduces the clean output."""
    lm = tiny("llama")
    anatomy = discover(lm.model, lm.tokenizer)
    enc = lm.tokenizer(["The capital of France is", "Italy"], return_tensors="pt", padding=True)
    with capture_blocks(anatomy.blocks, anatomy.slot) as cap:
        forward(lm.model, enc["input_ids"], enc["attention_mask"])
    states, last = cap.states(), enc["attention_mask"].sum(1) - 1
    clean = lens_logprobs(anatomy, gather_rows(states[-1], last))
    starts = [0, 2, 1, anatomy.num_layers]
    final = replay_from(
        SuffixRunner(anatomy, cap), starts, lambda k: states[starts[k]], states.__getitem__
    )
    replayed = lens_logprobs(anatomy, gather_rows(final, last.repeat(len(starts))))
    assert (replayed - clean.repeat(len(starts), 1)).abs().max() < 1e-5


@torch.inference_mode()
def test_skipping_a_block_equals_zeroing_its_output_projections(small_task) -> None:
    lm = tiny("llama")
    results = _ablate(lm, small_task)
    L = results.model["num_layers"]
    for layer in range(1, L + 1):
        model = copy.deepcopy(lm.model)
        block = model.model.layers[layer - 1]
        block.self_attn.o_proj.weight.zero_()
        block.mlp.down_proj.weight.zero_()
        for item, row in zip(small_task.items, results.prompts, strict=True):
            ids = lm.tokenizer(item.prompt, return_tensors="pt")["input_ids"]
            logprob = model(ids).logits[0, -1].log_softmax(-1)[row["target_token_id"]]
            clean = lm.model(ids).logits[0, -1].log_softmax(-1)[row["target_token_id"]]
            assert abs(float(clean - logprob) - row["ablation_drop"][layer]) < 1e-5
            ablated_top1 = int(model(ids).logits[0, -1].argmax()) == row["target_token_id"]
            assert row["ablation_correct"][layer] == ablated_top1


@pytest.mark.parametrize("model_type", ["llama", "mamba", "jamba"])
def test_runs_through_trace_with_the_section_of_design_2(model_type: str, small_task) -> None:
    results = _ablate(tiny(model_type), small_task)
    a, L = results.ablation, results.model["num_layers"]
    assert len(a["target_logprob_drop"]) == len(a["accuracy_drop"]) == L + 1
    assert a["target_logprob_drop"][0] is None and a["accuracy_drop"][0] is None
    assert a["path"] == "replay" and a["replay_max_abs_err"] < 1e-4
    drops = _drops(results)
    assert np.isfinite(drops).all()
    np.testing.assert_allclose(a["target_logprob_drop"][1:], drops.mean(0), atol=1e-9)
    assert a["critical_layer"] == 1 + int(np.argmax(drops.mean(0)))
    ok = np.array([row["ablation_correct"][1:] for row in results.prompts], dtype=float)
    assert a["accuracy_drop"][1:] == pytest.approx(a["clean_accuracy"] - ok.mean(0))
    assert a["clean_accuracy"] == pytest.approx(results.accuracy)
    assert all(-1 <= v <= 1 for v in a["accuracy_drop"][1:])


@pytest.mark.parametrize("model_type", ["llama", "jamba"])
def test_batch_equals_one_by_one_and_stacking_changes_nothing(model_type, small_task) -> None:
    lm = tiny(model_type)
    batched = _drops(_ablate(lm, small_task, batch_size=6))
    single = _drops(_ablate(lm, small_task, batch_size=1))
    stacked = _ablate(lm, small_task, ablation=AblationConfig(layers_per_replay=3))
    # float32 log-probs of up to ~10 nats, summed in another order by other batch shapes:
    # rounding is relative (measured 1.2e-5 on 8.09 nats for jamba), hence rtol too.
    np.testing.assert_allclose(batched, single, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(_drops(stacked), single, atol=1e-5, rtol=1e-5)
    assert stacked.ablation["layers_per_replay"] == 3


def test_full_passes_give_the_same_drops_and_say_so(monkeypatch, small_task) -> None:
    lm = tiny("mamba")
    replay = _drops(_ablate(lm, small_task))
    full = _ablate(lm, small_task, ablation=AblationConfig(replay=False))
    assert full.ablation["path"] == "full"
    np.testing.assert_allclose(_drops(full), replay, atol=1e-5)
    original = SuffixRunner.run
    monkeypatch.setattr(SuffixRunner, "run", lambda self, i, s: original(self, i, s) + 0.05)
    fallback = _ablate(lm, small_task)
    assert fallback.ablation["path"] == "full"
    assert "replay" in fallback.ablation["fallback_reason"]
    assert any(w.startswith("ablation: suffix replay not used") for w in fallback.warnings)
    np.testing.assert_allclose(_drops(fallback), replay, atol=1e-5)

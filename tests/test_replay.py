"""Suffix replay reproduces the model: clean replay == clean output, edits == hooked passes."""

from __future__ import annotations

import pytest
import torch

from layertracer import RunConfig, VulnerabilityConfig, trace
from layertracer.engine.batching import build_batch
from layertracer.engine.replay import ReplayPath, SuffixRunner, full_pass
from layertracer.engine.scan import open_batch, per_replay
from layertracer.model.anatomy import discover
from layertracer.model.capture import capture_blocks, forward
from layertracer.model.lens import gather_rows, lens_logprobs
from layertracer.tasks import load_task
from tests.conftest import tiny

TYPES = ["llama", "gpt2", "mamba", "mamba2", "jamba", "qwen3_5", "falcon_h1", "rwkv"]


def _setup(model_type: str) -> tuple:
    lm = tiny(model_type)
    anatomy = discover(lm.model, lm.tokenizer)
    enc = lm.tokenizer(["The capital of France is", "Italy"], return_tensors="pt", padding=True)
    ids, mask = enc["input_ids"], enc["attention_mask"]
    with capture_blocks(anatomy.blocks, anatomy.slot) as cap:
        forward(lm.model, ids, mask)
    return lm, anatomy, ids, mask, cap, mask.sum(1) - 1


@pytest.mark.parametrize("model_type", TYPES)
@torch.inference_mode()
def test_clean_replay_from_every_layer_equals_clean(model_type: str) -> None:
    _, anatomy, _, _, cap, last = _setup(model_type)
    runner, states = SuffixRunner(anatomy, cap), cap.states()
    clean = lens_logprobs(anatomy, gather_rows(states[-1], last))
    for layer in range(anatomy.num_layers):
        stacked = states[layer].repeat(3, 1, 1)  # three "seeds" stacked in the batch
        final = runner.run(layer, stacked)
        replayed = lens_logprobs(anatomy, gather_rows(final, last.repeat(3)))
        assert (replayed - clean.repeat(3, 1)).abs().max() < 1e-4, layer


@pytest.mark.parametrize("model_type", TYPES)
@torch.inference_mode()
def test_edited_replay_equals_hooked_full_pass(model_type: str) -> None:
    lm, anatomy, ids, mask, cap, last = _setup(model_type)
    runner, states = SuffixRunner(anatomy, cap), cap.states()

    def edit(x: torch.Tensor) -> torch.Tensor:
        y = x[: ids.shape[0]].clone()
        y[..., :5] = 0.0
        return torch.cat([y, y * 0.5])  # two different edits stacked

    for layer in (0, anatomy.num_layers // 2, anatomy.num_layers):
        by_replay = runner.run(layer, edit(states[layer]))
        by_hooks = full_pass(lm.model, anatomy, ids.repeat(2, 1), mask.repeat(2, 1), layer, edit)
        a = lens_logprobs(anatomy, gather_rows(by_replay, last.repeat(2)))
        b = lens_logprobs(anatomy, gather_rows(by_hooks, last.repeat(2)))
        assert (a - b).abs().max() < 1e-4, layer


def test_hooks_are_removed_even_on_error() -> None:
    lm, anatomy, ids, mask, _, _ = _setup("llama")

    def broken(_x: torch.Tensor) -> torch.Tensor:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        full_pass(lm.model, anatomy, ids, mask, 1, broken)
    assert all(not b._forward_hooks and not b._forward_pre_hooks for b in anatomy.blocks)


@pytest.mark.parametrize("model_type", ["mpt", "bloom"])
def test_alibi_biases_replay_when_the_batch_equals_the_head_count(model_type: str) -> None:
    """mpt shares a [heads, 1, T] bias; bloom's is [batch·heads, 1, T]: 4 heads, batch 4."""
    lm = tiny(model_type)
    task = load_task("capitals", 4)
    v = trace(
        lm, task, RunConfig(batch_size=4, vulnerability=VulnerabilityConfig(seeds=(0, 1, 2)))
    ).vulnerability
    assert v["path"] == "replay", v["fallback_reason"]


@pytest.mark.parametrize("method", ["ablation", "tracing"])
def test_out_of_memory_in_replay_halves_the_batch_and_keeps_replay(
    method, small_task, monkeypatch
) -> None:
    section = {"ablation": "ablation", "tracing": "causal_tracing"}[method]
    cfg = RunConfig(batch_size=6, methods=("lens", method))
    plain = trace(tiny("llama"), small_task, cfg)
    real_run = SuffixRunner.run

    def run(self, layer, state):
        if self.batch > 1:  # replay fits one prompt at a time
            raise torch.OutOfMemoryError("CUDA out of memory (injected by the test)")
        return real_run(self, layer, state)

    monkeypatch.setattr(SuffixRunner, "run", run)
    split = trace(tiny("llama"), small_task, cfg)
    assert getattr(split, section)["path"] == "replay", getattr(split, section)["fallback_reason"]
    stage = split.environment["batching"]["stages"][method]
    assert stage["size"] == 1 and stage["oom_retries"] >= 1
    key = {"ablation": "target_logprob_drop", "tracing": "indirect_effect"}[method]
    a, b = getattr(plain, section)[key], getattr(split, section)[key]
    assert [x is None for x in a] == [x is None for x in b]
    assert [x for x in a if x is not None] == pytest.approx(
        [x for x in b if x is not None], abs=1e-5
    )


def test_a_model_with_a_side_channel_is_not_replayed_and_says_why(small_task) -> None:
    """Gemma 4 with shared keys and values: blocks 1 and 2 store what blocks 3 and 4 reuse,
    which a replay from a later layer would not recompute (the clean replay check cannot
    see it: replaying the clean state is exact)."""
    from layertracer.config import AblationConfig
    from layertracer.model.load import wrap
    from layertracer.model.tiny.build import build_tiny

    kinds = ["sliding_attention", "full_attention"] * 2
    overrides = {"initializer_range": 0.2, "num_kv_shared_layers": 2, "layer_types": kinds}
    lm = wrap(*build_tiny("gemma4", overrides=overrides), "tiny:gemma4-kv-shared")
    methods = ("lens", "vulnerability", "ablation")
    vul = VulnerabilityConfig(seeds=(0, 1))
    guarded = trace(lm, small_task, RunConfig(methods=methods, vulnerability=vul))
    for section in (guarded.vulnerability, guarded.ablation):
        assert section["path"] == "full" and "block 1 passes state" in section["fallback_reason"]
    said = [w for w in guarded.warnings if "suffix replay" in w]  # one wording for all
    reasons = [(m, getattr(guarded, m)["fallback_reason"]) for m in ("vulnerability", "ablation")]
    assert said == [f"{m}: suffix replay not used, full passes: {why}" for m, why in reasons]
    full = trace(
        lm,
        small_task,
        RunConfig(
            methods=methods,
            vulnerability=VulnerabilityConfig(seeds=(0, 1), replay=False),
            ablation=AblationConfig(replay=False),
        ),
    )
    for a, b in zip(guarded.vulnerability["js"], full.vulnerability["js"], strict=True):
        assert a == pytest.approx(b, abs=1e-6)
    drops = [x for x in guarded.ablation["target_logprob_drop"] if x is not None]
    want = [x for x in full.ablation["target_logprob_drop"] if x is not None]
    assert drops == pytest.approx(want, abs=1e-5)


@torch.inference_mode()
def test_the_scan_opening_is_the_clean_pass_with_the_runner_of_its_path() -> None:
    lm, anatomy, ids, mask, _, _ = _setup("llama")
    pad = lm.tokenizer.pad_token_id or 0
    rows = [row[m.bool()].tolist() for row, m in zip(ids, mask, strict=True)]
    batch = build_batch(rows, [1, 2], [0, 1], pad, ids.device)
    logits = lm.model(batch.input_ids, attention_mask=batch.attention_mask).logits
    own = torch.log_softmax(logits.float(), -1)[torch.arange(2), batch.last]  # [B, V]
    opening = open_batch(lm.model, anatomy, batch, ReplayPath.start(True), 3)
    assert len(opening.states) == anatomy.num_layers + 1 and opening.runner is not None
    assert (opening.clean - own).abs().max() < 1e-4
    final = opening.runner.run(0, opening.states[0].repeat(3, 1, 1))  # 3 copies stacked
    assert final.shape[0] == 3 * batch.size
    assert open_batch(lm.model, anatomy, batch, ReplayPath.start(False), 3).runner is None
    assert open_batch(lm.model, anatomy, batch, ReplayPath.start(True), 0).runner is None
    blocked = ReplayPath.start(True, "a side channel")
    assert open_batch(lm.model, anatomy, batch, blocked, 3).runner is None
    said = blocked.warning("removal")
    assert said == "removal: suffix replay not used, full passes: a side channel"
    assert ReplayPath.start(True).warning("removal") is None


def test_one_rule_for_copies_per_replay() -> None:
    cpu, gpu = torch.device("cpu"), torch.device("meta")
    assert per_replay(None, cpu, 30) == 1 and per_replay(None, gpu, 30) == 30
    assert per_replay(None, gpu, 0) == 1 and per_replay(4, cpu, 30) == per_replay(4, gpu, 30) == 4

"""The probe: every call recorded, final norm traced, batch-major arguments measured."""

from __future__ import annotations

from layertracer.model.anatomy import discover
from layertracer.model.probe import leaves, run_probe
from tests.conftest import tiny


def test_probe_records_blocks_norm_and_head_in_order() -> None:
    lm = tiny("llama")
    probe = run_probe(lm.model, lm.tokenizer)
    order = {c.name: c.order for c in probe.calls}
    assert order["model.layers.3"] < order["model.norm"] < order["lm_head"]
    assert probe.logits.shape[-1] == lm.model.config.vocab_size


def test_batch_major_arguments_are_measured() -> None:
    lm = tiny("llama")
    anatomy = discover(lm.model, lm.tokenizer)
    major, seen = anatomy.batch_major[0], anatomy.batch_seen[0]
    assert (0, 0) in major  # the hidden states: args[0]
    assert (1, "attention_mask") in major  # [B, 1, T, T] with padding
    rotary = {p for p in seen if p[:2] == (1, "position_embeddings")}
    assert rotary and not rotary & major  # cos/sin [1, T, d] are shared, not batch-major


def test_leaves_walks_nested_containers() -> None:
    import torch

    t = torch.zeros(1)
    found = dict(leaves(((t,), {"a": [None, t]})))
    assert set(found) == {(0, 0), (1, "a", 1)}

"""Layer removal (docs/method.md#layer-removal): k = 0 is the unpruned model, a removed
block's output is its input (== zeroing its output projections), replay == full passes,
batch == one by one, stacking changes nothing, side channels and shared modules are left
out, on Transformer, SSM and hybrid models; the CLI writes every criterion."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from layertracer import RunConfig, trace
from layertracer.config import REMOVAL_NEEDS, RemovalConfig
from layertracer.model.load import wrap
from layertracer.model.tiny import build_tiny
from layertracer.results import Results
from tests.conftest import run_cli, tiny

FAST = ("lens", "ablation", "removal")  # and what removal needs: vulnerability, cka, tracing


def _run(lm, task, methods=FAST, batch_size=3, **removal) -> Results:
    config = RunConfig(
        batch_size=batch_size, methods=methods, removal=RemovalConfig(max_blocks=3, **removal)
    )
    return trace(lm, task, config)


def _curves(results: Results) -> dict[str, np.ndarray]:
    """Per criterion, ``[3, K+1]``: accuracy, target log-prob, KL."""
    return {
        name: np.array([c["accuracy"], c["target_logprob"], c["kl"]])
        for name, c in results.removal["curves"].items()
    }


@torch.inference_mode()
def _own(lm, items, targets, removed=()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per prompt: log P(target), top-1 hit and KL(full ‖ model) of ``lm`` one prompt at a
    time, with the blocks ``removed`` zeroing their attention and MLP output projections."""
    model = copy.deepcopy(lm.model)
    for block in removed:
        layer = model.model.layers[block - 1]
        layer.self_attn.o_proj.weight.zero_()
        layer.mlp.down_proj.weight.zero_()
    lp, hit, kl = [], [], []
    for item, target in zip(items, targets, strict=True):
        ids = lm.tokenizer(item.prompt, return_tensors="pt")["input_ids"]
        mine = model(ids).logits[0, -1].log_softmax(-1).double()
        full = lm.model(ids).logits[0, -1].log_softmax(-1).double()
        lp.append(float(mine[target]))
        hit.append(int(mine.argmax()) == target)
        kl.append(float((full.exp() * (full - mine)).sum()))
    return np.array(lp), np.array(hit, dtype=float), np.array(kl)


def test_k0_is_the_unpruned_model_and_k2_equals_zeroed_projections(small_task) -> None:
    lm = tiny("llama")
    results = _run(lm, small_task)
    removal, targets = results.removal, [row["target_token_id"] for row in results.prompts]
    lp0, hit0, _ = _own(lm, small_task.items, targets)
    for name, curve in removal["curves"].items():
        assert curve["accuracy"][0] == results.accuracy  # exactly: the same lens read-out
        assert curve["target_logprob"][0] == pytest.approx(lp0.mean(), abs=1e-5)
        assert curve["kl"][0] == 0.0 and hit0.mean() == results.accuracy, name
    for name in ("ablation", "bi", "angular", "lens_slope"):
        removed = removal["orders"][name][:2]
        lp, hit, kl = _own(lm, small_task.items, targets, removed)
        curve = removal["curves"][name]
        assert curve["target_logprob"][2] == pytest.approx(lp.mean(), abs=1e-5), name
        assert curve["accuracy"][2] == pytest.approx(hit.mean()), name
        assert curve["kl"][2] == pytest.approx(kl.mean(), abs=1e-5), name


def test_section_contract_orders_areas_and_cost(small_task) -> None:
    results = _run(tiny("llama"), small_task, random_orders=3)
    removal, L = results.removal, results.model["num_layers"]
    K = removal["max_blocks"]
    # removal runs the methods whose criteria it ranks by, however the config is built
    assert set(REMOVAL_NEEDS) <= set(results.config["methods"])
    assert K == 3 and removal["criteria"][-1] == "random" and not removal["missing"]
    ranked = {"js", "cka", "ablation", "tracing", "lens_slope", "bi", "angular"}
    assert ranked <= set(removal["criteria"])
    for name, order in removal["orders"].items():
        assert sorted(order) == list(range(1, L + 1)), name
        score = np.array(removal["scores"][name], dtype=float)
        assert list(score[order]) == sorted(score[order]), name  # least critical first
    assert len(removal["random_orders"]) == 3
    assert all(sorted(o) == list(range(1, L + 1)) for o in removal["random_orders"])
    for curve in removal["curves"].values():
        assert len(curve["accuracy"]) == len(curve["target_logprob"]) == len(curve["kl"]) == K + 1
        assert all(v >= 0 for v in curve["kl"]) and curve["logprob_auc"] > 0
    band = removal["curves"]["random"]["target_logprob_band"]
    mean = removal["curves"]["random"]["target_logprob"]
    assert all(
        lo - 1e-12 <= m <= hi + 1e-12 for lo, m, hi in zip(band[0], mean, band[1], strict=True)
    )
    areas = {n: (c["accuracy_auc"], c["logprob_auc"]) for n, c in removal["curves"].items()}
    best = max(areas, key=lambda n: (areas[n][0] or -np.inf, areas[n][1]))
    assert removal["best"] == best
    assert removal["pruned_models"] <= (len(removal["orders"]) + 3) * K  # linear cost
    assert removal["path"] == "replay" and removal["replay_max_abs_err"] < 1e-4
    assert Results.from_dict(results.to_dict()).removal["best"] == best


@pytest.mark.parametrize("model_type", ["llama", "jamba"])
def test_replay_full_passes_batches_and_stacking_agree(model_type, small_task) -> None:
    lm = tiny(model_type)
    single = _curves(_run(lm, small_task, batch_size=1))
    full = _run(lm, small_task, batch_size=6, replay=False)
    stacked = _run(lm, small_task, batch_size=6, sets_per_replay=4)
    assert full.removal["path"] == "full" and stacked.removal["sets_per_replay"] == 4
    for other in (_curves(full), _curves(stacked)):
        for name, values in single.items():
            np.testing.assert_allclose(other[name], values, atol=1e-5, rtol=1e-5, err_msg=name)


def test_a_replay_that_is_not_exact_falls_back_to_full_passes(monkeypatch, small_task) -> None:
    from layertracer.engine.replay import SuffixRunner

    lm = tiny("mamba")
    replay = _curves(_run(lm, small_task))
    original = SuffixRunner.run
    monkeypatch.setattr(SuffixRunner, "run", lambda self, i, s: original(self, i, s) + 0.05)
    fallback = _run(lm, small_task)
    assert fallback.removal["path"] == "full" and "replay" in fallback.removal["fallback_reason"]
    assert any(w.startswith("removal: suffix replay not used") for w in fallback.warnings)
    for name, values in replay.items():
        np.testing.assert_allclose(_curves(fallback)[name], values, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("model_type", ["mamba", "jamba", "qwen3_5", "gpt2"])
def test_works_on_ssm_hybrid_and_gpt2(model_type, small_task) -> None:
    results = _run(tiny(model_type), small_task)
    removal = results.removal
    assert removal["path"] == "replay" and not removal["not_removable"]
    for curve in removal["curves"].values():
        assert curve["accuracy"][0] == results.accuracy and curve["kl"][0] == 0.0
        assert np.isfinite(curve["target_logprob"]).all() and np.isfinite(curve["kl"]).all()
    Results.from_dict(results.to_dict())


def test_a_block_with_a_side_channel_is_left_out(small_task) -> None:
    """Gemma 4 with shared keys and values: blocks 1 and 2 store what blocks 3 and 4 reuse."""
    kinds = ["sliding_attention", "full_attention"] * 2
    overrides = {"initializer_range": 0.2, "num_kv_shared_layers": 2, "layer_types": kinds}
    model, tokenizer = build_tiny("gemma4", overrides=overrides)
    results = _run(wrap(model, tokenizer, "tiny:gemma4-kv-shared"), small_task)
    removal = results.removal
    assert set(removal["not_removable"]) == {"1", "2"}
    assert "outside the residual stream" in removal["not_removable"]["1"]
    assert removal["removable"] == [None, False, False, True, True]
    orders = [*removal["orders"].values(), *removal["random_orders"]]
    assert all(sorted(order) == [3, 4] for order in orders)
    assert removal["max_blocks"] == 2 and removal["path"] == "full"
    assert sum("block 1 cannot be removed" in w for w in results.warnings) == 1


def test_nothing_removable_leaves_k0_only(monkeypatch, small_task) -> None:
    every = dict.fromkeys(range(1, 5), "a side channel")
    monkeypatch.setattr("layertracer.run.side_channels", lambda m, a, b: every)
    results = _run(tiny("llama"), small_task)
    removal = results.removal
    assert removal["max_blocks"] == 0 and removal["best"] is None and removal["pruned_models"] == 0
    assert all(c["accuracy"] == [results.accuracy] for c in removal["curves"].values())
    assert removal["removable"] == [None, False, False, False, False]
    Results.from_dict(results.to_dict())


def test_cli_run_pulls_in_every_criterion(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    args = ["run", "--model", "tiny:llama", "--task", "capitals", "--max-prompts", "4"]
    args += ["--methods", "lens,particles,vulnerability,removal", "--seeds", "0"]
    args += ["--tracing-copies", "2", "--tracing-map-prompts", "0", "--removal-blocks", "2"]
    args += ["--removal-span", "2", "--removal-random", "2", "--no-report", "--out", str(out)]
    code, stdout, err = run_cli(args, capsys)
    assert code == 0, err
    data = json.loads((out / "results.json").read_text())
    removal = data["removal"]
    want = ["js", "cka", "cka_text", "ablation", "tracing", "lens_slope", "bi", "angular"]
    assert removal["criteria"] == [*want, "random"] and removal["missing"] == []
    needed = {"vulnerability", "cka", "spectral", "ablation", "tracing"}
    assert set(data["config"]["methods"]) >= needed
    assert data["config"]["removal"]["span"] == 2 and removal["span"] == 2
    assert all(c["accuracy"][0] == data["accuracy"] for c in removal["curves"].values())
    assert "layer removal" in stdout
    Results.from_dict(data)

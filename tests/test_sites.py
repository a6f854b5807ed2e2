"""Vulnerability sites: found by structure, perturbed exactly, null where absent."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from layertracer import RunConfig, VulnerabilityConfig, trace
from layertracer.methods.metrics import js_divergence
from layertracer.model.anatomy import discover
from layertracer.model.sites import block_sites, candidates, site_map
from tests.conftest import run_cli, tiny


def _anatomy(model_type: str):
    lm = tiny(model_type)
    return lm, discover(lm.model, lm.tokenizer)


def _names(modules) -> list[str]:
    return [type(m).__name__ for m in modules]


def test_candidates_are_the_mixer_and_the_feed_forward_part() -> None:
    _, llama = _anatomy("llama")
    assert _names(candidates(llama.blocks[0], "mixer")) == ["LlamaAttention"]
    assert _names(candidates(llama.blocks[0], "mlp")) == ["LlamaMLP"]
    _, moe = _anatomy("qwen3_moe")  # family prefix "Qwen3Moe" must not make norms MLPs
    assert _names(candidates(moe.blocks[0], "mlp")) == ["Qwen3MoeSparseMoeBlock"]
    _, rwkv = _anatomy("rwkv")  # the channel mix is named like the time mix
    assert _names(candidates(rwkv.blocks[0], "mixer")) == ["RwkvSelfAttention"]
    assert _names(candidates(rwkv.blocks[0], "mlp")) == ["RwkvFeedForward"]
    _, falcon = _anatomy("falcon_h1")  # parallel hybrid: both mixers
    assert len(candidates(falcon.blocks[0], "mixer")) == 2


@pytest.mark.parametrize(
    ("model_type", "expected"),
    [
        ("llama", ["residual", "mixer", "mlp"]),
        ("mamba", ["residual", "mixer", "state"]),
        ("qwen3_next", ["residual", "mixer", "mlp", "state"]),
    ],
)
def test_block_sites(model_type: str, expected: list[str]) -> None:
    lm, anatomy = _anatomy(model_type)
    assert block_sites(lm.model, anatomy, lm.tokenizer)[0] == expected


def test_jamba_has_a_state_only_in_its_mamba_blocks() -> None:
    lm, anatomy = _anatomy("jamba")
    state = site_map(lm.model, anatomy, lm.tokenizer, "state").available
    assert state == [False] + ["mamba" in t for t in anatomy.layer_types]


def _site_run(model_type: str, task, site: str, **kwargs) -> dict:
    """A scan at ``site`` with the paper's masks (two seeds) unless ``kwargs`` say otherwise."""
    options = {"seeds": (0, 1), "site": site, **kwargs}
    cfg = RunConfig(
        batch_size=options.pop("batch_size", 3),
        methods=("lens", "vulnerability"),
        vulnerability=VulnerabilityConfig.preset("paper", **options),
    )
    return trace(tiny(model_type), task, cfg).vulnerability


def _js(v: dict) -> np.ndarray:
    return np.array([[np.nan if x is None else x for x in row] for row in v["js"]], dtype=float)


@pytest.mark.parametrize("model_type", ["llama", "jamba"])
@pytest.mark.parametrize("site", ["mixer", "mlp"])
@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_module_site_replay_equals_full_passes(small_task, model_type, site, mode) -> None:
    replay = _site_run(model_type, small_task, site, mask_mode=mode)
    full = _site_run(model_type, small_task, site, mask_mode=mode, replay=False)
    assert replay["path"] == "replay" and full["path"] == "full"
    assert np.isnan(_js(replay)[:, 0]).all()  # layer 0 has no block
    np.testing.assert_allclose(_js(replay), _js(full), atol=1e-6)


@torch.inference_mode()
@pytest.mark.parametrize(
    ("site", "weight"), [("mixer", "self_attn.o_proj"), ("mlp", "mlp.down_proj")]
)
def test_zeroing_output_rows_of_the_projection_gives_the_same_js(small_task, site, weight) -> None:
    """Independent of hooks: a copy of the model whose projection rows are zero."""
    lm = tiny("llama")
    v = _site_run("llama", small_task, site)
    ids = [lm.tokenizer(it.prompt, return_tensors="pt")["input_ids"] for it in small_task.items]
    clean = [lm.model(x).logits[0, -1].log_softmax(-1) for x in ids]
    for s, seed in enumerate(v["seeds"]):
        for layer in (1, 3):
            edited = copy.deepcopy(lm.model)
            proj = edited.get_submodule(f"model.layers.{layer - 1}.{weight}")
            proj.weight[v["masked_dims"][str(seed)][layer]] = 0
            js = [
                float(js_divergence(c, edited(x).logits[0, -1].log_softmax(-1)))
                for c, x in zip(clean, ids, strict=True)
            ]
            assert abs(np.mean(js) - v["js"][s][layer]) < 1e-5


@pytest.mark.parametrize("model_type", ["mamba", "jamba", "qwen3_next"])
def test_state_site_is_finite_null_where_absent_and_batch_independent(
    small_task, model_type
) -> None:
    batched = _site_run(model_type, small_task, "state", batch_size=6)
    single = _site_run(model_type, small_task, "state", batch_size=1)
    js = _js(batched)
    has = np.array(batched["site_layers"])
    assert batched["path"] == "cache-step" and batched["replay_max_abs_err"] < 1e-3
    assert np.isnan(js[:, ~has]).all() and np.all((js[:, has] >= 0) & (js[:, has] <= 1))
    assert js[:, has].max() > 0
    np.testing.assert_allclose(js, _js(single), atol=1e-5)
    k = batched["k"]
    assert all(len(d) in (0, k) for per in batched["masked_dims"].values() for d in per)


def test_state_site_gaussian_mean_and_norm_modes_run(small_task) -> None:
    for mode in ("mean", "gaussian", "norm"):
        v = _site_run("mamba", small_task, "state", mask_mode=mode)
        js = _js(v)
        assert np.isfinite(js[:, 1:]).all() and (js[:, 1:] > 0).any()
    assert v["k"] == 0  # norm: noise on the whole state, no element masked
    batched = _site_run("mamba", small_task, "state", mask_mode="norm", batch_size=6)
    single = _site_run("mamba", small_task, "state", mask_mode="norm", batch_size=1)
    np.testing.assert_allclose(_js(batched), _js(single), atol=1e-5)


def test_cli_site_errors(capsys, tmp_path) -> None:
    code, _, err = run_cli(
        [
            "run",
            "--model",
            "tiny:mamba",
            "--site",
            "mlp",
            "--max-prompts",
            "2",
            "--out",
            str(tmp_path),
        ],
        capsys,
    )
    assert code == 2 and "no block" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["run", "--site", "kv", "--out", str(tmp_path)], capsys)
    assert code == 2 and "--site" in err


def test_cli_site_run_writes_nulls(capsys, tmp_path) -> None:
    import json

    code, _, _ = run_cli(
        [
            "run",
            "--model",
            "tiny:llama",
            "--site",
            "mixer",
            "--max-prompts",
            "3",
            "--seeds",
            "0",
            "--out",
            str(tmp_path),
        ],
        capsys,
    )
    assert code == 0
    v = json.loads((tmp_path / "results.json").read_text())["vulnerability"]
    assert v["site"] == "mixer" and v["js_mean"][0] is None and v["argmax_layer"] >= 1
    assert (tmp_path / "report.html").exists()


def test_inspect_lists_sites_and_takes_overrides(capsys) -> None:
    import json

    code, out, _ = run_cli(["inspect", "--model", "tiny:jamba", "--json"], capsys)
    info = json.loads(out)
    assert code == 0 and info["sites"] == ["residual", "mixer", "mlp", "state"]
    assert [("state" in b["sites"]) for b in info["blocks"]] == [
        "mamba" in b["type"] for b in info["blocks"]
    ]
    code, _, err = run_cli(["inspect", "--model", "tiny:llama", "--blocks", "x.y"], capsys)
    assert code == 2 and "x.y" in err

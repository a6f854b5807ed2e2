"""Causal tracing: plain-hook recomputation, zero noise, batch == one-by-one, replay == full
passes, stacking, the map against the summary, every architecture, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from layertracer import RunConfig, trace
from layertracer.config import TracingConfig
from tests.conftest import run_cli, tiny

ONLY = ("lens", "tracing")


def _trace(lm, task, batch_size: int = 3, **cfg) -> object:
    tracing = TracingConfig(**{"copies": 3, "map_prompts": 2, **cfg})
    return trace(lm, task, RunConfig(batch_size=batch_size, methods=ONLY, tracing=tracing))


def _effects(results) -> np.ndarray:
    return np.array([row["tracing_effect"] for row in results.prompts])  # [N, L+1]


def _maps(results) -> list[np.ndarray]:
    return [np.array(row["tracing_map"]) for row in results.prompts if "tracing_map" in row]


def _plain_effects(lm, prompt: str, row: dict, section: dict) -> tuple[list[float], np.ndarray]:
    """Indirect effect per layer of one prompt by plain hooks on the Llama, all copies in one
    batch; also the subject-token embedding values."""
    layers, (start, end) = lm.model.model.layers, row["tracing_subject_span"]
    ids = lm.tokenizer(prompt, return_tensors="pt")["input_ids"]
    clean: list[torch.Tensor] = []
    handles = [layers[0].register_forward_pre_hook(lambda _m, a: clean.append(a[0][0].clone()))]
    handles += [
        b.register_forward_hook(lambda _m, _a, o: clean.append(o[0].clone())) for b in layers
    ]
    lm.model(ids)
    for h in handles:
        h.remove()
    d, copies = clean[0].shape[-1], len(section["seeds"])
    noise = torch.stack([
        torch.from_numpy(np.random.default_rng(s).standard_normal((end - start, d))).float()
        for s in section["seeds"]
    ]) * section["noise_scale"]  # fmt: skip

    def prob(restore: int | None) -> float:
        def corrupt(_m, args):
            x = args[0].clone()
            x[:, start:end] += noise
            if restore == 0:
                x[:, end - 1] = clean[0][end - 1]
            return (x, *args[1:])

        def put_back(_m, _a, out):
            x = out.clone()
            x[:, end - 1] = clean[restore][end - 1]
            return x

        hs = [layers[0].register_forward_pre_hook(corrupt)]
        if restore:
            hs.append(layers[restore - 1].register_forward_hook(put_back))
        try:
            logits = lm.model(ids.repeat(copies, 1)).logits[:, -1]
        finally:
            for h in hs:
                h.remove()
        return float(logits.softmax(-1)[:, row["target_token_id"]].mean())

    corrupted = prob(None)
    return [prob(i) - corrupted for i in range(len(layers) + 1)], clean[0][start:end].numpy()


@torch.inference_mode()
def test_plain_hooks_reproduce_the_effects_and_the_noise_scale(small_task) -> None:
    lm = tiny("llama")
    results = _trace(lm, small_task)
    section = results.causal_tracing
    values = []
    for item, row in zip(small_task.items, results.prompts, strict=True):
        plain, embedded = _plain_effects(lm, item.prompt, row, section)
        np.testing.assert_allclose(row["tracing_effect"], plain, atol=1e-7)
        values.append(embedded.ravel())
    std = float(np.concatenate(values).std(ddof=1))
    assert section["embedding_std"] == pytest.approx(std, rel=1e-6)
    assert section["noise_scale"] == pytest.approx(3.0 * std, rel=1e-6)
    assert section["seeds"] == [0, 1, 2] and section["subject_found"] == len(small_task.items)


@pytest.mark.parametrize("model_type", ["llama", "mamba"])
def test_zero_noise_gives_zero_effect(model_type: str, small_task) -> None:
    results = _trace(tiny(model_type), small_task, noise_multiplier=0.0)
    assert np.abs(_effects(results)).max() < 1e-6
    assert all(np.abs(m).max() < 1e-6 for m in _maps(results))
    section = results.causal_tracing
    assert section["p_corrupted"] == pytest.approx(section["p_clean"], abs=1e-6)


@pytest.mark.parametrize("model_type", ["llama", "mamba", "jamba"])
def test_runs_through_trace_and_the_map_agrees_with_the_summary(model_type, small_task) -> None:
    results = _trace(tiny(model_type), small_task)
    section, L = results.causal_tracing, results.model["num_layers"]
    effects = _effects(results)
    assert effects.shape == (len(small_task.items), L + 1) and np.isfinite(effects).all()
    np.testing.assert_allclose(section["indirect_effect"], effects.mean(0), atol=1e-12)
    assert section["critical_layer"] == int(np.argmax(effects.mean(0)))
    assert section["path"] == "replay" and section["copies"] == 3
    assert section["total_effect"] == pytest.approx(section["p_clean"] - section["p_corrupted"])
    maps = _maps(results)
    assert len(maps) == 2 == section["map"]["prompts"]
    for row, grid in zip(results.prompts, maps, strict=False):
        assert grid.shape == (row["num_tokens"], L + 1)
        last_subject = row["tracing_subject_span"][1] - 1
        np.testing.assert_allclose(grid[last_subject], row["tracing_effect"], atol=1e-6)
    aligned = section["map"]
    assert len(aligned["effect"]) == len(aligned["categories"]) == len(aligned["counts"])
    assert all(e is None or len(e) == L + 1 for e in aligned["effect"])


@pytest.mark.parametrize("model_type", ["llama", "jamba"])
def test_batch_equals_one_by_one_and_stacking_changes_nothing(model_type, small_task) -> None:
    lm = tiny(model_type)
    batched = _trace(lm, small_task, batch_size=6)
    single = _trace(lm, small_task, batch_size=1)
    stacked = _trace(lm, small_task, layers_per_replay=5)
    for other in (batched, stacked):
        np.testing.assert_allclose(_effects(other), _effects(single), atol=1e-6)
        for a, b in zip(_maps(other), _maps(single), strict=True):
            np.testing.assert_allclose(a, b, atol=1e-6)


def test_full_passes_give_the_same_effects(small_task) -> None:
    lm = tiny("mamba")
    replay = _trace(lm, small_task)
    full = _trace(lm, small_task, replay=False)
    assert full.causal_tracing["path"] == "full"
    np.testing.assert_allclose(_effects(full), _effects(replay), atol=1e-6)
    for a, b in zip(_maps(full), _maps(replay), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_cli_runs_ablation_and_tracing_and_draws_them(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    args = ["run", "--model", "tiny:llama", "--task", "capitals", "--max-prompts", "3"]
    args += ["--methods", "ablation,tracing", "--tracing-copies", "2", "--out", str(out)]
    code, _, err = run_cli([*args, "--tracing-map-prompts", "1"], capsys)
    assert code == 0, err
    data = json.loads((out / "results.json").read_text())
    assert (
        data["config"]["tracing"]["copies"] == 2 and data["causal_tracing"]["map"]["prompts"] == 1
    )
    assert data["ablation"]["target_logprob_drop"][0] is None
    assert (out / "ablation.png").is_file() and (out / "tracing.png").is_file()
    code, _, err = run_cli([*args, "--tracing-map-prompts", "some"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--tracing-map-prompts" in err

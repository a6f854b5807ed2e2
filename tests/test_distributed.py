"""Data-parallel runs: ``torchrun`` with 2 CPU ranks (gloo) writes the results.json of a
single process; sharding covers every batch once; statistics merge exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from layertracer.engine.distributed import World, rank_device
from layertracer.methods.vulnerability.stats import ActivationStats
from layertracer.model.anatomy import discover
from layertracer.model.capture import capture_blocks, forward
from layertracer.run import Run
from layertracer.tasks.encode import encode
from tests.conftest import run_cli, tiny

# Keys that legitimately differ between a 2-rank and a 1-rank run of the same analysis.
DIFFERENT = {"timing", "environment.world_size", "environment.batching.world_size"}
TASK = [
    ("The capital of France is", " Paris"),
    ("The capital of Italy is", " Rome"),
    ("Everyone knows that the capital of Spain is", " Madrid"),
    ("Berlin is the capital of", " Germany"),
    ("Tokyo", " Japan"),
]


def differences(a: object, b: object, path: str = "") -> list[str]:
    """Paths where two JSON values differ (numbers by more than 1e-6)."""
    if path.lstrip(".") in DIFFERENT:
        return []
    if isinstance(a, dict) and isinstance(b, dict):
        keys = set(a) | set(b)
        return [d for k in sorted(keys) for d in differences(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in differences(x, y, f"{path}[{i}]")]
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool):
        return [] if abs(a - b) <= 1e-6 else [f"{path}: {a} != {b}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


@pytest.mark.parametrize("site", ["residual", "mixer"])  # mixer: per-site statistics merge
def test_torchrun_two_ranks_write_the_results_of_one_process(tmp_path, capsys, site) -> None:
    task = tmp_path / "task.jsonl"
    task.write_text("".join(json.dumps({"prompt": p, "target": t}) + "\n" for p, t in TASK))
    args = ["run", "--model", "tiny:llama", "--task", str(task), "--batch-size", "2"]
    args += ["--mask-mode", "mean", "--seeds", "0,1", "--no-report", "--site", site]
    code, _, err = run_cli([*args, "--out", str(tmp_path / "one")], capsys)
    assert code == 0, err
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node", "2", "-m", "layertracer", *args]
    done = subprocess.run(
        [*command, "--out", str(tmp_path / "two")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    one = json.loads((tmp_path / "one" / "results.json").read_text())
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    assert differences(one, two) == []
    assert two["environment"]["world_size"] == 2 and one["environment"]["world_size"] == 1
    assert done.stdout.count("results:") == 1  # rank 0 alone reports and writes
    files = [".layertracer-run.json", "arrays.npz", "prompts.csv", "results.json"]
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == files
    arrays = [np.load(tmp_path / run / "arrays.npz") for run in ("one", "two")]
    assert arrays[0].files == arrays[1].files
    for key in arrays[0].files:
        np.testing.assert_allclose(arrays[0][key], arrays[1][key], atol=1e-6)


@pytest.mark.parametrize("size", [2, 3])
def test_ranks_share_the_batches_of_one_process_exactly_once(small_task, size: int) -> None:
    lm = tiny("llama")
    anatomy = discover(lm.model, lm.tokenizer)
    encoded = [encode(lm.tokenizer, it.prompt, it.target) for it in small_task.items]

    def plan(world: World) -> list[list[int]]:
        run = Run(lm, anatomy, None, small_task, encoded, world=world, batch_size=2)
        return [b.index for b in run.batches()]

    single = plan(World())
    shards = [plan(World(rank, size)) for rank in range(size)]
    assert sorted(map(tuple, (b for s in shards for b in s))) == sorted(map(tuple, single))
    assert shards[0] == single[::size]  # rank r: batches r, r+W, ... of the same plan
    assert World().gather({3: "a", 1: "b"}) == {3: "a", 1: "b"}
    assert World(1, 2).shard(list(range(5))) == [1, 3]


@torch.inference_mode()
def test_stats_of_two_parts_merged_equal_one_set_of_both(small_task) -> None:
    lm = tiny("llama")
    anatomy = discover(lm.model, lm.tokenizer)
    halves = [small_task.items[:3], small_task.items[3:]]
    whole, parts = ActivationStats(), []  # whole: one set over both halves
    for items in halves:
        enc = lm.tokenizer([it.prompt for it in items], return_tensors="pt", padding=True)
        with capture_blocks(anatomy.blocks, anatomy.slot, keep_inputs=False) as cap:
            forward(lm.model, enc["input_ids"], enc["attention_mask"])
        whole.add(cap.states(), enc["attention_mask"])
        part = ActivationStats()
        part.add(cap.states(), enc["attention_mask"])
        parts.append(part.finish())
    whole.finish()
    merged = ActivationStats().merge(parts[0]).merge(parts[1])
    assert merged.count == whole.count
    for got, want in ((merged.mean(), whole.mean()), (merged.std(), whole.std())):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(merged.mean_abs().numpy(), whole.mean_abs().numpy(), rtol=1e-12)


def test_rank_device_is_the_local_gpu_only_for_a_cuda_run() -> None:
    assert rank_device("cpu", World(1, 2, 1)) == "cpu"
    assert rank_device("cuda", World(1, 2, 1)) == "cuda:1"
    assert rank_device("cuda", World()) == "cuda"

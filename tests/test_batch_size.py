"""Adaptive batch size: an out-of-memory batch is split and retried, the numbers do not
change, the size used is recorded; ``--batch-size auto`` from free memory."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from layertracer import RunConfig, VulnerabilityConfig, trace
from layertracer.config import parse_batch_size
from layertracer.engine.batch_size import BatchSizer, auto_batch_size, per_prompt_bytes
from layertracer.engine.batching import make_batches
from layertracer.errors import ConfigError
from layertracer.methods.vulnerability.scan import VulnerabilityScan
from tests.conftest import tiny

clean_module = importlib.import_module("layertracer.stages.clean")  # the lens pass

SEQUENCES = [[1, 2, 3], [4], [5, 6], [7, 8, 9, 10], [11, 12], [13], [14, 15, 16]]


def oom() -> torch.OutOfMemoryError:
    return torch.OutOfMemoryError("CUDA out of memory (injected by the test)")


def test_sizer_halves_on_oom_and_runs_every_row_once() -> None:
    seen: list[list[int]] = []

    def work(batch) -> None:
        if batch.size > 2:
            raise oom()
        seen.append(batch.index)

    sizer = BatchSizer(size=7)
    for batch in make_batches(SEQUENCES, list(range(7)), 7, 0):
        sizer.run(batch, work)
    order = sorted(range(7), key=lambda n: (len(SEQUENCES[n]), n))
    assert [n for part in seen for n in part] == order  # each row once, in order
    assert sizer.size == 2 and sizer.retries == 2  # 7 -> 4 (fails again) -> 2
    assert all(len(part) <= 2 for part in seen)


def test_sizer_keeps_the_smaller_size_for_later_batches() -> None:
    sizes: list[int] = []

    def work(batch) -> None:
        if batch.size > 3:
            raise oom()
        sizes.append(batch.size)

    sizer = BatchSizer(size=4)
    for batch in make_batches(SEQUENCES, list(range(7)), 4, 0):
        sizer.run(batch, work)
    assert sizes == [2, 2, 2, 1] and sizer.retries == 1  # the second batch is split up front


def test_sizer_reraises_when_one_prompt_does_not_fit_and_other_errors_at_once() -> None:
    batch = next(make_batches(SEQUENCES, list(range(7)), 4, 0))
    with pytest.raises(torch.OutOfMemoryError):
        BatchSizer(size=4).run(batch, lambda b: (_ for _ in ()).throw(oom()))
    calls: list[int] = []

    def broken(b) -> None:
        calls.append(b.size)
        raise ValueError("not memory")

    with pytest.raises(ValueError):
        BatchSizer(size=4).run(batch, broken)
    assert calls == [4]


def test_injected_oom_gives_the_numbers_of_a_run_without_it(small_task, monkeypatch) -> None:
    cfg = RunConfig(batch_size=6, vulnerability=VulnerabilityConfig(seeds=(0, 1)))
    plain = trace(tiny("llama"), small_task, cfg)
    real_traj, real_add = clean_module.trajectories, VulnerabilityScan.add

    def traj(anatomy, states, last, *args, **kwargs):
        if len(last) > 3:  # the lens pass fits 3 prompts
            raise oom()
        return real_traj(anatomy, states, last, *args, **kwargs)

    def add(self, batch, *args, **kwargs):
        if batch.size > 1:  # the scan fits one prompt
            raise oom()
        return real_add(self, batch, *args, **kwargs)

    monkeypatch.setattr(clean_module, "trajectories", traj)
    monkeypatch.setattr(VulnerabilityScan, "add", add)
    split = trace(tiny("llama"), small_task, cfg)
    for a, b in zip(plain.prompts, split.prompts, strict=True):
        np.testing.assert_allclose(a["target_prob"], b["target_prob"], atol=1e-5)
        np.testing.assert_allclose(a["js_mean"], b["js_mean"], atol=1e-5)
    np.testing.assert_allclose(plain.vulnerability["js"], split.vulnerability["js"], atol=1e-5)
    assert plain.lens["fidelity_max_abs_err"] <= 1e-3 and split.vulnerability["prompts"] == 6
    stages = split.environment["batching"]["stages"]
    assert stages["lens"] == {"size": 3, "oom_retries": 1}
    assert stages["vulnerability"]["size"] == 1 and stages["vulnerability"]["oom_retries"] >= 1
    assert plain.environment["batching"]["stages"]["vulnerability"] == {
        "size": 6,
        "oom_retries": 0,
    }


def test_batch_size_auto_parses_validates_and_runs_on_cpu(small_task) -> None:
    assert parse_batch_size("auto") == "auto" and parse_batch_size("12") == 12
    with pytest.raises(ConfigError, match="batch-size"):
        parse_batch_size("many")
    with pytest.raises(ConfigError, match="batch-size"):
        RunConfig(batch_size="big")
    results = trace(tiny("llama"), small_task, RunConfig(batch_size="auto", methods=("lens",)))
    assert results.environment["batching"]["requested"] == "auto"
    assert results.environment["batching"]["start"] == 8  # CPU default
    assert results.config["batch_size"] == "auto"


def test_auto_estimate_uses_free_gpu_memory(monkeypatch) -> None:
    lm = tiny("llama")
    need = per_prompt_bytes(lm.model.config, 32, 4096, 128, 3, 2)
    assert 50e6 < need < 300e6  # a 7B-shaped prompt of 128 tokens: ~0.1 GB
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda _device: (int(40e9), int(80e9)))
    size = auto_batch_size(torch.device("cuda"), need)
    assert size == min(256, int(20e9) // need)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda _device: (1, int(80e9)))
    assert auto_batch_size(torch.device("cuda"), need) == 1
    assert auto_batch_size(torch.device("cpu"), need) == 8

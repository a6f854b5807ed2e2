"""Tests for layertracer.cli.execute: a killed run resumes to the same numbers, Ctrl-C says
what was kept, a second run into a busy folder is refused, an earlier run is kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import run_cli, sigint_default

ARGS = ["run", "--model", "tiny:llama", "--task", "capitals", "--batch-size", "2"]
ARGS += ["--methods", "lens,particles,vulnerability", "--no-report"]
ENV = {**os.environ, "LAYERTRACER_CHECKPOINT_SECONDS": "0", "OMP_NUM_THREADS": "1"}


def _start(out: Path) -> subprocess.Popen:
    env = {**ENV, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    command = [sys.executable, "-m", "layertracer", *ARGS, "--out", str(out)]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=sigint_default,
    )  # fmt: skip


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float = 240) -> None:
    end = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.02)


def _numbers(path: Path) -> dict:
    data = json.loads((path / "results.json").read_text())
    data.pop("timing"), data.pop("environment")
    return data


def test_a_killed_run_resumes_to_the_numbers_of_an_uninterrupted_one(tmp_path, capsys) -> None:
    whole = tmp_path / "whole"
    code, _, err = run_cli([*ARGS, "--out", str(whole)], capsys)
    assert code == 0, err
    killed = tmp_path / "killed"
    proc = _start(killed)
    staging = tmp_path / ".killed.layertracer-staging"
    _wait_for(staging / "checkpoints" / "vulnerability.npz", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "results.json").exists()  # nothing published
    code, _, err = run_cli([*ARGS, "--out", str(killed), "--resume"], capsys)
    assert code == 0, err
    assert _numbers(killed) == _numbers(whole)
    resumed = json.loads((killed / "results.json").read_text())["environment"]["resumed_batches"]
    assert resumed["vulnerability"] >= 1
    assert not staging.exists()  # published: the resumable state is gone
    for folder in (whole, killed):
        assert not {"checkpoints", "run-config.json"} & {p.name for p in folder.iterdir()}


def test_ctrl_c_says_what_was_kept_and_publishes_nothing(tmp_path) -> None:
    out = tmp_path / "run"
    proc = _start(out)
    _wait_for(tmp_path / ".run.layertracer-staging" / "checkpoints" / "vulnerability.npz", proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    lines = [line for line in err.decode().splitlines() if line.strip()]
    assert proc.returncode == 130, err.decode()[-2000:]
    assert lines[-1].startswith("interrupted: nothing published") and "--resume" in lines[-1]
    assert not (out / "results.json").exists()


def test_a_busy_folder_and_an_earlier_run_are_refused(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    proc = _start(out)
    try:
        _wait_for(tmp_path / ".run.layertracer-lock", proc)
        code, _, err = run_cli([*ARGS, "--out", str(out)], capsys)
        assert code == 2 and f"in use by pid {proc.pid}" in err and err.count("\n") == 1
    finally:
        proc.kill()
        proc.wait()
    (out / "results.json").parent.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text("{}")
    code, _, err = run_cli([*ARGS, "--out", str(out)], capsys)  # the dead run's lock is stale
    assert code == 2 and "earlier run" in err and "--overwrite" in err
    assert (out / "results.json").read_text() == "{}"


def test_resume_with_other_options_names_them(tmp_path, capsys) -> None:
    first = tmp_path / "first"
    code, _, err = run_cli([*ARGS, "--max-prompts", "4", "--out", str(first)], capsys)
    assert code == 0, err
    staging = tmp_path / ".second.layertracer-staging"  # an interrupted run's, without batches
    staging.mkdir()
    config = json.loads((first / "results.json").read_text())["config"]
    (staging / "run-config.json").write_text(json.dumps(config))
    second = [*ARGS, "--out", str(tmp_path / "second"), "--resume"]
    code, _, err = run_cli([*second, "--max-prompts", "5", "--seeds", "0,1"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "other options (max_prompts, vulnerability.seeds)" in err
    code, _, err = run_cli([*second, "--max-prompts", "4"], capsys)
    assert code == 0, err
    assert _numbers(tmp_path / "second") == _numbers(first)


def test_under_torchrun_a_failed_report_is_reported_as_in_any_run(
    tmp_path, capsys, monkeypatch, small_task
) -> None:
    """Rank 0 of a torchrun run publishes the results whole and, if the report fails,
    says so and exits 2, like a single-process run."""
    import importlib

    from layertracer.pipeline import trace
    from tests.conftest import tiny

    results = trace(tiny("llama"), small_task, {"methods": "lens", "max_prompts": 2})
    monkeypatch.setattr(importlib.import_module("layertracer.pipeline"), "trace",
                        lambda *args, **kwargs: results)  # fmt: skip

    def broken(*args, **kwargs):
        raise RuntimeError("no figures today")

    monkeypatch.setattr(importlib.import_module("layertracer.report"), "write_report", broken)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    out = tmp_path / "run"
    args = [arg for arg in ARGS if arg != "--no-report"]
    code, _, err = run_cli([*args, "--out", str(out)], capsys)
    assert code == 2 and "report not written (RuntimeError: no figures today)" in err
    assert (out / "results.json").is_file() and not (out / "report.html").exists()
    assert not list(tmp_path.glob(".*staging*"))  # published whole, nothing left aside

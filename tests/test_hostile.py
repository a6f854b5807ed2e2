"""Hostile cases of issue 25: a prepared folder, a planted checkpoint, a race for the lock,
a kill inside publication, and bad inputs that must end in one line and exit 2."""

from __future__ import annotations

import json
import math
import os
import pickle
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from layertracer.engine.checkpoint import Checkpoints
from layertracer.engine.replay import ReplayPath
from layertracer.errors import ConfigError
from layertracer.results import outdir as outdir_module
from layertracer.results.outdir import MANIFEST, OutputDir
from tests.conftest import run_cli, sigint_default

TINY = ["run", "--model", "tiny:llama", "--task", "capitals", "--max-prompts", "3"]
TINY += ["--methods", "lens,particles,vulnerability", "--no-report", "--seeds", "0", "--quiet"]


def _publish(outdir: OutputDir, files: dict[str, str]) -> Path:
    with outdir.lock():
        staging = outdir.start()
        for name, text in files.items():
            (staging / name).write_text(text)
        return outdir.publish()


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` (symlinks as their target), by relative path."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            found[str(path.relative_to(root))] = "-> " + os.readlink(path)
        elif path.is_file():
            found[str(path.relative_to(root))] = path.read_text()
    return found


def test_a_planted_manifest_deletes_nothing_outside_the_runs_own_files(tmp_path: Path) -> None:
    parent = tmp_path / "share"
    out = parent / "x"
    out.mkdir(parents=True)
    (parent / "precious.txt").write_text("parent's")
    (tmp_path / "elsewhere.txt").write_text("far")
    (out / "results.json").write_text("{}")
    (out / "prompts.csv").write_text("old")
    listed = ["..", ".", "user.txt", "link", "../precious.txt", "/etc/passwd", "results.json"]
    (out / MANIFEST).write_text(json.dumps({"files": listed}))
    before = _tree(tmp_path)
    _publish(OutputDir(out, overwrite=True), {"results.json": "new"})
    after = _tree(tmp_path)
    assert after["share/precious.txt"] == "parent's" and after["elsewhere.txt"] == "far"
    assert after["share/x/results.json"] == "new"
    assert "share/x/prompts.csv" not in after  # the earlier run's own file, replaced
    assert {k: v for k, v in before.items() if "/x/" not in k} == {
        k: v for k, v in after.items() if "/x/" not in k
    }
    (out / "user.txt").write_text("mine")  # a user file: --overwrite refuses, naming it
    with pytest.raises(ConfigError, match=r"user\.txt"):
        _publish(OutputDir(out, overwrite=True), {"results.json": "newer"})
    (out / "user.txt").unlink()
    (out / "arrays.npz").symlink_to(parent / "precious.txt")  # a run's name, but a symlink
    with pytest.raises(ConfigError, match="symlink"):
        _publish(OutputDir(out, overwrite=True), {"results.json": "newer"})
    assert (parent / "precious.txt").read_text() == "parent's"
    assert (out / "results.json").read_text() == "new"


def test_a_folder_of_the_users_is_never_written_into(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"notes\.txt"):
        OutputDir(tmp_path).check()
    with pytest.raises(ConfigError, match="empty"):
        OutputDir("")
    os.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    assert OutputDir("sub/..").target == tmp_path  # the folder '..' leads to, not beside sub
    assert OutputDir("sub/..").staging.parent == tmp_path.parent


class _Planted:
    """A pickle that would create a file when loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


@dataclass
class _State:
    per_prompt: dict[int, np.ndarray] = field(default_factory=dict)
    names: dict[int, list[float | None]] = field(default_factory=dict)
    replay: ReplayPath = field(default_factory=ReplayPath)


def _bound(folder: Path, prompts: list[tuple]) -> Checkpoints:
    checkpoints = Checkpoints(folder)
    checkpoints.bind({"seeds": [0, 1]}, prompts)
    return checkpoints


def test_a_checkpoint_round_trips_without_pickle(tmp_path: Path) -> None:
    prompts = [((1, 2, 3), 4), ((5, 6), 7)]
    state = _State({0: np.arange(6.0).reshape(2, 3)}, {1: [None, 0.5, float("nan")]})
    state.replay = ReplayPath("full", "a side channel", 1e-3)
    _bound(tmp_path, prompts).save("vulnerability", {(0, 1)}, state, final=True)
    fresh = _State()
    done = _bound(tmp_path, prompts).load("vulnerability", fresh)
    assert done == {(0, 1)} and fresh.replay == state.replay
    np.testing.assert_array_equal(fresh.per_prompt[0], state.per_prompt[0])
    assert fresh.names[1][:2] == [None, 0.5] and np.isnan(fresh.names[1][2])
    with np.load(tmp_path / "vulnerability.npz", allow_pickle=False) as members:
        assert "meta" in members.files  # loads with pickles refused


def test_a_planted_corrupt_or_foreign_checkpoint_is_one_line(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    prompts = [((1, 2, 3), 4), ((5, 6), 7)]
    planted = pickle.dumps(([(0, 1)], _Planted(marker)))
    for content in (planted, b"PK\x03\x04 truncated", b""):
        (tmp_path / "vulnerability.npz").write_bytes(content)
        with pytest.raises(ConfigError, match="unreadable or not this tool's"):
            _bound(tmp_path, prompts).load("vulnerability", _State())
    (tmp_path / "vulnerability.npz").unlink()
    (tmp_path / "vulnerability.pkl").write_bytes(planted)  # the old name: never read
    assert _bound(tmp_path, prompts).load("ablation", _State()) == set()
    assert not marker.exists()
    _bound(tmp_path, prompts).save("vulnerability", {(0, 1)}, _State(), final=True)
    with pytest.raises(ConfigError, match="other options"):
        other = Checkpoints(tmp_path)
        other.bind({"seeds": [0]}, prompts)
        other.load("vulnerability", _State())
    with pytest.raises(ConfigError, match="2 of 2 prompts differ"):  # permuted prompts
        _bound(tmp_path, prompts[::-1]).load("vulnerability", _State())
    with pytest.raises(ConfigError, match="this run has 1"):
        _bound(tmp_path, prompts[:1]).load("vulnerability", _State())


def test_a_planted_pickle_never_runs_from_the_command_line(tmp_path: Path, capsys) -> None:
    marker = tmp_path / "pwned"
    staging = tmp_path / ".run.layertracer-staging"
    (staging / "checkpoints").mkdir(parents=True)
    planted = pickle.dumps(([(0, 1)], _Planted(marker)))
    for name in ("vulnerability.pkl", "vulnerability.npz"):
        (staging / "checkpoints" / name).write_bytes(planted)
    code, _, err = run_cli([*TINY, "--out", str(tmp_path / "run"), "--resume"], capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert "unreadable or not this tool's" in err
    assert not marker.exists()
    (staging / "run-config.json").write_text('{"model": ')  # corrupted options
    code, _, err = run_cli([*TINY, "--out", str(tmp_path / "run"), "--resume"], capsys)
    assert code == 2 and err.count("\n") == 1 and "is corrupt" in err, err


RACER = """
import os, sys
from pathlib import Path
from layertracer.errors import ConfigError
from layertracer.results.outdir import OutputDir
out, inside, rounds = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
held = clashes = 0
for _ in range(rounds):
    try:
        with OutputDir(out, overwrite=True).lock():
            try:
                fd = os.open(inside, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                clashes += 1
                continue
            held += 1
            os.close(fd)
            os.unlink(inside)
    except ConfigError:
        pass
print(held, clashes)
"""


def test_two_processes_never_hold_the_lock_at_once(tmp_path: Path) -> None:
    """Two processes, 3,000 rounds each (the issue's audit), one through a symlink alias of
    the folder."""
    (tmp_path / "run").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "run")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(tmp_path / name), str(tmp_path / "inside"), "3000"],
            env=env, stdout=subprocess.PIPE, text=True,
        )
        for name in ("run", "alias")
    ]  # fmt: skip
    counts = [tuple(map(int, p.communicate(timeout=300)[0].split())) for p in procs]
    assert all(clashes == 0 for _, clashes in counts), counts
    assert all(held > 0 for held, _ in counts), counts


def test_aliases_of_a_folder_share_its_lock(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "run")
    os.chdir(tmp_path)
    aliases = ["alias", str(tmp_path / "run"), "run/../run", "./run"]
    with OutputDir("run").lock():
        for alias in aliases:
            with pytest.raises(ConfigError, match="in use by pid"), OutputDir(alias).lock():
                pass


class _Killed(BaseException):
    """A kill -9 between two steps: nothing after it runs."""


@pytest.mark.parametrize("step", ["aside", "renamed"])
def test_a_kill_between_publication_steps_leaves_a_whole_run(tmp_path, monkeypatch, step) -> None:
    out = tmp_path / "run"
    old = {"results.json": "old", "prompts.csv": "old", "js.png": "old"}
    new = {"results.json": "new", "report.html": "new"}
    _publish(OutputDir(out), old)

    def kill(name: str) -> None:
        if name == step:
            raise _Killed

    monkeypatch.setattr(outdir_module, "_step", kill)
    with pytest.raises(_Killed):
        _publish(OutputDir(out, overwrite=True), new)
    monkeypatch.undo()
    here = {k: v for k, v in _tree(out).items() if k != MANIFEST} if out.exists() else {}
    assert here in ({}, old, new)  # between the renames --out is absent, the old run aside
    with OutputDir(out, overwrite=True).lock():  # the next run finishes or undoes it
        pass
    assert {k: v for k, v in _tree(out).items() if k != MANIFEST} == (
        old if step == "aside" else new
    )
    assert not OutputDir(out).aside.exists()  # (the staging folder stays, as after any kill)


@pytest.mark.parametrize(
    ("mode", "site"), [("norm", "residual"), ("gaussian", "residual"), ("norm", "state")]
)
def test_a_prompts_numbers_do_not_depend_on_its_place_in_the_task(small_task, mode, site):
    """Reordering the task (and so the batches) leaves every prompt's JS per seed as it was."""
    from layertracer import RunConfig, trace
    from layertracer.config import VulnerabilityConfig
    from layertracer.tasks import Task
    from tests.conftest import tiny

    lm = tiny("mamba" if site == "state" else "llama")
    cfg = VulnerabilityConfig(seeds=(0, 1), mask_mode=mode, site=site)
    config = RunConfig(batch_size=2, methods=("lens", "vulnerability"), vulnerability=cfg)
    order = [4, 1, 5, 0, 3, 2]
    shuffled = Task("shuffled", "test", tuple(small_task.items[i] for i in order))
    a = trace(lm, small_task, config).arrays["js"]
    b = trace(lm, shuffled, config).arrays["js"]
    for position, original in enumerate(order):
        np.testing.assert_allclose(b[position], a[original], rtol=1e-5, atol=1e-6)


def _one_line(code: int, err: str, status: int = 2) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == status and len(lines) == 1, (code, err)
    return lines[0]


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--seeds", str(2**64)], "--seeds must be in 0..2**63-1"),
        (["--removal-random", "1000000000"], "--removal-random must be at most"),
        (["--max-seeds", "100000", "--seeds", "auto"], "--max-seeds must be at most"),
        (["--out", ""], "--out is empty"),
    ],
)
def test_bounded_options_are_refused_before_any_work(tmp_path, capsys, extra, said) -> None:
    args = [*TINY, *extra] if "--out" in extra else [*TINY, "--out", str(tmp_path / "r"), *extra]
    code, _, err = run_cli(args, capsys)
    assert said in _one_line(code, err)
    assert os.listdir(tmp_path) == []  # no staging folder, no lock, nothing


def test_a_bad_checkpoint_interval_is_one_line_and_leaves_no_staging(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LAYERTRACER_CHECKPOINT_SECONDS", "abc")
    code, _, err = run_cli([*TINY, "--out", str(tmp_path / "r")], capsys)
    assert "LAYERTRACER_CHECKPOINT_SECONDS must be a number" in _one_line(code, err)
    assert os.listdir(tmp_path) == []


def _task_file(path: Path, prompt: str = '"The capital of France is"') -> Path:
    path.write_text(f'{{"prompt": {prompt}, "target": " Paris"}}\n')
    return path


@pytest.mark.parametrize("case", ["fifo", "surrogate", "surrogate-id", "deep", "huge"])
def test_hostile_task_files_are_one_line(tmp_path, capsys, case) -> None:
    task = tmp_path / "task.jsonl"
    if case == "fifo":
        os.mkfifo(task)
    elif case == "surrogate":
        _task_file(task, '"The capital of \\ud800 is"')
    elif case == "surrogate-id":
        task.write_text(
            '{"prompt": "The capital of France is", "target": " Paris", "id": "\\udfff"}\n'
        )
    elif case == "deep":
        task.write_text("[" * 200_000 + "]" * 200_000 + "\n")
    else:
        with open(task, "wb") as handle:  # sparse: no disk used
            handle.truncate(2**31)
    said = {"fifo": "not a regular file", "surrogate": "lone surrogate (U+D800)",
            "surrogate-id": "lone surrogate (U+DFFF)", "deep": "nested too deep",
            "huge": "more than a task file may hold"}[case]  # fmt: skip
    code, _, err = run_cli(["tasks", "validate", str(task)], capsys)
    assert code == 2 and said in err, err
    code, _, err = run_cli([*TINY[:4], str(task), "--out", str(tmp_path / "r")], capsys)
    assert said in _one_line(code, err)
    assert not (tmp_path / "r").exists() and not (tmp_path / ".r.layertracer-staging").exists()


def test_few_shot_is_linear_in_the_task_for_the_prompts_kept() -> None:
    import time

    from layertracer.tasks import Task, TaskItem
    from layertracer.tasks.fewshot import few_shot

    items = tuple(TaskItem(f"i{n}", f"Item {n} is", f" v{n}") for n in range(100_000))
    start = time.perf_counter()
    task = few_shot(Task("big", "test", items), 1, limit=2)
    assert time.perf_counter() - start < 20  # quadratic: hours
    assert [it.id for it in task.items] == ["i0", "i1"]
    assert task.items[0].prompt.endswith("\nItem 0 is") and task.items[0].prompt.count("\n") == 1


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A tiny run with its results.json and arrays.npz (no report)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    command = [sys.executable, "-m", "layertracer", *TINY, "--out", str(out)]
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=600)
    return out


def _copy_run(run: Path, to: Path, edit=None) -> Path:
    to.mkdir()
    for name in ("results.json", "arrays.npz", "prompts.csv"):
        (to / name).write_bytes((run / name).read_bytes())
    if edit is not None:
        data = json.loads((to / "results.json").read_text())
        edit(data)
        (to / "results.json").write_text(json.dumps(data))
    return to


def _set(path: str, value: object):
    def edit(data: dict) -> None:
        node = data
        *parents, last = path.split(".")
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(last) if last.isdigit() else last] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (_set("vulnerability.vulnerable_layer", 999), "vulnerability.vulnerable_layer: layer 999"),
        (_set("prompts.0.particle_layer", 999), "prompts.0.particle_layer: layer 999"),
    ],
)
def test_report_refuses_layers_out_of_range(finished_run, tmp_path, capsys, edit, said) -> None:
    run = _copy_run(finished_run, tmp_path / "run", edit)
    code, _, err = run_cli(["report", str(run)], capsys)
    assert said in _one_line(code, err)
    assert not list(run.glob("*.svg")) and not (run / "report.html").exists()


def test_report_refuses_infinity_an_unknown_prompt_and_truncated_arrays(
    finished_run, tmp_path, capsys
) -> None:
    run = _copy_run(finished_run, tmp_path / "inf", _set("prompts.0.target_prob.1", math.inf))
    code, _, err = run_cli(["report", str(run)], capsys)
    assert "Infinity" in _one_line(code, err)
    run = _copy_run(finished_run, tmp_path / "prompt")
    code, _, err = run_cli(["report", str(run), "--prompt", "no-such-id"], capsys)
    assert "--prompt 'no-such-id'" in _one_line(code, err)
    run = _copy_run(finished_run, tmp_path / "npz")
    data = (run / "arrays.npz").read_bytes()
    (run / "arrays.npz").write_bytes(data[: len(data) // 2])
    code, _, err = run_cli(["report", str(run)], capsys)
    assert "arrays.npz: cannot read" in _one_line(code, err)
    deep = _copy_run(finished_run, tmp_path / "deep")
    (deep / "results.json").write_text("[" * 200_000 + "]" * 200_000)
    for command in (
        ["report", str(deep)],
        ["compare", str(deep), str(run), "--out", str(tmp_path / "c")],
    ):
        code, _, err = run_cli(command, capsys)
        assert "nested too deep" in _one_line(code, err)


def test_ctrl_c_in_report_is_one_line_and_130(finished_run, tmp_path) -> None:
    import signal
    import time

    run = _copy_run(finished_run, tmp_path / "run")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "layertracer", "report", str(run)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=sigint_default,
    )  # fmt: skip
    time.sleep(1.5)  # inside the imports or the drawing
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the report finished before Ctrl-C")
    assert _one_line(proc.returncode, err, 130) in ("interrupted",), err


def test_a_full_disk_is_one_line_and_leaves_no_staging(tmp_path) -> None:
    import resource

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))  # bytes per file

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    command = [sys.executable, "-m", "layertracer", *TINY, "--out", str(tmp_path / "r")]
    proc = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=600, preexec_fn=small_files
    )
    line = _one_line(proc.returncode, proc.stderr)
    assert "File too large" in line and "nothing published" in line
    left = sorted(os.listdir(tmp_path))  # the finished batches are kept for --resume, said
    assert left == [] or (left == [".r.layertracer-staging"] and "--resume" in line), line


def test_overwrite_of_a_run_without_manifest_leaves_no_old_figure(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    for name in ("results.json", "js.png", "js.svg", "report.html"):  # a run of before manifests
        (out / name).write_text("old")
    _publish(OutputDir(out, overwrite=True), {"results.json": "new", "prompts.csv": "new"})
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "prompts.csv", "results.json"]


def test_resume_after_the_task_changed_is_refused(tmp_path, capsys) -> None:
    """Killed mid-scan, the task file's prompts permuted (ids and targets kept): --resume is
    refused with one line instead of reusing scores of other prompts."""
    import signal
    import time

    from layertracer.tasks import load_task

    items = load_task("capitals").items[:6]
    task = tmp_path / "task.jsonl"
    rows = [{"id": it.id, "prompt": it.prompt, "target": it.target} for it in items]
    task.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["run", "--model", "tiny:llama", "--task", str(task), "--batch-size", "2"]
    args += ["--methods", "lens,vulnerability", "--no-report", "--quiet"]
    env = {**os.environ, "LAYERTRACER_CHECKPOINT_SECONDS": "0", "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "layertracer", *args, "--out", str(out)], env=env
    )
    checkpoint = tmp_path / ".run.layertracer-staging" / "checkpoints" / "vulnerability.npz"
    while not checkpoint.exists():
        assert proc.poll() is None, "the run ended before its first checkpoint"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    prompts = [r["prompt"] for r in rows]
    for row, prompt in zip(rows, prompts[1:] + prompts[:1], strict=True):
        row["prompt"] = prompt
    task.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, _, err = run_cli([*args, "--out", str(out), "--resume"], capsys)
    assert "6 of 6 prompts differ" in _one_line(code, err)
    assert not out.exists()


def test_report_into_a_read_only_folder_is_one_line(finished_run, tmp_path, capsys, monkeypatch):
    """(Root ignores permissions, so the refusal of the file system is injected.)"""
    import importlib

    style = importlib.import_module("layertracer.report.style")  # the module, not the function

    def refused(path: Path, content: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(style, "atomic_write", refused)
    run = _copy_run(finished_run, tmp_path / "run")
    code, _, err = run_cli(["report", str(run)], capsys)
    assert "Permission denied" in _one_line(code, err)
    code, _, err = run_cli(["compare", str(run), str(run), "--out", str(tmp_path / "c")], capsys)
    assert "Permission denied" in _one_line(code, err)

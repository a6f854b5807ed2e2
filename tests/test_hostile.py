"""Hostile cases of issue 25: a prepared folder, a planted checkpoint, a race for the lock,
a kill inside publication, and bad inputs that must end in one line and exit 2."""

from __future__ import annotations

import json
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
from tests.conftest import run_cli

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
    """Two processes, 1,000 rounds each (3,000 in the issue's audit: the same race, fewer
    rounds to spare the test machine), one through a symlink alias of the folder."""
    (tmp_path / "run").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "run")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(tmp_path / name), str(tmp_path / "inside"), "1000"],
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

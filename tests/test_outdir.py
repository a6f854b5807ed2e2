"""Tests for layertracer.results.outdir: checked first, one run at a time, published whole."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from layertracer.errors import ConfigError
from layertracer.results.outdir import MANIFEST, OutputDir


def _run_into(outdir: OutputDir, files: dict[str, str]) -> Path:
    staging = outdir.start()
    for name, text in files.items():
        (staging / name).write_text(text)
    return outdir.publish()


def test_a_path_through_a_file_or_an_unwritable_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        OutputDir(tmp_path / "file" / "sub").check()
    with pytest.raises(ConfigError, match="not writable"):  # even root cannot write /proc
        OutputDir(Path("/proc/layertracer-test/run")).check()
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if not os.access(locked, os.W_OK):  # root ignores permissions
            with pytest.raises(ConfigError, match="not writable"):
                OutputDir(locked / "run").check()
    finally:
        locked.chmod(0o700)


def test_an_earlier_run_is_refused_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _run_into(OutputDir(out), {"results.json": "{}"})
    with pytest.raises(ConfigError, match="earlier run"):
        OutputDir(out).check()
    OutputDir(out, overwrite=True).check()
    with pytest.raises(ConfigError, match="no interrupted run"):
        OutputDir(out, resume=True).check()


def test_publish_replaces_the_old_run_whole_and_refuses_a_foreign_file(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _run_into(OutputDir(out), {"results.json": "old", "js.png": "x", "report.html": "o"})
    _run_into(OutputDir(out, overwrite=True), {"results.json": "new", "report.html": "n"})
    assert (out / "results.json").read_text() == "new"
    assert not (out / "js.png").exists()  # the old run's figure does not linger
    assert json.loads((out / MANIFEST).read_text())["files"] == ["report.html", "results.json"]
    assert not OutputDir(out).staging.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # nothing aside, no lock
    (out / "notes.txt").write_text("mine")  # the user's file: --overwrite refuses, naming it
    with pytest.raises(ConfigError, match=r"holds 'notes\.txt'"):
        OutputDir(out, overwrite=True).check()
    assert (out / "notes.txt").read_text() == "mine"


def test_publish_keeps_the_resume_state_out_of_the_run(tmp_path: Path) -> None:
    outdir = OutputDir(tmp_path / "run")
    staging = outdir.start()
    (staging / "checkpoints").mkdir()
    (staging / "run-config.json").write_text("{}")  # a file of the resume state
    (staging / "results.json").write_text("{}")
    out = outdir.publish(keep=("checkpoints", "run-config.json"))
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "results.json"]


def test_a_live_lock_refuses_a_second_run_and_a_dead_one_is_taken_over(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with (
        OutputDir(out).lock(),
        pytest.raises(ConfigError, match=f"in use by pid {os.getpid()}"),
        OutputDir(out).lock(),
    ):
        pass
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = tmp_path / ".run.layertracer-lock"
    lock.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    with OutputDir(out).lock():
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not lock.exists()


def test_the_run_files_name_every_figure_the_report_writes() -> None:
    """The fixed set a publication may delete holds every figure of the report (and only
    the run's own files), so an old run's figures never linger and nothing else goes."""
    from layertracer.report import FIGURES, TOPK
    from layertracer.results.outdir import FIGURE_NAMES, RUN_FILES

    assert set(FIGURE_NAMES) == {entry[0] for entry in FIGURES} | {TOPK[0]}
    assert all("/" not in name and name not in (".", "..") for name in RUN_FILES)

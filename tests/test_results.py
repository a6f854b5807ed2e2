"""Tests for layertracer.results: results.json (schema 1), prompts.csv and atomic writes."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from layertracer import results as results_module
from layertracer.results import CSV_FIELDS, SCHEMA_VERSION, Results, atomic_write, load

L = 2


def prompt_row(n: int, **extra: object) -> dict:
    return {
        "id": f"p{n}",
        "prompt": f"Prompt {n} is",
        "target": " yes",
        "target_token_id": 10 + n,
        "target_token": " yes",
        "target_prob": [0.1 * n, 0.2, 0.3],
        "particle_layer": n if n else None,
        "final_prob": 0.3,
        "top1_token_id": 10 + n,
        "top1_token": " yes",
        "correct": True,
        **extra,
    }


def make_results(**overrides: object) -> Results:
    fields = {
        "config": {"model": "tiny:llama", "seeds": [0, 1, 2], "mask_ratio": 0.2},
        "environment": {"python": "3.11", "torch": "2", "device": "cpu", "dtype": "float32"},
        "model": {
            "spec": "tiny:llama",
            "num_layers": L,
            "hidden_size": 8,
            "layer_types": ["attention"] * L,
        },
        "lens": {"fidelity_max_abs_err": 1e-7},
        "prompts": [prompt_row(0), prompt_row(1)],
        "accuracy": 1.0,
        "particles": {"delta": 0.05, "median": 1.0, "layers": [None, 1]},
        "vulnerability": {"js_mean": [0.1, 0.2, 0.3], "vulnerable_layer": 2},
        "task": {"name": "demo", "size": 2},
        "warnings": ["something to know"],
        "timing": {"lens": 0.5},
        "tool": {"name": "layertracer", "version": "0.1.0"},
    }
    fields.update(overrides)
    return Results(**fields)


def files_in(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


# ---------------------------------------------------------------- save


def test_save_writes_both_files(tmp_path: Path) -> None:
    path = make_results().save(tmp_path / "run")
    assert path == tmp_path / "run" / "results.json"
    assert files_in(tmp_path / "run") == {"results.json", "prompts.csv"}


def test_json_has_schema_version_and_sections(tmp_path: Path) -> None:
    r = make_results()
    data = json.loads(r.save(tmp_path).read_text())
    assert SCHEMA_VERSION == 1
    assert data["schema_version"] == 1
    for key in (
        "tool",
        "config",
        "environment",
        "model",
        "lens",
        "prompts",
        "accuracy",
        "particles",
        "vulnerability",
        "timing",
    ):
        assert key in data
    assert data["prompts"][1]["target_prob"] == pytest.approx([0.1, 0.2, 0.3])


def test_sections_not_run_are_left_out(tmp_path: Path) -> None:
    data = json.loads(make_results(particles=None, vulnerability=None).save(tmp_path).read_text())
    assert "particles" not in data and "vulnerability" not in data
    assert data["schema_version"] == 1


def test_non_finite_values_become_null(tmp_path: Path) -> None:
    r = make_results(
        prompts=[prompt_row(0, target_prob=[float("nan"), 0.5, float("inf")])],
        vulnerability={"js": [[0.1, -math.inf], [np.float64("nan"), 0.2]], "std": math.nan},
        accuracy=float("nan"),
        timing={"lens": (1.0, float("inf"))},
    )
    text = r.save(tmp_path).read_text()
    for bad in ("NaN", "Infinity"):
        assert bad not in text
    data = json.loads(text)  # standard JSON
    assert data["prompts"][0]["target_prob"] == [None, 0.5, None]
    assert data["vulnerability"] == {"js": [[0.1, None], [None, 0.2]], "std": None}
    assert data["accuracy"] is None
    assert data["timing"]["lens"] == [1.0, None]


def test_to_dict_does_not_modify_the_results() -> None:
    r = make_results(accuracy=float("nan"))
    assert r.to_dict()["accuracy"] is None
    assert math.isnan(r.accuracy)


def test_prompts_csv(tmp_path: Path) -> None:
    rows = [
        prompt_row(0),
        prompt_row(1, prompt='He said "a, b",\nthen:', target=" ü", correct=False),
    ]
    make_results(prompts=rows).save(tmp_path)
    text = (tmp_path / "prompts.csv").read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames) == CSV_FIELDS
    out = list(reader)
    assert len(out) == 2
    assert out[1]["prompt"] == 'He said "a, b",\nthen:'
    assert out[1]["target"] == " ü"
    assert out[1]["correct"] == "False"
    assert out[0]["particle_layer"] == ""  # None -> empty cell
    assert out[1]["particle_layer"] == "1"
    assert out[0]["target_token_id"] == "10"
    assert "target_prob" not in out[0]  # lists stay in the JSON


def test_save_overwrites_previous_run(tmp_path: Path) -> None:
    make_results(accuracy=0.25).save(tmp_path)
    make_results(accuracy=0.75, prompts=[prompt_row(3)]).save(tmp_path)
    assert load(tmp_path).accuracy == 0.75
    assert files_in(tmp_path) == {"results.json", "prompts.csv"}
    assert len((tmp_path / "prompts.csv").read_text().splitlines()) == 2


# ---------------------------------------------------------------- load


def test_load_round_trips_from_file_and_directory(tmp_path: Path) -> None:
    r = make_results()
    path = r.save(tmp_path / "out")
    assert load(path) == r
    assert load(tmp_path / "out") == r
    assert load(str(tmp_path / "out")) == r


def test_load_round_trips_without_optional_sections(tmp_path: Path) -> None:
    r = make_results(particles=None, vulnerability=None, warnings=[], timing={})
    r.save(tmp_path)
    assert load(tmp_path) == r


def test_save_load_save_is_stable(tmp_path: Path) -> None:
    make_results().save(tmp_path / "a")
    load(tmp_path / "a").save(tmp_path / "b")
    for name in ("results.json", "prompts.csv"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()


def test_load_keeps_unknown_keys_apart(tmp_path: Path) -> None:
    data = make_results().to_dict()
    data["cka"] = {"matrix": [[1.0]]}
    (tmp_path / "results.json").write_text(json.dumps(data))
    loaded = load(tmp_path)
    assert loaded.extra == {"cka": {"matrix": [[1.0]]}}
    loaded.extra = {}
    assert loaded == make_results()


# ---------------------------------------------------------------- atomic writes


def test_failed_serialisation_keeps_the_old_results(tmp_path: Path) -> None:
    make_results().save(tmp_path)
    before = (tmp_path / "results.json").read_bytes()
    bad = make_results(timing={"lens": object()})
    with pytest.raises(TypeError):
        bad.save(tmp_path)
    assert (tmp_path / "results.json").read_bytes() == before
    assert files_in(tmp_path) == {"results.json", "prompts.csv"}  # no temporary files
    assert load(tmp_path) == make_results()


def test_failed_serialisation_keeps_the_old_prompts_csv(tmp_path: Path) -> None:
    make_results().save(tmp_path)
    before = (tmp_path / "prompts.csv").read_bytes()
    bad = make_results(prompts=[prompt_row(5)], timing={"lens": object()})
    with pytest.raises(TypeError):
        bad.save(tmp_path)
    assert (tmp_path / "prompts.csv").read_bytes() == before


def test_atomic_write_failure_keeps_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    atomic_write(path, "old\n")
    with pytest.raises(UnicodeEncodeError):
        atomic_write(path, "new \ud800 text")  # a lone surrogate cannot be encoded
    assert path.read_text() == "old\n"
    assert files_in(tmp_path) == {"results.json"}


def test_atomic_write_interrupted_before_rename(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "results.json"
    atomic_write(path, "old\n")

    def crash(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(results_module.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, "new\n")
    monkeypatch.undo()
    assert path.read_text() == "old\n"
    assert files_in(tmp_path) == {"results.json"}


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    atomic_write(path, "one")
    atomic_write(path, "two ü")
    assert path.read_text(encoding="utf-8") == "two ü"
    assert os.listdir(tmp_path) == ["x.txt"]


def test_unknown_sections_survive_a_round_trip(tmp_path) -> None:
    from layertracer.results import Results, load

    data = {
        "config": {},
        "environment": {},
        "model": {},
        "lens": {},
        "prompts": [],
        "accuracy": 0.5,
        "cka": {"n": 3, "matrix": [[1.0]]},
    }
    Results.from_dict(data).save(tmp_path)
    again = load(tmp_path)
    assert again.extra == {"cka": {"n": 3, "matrix": [[1.0]]}}
    assert again.to_dict()["cka"]["n"] == 3


def test_files_get_the_umask_permissions_not_0600(tmp_path) -> None:
    import os

    from layertracer.results import atomic_write

    mask = os.umask(0o022)
    try:
        atomic_write(tmp_path / "x.json", "{}")
    finally:
        os.umask(mask)
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o644

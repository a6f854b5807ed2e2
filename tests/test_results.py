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

from layertracer import atomic as files_module
from layertracer.errors import ResultsError
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


def vulnerability(**overrides: object) -> dict:
    """A complete vulnerability section of two seeds for L = 2."""
    section = {
        "mask_ratio": 0.2, "mask_mode": "zero", "positions": "all", "seeds": [0, 1],
        "js": [[0.1, 0.2, 0.3], [0.1, 0.3, 0.2]], "js_mean": [0.1, 0.25, 0.25],
        "js_std": [0.0, 0.07, 0.07], "vulnerable_layer": 1,
        "masked_dims": {"0": [[1], [2], [3]], "1": [[0], [1], [2]]}, "massive_dims": [],
        "masked_massive": {"0": [False] * 3, "1": [False] * 3}, "protect_massive": "none",
        "per_seed_vulnerable_layer": [2, 1], "seed_agreement": 0.5, "stable": False,
    }  # fmt: skip
    return {**section, **overrides}


def make_results(**overrides: object) -> Results:
    fields = {
        "config": {"model": "tiny:llama", "seeds": [0, 1, 2], "mask_ratio": 0.2},
        "environment": {"python": "3.11", "torch": "2", "device": "cpu", "dtype": "float32"},
        "model": {
            "spec": "tiny:llama",
            "model_type": "llama",
            "num_layers": L,
            "hidden_size": 8,
            "layer_types": ["attention"] * L,
        },
        "lens": {"fidelity_max_abs_err": 1e-7},
        "prompts": [prompt_row(0), prompt_row(1)],
        "accuracy": 1.0,
        "particles": {
            "delta": 0.05,
            "z": 2.0,
            "median": 1.0,
            "layers": [None, 1],
            "histogram": [0, 1, 0],
        },
        "vulnerability": vulnerability(),
        "task": {"name": "demo", "items": 2},
        "warnings": ["something to know"],
        "timing": {"lens": 0.5},
        "tool": {"name": "layertracer", "version": "0.1.0"},
    }
    fields.update(overrides)
    return Results.model_validate(fields)


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
        vulnerability=vulnerability(js=[[0.1, -math.inf, 0.0], [np.float64("nan"), 0.2, 0.1]]),
        accuracy=float("nan"),
        timing={"lens": float("inf")},
    )
    text = r.save(tmp_path).read_text()
    for bad in ("NaN", "Infinity"):
        assert bad not in text
    data = json.loads(text)  # standard JSON
    assert data["prompts"][0]["target_prob"] == [None, 0.5, None]
    assert data["vulnerability"]["js"] == [[0.1, None, 0.0], [None, 0.2, 0.1]]
    assert data["accuracy"] is None
    assert data["timing"]["lens"] is None


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


def test_load_refuses_undeclared_keys(tmp_path: Path) -> None:
    data = make_results().to_dict()
    for where, key in ((data, "later_method"), (data["vulnerability"], "js_mean_typo")):
        where[key] = [1, 2]
        (tmp_path / "results.json").write_text(json.dumps(data))
        with pytest.raises(ResultsError, match=f"{key}: Extra inputs are not permitted"):
            load(tmp_path)
        del where[key]
    (tmp_path / "results.json").write_text(json.dumps(data))
    assert load(tmp_path).to_dict() == data


# ---------------------------------------------------------------- validation on read

BAD_SECTIONS = {
    "string for a number": (("accuracy",), "high", "accuracy: Input should be a valid number"),
    "short per-layer array": (
        ("vulnerability", "js_mean"),
        [0.1],
        "vulnerability.js_mean: expected 3 entries",
    ),
    "list for a section": (("vulnerability",), [1, 2], "vulnerability: Input should be"),
    "bool for an int": (("vulnerability", "vulnerable_layer"), True, "vulnerable_layer"),
    "null for a list": (("prompts",), None, "prompts: Input should be a valid array"),
    "no prompts": (("prompts",), [], "prompts: expected at least one prompt"),
    "ragged js": (("vulnerability", "js"), [[0.1, 0.2, 0.3], [0.1]], "vulnerability.js[1]"),
    "missing field": (("model", "num_layers"), None, "model.num_layers"),
    "short row array": (("prompts", 0, "target_prob"), [0.1], "prompts[0].target_prob"),
}


@pytest.mark.parametrize("case", sorted(BAD_SECTIONS))
def test_a_bad_file_names_the_json_path_of_its_first_problem(case: str, tmp_path: Path) -> None:
    path, value, expected = BAD_SECTIONS[case]
    data = make_results().to_dict()
    where = data
    for key in path[:-1]:
        where = where[key]
    if value is None and case == "missing field":
        del where[path[-1]]
    else:
        where[path[-1]] = value
    (tmp_path / "results.json").write_text(json.dumps(data))
    with pytest.raises(ResultsError) as info:
        load(tmp_path)
    message = str(info.value)
    assert expected in message and "\n" not in message, message


def test_a_good_file_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    data = make_results().to_dict()
    data["schema_version"] = 2
    (tmp_path / "results.json").write_text(json.dumps(data))
    with pytest.raises(ResultsError, match="schema_version 2, expected 1"):
        load(tmp_path)


# ---------------------------------------------------------------- atomic writes


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")
def test_failed_serialisation_keeps_the_old_results(tmp_path: Path) -> None:
    make_results().save(tmp_path)
    before = (tmp_path / "results.json").read_bytes()
    bad = make_results()
    bad.timing = {"lens": object()}  # not JSON: the save fails while serialising
    with pytest.raises(TypeError):
        bad.save(tmp_path)
    assert (tmp_path / "results.json").read_bytes() == before
    assert files_in(tmp_path) == {"results.json", "prompts.csv"}  # no temporary files
    assert load(tmp_path) == make_results()


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")
def test_failed_serialisation_keeps_the_old_prompts_csv(tmp_path: Path) -> None:
    make_results().save(tmp_path)
    before = (tmp_path / "prompts.csv").read_bytes()
    bad = make_results(prompts=[prompt_row(5)])
    bad.timing = {"lens": object()}
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

    monkeypatch.setattr(files_module.os, "replace", crash)
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


def test_files_get_the_umask_permissions_not_0600(tmp_path) -> None:
    import os

    from layertracer.results import atomic_write

    mask = os.umask(0o022)
    try:
        atomic_write(tmp_path / "x.json", "{}")
    finally:
        os.umask(mask)
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("text", ["=1+1", "+SUM(A1)", "-2", "@cmd", "\tx", "\rx"])
def test_csv_cells_that_a_spreadsheet_would_evaluate_are_quoted(text: str, tmp_path) -> None:
    rows = [prompt_row(0, prompt=text, target=text, id=text)]
    make_results(prompts=rows).save(tmp_path)
    with (tmp_path / "prompts.csv").open(newline="", encoding="utf-8") as handle:
        out = next(csv.DictReader(handle))
    assert out["prompt"] == out["target"] == out["id"] == "'" + text
    assert out["target_token_id"] == "10"  # numbers stay numbers
    assert load(tmp_path).prompts[0]["prompt"] == text  # results.json keeps the text as is

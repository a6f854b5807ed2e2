"""Results as Python objects: ``Results.load``, ``report``, ``layertracer.compare``,
equality that ignores timings, a one-line repr, and ``from_dict(to_dict())`` that keeps
the per-prompt arrays."""

from __future__ import annotations

import numpy as np
import pytest

import layertracer
from layertracer import Results, RunConfig, VulnerabilityConfig, trace
from layertracer.errors import ResultsError
from layertracer.report import write_report
from tests.conftest import tiny

CONFIG = RunConfig(
    methods=("lens", "particles", "vulnerability"),
    vulnerability=VulnerabilityConfig(seeds=(0, 1)),
)


@pytest.fixture(scope="module")
def runs(small_task) -> tuple[Results, Results]:
    """Two identical runs (timings differ)."""
    return trace(tiny("llama"), small_task, CONFIG), trace(tiny("llama"), small_task, CONFIG)


def test_identical_runs_are_equal_whatever_their_timings(runs) -> None:
    first, second = runs
    assert first.timing != second.timing or first.timing  # timings are recorded
    assert first == second
    other = first.model_copy(deep=True)
    other.arrays.update({k: v.copy() for k, v in first.arrays.items()})
    other.prompts[0].target_prob = [p + 0.5 for p in other.prompts[0].target_prob]
    assert other != first  # anything but the timing counts


def test_from_dict_of_to_dict_keeps_the_arrays_nan_included(runs) -> None:
    first, _ = runs
    assert first.arrays and first.to_dict()["arrays"]
    first.arrays["js"] = first.arrays["js"].copy()
    first.arrays["js"][0, 0, 0] = np.nan
    back = Results.from_dict(first.to_dict())
    assert back == first
    for name, array in first.arrays.items():
        assert back.arrays[name].dtype == array.dtype and back.arrays[name].shape == array.shape
    assert "arrays" not in Results.from_dict(first.to_dict(arrays=False)).to_dict()


def test_malformed_arrays_are_a_results_error(runs) -> None:
    data = runs[0].to_dict()
    data["arrays"]["js"]["shape"] = [7, 7]
    with pytest.raises(ResultsError, match=r"arrays\.js"):
        Results.from_dict(data)


def test_repr_is_one_short_line(runs) -> None:
    text = repr(runs[0])
    assert "\n" not in text and len(text) < 200
    assert "tiny:llama" in text and f"L={runs[0].model.num_layers}" in text


def test_load_report_and_compare_as_the_command_line_does(runs, tmp_path) -> None:
    first, second = runs
    first.save(tmp_path / "run")
    assert Results.load(tmp_path / "run") == first
    page = first.report(tmp_path / "report")
    assert page.name == "report.html" and (tmp_path / "report" / "trajectory.png").is_file()
    cli_page = write_report(tmp_path / "run", tmp_path / "cli")
    assert page.read_text() == cli_page.read_text()
    compared = layertracer.compare(second, tmp_path / "run", out=tmp_path / "cmp")
    assert compared == tmp_path / "cmp" / "compare.html" and "in memory" in compared.read_text()

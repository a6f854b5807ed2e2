"""A criterion is one registered object (results/criteria.py): a criterion registered here,
in the test module only, reaches agreement, the removal orders, the report, to_frame, the
summary and ``--json``; the built-in criteria read back what the stages published."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from layertracer import RunConfig, trace
from layertracer.config import AgreementConfig
from layertracer.methods.agreement import chosen_layer
from layertracer.methods.metrics import spearman
from layertracer.report import write_report
from layertracer.report.removal import color
from layertracer.results import Results
from layertracer.results.criteria import (
    Criterion,
    from_prompts,
    measure_all,
    register,
    registered,
    unregister,
)
from layertracer.results.summary import key_numbers, summary_rows
from tests.conftest import tiny

TOY = "layer_index"


def _layer_index(results: Results) -> np.ndarray:
    """Every prompt's value at layer ℓ is ℓ: deeper = more critical."""
    layers = np.arange(results.model.num_layers + 1, dtype=float)
    return np.tile(layers, (len(results.prompts), 1))


@pytest.fixture
def layer_index() -> Iterator[Criterion]:
    """The toy criterion, registered for one test."""
    measure = from_prompts(_layer_index)
    yield register(Criterion(TOY, "the layer's index", "deeper", "#123456", "lens", measure))
    unregister(TOY)


@pytest.fixture(scope="module")
def config() -> RunConfig:
    methods = ("lens", "particles", "removal", "agreement")
    return RunConfig(batch_size=4, methods=methods, agreement=AgreementConfig(20))


def test_a_criterion_registered_in_a_test_reaches_every_consumer(
    layer_index: Criterion, small_task, config: RunConfig, tmp_path
) -> None:
    results = trace(tiny("llama"), small_task, config)
    data = results.to_dict()
    L = data["model"]["num_layers"]
    agreement, removal = data["agreement"], data["removal"]
    assert agreement["criteria"] == [c.name for c in registered() if c.name in agreement["curves"]]
    assert agreement["criteria"][-1] == TOY and agreement["curves"][TOY] == list(range(L + 1))
    assert agreement["chosen_layers"][TOY] == L
    pairs = [p for p in agreement["pairs"] if TOY in (p["a"], p["b"])]
    assert len(pairs) == len(agreement["criteria"]) - 1
    bi = np.array(agreement["curves"]["bi"], dtype=float)  # layer 0 null
    by_bi = next(p for p in pairs if "bi" in (p["a"], p["b"]))
    assert by_bi["spearman"] == pytest.approx(spearman(np.arange(1, L + 1), bi[1:]))
    assert by_bi["layer_distance"] == abs(L - chosen_layer(bi))
    # removal: the lowest index is the least critical, so blocks go in order
    assert TOY in removal["criteria"] and TOY not in removal["missing"]
    removable = [i for i in range(1, L + 1) if removal["removable"][i]]
    assert removal["orders"][TOY] == removable and removal["scores"][TOY] == list(range(L + 1))
    assert len(removal["curves"][TOY]["accuracy"]) == removal["max_blocks"] + 1
    assert color(TOY) == "#123456"
    frame = results.to_frame("criteria")
    toy = frame[frame.criterion == TOY]
    assert list(toy.value) == list(range(L + 1)) and list(toy.layer[toy.chosen]) == [L]
    assert set(toy.label) == {"the layer's index"}
    rows = {r.measure: r.value for r in summary_rows(data)}
    assert f"{TOY} {L}" in rows["most critical layer per criterion (argmax)"]
    assert key_numbers(data)["criterion_layers"][TOY] == L
    page = write_report(data, tmp_path / "report").read_text()
    table = page[page.index('<table id="criteria">') :]
    table = table[: table.index("</table>")]
    assert TOY in table and "the layer&#39;s index" in table and "#123456" in table
    assert TOY in page[page.index('<table id="removal">') :]


def test_the_fixture_leaves_no_criterion_behind(small_task, config: RunConfig) -> None:
    assert TOY not in [c.name for c in registered()]
    with pytest.raises(ValueError, match="registered already"):
        register(next(registered()))


def test_built_in_criteria_read_what_the_stages_published(small_task) -> None:
    """Each per-prompt criterion's curve is the mean over prompts of the finite entries of
    the prompt rows its stage wrote; CKA's is 1 − δ; methods that did not run are absent."""
    cfg = RunConfig(batch_size=4, methods=("lens", "particles", "cka", "ablation"))
    results = trace(tiny("llama"), small_task, cfg)
    measured = measure_all(results, {})
    assert list(measured) == ["particles", "cka", "ablation", "lens_slope", "bi", "angular"]
    rows = results.prompts
    drops = np.array([[np.nan if v is None else v for v in r.ablation_drop] for r in rows])
    np.testing.assert_allclose(measured["ablation"].curve[1:], drops[:, 1:].mean(axis=0))
    probs = np.array([r.target_prob for r in rows])
    np.testing.assert_allclose(measured["lens_slope"].curve[1:], np.diff(probs, axis=1).mean(0))
    L = results.model.num_layers
    histogram = np.bincount([r.particle_layer or 0 for r in rows], minlength=L + 1)
    np.testing.assert_allclose(measured["particles"].curve[1:], histogram[1:] / len(rows))
    delta = np.array([np.nan if d is None else d for d in results.cka.delta], dtype=float)
    np.testing.assert_allclose(measured["cka"].curve[1:], 1 - delta[1:])
    assert measured["cka"].bootstrap == "fixed"  # no Gram matrices kept: held fixed

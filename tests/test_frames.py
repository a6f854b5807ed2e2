"""Tests for layertracer.results.frames: Results.to_frame gives tidy DataFrames that hold
exactly the numbers of results.json."""

from __future__ import annotations

import math

import pytest

from layertracer import Results, RunConfig, VulnerabilityConfig, trace
from layertracer.config import ALL_METHODS, InputConfig
from layertracer.errors import ResultsError
from layertracer.results.frames import available
from tests.conftest import tiny

pd = pytest.importorskip("pandas", reason="pandas is not installed (pip install -e '.[notebook]')")


@pytest.fixture(scope="module")
def full(small_task) -> Results:
    """A tiny-Llama run with every method, two seeds and whole answers."""
    config = RunConfig(
        methods=ALL_METHODS,
        vulnerability=VulnerabilityConfig(seeds=(0, 1)),
        inputs=InputConfig(full_target=True),
    )
    return trace(tiny("llama"), small_task, config)


def _same(a: object, b: object) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    return a == pytest.approx(b)


def test_lens_is_one_row_per_prompt_and_layer(full: Results) -> None:
    frame = full.to_frame("lens")
    L, rows = full.model.num_layers, full.prompts
    assert len(frame) == len(rows) * (L + 1)
    assert {"id", "layer", "target_prob", "particle_layer", "top_token"} <= set(frame.columns)
    row = frame[(frame["id"] == rows[2].id) & (frame["layer"] == L)].iloc[0]
    assert row["target_prob"] == pytest.approx(rows[2].target_prob[L])
    assert row["answer_logprob"] == pytest.approx(rows[2].answer_logprob[L])
    assert row["top_token"] == rows[2].topk[L][0][0] == rows[2].top1_token


def test_prompts_has_the_scalar_fields(full: Results) -> None:
    frame = full.to_frame("prompts")
    assert list(frame["id"]) == [r.id for r in full.prompts]
    assert {"correct", "answer_correct", "final_prob", "particle_layer"} <= set(frame.columns)
    assert "target_prob" not in frame.columns and "topk" not in frame.columns


def test_vulnerability_is_one_row_per_seed_and_layer(full: Results) -> None:
    frame = full.to_frame("vulnerability")
    vul, L = full.vulnerability, full.model.num_layers
    assert len(frame) == len(vul.seeds) * (L + 1) and set(frame["seed"]) == set(vul.seeds)
    for _, row in frame.iterrows():
        i, s = int(row["layer"]), vul.seeds.index(row["seed"])
        assert _same(row["js"], vul.js[s][i]) and _same(row["js_mean"], vul.js_mean[i])
        assert _same(row["js_std"], vul.js_std[i])


def test_cka_agreement_and_per_layer_sections(full: Results) -> None:
    L = full.model.num_layers
    cka = full.to_frame("cka")
    assert len(cka) == (L + 1) ** 2
    pick = cka[(cka["layer_a"] == 1) & (cka["layer_b"] == 2)].iloc[0]
    assert _same(pick["cka"], full.cka.matrix[1][2])
    agreement = full.to_frame("agreement")
    assert len(agreement) == len(full.agreement.pairs)
    assert {"a", "b", "spearman", "spearman_ci95_low", "spearman_ci95_high"} <= set(agreement)
    ablation = full.to_frame("ablation")
    assert list(ablation["layer"]) == list(range(L + 1))
    assert _same(ablation["target_logprob_drop"][0], full.ablation.target_logprob_drop[0])
    tracing = full.to_frame("tracing")
    assert _same(tracing["indirect_effect"][L], full.causal_tracing.indirect_effect[L])
    layers = full.to_frame("layers")
    assert list(layers["block_type"])[:2] == ["embedding", "attention"]
    assert _same(layers["vulnerability_js_mean"][1], full.vulnerability.js_mean[1])
    assert full.to_frame("particles")["prompts"].sum() == sum(full.particles.histogram)
    assert list(full.to_frame("sensitivity")["delta"]) == sorted(
        float(d) for d in full.particles.sensitivity
    )


def test_an_absent_or_unknown_section_lists_the_available_ones(small_task) -> None:
    lens_only = trace(tiny("llama"), small_task, RunConfig(methods=("lens",)))
    assert available(lens_only.to_dict()) == ["prompts", "lens", "layers", "similarity", "suites"]
    with pytest.raises(ResultsError, match="this run has no section 'cka'; available: prompts"):
        lens_only.to_frame("cka")
    with pytest.raises(ResultsError, match="unknown section 'lenses'"):
        lens_only.to_frame("lenses")


def test_without_pandas_the_error_names_the_install_command(full, monkeypatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "pandas", None)
    with pytest.raises(ResultsError, match=r"pip install 'layertracer\[notebook\]'"):
        full.to_frame("lens")


def test_one_number_per_cell_and_float_columns(full: Results) -> None:
    for section in available(full.to_dict()):
        frame = full.to_frame(section)
        for column in frame.columns:
            values = frame[column].dropna()
            assert not any(isinstance(v, (list, dict, tuple)) for v in values), (section, column)
            if values.empty:  # nothing measured: NaN floats, never an object column
                assert frame[column].dtype == float, (section, column)
                assert f"{column}_low" not in frame.columns, (section, column)
    layers = full.to_frame("layers")
    for i, interval in enumerate(full.vulnerability.js_ci95):
        low, high = interval or (None, None)
        assert _same(layers["vulnerability_js_ci95_low"][i], low)
        assert _same(layers["vulnerability_js_ci95_high"][i], high)
    agreement = full.to_frame("agreement")
    assert "spearman_ci95" not in agreement.columns and "pearson_ci95" not in agreement.columns


def test_similarity_and_removal_frames(full: Results) -> None:
    similarity = full.to_frame("similarity")
    assert list(similarity["layer"]) == list(range(full.model.num_layers + 1))
    for i in range(full.model.num_layers + 1):
        assert _same(similarity["bi"][i], full.similarity.bi[i])
        assert _same(similarity["angular"][i], full.similarity.angular[i])
    removal, part = full.to_frame("removal"), full.removal
    assert len(removal) == sum(len(c.accuracy) for c in part.curves.values())
    for criterion, curve in part.curves.items():
        rows = removal[removal["criterion"] == criterion].sort_values("k")
        assert list(rows["k"]) == list(range(len(curve.accuracy)))
        assert all(_same(a, b) for a, b in zip(rows["accuracy"], curve.accuracy, strict=True))
        assert all(_same(a, b) for a, b in zip(rows["kl"], curve.kl, strict=True))
        order = part.orders.get(criterion, [])
        removed = [int(b) for b in rows["removed_block"].dropna()]
        assert removed == order[: len(removed)] and len(removed) == min(len(order), part.max_blocks)

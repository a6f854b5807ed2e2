"""``--methods spectral`` on tiny models: the section against a plain numpy PCA of the
hidden states, the text-derived criterion in agreement and removal, the figures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from layertracer import trace
from layertracer.config import AnatomyOverrides, RunConfig
from layertracer.errors import ResultsError
from layertracer.methods.cka.core import linear_cka
from layertracer.methods.spectral.readout import direction_scores, top_tokens
from layertracer.model.anatomy import discover
from layertracer.model.lens import lens_logprobs
from layertracer.report import write_report
from layertracer.results import Results
from layertracer.results.summary import summary_rows
from tests.conftest import tiny

OPTIONS = {"batch_size": 4, "spectral.text_windows": 8, "spectral.bootstrap": 30}


@pytest.fixture(scope="module")
def run() -> Results:
    config = RunConfig.from_options(methods="spectral,removal,agreement", max_prompts=4,
                                    task="capitals,antonyms", **OPTIONS)  # fmt: skip
    return trace(tiny("llama"), config.task, config)


def _hidden_states(model: torch.nn.Module, tokenizer: object, prompt: str) -> list[np.ndarray]:
    """Layers 0..L−1 at the last token, from ``output_hidden_states`` (one prompt alone)."""
    ids = torch.tensor([tokenizer(prompt)["input_ids"]])
    with torch.inference_mode():
        hidden = model(input_ids=ids, output_hidden_states=True).hidden_states
    return [h[0, -1].double().numpy() for h in hidden[:-1]]  # the last has the final norm


def test_ratios_equal_a_numpy_pca_of_the_hidden_states(run: Results) -> None:
    lm, section = tiny("llama"), run.spectral
    states = [_hidden_states(lm.model, lm.tokenizer, row.prompt) for row in run.prompts]
    n, L = len(states), run.model.num_layers
    assert section.k == min(8, n - 1, run.model.hidden_size) and section.n == n
    for layer in range(1, L):
        x = np.stack([s[layer] for s in states])  # [n, d]
        eig = np.sort(np.linalg.eigvalsh(np.cov(x.T)))[::-1]
        want = eig[: section.k] / eig.sum()
        got = np.array(section.explained_variance_ratio[layer], dtype=float)
        np.testing.assert_allclose(got, want, atol=1e-4)
    assert len(section.principal_angles_deg) == L
    assert all(len(row) == section.k for row in section.principal_angles_deg)
    saved = run.arrays["spectral_representations"]  # [n, L+1, d]
    assert saved.shape == (n, L + 1, run.model.hidden_size)
    cka = [linear_cka(saved[:, i], saved[:, i + 1]) for i in range(L)]
    got = np.array([math.nan if v is None else v for v in section.pairs["cka"]], dtype=float)
    np.testing.assert_allclose(got, cka, atol=1e-5)
    matrix = np.array(run.cka.matrix, dtype=float)  # the CKA stage's (biased) matrix
    np.testing.assert_allclose(got[1:], np.diag(matrix, 1)[1:], atol=1e-5)


def test_terms_add_up_and_the_readout_is_around_the_critical_layers(run: Results) -> None:
    section, L = run.spectral, run.model.num_layers
    pairs = {k: np.array([math.nan if v is None else v for v in vals], dtype=float)
             for k, vals in section.pairs.items()}  # fmt: skip
    total = pairs["shift_top"] + pairs["shift_rest"] + pairs["shift_cross"]
    finite = np.isfinite(pairs["shift"])
    np.testing.assert_allclose(total[finite], pairs["shift"][finite], atol=1e-10)
    assert section.critical_layers == run.cka.critical_layers[:3]
    near = {c + s for c in section.critical_layers for s in (-1, 0, 1) if 0 <= c + s <= L}
    assert section.readout and {r.layer for r in section.readout} <= near
    assert all(len(r.plus) == 5 and len(r.minus) == 5 for r in section.readout)


def test_readout_sides_swap_with_the_sign_of_the_direction() -> None:
    lm = tiny("llama")
    anatomy = discover(lm.model, lm.tokenizer, AnatomyOverrides())
    rng = np.random.default_rng(0)
    d = anatomy.hidden_size
    mean, direction = rng.normal(size=d), np.linalg.qr(rng.normal(size=(d, 2)))[0].T  # [2, d]
    std = np.array([1.5, 0.5])
    scores = direction_scores(anatomy, mean, direction, std)
    flipped = direction_scores(anatomy, mean, -direction, std)
    torch.testing.assert_close(flipped, -scores)
    plus, minus = top_tokens(scores, 4)
    assert top_tokens(flipped, 4) == (minus, plus)
    point = torch.as_tensor(mean + 2.0 * 1.5 * direction[0], dtype=torch.float32)[None]
    low = torch.as_tensor(mean - 2.0 * 1.5 * direction[0], dtype=torch.float32)[None]
    with torch.inference_mode():
        want = lens_logprobs(anatomy, point)[0] - lens_logprobs(anatomy, low)[0]
    assert plus[0] == want.topk(4).indices.tolist()


def test_text_profile_and_suites(run: Results) -> None:
    section = run.spectral
    assert section.text is not None and section.text.windows == 8
    assert section.text.critical_layer == section.text.critical_layers[0]
    assert list(section.suites) == ["capitals", "antonyms"]
    for suite in section.suites.values():
        assert suite.items == 4 and -1 <= suite.spearman <= 1
        assert (
            suite.spearman_ci95 is None
            or -1 <= suite.spearman_ci95[0] <= suite.spearman_ci95[1] <= 1
        )


def test_cka_text_reaches_agreement_and_removal(run: Results) -> None:
    data = run.to_dict(arrays=False)
    delta = np.array([math.nan if v is None else v for v in run.spectral.text.delta])
    curve = np.array(
        [math.nan if v is None else v for v in data["agreement"]["curves"]["cka_text"]]
    )
    np.testing.assert_allclose(curve[1:], 1 - delta[1:])
    assert "cka_text" in data["agreement"]["criteria"]
    assert data["agreement"]["bootstrap"].get("cka_text") == "fixed"
    assert "cka_text" in data["removal"]["criteria"] and "cka_text" in data["removal"]["orders"]
    rows = {row.measure: row.value for row in summary_rows(data)}
    first = ", ".join(map(str, run.spectral.text.critical_layers[:3]))
    assert rows["CKA critical layers of generic text (no task data)"] == first


def test_saved_run_reads_back_and_a_bad_shape_is_refused(run: Results, tmp_path) -> None:
    run.save(tmp_path)
    back = Results.load(tmp_path)
    assert back == run
    data = run.to_dict(arrays=False)
    data["spectral"]["principal_angles_deg"] = data["spectral"]["principal_angles_deg"][:-1]
    with pytest.raises(ResultsError, match="principal_angles_deg"):
        Results.from_dict(data)


def test_report_draws_the_three_figures(run: Results, tmp_path) -> None:
    page = write_report(run, tmp_path).read_text()
    for name in ("spectrum", "principal_angles", "spectral_readout"):
        assert (tmp_path / f"{name}.png").is_file(), name
    assert "Spectrum per layer" in page and "Leading components through the lens" in page


def test_no_text_pass_means_no_cka_text() -> None:
    options = {**OPTIONS, "spectral.text_windows": 0, "spectral.readout": 0}
    config = RunConfig.from_options(methods="spectral,agreement", max_prompts=5, **options)
    results = trace(tiny("llama"), "capitals", config)
    assert results.spectral.text is None and results.spectral.suites == {}
    assert results.spectral.readout == []
    assert "cka_text" not in results.agreement.criteria


@pytest.mark.parametrize("model_type", ["gemma3_text", "mamba"])
def test_other_architectures(model_type: str) -> None:
    config = RunConfig.from_options(methods="spectral", max_prompts=6, **OPTIONS)
    section = trace(tiny(model_type), "capitals", config).spectral
    assert section.k == 5 and section.readout and section.text is not None
    for row in section.explained_variance_ratio[1:]:
        assert 0 < sum(row) <= 1 + 1e-9 and row == sorted(row, reverse=True)


def test_one_prompt_has_no_components_and_no_readout() -> None:
    config = RunConfig.from_options(methods="spectral", max_prompts=1, **OPTIONS)
    section = trace(tiny("llama"), "capitals", config).spectral
    assert section.k == 0 and section.readout == []
    assert math.isnan(section.suites["capitals"].spearman)  # null in results.json
    assert all(row == [] for row in section.explained_variance_ratio)

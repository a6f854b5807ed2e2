"""Figures, report.html and compare.html: drawn from results.json alone, self-contained, escaped."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pytest

from layertracer import RunConfig, VulnerabilityConfig, trace
from layertracer.config import InputConfig
from layertracer.errors import ReportError
from layertracer.report import write_report
from layertracer.report.data import run_data
from layertracer.report.figures import heatmap_rows, lens_heatmap, particles
from layertracer.report.html import block_summary, flatten, ran_config
from layertracer.report.topk import choose_prompt, token_text
from layertracer.tasks import Task, TaskItem
from tests.conftest import run_cli, tiny

SCRIPT = "<script>alert(1)</script> The capital of France is"
ITEMS = (
    TaskItem("fr", SCRIPT, " Paris", "France"),
    TaskItem("de & <b>", "The capital of Germany is", " Berlin", "Germany"),
    TaskItem("it", "The capital of Italy is", " Rome", "Italy"),
    TaskItem("es", "The capital of $Spain$ is", " Madrid", "Spain"),
)
CORE = ("lens_heatmap", "trajectory", "particles", "js")
EMBEDDED = re.compile(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]+"')


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real tiny-Llama run (two seeds), saved with its report as `run` writes them."""
    config = RunConfig(batch_size=4, vulnerability=VulnerabilityConfig(seeds=(0, 1)))
    results = trace(tiny("llama"), Task("caps", "test", ITEMS), config)
    out = tmp_path_factory.mktemp("run")
    results.save(out)
    write_report(results, out)
    return out


def shrunk(data: dict, num_layers: int) -> dict:
    """The run cut to its first ``num_layers`` blocks and relabelled as a Mamba model."""
    d, keep = copy.deepcopy(data), num_layers + 1
    d["model"].update(
        num_layers=num_layers, spec="<i>mamba</i>", layer_types=["mamba"] * num_layers
    )
    for row in d["prompts"]:
        for key in ("target_prob", "topk", "js_mean", "bi", "angular"):
            row[key] = row[key][:keep]
        p = row["particle_layer"]
        row["particle_layer"] = p if p is not None and p <= num_layers else None
    for key in ("bi", "angular"):
        d["similarity"][key] = d["similarity"][key][:keep]
    d["particles"]["layers"] = [row["particle_layer"] for row in d["prompts"]]
    d["particles"]["histogram"] = d["particles"]["histogram"][:keep]
    found = [x for x in d["particles"]["layers"] if x is not None]
    d["particles"]["median"] = float(np.median(found)) if found else None
    v = d["vulnerability"]
    v["js"] = [curve[:keep] for curve in v["js"]]
    for key in ("js_mean", "js_std", "site_layers", "js_ci95", "argmax_frequency"):
        v[key] = v[key][:keep]
    v["confidence_set"] = [i for i in v["confidence_set"] if i < keep]
    for key in ("masked_dims", "masked_massive"):
        v[key] = {seed: per_layer[:keep] for seed, per_layer in v[key].items()}
    v["vulnerable_layer"] = int(np.argmax(v["js_mean"]))
    return d


def test_report_embeds_every_figure_and_writes_png_and_svg(run_dir: Path) -> None:
    html = (run_dir / "report.html").read_text()
    assert len(EMBEDDED.findall(html)) >= 5  # the four core figures and the top-k table
    for name in (*CORE, "topk"):
        assert (run_dir / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "<svg" in (run_dir / f"{name}.svg").read_text()
    assert 'id="prompts"' in html and html.count("<tr>") >= len(ITEMS)


def test_report_is_self_contained(run_dir: Path) -> None:
    html = (run_dir / "report.html").read_text()
    assert "http://" not in html and "https://" not in html
    assert "<link" not in html and "<script src" not in html and "@import" not in html
    assert "url(" not in html


def test_user_strings_are_escaped(run_dir: Path) -> None:
    html = (run_dir / "report.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; The capital of France is" in html
    assert "<script>alert" not in html
    assert html.count("<script") == 1  # only the table-sorting script
    assert "de &amp; &lt;b&gt;" in html and "<b>" not in html


def test_report_command_rebuilds_the_same_report(run_dir: Path, capsys) -> None:
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.suffix in (".html", ".png")}
    (run_dir / "report.html").unlink()
    code, out, _ = run_cli(["report", str(run_dir)], capsys)
    assert code == 0 and "report.html" in out
    after = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.suffix in (".html", ".png")}
    assert after == before


def test_results_object_and_file_give_the_same_data(run_dir: Path) -> None:
    from layertracer.results import load

    assert run_data(load(run_dir)) == run_data(run_dir)


def test_compare_runs_of_different_depth(run_dir: Path, tmp_path: Path, capsys) -> None:
    data = json.loads((run_dir / "results.json").read_text())
    data["vulnerability"]["vulnerable_layer"] = 2  # the tiny run's interior shows no peak
    first, other = tmp_path / "llama", tmp_path / "mamba"
    for folder, content in ((first, data), (other, shrunk(data, 2))):
        folder.mkdir()
        (folder / "results.json").write_text(json.dumps(content))
    out = tmp_path / "cmp"
    code, _, err = run_cli(["compare", str(first), str(other), "--out", str(out)], capsys)
    assert code == 0, err
    html = (out / "compare.html").read_text()
    for name in ("compare_trajectory", "compare_particles", "compare_js"):
        assert (out / f"{name}.png").is_file() and (out / f"{name}.svg").is_file()
    assert len(EMBEDDED.findall(html)) == 3
    assert "&lt;i&gt;mamba&lt;/i&gt;" in html and "<i>mamba" not in html
    assert "http://" not in html and "https://" not in html
    L = data["model"]["num_layers"]
    rel = f"{data['vulnerability']['vulnerable_layer'] / L:.2f}"
    assert f'<td class="num">{rel}</td>' in html  # vulnerable layer in relative depth


def test_method_sections_and_warning_are_drawn_when_present(run_dir: Path, tmp_path) -> None:
    data = json.loads((run_dir / "results.json").read_text())
    L, rng = data["model"]["num_layers"], np.random.default_rng(0)
    m = np.exp(-np.abs(np.subtract.outer(np.arange(L + 1), np.arange(L + 1))) / 2)
    data["cka"] = {
        "estimator": "linear", "representation": "last", "n": 4, "matrix": m.tolist(),
        "delta": m.mean(1).tolist(), "critical_layers": [2, 1], "critical_layer": 2,
    }  # fmt: skip
    drops = [None, *rng.normal(size=L).tolist()]
    data["ablation"] = {"target_logprob_drop": drops, "accuracy_drop": drops, "critical_layer": 1}
    data["causal_tracing"] = {
        "noise_scale": 0.3, "copies": 10, "indirect_effect": rng.random(L + 1).tolist(),
        "critical_layer": 2,
    }  # fmt: skip
    data["agreement"] = {
        "criteria": ["cka", "ablation"], "curves": {"cka": m.mean(1).tolist(), "ablation": drops},
        "chosen_layers": {"cka": 2, "ablation": 1},
        "pairs": [{"a": "cka", "b": "ablation", "spearman": 0.5, "pearson": None,
                   "layer_distance": 1.0}],
    }  # fmt: skip
    data["vulnerability"]["warning"] = "<b>unstable</b> layer"
    del data["particles"]
    html = write_report(data, tmp_path, topk_prompt="it").read_text()
    for name in ("cka", "ablation", "tracing", "topk", "js"):
        assert (tmp_path / f"{name}.png").is_file()
    assert len(EMBEDDED.findall(html)) == 7  # with the heatmap and the trajectory
    assert 'role="alert"><strong>Warning:</strong> &lt;b&gt;unstable&lt;/b&gt; layer' in html
    assert "Prompt: it." in html and "CKA critical layer" in html
    assert 'id="agreement"' in html


def _removal(L: int) -> dict:
    """A removal section of two criteria and random, K = 2."""
    curve = {"accuracy": [0.5, 0.5, 0.25], "target_logprob": [-1.0, -1.2, -2.0], "kl": [0, 0.1, 1]}
    band = {f"{k}_band": [v, v] for k, v in curve.items()}
    return {
        "max_blocks": 2, "criteria": ["bi", "js", "random"], "best": "bi",
        "orders": {"bi": list(range(L, 0, -1)), "js": list(range(1, L + 1))},
        "curves": {
            "bi": {**curve, "accuracy_auc": 0.875, "logprob_auc": 0.8, "vs_random": "above"},
            "js": {**curve, "accuracy": [0.5, 0.25, 0.0], "accuracy_auc": 0.5,
                   "logprob_auc": 0.6, "vs_random": "below"},
            "random": {**curve, **band, "accuracy_auc": 0.7, "logprob_auc": 0.7,
                       "accuracy_auc_band": [0.6, 0.8], "logprob_auc_band": [0.6, 0.8]},
        },
        "removable": [None, *[True] * L], "not_removable": {}, "random_orders": [[1, 2]],
        "prompts": 4,
    }  # fmt: skip


def test_removal_figure_table_summary_and_compare(run_dir: Path, tmp_path, capsys) -> None:
    data = json.loads((run_dir / "results.json").read_text())
    data["removal"] = _removal(data["model"]["num_layers"])
    html = write_report(data, tmp_path / "a").read_text()
    assert (tmp_path / "a" / "removal.png").is_file() and 'id="removal"' in html
    assert "<strong>bi (best)</strong>" in html and "band [0.600, 0.800]" in html
    assert (
        "layer removal: best criterion" in html and "bi (accuracy AUC 0.875 vs random 0.700" in html
    )
    (tmp_path / "a" / "results.json").write_text(json.dumps(data))
    out = tmp_path / "cmp"
    code, _, err = run_cli(
        ["compare", str(run_dir), str(tmp_path / "a"), "--out", str(out)], capsys
    )
    assert code == 0, err
    assert (out / "compare_removal.png").is_file()


def test_missing_sections_are_skipped_with_a_note(run_dir: Path, tmp_path) -> None:
    data = json.loads((run_dir / "results.json").read_text())
    del data["vulnerability"], data["particles"]
    for row in data["prompts"]:
        del row["topk"]
    html = write_report(data, tmp_path).read_text()
    assert len(EMBEDDED.findall(html)) == 2  # heatmap and trajectory
    assert not (tmp_path / "removal.png").exists() and 'id="removal"' not in html
    assert "no per-prompt top-k tokens" in html
    assert not (tmp_path / "js.png").exists()


def test_topk_helpers() -> None:
    assert token_text(" Paris") == "␣Paris" and token_text("\n") == "↵"
    assert token_text("\xa0x\u2009") == "⍽x␣" and token_text("a b\t") == "a␣b⇥"
    assert token_text("\x19") == "\\x19" and token_text("") == "∅"
    layers = [[["a", 0.5]]] * 3
    rows = [
        {"id": "x", "topk": layers, "correct": False, "particle_layer": None},
        {"id": "y", "topk": layers, "correct": True, "particle_layer": 1},
        {"id": "z"},
    ]
    data = {"model": {"num_layers": 2}, "prompts": rows}
    assert choose_prompt(data) == 1 and choose_prompt(data, "x") == 0
    for wanted in ("z", "no-such-id", 3, 999):  # no top-k data for z; no such prompt
        with pytest.raises(ReportError, match=rf"prompt {wanted!r}: no prompt .*ids: x, y;"):
            choose_prompt(data, wanted)
    assert choose_prompt({"model": {"num_layers": 2}, "prompts": [rows[2]]}) is None


def test_html_helpers() -> None:
    assert block_summary(["mamba", "mamba", "attention"]) == "mamba ×2, attention ×1"
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": "x"}) == [
        ("a.b", "1"),
        ("a.c", "[1, 2]"),
        ("d", "x"),
    ]


def _bad_run(tmp_path: Path, text: str | None) -> str:
    path = tmp_path / "bad"
    path.mkdir()
    if text is not None:
        (path / "results.json").write_text(text)
    return str(path)


BAD_RESULTS = {
    "no results.json": (None, "no results.json"),
    "malformed": ('{"schema_version": 1,\n oops', ":2: malformed JSON"),
    "not an object": ("[1, 2]", "expected a JSON object"),
    "wrong schema": ('{"schema_version": 7}', "schema_version 7"),
    "missing keys": ('{"schema_version": 1, "model": {}}', "not a valid layertracer results"),
}


@pytest.mark.parametrize("case", sorted(BAD_RESULTS))
def test_report_of_bad_input_exits_2(case: str, tmp_path: Path, capsys) -> None:
    text, expected = BAD_RESULTS[case]
    code, _, err = run_cli(["report", _bad_run(tmp_path, text)], capsys)
    assert code == 2 and expected in err
    assert err.startswith("error:") and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "args",
    [
        ["report", "/nonexistent/run"],
        ["compare", "/nonexistent/a", "--out", "OUT"],
        ["compare", "/nonexistent/a", "/nonexistent/b", "--out", "OUT"],
    ],
)
def test_missing_runs_exit_2_and_write_nothing(args: list[str], tmp_path: Path, capsys) -> None:
    args = [str(tmp_path / "out") if a == "OUT" else a for a in args]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and err.startswith("error:") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_results_without_out_dir_is_an_error(run_dir: Path) -> None:
    with pytest.raises(ReportError, match="output directory"):
        write_report(run_data(run_dir))


TASK = '{"id": "fr", "prompt": "The capital of France is", "target": " Paris"}\n'


def test_run_writes_report_unless_told_not_to(tmp_path: Path, capsys, monkeypatch) -> None:
    import layertracer.report

    calls = []

    def record(results: object, out: Path) -> Path:  # the real writer is tested above
        calls.append((results, out))
        return out / "report.html"

    monkeypatch.setattr(layertracer.report, "write_report", record)
    (tmp_path / "t.jsonl").write_text(TASK)
    base = ["run", "--model", "tiny:llama", "--task", str(tmp_path / "t.jsonl")]
    base += ["--methods", "lens", "--out"]
    code, _, err = run_cli([*base, str(tmp_path / "a")], capsys)
    assert code == 0, err
    staging = tmp_path / ".a.layertracer-staging"  # drawn there, then published with the run
    assert [target for _, target in calls] == [staging] and not staging.exists()
    assert calls[0][0].prompts[0]["id"] == "fr"
    code, _, err = run_cli([*base, str(tmp_path / "b"), "--no-report"], capsys)
    assert code == 0, err
    assert (tmp_path / "b" / "results.json").is_file() and len(calls) == 1


def test_failing_report_keeps_the_results(tmp_path: Path, capsys, monkeypatch) -> None:
    import layertracer.report

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(layertracer.report, "write_report", broken)
    (tmp_path / "t.jsonl").write_text(TASK)
    args = ["run", "--model", "tiny:llama", "--task", str(tmp_path / "t.jsonl")]
    code, _, err = run_cli([*args, "--methods", "lens", "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and "disk full" in err and "layertracer report" in err
    assert json.loads((tmp_path / "r" / "results.json").read_text())["schema_version"] == 1


def _many(data: dict, copies: int) -> dict:
    """The run's prompts repeated ``copies`` times (new ids), particles kept."""
    d = copy.deepcopy(data)
    d["prompts"] = [
        {**row, "id": f"{row['id']}#{k}"} for k in range(copies) for row in data["prompts"]
    ]
    return d


def test_heatmap_rows_are_sorted_by_particle_and_aggregated_beyond_60(run_dir: Path) -> None:
    data = json.loads((run_dir / "results.json").read_text())
    particles = [2, None, 1, 2]
    for row, layer in zip(data["prompts"], particles, strict=True):
        row["particle_layer"] = layer
    rows, labels, marks, aggregated = heatmap_rows(data)
    assert marks == [1, 2, 2, None] and not aggregated  # none last, task order within
    assert labels == ["it", "fr", "es", "de & <b>"]
    np.testing.assert_allclose(rows[0], data["prompts"][2]["target_prob"])
    big = _many(data, 16)  # 64 prompts
    rows, labels, marks, aggregated = heatmap_rows(big)
    assert aggregated and marks == [1, 2, None] and rows.shape[0] == 3
    assert labels == ["particle 1 (n=16)", "particle 2 (n=32)", "no particle (n=16)"]
    mean = np.mean([data["prompts"][0]["target_prob"], data["prompts"][3]["target_prob"]], axis=0)
    np.testing.assert_allclose(rows[1], mean)
    assert lens_heatmap(big).get_figheight() <= 12.0


def test_a_large_run_says_its_heatmap_rows_are_means(run_dir: Path, tmp_path: Path) -> None:
    data = _many(json.loads((run_dir / "results.json").read_text()), 16)
    html = write_report(data, tmp_path).read_text()
    assert "each row is the mean over the prompts" in html
    assert re.search(r"\(\d rows?, n in each label\)", html)
    assert '<a href="#prompts">' in html and 'id="prompts"' in html
    small = (run_dir / "report.html").read_text()
    assert "row is the mean" not in small and '<a href="#prompts">' not in small


def test_configuration_lists_only_the_methods_that_ran(run_dir: Path, tmp_path: Path) -> None:
    data = json.loads((run_dir / "results.json").read_text())
    html = (run_dir / "report.html").read_text()
    assert "vulnerability.seeds" in html and "particles.delta" in html
    assert "tracing.copies" not in html and "cka.estimator" not in html
    assert "tracing" in data["config"] and "cka" in data["config"]  # results.json keeps all
    assert ran_config({"methods": ["lens"], "tracing": {}, "model": "m"}) == {
        "methods": ["lens"],
        "model": "m",
    }


def test_each_table_once_and_accuracy_labelled(run_dir: Path) -> None:
    html = (run_dir / "report.html").read_text()
    assert html.count("Particle sensitivity over δ") == 1
    fig = particles(run_data(run_dir))
    assert len(fig.axes) == 2  # histogram and block strip: no table panel
    assert "first-token accuracy" in html and "full-answer" not in html


def test_full_answer_accuracy_is_shown_with_full_target(tmp_path: Path) -> None:
    config = RunConfig(methods=("lens", "particles"), inputs=InputConfig(full_target=True))
    results = trace(tiny("llama"), Task("caps", "test", ITEMS), config)
    html = write_report(results, tmp_path).read_text()
    assert "full-answer accuracy" in html and "<th>whole answer</th>" in html
    assert "first-token accuracy" in html

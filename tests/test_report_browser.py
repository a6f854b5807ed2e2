"""report.html in a real browser: headless Chromium renders it, logs nothing, sorts, escapes.

Needs the Debian ``chromium`` package (``.ci/run`` installs it when it can); skipped otherwise.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from layertracer.report import write_report

CHROMIUM = shutil.which("chromium")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking")
SCRIPT = "<script>alert('x')</script> The capital of France is"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="headless browser test: `chromium` is not on PATH (apt-get install chromium)",
    ),
]


def results(L: int = 4) -> dict:
    """A small but complete results.json object: 4 prompts, particles and a JS scan."""
    rng = np.random.default_rng(0)
    prompts = []
    for n, (prompt, particle) in enumerate(
        [(SCRIPT, 3), ("The capital of Italy is", 2), ("2 + 2 =", None), ("Paris is in", 4)]
    ):
        probs = np.clip(np.linspace(0, 0.2 * (n + 1), L + 1) + rng.random(L + 1) * 0.05, 0, 1)
        prompts.append(
            {"id": f"p{n}", "prompt": prompt, "target": " x", "target_prob": probs.tolist(),
             "particle_layer": particle, "final_prob": float(probs[-1]), "correct": n % 2 == 0,
             "top1_token": " x"}
        )  # fmt: skip
    js = rng.random((2, L + 1)) * 0.5
    worst = int(js.mean(0).argmax())
    layers = [p["particle_layer"] for p in prompts]
    return {
        "schema_version": 1, "tool": {"name": "layertracer", "version": "test"},
        "config": {"model": "tiny:test"}, "environment": {"python": "3"}, "lens": {},
        "model": {"spec": "tiny:test", "model_type": "test", "num_layers": L,
                  "layer_types": ["mamba", "mamba", "attention", "attention"]},
        "task": {"name": "browser"}, "accuracy": 0.5, "prompts": prompts,
        "particles": {"delta": 0.05, "layers": layers, "median": 3.0, "quartiles": [2.5, 3.5],
                      "iqr": 1.0, "none_fraction": 0.25, "sensitivity": {"0.05": {"median": 3.0}}},
        "vulnerability": {"seeds": [0, 1], "js": js.tolist(), "js_mean": js.mean(0).tolist(),
                          "js_std": js.std(0).tolist(), "vulnerable_layer": worst,
                          "stable": False, "seed_agreement": 0.5, "warning": "Not stable."},
    }  # fmt: skip


def chromium(*args: str) -> subprocess.CompletedProcess:
    """Runs headless Chromium with console messages logged to stderr."""
    command = [CHROMIUM, *FLAGS, "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)


def console_messages(stderr: str) -> list[str]:
    """Lines where the page wrote to its console (errors, uncaught exceptions, logs)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """report.html of the synthetic run, plus a copy that clicks the particle column header."""
    out = tmp_path_factory.mktemp("browser")
    path = write_report(results(), out)
    click = (
        "<script>var th = document.querySelectorAll('#prompts th')[4]; th.click(); th.click();"
        "document.body.setAttribute('data-order', Array.prototype.map.call("
        "document.querySelectorAll('#prompts tbody tr'), function (r) {"
        " return r.cells[0].textContent; }).join(','));</script></body>"
    )
    (out / "sorted.html").write_text(path.read_text().replace("</body>", click))
    return path


def test_report_renders_without_console_errors(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    done = chromium(f"--screenshot={shot}", "--window-size=1280,2000", report.as_uri())
    assert shot.is_file(), done.stderr[-2000:]
    assert console_messages(done.stderr) == []
    pixels = imread(shot)[..., :3]  # [H, W, 3] in 0..1
    assert pixels.shape[:2] == (2000, 1280)
    ink = (pixels.min(axis=2) < 0.9).mean()
    assert ink > 0.05, f"screenshot almost blank ({ink:.1%} non-white)"
    assert pixels.std() > 0.05


@pytest.fixture(scope="module")
def dom(report: Path) -> str:
    """The DOM after the copy of the report sorted its prompt table by particle, descending."""
    done = chromium("--dump-dom", (report.parent / "sorted.html").as_uri())
    assert console_messages(done.stderr) == []
    return done.stdout


def test_script_prompt_is_text_in_the_dom(dom: str) -> None:
    assert "&lt;script&gt;alert('x')&lt;/script&gt; The capital of France is" in dom
    assert "<script>alert" not in dom
    assert dom.count('src="data:image/png;base64,') == 4


def test_prompt_table_sorts_in_the_browser(dom: str) -> None:
    # Particle layers 3, 2, none, 4; sorted descending, "none" last.
    assert 'data-order="3,0,1,2"' in dom

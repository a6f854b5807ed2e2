"""report.html in a real browser: headless Chromium renders it, logs nothing, sorts, escapes.

Needs the Debian ``chromium`` package (``.ci/run`` installs it when it can); skipped otherwise.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from matplotlib.image import imread

from layertracer import RunConfig, VulnerabilityConfig, trace
from layertracer.report import write_report
from tests.conftest import tiny

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


def results() -> dict:
    """A real tiny-Llama run (L = 4, two seeds) whose prompts' particle layers are set to 3, 2,
    none and 4 (for the sort test), without top-k tokens: 4 figures, a warning box."""
    items = [(SCRIPT, " Paris"), ("The capital of Italy is", " Rome"), ("2 + 2 =", " 4"),
             ("Paris is in", " France")]  # fmt: skip
    config = RunConfig(vulnerability=VulnerabilityConfig(seeds=(0, 1)))
    data = trace(tiny("llama"), items, config).to_dict()
    for row, particle in zip(data["prompts"], [3, 2, None, 4], strict=True):
        row["particle_layer"] = particle
        del row["topk"]
    data["particles"]["layers"] = [row["particle_layer"] for row in data["prompts"]]
    data["vulnerability"].update(stable=False, warning="Not stable.")
    return data


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

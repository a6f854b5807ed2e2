"""A real notebook, executed by nbclient on an IPython kernel: what a Jupyter user sees of
a run (figures as images without ``%matplotlib inline``, finished progress, one-line
errors). Skipped without the ``notebook`` extra."""

from __future__ import annotations

import re

import pytest

MISSING = "needs nbclient and ipykernel (pip install -e '.[notebook]')"
nbformat = pytest.importorskip("nbformat", reason=MISSING)
nbclient = pytest.importorskip("nbclient", reason=MISSING)
pytest.importorskip("ipykernel", reason=MISSING)

CELLS = {
    "setup": (
        "import layertracer as lt\n"
        "from IPython.display import display\n"
        "items = [('The capital of France is', ' Paris'), ('The capital of Italy is', ' Rome'),\n"
        "         ('The capital of Spain is', ' Madrid')]\n"
        "config = lt.RunConfig(methods=('lens', 'particles', 'vulnerability'), batch_size=2,\n"
        "                      vulnerability=lt.VulnerabilityConfig(seeds=(0, 1)))"
    ),
    "run": "results = lt.trace('tiny:llama', items, config, progress=lt.ConsoleProgress())",
    "value": 'results.figure("js")',
    "display": 'display(results.figure("trajectory"))',
    "error": "lt.trace('tiny:llama', 'no-such-task')",
}


@pytest.fixture(scope="module")
def cells(tmp_path_factory) -> dict[str, list[dict]]:
    """Each cell's outputs, by the cell's name, after running the notebook once."""
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_code_cell(source) for source in CELLS.values()]
    where = tmp_path_factory.mktemp("notebook")
    client = nbclient.NotebookClient(
        book, timeout=300, kernel_name="python3", allow_errors=True,
        resources={"metadata": {"path": str(where)}},
    )  # fmt: skip
    client.execute()
    return {name: cell.outputs for name, cell in zip(CELLS, book.cells, strict=True)}


def _images(outputs: list[dict]) -> list[str]:
    return [o["data"]["image/png"] for o in outputs if "image/png" in o.get("data", {})]


def test_a_figure_as_a_cells_value_is_an_image(cells) -> None:
    assert [o["output_type"] for o in cells["value"]] == ["execute_result"]
    assert len(_images(cells["value"])) == 1


def test_a_displayed_figure_is_an_image(cells) -> None:
    assert [o["output_type"] for o in cells["display"]] == ["display_data"]
    assert len(_images(cells["display"])) == 1


def test_progress_ends_at_each_stages_total(cells) -> None:
    lines = [o["data"]["text/plain"] for o in cells["run"] if o["output_type"] == "display_data"]
    counts = [re.match(r"^(\w+): (\d+)/(\d+) steps, done in ", line) for line in lines]
    assert all(counts) and len(counts) >= 3, lines  # lens, replay check, vulnerability...
    assert {m[1] for m in counts} >= {"lens", "vulnerability"}
    assert all(m[2] == m[3] for m in counts), lines
    streams = [o["text"] for o in cells["run"] if o["output_type"] == "stream"]
    assert not [text for text in streams if "tqdm" not in text]  # tqdm's import warning aside


def test_a_bad_task_is_one_line(cells) -> None:
    (error,) = cells["error"]
    assert error["output_type"] == "error" and error["ename"] == "TaskError"
    assert len(error["traceback"]) == 1 and "no-such-task" in error["traceback"][0]

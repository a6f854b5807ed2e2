"""Property-based tests: random bytes, JSON and CSV thrown at the task loader, random JSON at
the results reader, random option values at ``run``. The only outcomes allowed are success
or one clear error (``LayerTracerError``; exit status 2 with one line), never a traceback."""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layertracer.errors import LayerTracerError
from layertracer.results import Results
from layertracer.tasks import load_task, validate_file
from tests.conftest import run_cli

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
RECORD = st.fixed_dictionaries(
    {}, optional={"prompt": JSON, "target": JSON, "id": JSON, "subject": JSON, "x": JSON}
)


def _load(content: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"task{suffix}"
        path.write_bytes(content)
        for call in (lambda: load_task(str(path)), lambda: validate_file(str(path))):
            try:
                call()
            except LayerTracerError as exc:
                assert str(exc).strip(), "an error needs a message"


@FAST
@given(st.binary(max_size=400), st.sampled_from([".jsonl", ".csv"]))
def test_random_bytes_give_a_task_or_a_clear_error(content: bytes, suffix: str) -> None:
    _load(content, suffix)


@FAST
@given(st.lists(RECORD | JSON, max_size=6))
def test_random_json_lines_give_a_task_or_a_clear_error(lines: list) -> None:
    _load("\n".join(json.dumps(line) for line in lines).encode(), ".jsonl")


@FAST
@given(
    st.lists(st.lists(st.text(string.printable, max_size=10), min_size=1, max_size=4), max_size=6),
    st.sampled_from([["prompt", "target"], ["prompt"], ["target", "prompt", "id"], []]),
)
def test_random_csv_gives_a_task_or_a_clear_error(rows: list, header: list) -> None:
    lines = [",".join(header), *(",".join(json.dumps(cell) for cell in row) for row in rows)]
    _load("\n".join(lines).encode(), ".csv")


@FAST
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "schema_version",
                "model",
                "prompts",
                "lens",
                "tool",
                "vulnerability",
                "accuracy",
                "config",
            ]
        ),
        JSON,
    )
)
def test_random_results_objects_are_valid_or_refused_with_a_path(data: dict) -> None:
    try:
        Results.from_dict(data)
    except LayerTracerError as exc:
        assert "\n" not in str(exc)


OPTIONS = {
    "--seeds": st.text(max_size=8) | st.just("auto"),
    "--mask-ratio": st.text("0123456789.-e", max_size=6),
    "--mask-mode": st.text(max_size=8) | st.sampled_from(["zero", "norm", "mean"]),
    "--batch-size": st.text("0123456789auto-", max_size=5),
    "--delta": st.text("0123456789.-", max_size=5),
    "--methods": st.text(string.ascii_lowercase + ",", max_size=20),
    "--protocol": st.text(max_size=8) | st.sampled_from(["paper", "stable"]),
    "--max-seeds": st.text("0123456789-", max_size=3),
    "--truncate": st.text(max_size=6) | st.just("left"),
    "--positions": st.text(max_size=5),
}


OPTION_SETS = st.sets(st.sampled_from(sorted(OPTIONS)), min_size=1, max_size=3).flatmap(
    lambda keys: st.fixed_dictionaries({k: OPTIONS[k] for k in keys})
)
CLI = settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))


@CLI
@given(values=OPTION_SETS)
def test_random_option_values_run_or_exit_2_with_one_line(values, capsys, monkeypatch) -> None:
    from layertracer.cli import run as run_module

    monkeypatch.setattr(run_module, "execute", lambda *args, **kwargs: None)  # no model work
    args = ["run", "--model", "tiny:llama", "--out", "/tmp/layertracer-fuzz-never-written"]
    for option, value in values.items():
        args += [option, value]
    code, _, err = run_cli(args, capsys)
    assert code in (0, 2), err
    if code == 2:
        assert err.startswith("error:") and err.count("\n") == 1 and "Traceback" not in err

"""The command line: every bad input is one line on stderr and exit 2; a run writes files."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest
import torch

from layertracer.config import ALL_METHODS
from tests.conftest import run_cli

# the package's `trace` name is the function; the pipeline module is patched
trace_module = importlib.import_module("layertracer.pipeline")


def _file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


BAD_TASKS = {
    "bad_json.jsonl": (
        '{"prompt": "a", "target": " b"}\n{"prompt": "c", "target": " d"}\n{oops\n',
        ":3:",
    ),
    "no_target.jsonl": ('{"prompt": "a", "target": " b"}\n{"prompt": "c"}\n', ":2:"),
    "empty_target.jsonl": ('{"prompt": "a", "target": ""}\n', ":1:"),
    "empty.jsonl": ("", "empty"),
    "no_column.csv": ("prompt,answer\nThe capital of France is, Paris\n", "target"),
}


@pytest.mark.parametrize("name", sorted(BAD_TASKS))
def test_bad_task_file_exits_2_with_line_number(name, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(trace_module, "load_model", _no_model_load)
    text, expected = BAD_TASKS[name]
    code, _, err = run_cli(
        [
            "run",
            "--model",
            "tiny:llama",
            "--task",
            _file(tmp_path, name, text),
            "--out",
            str(tmp_path / "out"),
        ],
        capsys,
    )
    assert code == 2
    assert expected in err
    _assert_one_line(err)


BAD_OPTIONS = [
    ["--mask-ratio", "0"],
    ["--mask-ratio", "1.5"],
    ["--seeds", "a,b"],
    ["--seeds", "0,0"],
    ["--dtype", "float8"],
    ["--mask-mode", "ones"],
    ["--positions", "first"],
    ["--methods", "lens,magic"],
    ["--batch-size", "0"],
    ["--delta", "2"],
    ["--max-prompts", "0"],
    ["--protect-massive", "always"],
    ["--shots", "-1"],
    ["--model", "tiny:lama"],
    ["--model", "/no/such/model/dir"],
    ["--task", "no_such_suite"],
    ["--batch-size", "many"],
]


@pytest.mark.parametrize("extra", BAD_OPTIONS, ids=lambda a: " ".join(a))
def test_bad_option_exits_2_with_one_line(extra, tmp_path, capsys) -> None:
    args = ["run", "--model", "tiny:llama", "--task", "capitals", "--out", str(tmp_path / "o")]
    code, _, err = run_cli([*args, *extra], capsys)
    assert code == 2, err
    _assert_one_line(err)
    assert not (tmp_path / "o" / "results.json").exists()


def test_unknown_tiny_type_suggests_names(tmp_path, capsys) -> None:
    code, _, err = run_cli(["run", "--model", "tiny:lama", "--out", str(tmp_path)], capsys)
    assert code == 2 and "llama" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_gpu_exits_2(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(trace_module, "load_model", _no_model_load)
    code, _, err = run_cli(
        ["run", "--device", "cuda", "--model", "tiny:llama", "--out", str(tmp_path)], capsys
    )
    assert code == 2 and "cuda" in err.lower()
    _assert_one_line(err)


def test_out_that_is_a_file_is_left_alone(tmp_path, capsys) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    code, _, err = run_cli(["run", "--model", "tiny:llama", "--out", str(target)], capsys)
    assert code == 2 and "not a directory" in err
    assert target.read_text() == "keep me"


def test_run_writes_results_and_summary(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    code, stdout, err = run_cli(
        [
            "run",
            "--model",
            "tiny:llama",
            "--task",
            "capitals",
            "--max-prompts",
            "5",
            "--seeds",
            "0,1",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert code == 0, err
    data = json.loads((out / "results.json").read_text())
    assert len(data["prompts"]) == 5 and data["config"]["vulnerability"]["seeds"] == [0, 1]
    assert (out / "prompts.csv").exists()
    assert "vulnerable layer" in stdout and str(out / "results.json") in stdout.replace("\n", "")


def test_tasks_json_and_validate(tmp_path, capsys) -> None:
    code, stdout, _ = run_cli(["tasks", "--json"], capsys)
    suites = json.loads(stdout)
    assert code == 0 and any(s["name"] == "capitals" and s["items"] >= 50 for s in suites)
    bad = _file(tmp_path, "bad.jsonl", '{"prompt": "x"}\n{"target": " y"}\n')
    code, _, err = run_cli(["tasks", "validate", bad], capsys)
    assert code == 2 and ":1:" in err and ":2:" in err


def test_inspect_json(capsys) -> None:
    code, stdout, _ = run_cli(["inspect", "--model", "tiny:jamba", "--json"], capsys)
    info = json.loads(stdout)
    assert code == 0 and info["num_layers"] == len(info["blocks"]) == 4
    assert {b["type"].split("+")[0] for b in info["blocks"]} == {"attention", "mamba"}


def _no_model_load(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("options and the task must be validated before the model is loaded")


def _assert_one_line(err: str) -> None:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("error:")


INPUT_ERRORS = {
    "task and text": (["--task", "capitals", "--text", "builtin:gettysburg"], "not both"),
    "missing text": (["--text", "/no/such.txt"], "no such file"),
    "unknown text": (["--text", "builtin:nope"], "gettysburg"),
    "text window": (["--text", "builtin:gettysburg", "--text-window", "1"], "--text-window"),
    "no template": (["--chat-template"], "no chat template"),
    "comma list": (["--task", "capitals,nope"], "nope"),
    "same fields": (["--prompt-field", "x", "--target-field", "x"], "equals --target-field"),
}


@pytest.mark.parametrize("name", sorted(INPUT_ERRORS))
def test_bad_inputs_exit_2_with_one_line(name, tmp_path, capsys) -> None:
    extra, expected = INPUT_ERRORS[name]
    code, _, err = run_cli(["run", "--model", "tiny:llama", "--out", str(tmp_path), *extra], capsys)
    assert code == 2 and expected in err, err
    _assert_one_line(err)


def test_renamed_field_missing_names_the_line(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(trace_module, "load_model", _no_model_load)
    path = _file(tmp_path, "qa.jsonl", '{"q": "a", "a": " b"}\n{"q": "c"}\n')
    args = ["run", "--task", path, "--prompt-field", "q", "--target-field", "a"]
    code, _, err = run_cli([*args, "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "qa.jsonl:2: missing field 'a'" in err
    _assert_one_line(err)


def test_dataset_folder_without_the_extra_exits_2(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(trace_module, "load_model", _no_model_load)
    monkeypatch.setitem(__import__("sys").modules, "datasets", None)
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "dataset_dict.json").write_text('{"splits": ["test"]}')
    code, _, err = run_cli(["run", "--task", str(folder), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "layertracer[datasets]" in err
    _assert_one_line(err)


def test_two_suites_and_text_mode_runs(tmp_path, capsys) -> None:
    args = ["run", "--model", "tiny:llama", "--methods", "lens,particles", "--no-report"]
    suites = [*args, "--task", "capitals,antonyms", "--max-prompts", "2", "--full-target"]
    code, stdout, err = run_cli([*suites, "--out", str(tmp_path / "s")], capsys)
    assert code == 0, err
    data = json.loads((tmp_path / "s" / "results.json").read_text())
    assert list(data["suites"]) == ["capitals", "antonyms"] and "suite antonyms" in stdout
    assert all(len(r["answer_logprob"]) == data["model"]["num_layers"] + 1 for r in data["prompts"])
    text = [*args, "--text", "builtin:gettysburg", "--max-prompts", "3"]
    code, _, err = run_cli([*text, "--out", str(tmp_path / "t")], capsys)
    assert code == 0, err
    data = json.loads((tmp_path / "t" / "results.json").read_text())
    assert [r["id"] for r in data["prompts"]] == ["w0:p1", "w0:p2", "w0:p3"]
    assert data["config"]["task"] is None and data["task"]["mode"] == "text"


def test_run_help_shows_every_option_name_whole_at_80_columns() -> None:
    import os
    import subprocess
    import sys

    import typer

    from layertracer.cli import app

    command = typer.main.get_command(app).commands["run"]
    shown = [param for param in command.params if not getattr(param, "hidden", False)]
    names = [opt for param in shown for opt in param.opts if opt.startswith("--")]
    env = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}
    out = subprocess.run(
        [sys.executable, "-m", "layertracer", "run", "--help"],
        capture_output=True, text=True, env=env, check=True,
    ).stdout  # fmt: skip
    assert max(len(line) for line in out.splitlines()) <= 80
    missing = [name for name in names if re.search(rf"{re.escape(name)}(?![\w-])", out) is None]
    assert not missing, f"cut or missing at 80 columns: {missing}"
    assert "…" not in out  # rich marks a cut word with an ellipsis
    words = re.sub(r"[│╭╮╰╯─\s]+", " ", out)  # the help text as words, boxes and wraps gone
    assert all(re.search(rf"\b{m}\b", words) for m in ALL_METHODS)
    panels = ["Model", "Task & inputs", "Method", "Output", "Performance"]
    assert all(f"─ {panel} ─" in out for panel in panels)


def test_progress_lines_when_stderr_is_a_file(tmp_path) -> None:
    """Redirected stderr (a log, a job scheduler) gets plain progress lines during the
    vulnerability stage; the kernel-fallback warnings of tiny:mamba are one note, or shown
    with -v."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "LAYERTRACER_PROGRESS_INTERVAL": "0.002"}
    env.pop("TRANSFORMERS_VERBOSITY", None)  # as a user has it: transformers warns
    args = ["--model", "tiny:mamba", "--batch-size", "1", "--no-report", "--seeds", "0,1"]
    runs = (("quiet-libraries", []), ("verbose", ["-v", "--methods", "lens"]))
    for name, extra in runs:
        log = tmp_path / f"{name}.log"
        with log.open("w") as stderr:
            subprocess.run(
                [sys.executable, "-m", "layertracer", "run", *args, *extra, "--max-prompts", "3",
                 "--out", str(tmp_path / name)],
                stdout=subprocess.DEVNULL, stderr=stderr, env=env, check=True,
            )  # fmt: skip
        text = log.read_text()
        if name == "quiet-libraries":
            during = re.findall(
                r"^vulnerability: (\d+)/(\d+) steps, \d:\d\d:\d\d elapsed", text, re.M
            )
            assert any(int(done) < int(total) for done, total in during), text
            assert re.search(r"^vulnerability: (\d+)/\1 steps, done in", text, re.M), text
            assert "note: 2 library messages hidden (-v to show)" in text
            assert "falling back" not in text and "\r" not in text
        else:
            assert text.count("falling back to its reference PyTorch implementation") == 2
            assert "library messages hidden" not in text


def test_json_prints_only_json_on_stdout(tmp_path, capsys) -> None:
    args = ["run", "--model", "tiny:llama", "--max-prompts", "3", "--seeds", "0,1"]
    code, stdout, err = run_cli([*args, "--json", "--out", str(tmp_path / "j")], capsys)
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["results"] == str(tmp_path / "j" / "results.json")
    assert summary["report"] == str(tmp_path / "j" / "report.html")
    assert Path(summary["report"]).is_file()
    data = json.loads(Path(summary["results"]).read_text())
    assert summary["numbers"]["first_token_accuracy"] == data["accuracy"]
    numbers, vul = summary["numbers"], data["vulnerability"]
    assert numbers["vulnerable_layer"] == vul["vulnerable_layer"]
    assert numbers["vulnerable_layer_confidence_set"] == vul["confidence_set"]
    assert numbers["vulnerable_layer_reliability"] == vul["reliability"]["seeds"]  # None: 2 seeds
    assert summary["summary"][0] == {"measure": "prompts", "value": "3", "alert": False}


def test_quiet_prints_only_the_results_path(tmp_path, capsys) -> None:
    args = ["run", "--model", "tiny:llama", "--max-prompts", "2", "--seeds", "0"]
    code, stdout, err = run_cli([*args, "--quiet", "--out", str(tmp_path / "q")], capsys)
    assert code == 0 and err == ""
    assert stdout == f"results: {tmp_path / 'q' / 'results.json'}\n"
    assert (tmp_path / "q" / "report.html").is_file()
    code, _, err = run_cli([*args, "--quiet", "-v", "--out", str(tmp_path / "v")], capsys)
    assert code == 2 and "not both" in err
    _assert_one_line(err)


def test_layertracer_notes_are_shown(tmp_path, capsys, monkeypatch) -> None:
    import logging

    from tests.conftest import tiny

    def load(*_args: object, **_kwargs: object) -> object:
        logging.getLogger("layertracer").info("first use of x: converting it in /cache (once)")
        return tiny("llama")

    monkeypatch.setattr(trace_module, "load_model", load)
    args = ["run", "--max-prompts", "2", "--methods", "lens", "--no-report"]
    code, _, err = run_cli([*args, "--out", str(tmp_path / "n")], capsys)
    assert code == 0 and "note: first use of x: converting it in /cache (once)" in err
    code, _, err = run_cli([*args, "--quiet", "--out", str(tmp_path / "m")], capsys)
    assert code == 0 and err == ""

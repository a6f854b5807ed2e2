"""Configs from plain data (layertracer.config.options): ``RunConfig.from_options`` parses
flat options as ``layertracer run`` parses its flags, ``RunConfig.from_dict`` inverts
``to_dict``, and ``trace`` takes a dict; a bad option is one ConfigError line."""

from __future__ import annotations

import importlib
import inspect
import json

import pytest

from layertracer import RunConfig, VulnerabilityConfig, trace
from layertracer.config import ALL_METHODS, REMOVAL_NEEDS, as_config
from layertracer.config.options import FLAT, SPECIAL
from layertracer.errors import ConfigError
from tests.conftest import tiny

cli_run = importlib.import_module("layertracer.cli.run")
CLI_ONLY = {"out_dir", "no_report", "overwrite", "resume", "verbose", "quiet", "as_json", "ctx"}
CLI_ONLY |= {"settings", "help_set"}


class _Stop(Exception):
    pass


def _cli_config(args: list[str], capsys, monkeypatch) -> RunConfig:
    """The RunConfig that ``layertracer run ARGS`` would run."""
    seen = []

    def execute(config, *_args, **_kwargs):
        seen.append(config)
        raise _Stop

    monkeypatch.setattr(cli_run, "execute", execute)
    with pytest.raises(_Stop):
        from layertracer import cli

        cli.main(["run", *args])
    return seen[0]


CASES = [
    (["--methods", "all"], {"methods": "all"}),
    (["--methods", "removal"], {"methods": "removal"}),
    (["--methods", "particles"], {"methods": ["particles"]}),
    (
        ["--seeds", "0,1", "--protocol", "paper", "--mask-ratio", "0.1", "--no-replay"],
        {"seeds": "0,1", "protocol": "paper", "mask_ratio": 0.1, "replay": False},
    ),
    (["--seeds", "auto", "--max-seeds", "12"], {"seeds": "auto", "max_seeds": 12}),
    (
        ["--batch-size", "auto", "--final-norm", "none", "--tracing-map-prompts", "all"],
        {"batch_size": "auto", "final_norm": "none", "tracing_map_prompts": "all"},
    ),
    (
        ["--max-prompts", "3", "--truncate", "left", "--removal-span", "2", "--delta", "0.1"],
        {"max_prompts": 3, "truncate": "left", "removal_span": 2, "delta": 0.1},
    ),
]


@pytest.mark.parametrize(("args", "options"), CASES)
def test_from_options_is_what_the_command_line_runs(args, options, capsys, monkeypatch) -> None:
    cli = _cli_config(["--model", "tiny:llama", "--task", "capitals", *args], capsys, monkeypatch)
    python = RunConfig.from_options(model="tiny:llama", task="capitals", **options)
    assert python == cli


@pytest.mark.parametrize("method", ALL_METHODS)
def test_a_config_built_directly_runs_what_the_command_line_runs(method, capsys, monkeypatch):
    """``RunConfig(methods=(m,))`` resolves the methods ``m`` needs as ``--methods m`` does
    (``removal`` ranks blocks by the same criteria either way)."""
    cli = _cli_config(["--model", "tiny:llama", "--methods", method], capsys, monkeypatch)
    direct = RunConfig(model="tiny:llama", methods=(method,))
    assert direct == cli and method in direct.methods
    assert set(REMOVAL_NEEDS) <= set(RunConfig(methods=("removal",)).methods)


def test_every_run_flag_is_a_flat_option() -> None:
    flags = set(inspect.signature(cli_run.run).parameters) - CLI_ONLY - {"no_replay"}
    assert flags <= set(FLAT) | set(SPECIAL), flags - set(FLAT) - set(SPECIAL)


def test_methods_as_a_string_or_all() -> None:
    assert RunConfig(methods="lens").methods == ("lens",)
    assert RunConfig(methods=("all",)).methods == ALL_METHODS
    needed = RunConfig.from_options(methods="removal").methods
    assert set(REMOVAL_NEEDS) < set(needed) and needed.index("removal") == len(needed) - 1


def test_from_dict_inverts_to_dict_through_json() -> None:
    config = RunConfig.from_options(
        methods="all", seeds="0,2", final_norm="model.norm", max_prompts=4, replay=False
    )
    saved = json.loads(json.dumps(config.to_dict()))  # tuples became lists
    assert RunConfig.from_dict(saved) == config
    assert RunConfig.from_dict({"max_prompts": 2}) == RunConfig(max_prompts=2)


def test_a_saved_run_reruns_from_its_config(small_task) -> None:
    first = trace(tiny("llama"), small_task, {"methods": "lens", "max_prompts": 2})
    again = trace(tiny("llama"), small_task, RunConfig.from_dict(first.config))
    assert len(again.prompts) == 2 and again.config == first.config


BAD = [
    ({"max_prompt": 2}, r"unknown option 'max_prompt'; options: model, task"),
    ({"cka": {"estimate": "x"}}, r"config\.cka: unknown option 'estimate'"),
    ({"vulnerability": 3}, r"config\.vulnerability: expected a dict"),
    ({"max_prompts": "two"}, r"--max-prompts must be an integer, got 'two'"),
    ({"max_prompts": [2]}, r"wrong type"),
    ({"vulnerability.mask_ratoi": "0.1"}, r"vulnerability: unknown option 'mask_ratoi'; options: "),
    ({"tracing.copies": "x"}, r"tracing\.copies must be an integer, got 'x'"),
    ({"methods": "lens,magic"}, r"--methods must be one of"),
]


@pytest.mark.parametrize(("options", "message"), BAD)
def test_a_bad_option_is_one_config_error_line(options, message, small_task) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        trace(tiny("llama"), small_task, options)
    assert "\n" not in str(caught.value)
    with pytest.raises(ConfigError, match="RunConfig or a dict"):
        as_config(["lens"])


def test_preset_takes_a_dict_as_docs_api_shows() -> None:
    paper = VulnerabilityConfig.preset("paper", seeds=(0, 1))
    assert VulnerabilityConfig.preset("paper", {"seeds": (0, 1)}) == paper
    assert (
        paper.seeds == (0, 1) and paper.mask_mode == VulnerabilityConfig.preset("paper").mask_mode
    )
    with pytest.raises(ConfigError, match="unknown option 'seed'"):
        VulnerabilityConfig.preset("paper", {"seed": 1})

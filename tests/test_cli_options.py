"""The options of ``layertracer run`` (layertracer.cli.flags, layertracer.cli.settings): one
source of defaults (the config dataclasses), every other field through ``--set``, the
former flags as hidden aliases, and every ``layertracer run`` command of the docs parses."""

from __future__ import annotations

import dataclasses
import importlib
import re
import shlex
from pathlib import Path

import pytest
import typer

from layertracer.cli import app
from layertracer.cli.flags import ALIASES, FLAGS
from layertracer.cli.settings import attributes, listing
from layertracer.config import RunConfig
from layertracer.config.options import FLAT, sections
from tests.conftest import run_cli

cli_run = importlib.import_module("layertracer.cli.run")
ROOT = Path(__file__).resolve().parents[1]
COMMAND = typer.main.get_command(app).commands["run"]  # type: ignore[union-attr]
PARAMS = {param.name: param for param in COMMAND.params}


class _Stop(Exception):
    pass


def _config(args: list[str], monkeypatch) -> RunConfig:
    """The RunConfig that ``layertracer run ARGS`` would run (nothing is run)."""
    seen = []

    def execute(config, *_args, **_kwargs):
        seen.append(config)
        raise _Stop

    monkeypatch.setattr(cli_run, "execute", execute)
    monkeypatch.setattr(cli_run, "resolve_device", lambda device: device)  # no GPU needed
    from layertracer import cli

    with pytest.raises(_Stop):
        cli.main(["run", *args])
    return seen[0]


def test_the_command_line_defaults_are_the_configs(monkeypatch) -> None:
    assert _config([], monkeypatch) == RunConfig()


@pytest.mark.parametrize("name", sorted(FLAGS))
def test_each_flags_default_is_the_configs_own(name: str) -> None:
    """The default a flag shows, given as an option, leaves ``RunConfig()`` as it is; and
    a flag of a config field with a value shows that value."""
    param = PARAMS[name]
    assert not param.hidden and param.show_default
    if name == "no_replay":
        assert param.default is False and RunConfig().vulnerability.replay
        return
    if param.default is None:  # not given: the config decides (the task, the seeds)
        return
    assert RunConfig.from_options(**{name: param.default}) == RunConfig()
    section, field = FLAT.get(name, (None, name))
    owner = getattr(RunConfig(), section) if section else RunConfig()
    value = getattr(owner, field, None)
    if value is not None:
        shown = ",".join(map(str, value)) if isinstance(value, tuple) else value
        assert param.default == (str(shown) if isinstance(param.default, str) else shown)


# a value other than the default for every hidden alias (a former flag)
SAMPLES = {
    "text_window": "16", "blocks": "model.layers", "final_norm": "none", "unembed": "lm_head",
    "delta": "0.1", "z": "3", "cka_estimator": "debiased", "cka_representation": "mean",
    "tracing_noise": "2.5", "tracing_copies": "4", "tracing_seed": "7",
    "tracing_map_prompts": "all", "removal_blocks": "3", "removal_span": "2",
    "removal_random": "2", "removal_seed": "1", "mask_ratio": "0.1", "mask_mode": "zero",
    "positions": "last", "protect_massive": "none", "massive_ratio": "20", "site": "mlp",
    "layer_rule": "argmax", "lens_tokens": "1024", "max_seeds": "12", "spectral_k": "4",
}  # fmt: skip


def test_every_alias_has_a_sample() -> None:
    assert set(SAMPLES) == set(ALIASES)
    assert all(PARAMS[name].hidden for name in ALIASES)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_a_former_flag_still_works_and_is_its_set(name: str, monkeypatch) -> None:
    flag = ["--" + name.replace("_", "-"), SAMPLES[name]]
    section, field = FLAT.get(name, ("vulnerability", name))
    with_flag = _config(flag, monkeypatch)
    assert with_flag != RunConfig()  # it took effect
    assert with_flag == _config(["--set", f"{section}.{field}={SAMPLES[name]}"], monkeypatch)


def test_set_parses_by_the_fields_type_and_the_last_one_wins(monkeypatch) -> None:
    config = _config(
        [
            "--protocol", "paper", "--set", "vulnerability.seeds=0,2", "--set",
            "agreement.samples=10", "--set", "tracing.map_prompts=all", "--set",
            "vulnerability.replay=false", "--set", "agreement.samples=20",
        ],
        monkeypatch,
    )  # fmt: skip
    assert config.vulnerability.seeds == (0, 2) and config.vulnerability.mask_mode == "zero"
    assert config.agreement.samples == 20 and config.tracing.map_prompts is None
    assert not config.vulnerability.replay and config.tracing.replay


BAD_SETS = [
    ("mask_ratio=0.1", "--set takes section.field=value with a section of particles"),
    ("vulnerability.mask_ratio", "--set takes section.field=value"),
    ("vulnerability.mask_ratoi=0.1", "vulnerability has no field 'mask_ratoi'; its fields: seeds"),
    ("vulnerabilty.mask_ratio=0.1", "with a section of particles, vulnerability"),
    ("vulnerability.mask_ratio=lots", "vulnerability.mask_ratio must be a number, got 'lots'"),
    ("vulnerability.mask_ratio=1.5", "--mask-ratio must be in (0, 1)"),
    ("cka.estimator=exact", "--cka-estimator must be one of biased, debiased"),
    ("vulnerability.adaptive=maybe", "vulnerability.adaptive must be true or false"),
]


@pytest.mark.parametrize(("setting", "message"), BAD_SETS)
def test_a_bad_set_is_one_line_and_exit_2(setting: str, message: str, capsys, monkeypatch):
    monkeypatch.setattr(cli_run, "execute", lambda *args: pytest.fail("a bad --set ran"))
    code, out, err = run_cli(["run", "--set", setting], capsys)
    assert code == 2 and message in err and err.count("\n") == 1 and not out


def test_help_set_lists_every_field_with_its_default_and_meaning(capsys) -> None:
    code, out, _ = run_cli(["run", "--help-set"], capsys)
    assert code == 0 and listing(80).splitlines()[-1] in out
    config = RunConfig()
    for section, cls in sections(RunConfig).items():
        docs = attributes(cls)
        for field in dataclasses.fields(cls):
            assert docs.get(field.name), f"{cls.__name__}.{field.name} has no description"
            value = getattr(getattr(config, section), field.name)
            line = re.search(rf"^{section}\.{field.name}=(\S*)  \[", out, re.M)
            assert line, f"--help-set does not list {section}.{field.name}"
            if value is not None:  # the default as listed parses back to itself
                again = RunConfig.from_options(**{f"{section}.{field.name}": line[1]})
                assert again == config, (section, field.name, line[1])


def _doc_commands() -> list[tuple[str, list[str]]]:
    """Every complete ``layertracer run`` command of README.md and docs/*.md: the lines of
    code blocks (continued lines joined) and inline code, without shell comments."""
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8").replace("\\\n", " ")
        blocks = re.findall(r"^```\w*\n(.*?)^```", text, re.M | re.S)
        lines = [line.split(" #")[0] for block in blocks for line in block.splitlines()]
        prose = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S).replace("\n", " ")
        lines += re.findall(r"`([^`]*)`", prose)
        for line in lines:
            command = re.split(r"\blayertracer run(?![\w-])", line, maxsplit=1)
            if len(command) == 2 and not re.search(r"\.\.\.|…|\[|<|--help", command[1]):
                found.append((f"{path.name}: {line.strip()}", shlex.split(command[1])))
    return found


DOC_COMMANDS = _doc_commands()


def test_the_docs_have_run_commands() -> None:
    assert len(DOC_COMMANDS) >= 8


@pytest.mark.parametrize(("where", "args"), DOC_COMMANDS, ids=[w for w, _ in DOC_COMMANDS])
def test_every_run_command_of_the_docs_parses(where: str, args: list[str], monkeypatch) -> None:
    assert isinstance(_config(args, monkeypatch), RunConfig), where

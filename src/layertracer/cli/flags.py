"""The options of ``layertracer run`` that make its :class:`~layertracer.config.RunConfig`.

The everyday options are flags (:data:`FLAGS`) whose defaults are read from ``RunConfig()``,
so the command line and the config have one set of defaults. Every other field is a
research option, given as ``--set section.field=value`` (:mod:`.settings`); the flags such
options used to have (``--mask-ratio``, ``--tracing-noise``, ...) still work as hidden
aliases (:data:`ALIASES`). All of them become flat options of
:meth:`RunConfig.from_options`, so a run means what the same options mean in Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer

from layertracer.cli.settings import split_setting
from layertracer.config import (
    DEFAULT_PROTOCOL,
    DEVICE_MAPS,
    DEVICES,
    DTYPES,
    LENS_KINDS,
    METHODS,
    PROTOCOLS,
    RunConfig,
)
from layertracer.config.options import FLAT, SPECIAL

MODEL, INPUTS, METHOD, PERFORMANCE = "Model", "Task & inputs", "Method", "Performance"
_METHODS = "; ".join(
    f"{m.name} ({m.about}{', adds ' + ', '.join(m.needs) if m.needs else ''})" for m in METHODS
)
# everyday flags: flat option -> (help, panel); the default is RunConfig()'s
FLAGS: dict[str, tuple[str, str]] = {
    "model": ("Hub id, directory, .gguf file, smollm2-135m, gemma3-270m or "
              "tiny:<model_type>.", MODEL),
    "trust_remote_code": ("Allow model code from the hub.", MODEL),
    "task": ("Built-in suite, .jsonl/.csv file or saved HF dataset folder, or a comma list "
             "of them (default: capitals, unless --text).", INPUTS),
    "text": ("Text mode instead of --task: a text file, or builtin:gettysburg.", INPUTS),
    "prompt_field": ("Name of the prompt field of the task.", INPUTS),
    "target_field": ("Name of the target field of the task.", INPUTS),
    "split": ("Split of a HF DatasetDict folder (default: test, or the only one).", INPUTS),
    "chat_template": ("Wrap each prompt in the tokenizer's chat template.", INPUTS),
    "full_target": ("Also the teacher-forced log-prob of the whole answer.", INPUTS),
    "max_prompts": ("Use only the first N prompts.", INPUTS),
    "truncate": ("Prompts longer than the model's context: none (refuse) | left (keep "
                 "the last tokens).", INPUTS),
    "shots": ("Few-shot demonstrations from the same task per prompt.", INPUTS),
    "methods": (f"Comma list of: {_METHODS}; or all.", METHOD),
    "protocol": (f"Vulnerability protocol: {' | '.join(PROTOCOLS)} (paper: the paper's "
                 "exact protocol); --seeds and --set vulnerability.* override it.", METHOD),
    "seeds": ("Seeds, comma-separated, or auto (4 at a time until stable, up to "
              "vulnerability.max_seeds) (default: the protocol's).", METHOD),
    "lens": (f"Lens of trajectories, top-k and particles: {' | '.join(LENS_KINDS)} (tuned: "
             "trained once per model and cached; see `layertracer lens train`).", METHOD),
    "batch_size": ("Prompts per batch (seeds stacked on top), or auto (from free GPU "
                   "memory).", PERFORMANCE),
    "device": (" | ".join(DEVICES) + ".", PERFORMANCE),
    "device_map": (f"{' | '.join(DEVICE_MAPS)}: spread the blocks over the GPUs and the "
                   "CPU (accelerate).", PERFORMANCE),
    "dtype": (" | ".join(DTYPES) + ".", PERFORMANCE),
    "no_replay": ("Force hooked full passes (no suffix replay).", PERFORMANCE),
}  # fmt: skip
# the former flags of research options: hidden, each the same as its --set
ALIASES = tuple(name for name in (*FLAT, "max_seeds") if name not in FLAGS)


def default(name: str) -> Any:
    """The command-line default of flag ``name``: ``RunConfig()``'s value, as text where
    the flag takes text (a tuple as a comma list, ``batch_size`` as ``"8"``)."""
    if name in ("task", "seeds"):  # the config decides: text mode, the protocol's seeds
        return None
    if name == "protocol":
        return DEFAULT_PROTOCOL
    if name == "no_replay":
        return False
    section, field = FLAT[name]
    config = RunConfig()
    value = getattr(getattr(config, section) if section else config, field)
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value) if name == "batch_size" else value


def flag(name: str) -> Any:
    """The typer option of everyday flag ``name`` (:data:`FLAGS`)."""
    text, panel = FLAGS[name]
    spelling = f"--{name.replace('_', '-')}"
    return typer.Option(default(name), spelling, help=text, rich_help_panel=panel)


def alias(name: str) -> Any:
    """The hidden typer option of a research option's former flag (text, parsed as the
    field's type)."""
    return typer.Option(None, f"--{name.replace('_', '-')}", hidden=True)


def config_of(params: Mapping[str, Any]) -> RunConfig:
    """The run's config from the command's parameters: flags and aliases given (``None``:
    not given), then every ``--set`` in order (a later one wins).

    Raises:
        ConfigError: A bad ``--set`` or option value.
    """
    options = {
        name: value
        for name, value in params.items()
        if (name in FLAT or name in SPECIAL) and value is not None
    }
    if params.get("no_replay"):
        options["replay"] = False
    for setting in params.get("settings") or ():
        name, value = split_setting(setting)
        options[name] = value
    return RunConfig.from_options(**options)

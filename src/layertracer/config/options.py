"""Configs from plain data, for Python callers: a nested dict as ``RunConfig.to_dict`` (and
results.json's ``config``) writes it, or flat options named as the command line's flags.

``RunConfig.from_dict`` and ``RunConfig.from_options`` (:mod:`.run`) build on the two
functions here: :func:`build` makes a (nested) config dataclass from a dict, :func:`nest`
turns flat options into that dict with the command line's own parsers (:mod:`.parse`), so
``methods="all"``, ``"lens,particles"``, ``seeds="0,1"`` or ``"auto"``, and any field as
``"section.field"`` (what ``layertracer run --set section.field=value`` gives) mean in Python
what they mean after ``layertracer run``.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from layertracer.config.checks import check, check_fields
from layertracer.config.methods import VulnerabilityConfig
from layertracer.config.parse import (
    parse_batch_size,
    parse_final_norm,
    parse_map_prompts,
    parse_methods,
    parse_seeds,
    parse_value,
)
from layertracer.config.protocols import DEFAULT as DEFAULT_PROTOCOL
from layertracer.errors import ConfigError

C = TypeVar("C")

# flat option (as ``layertracer run --flag``) -> (section of RunConfig or None, field)
FLAT: dict[str, tuple[str | None, str]] = {
    **{name: (None, name) for name in (
        "model", "task", "batch_size", "device", "device_map", "dtype", "max_prompts",
        "shots", "methods", "trust_remote_code",
    )},
    **{name: ("inputs", name) for name in (
        "prompt_field", "target_field", "split", "chat_template", "full_target", "text",
        "text_window", "truncate",
    )},
    **{name: ("anatomy", name) for name in ("blocks", "final_norm", "unembed")},
    "delta": ("particles", "delta"),
    "z": ("particles", "z"),
    "cka_estimator": ("cka", "estimator"),
    "cka_representation": ("cka", "representation"),
    "spectral_k": ("spectral", "k"),
    "tracing_noise": ("tracing", "noise_multiplier"),
    "tracing_copies": ("tracing", "copies"),
    "tracing_seed": ("tracing", "seed"),
    "tracing_map_prompts": ("tracing", "map_prompts"),
    "removal_blocks": ("removal", "max_blocks"),
    "removal_span": ("removal", "span"),
    "removal_random": ("removal", "random_orders"),
    "removal_seed": ("removal", "random_seed"),
    **{name: ("vulnerability", name) for name in (
        "mask_ratio", "mask_mode", "positions", "protect_massive", "massive_ratio", "site",
        "layer_rule",
    )},
    "lens": ("lens", "kind"),
    "lens_tokens": ("lens", "tokens"),
}  # fmt: skip
# flat options read together: the protocol and its seeds, and replay for every method
SPECIAL = ("protocol", "seeds", "max_seeds", "replay")
# options with a syntax of their own, by where they go
PARSERS = {
    (None, "methods"): parse_methods,
    (None, "batch_size"): parse_batch_size,
    ("anatomy", "final_norm"): parse_final_norm,
    ("tracing", "map_prompts"): parse_map_prompts,
}
REPLAYING = ("vulnerability", "ablation", "tracing", "removal")


def sections(cls: type) -> dict[str, type]:
    """The sections of config dataclass ``cls`` (its fields that are dataclasses), by name."""
    return {
        f.name: typing.cast(type, f.default_factory)
        for f in dataclasses.fields(cls)
        if dataclasses.is_dataclass(f.default_factory)
    }


def locate(cls: type, name: str) -> tuple[str | None, str]:
    """Where the flat option ``name`` goes in ``cls``: ``(section or None, field)``. A flat
    option is a name of :data:`FLAT` or any ``section.field`` (``vulnerability.mask_ratio``).

    Raises:
        ConfigError: Neither (the message lists the known names, or the section's fields).
    """
    if name in FLAT:
        return FLAT[name]
    section, _, field = name.partition(".")
    parts = sections(cls)
    check(section in parts and bool(field), f"unknown option {name!r}; options: "
          f"{', '.join([*FLAT, *SPECIAL])}, or section.field of {', '.join(parts)}")  # fmt: skip
    check_fields(parts[section], [field], section)
    return section, field


def from_text(cls: type, name: str, text: str) -> Any:
    """The value of flat option ``name`` from its text, as the command line parses it: by
    the option's own syntax (:data:`PARSERS`) or by the type of its field."""
    section, field = locate(cls, name)
    if (section, field) in PARSERS:
        return PARSERS[section, field](text)
    owner = sections(cls)[section] if section else cls
    label = name if "." in name else f"--{name.replace('_', '-')}"
    return parse_value(typing.get_type_hints(owner)[field], text, label)


def nest(cls: type, options: Mapping[str, Any]) -> dict[str, Any]:
    """Flat options (the names of :data:`FLAT` and :data:`SPECIAL`, or ``section.field``)
    as the nested dict of ``RunConfig.to_dict``; strings are parsed as the command line
    parses them (:func:`from_text`).

    Raises:
        ConfigError: An unknown option name (the message lists the known ones), or a text
            that does not parse.
    """
    nested: dict[str, Any] = {}
    for name, value in options.items():
        if name in SPECIAL:
            continue
        section, field = locate(cls, name)
        if isinstance(value, str):
            value = from_text(cls, name, value)
        (nested.setdefault(section, {}) if section else nested)[field] = value
    if "replay" in options:
        replay = options["replay"]
        replay = parse_value(bool, replay, "replay") if isinstance(replay, str) else replay
        for section in REPLAYING:
            nested.setdefault(section, {}).setdefault("replay", bool(replay))
    if {"protocol", "seeds", "max_seeds"} & set(options) or "vulnerability" in nested:
        nested["vulnerability"] = _vulnerability(options, nested.get("vulnerability", {}))
    return nested


def _vulnerability(options: Mapping[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The vulnerability section of flat options: ``protocol`` (default: the default one)
    with its ``seeds`` (``"0,1"``, ``"auto"`` or integers), ``max_seeds`` and ``given``
    (its fields given by name, which win)."""
    seeds, budget = options.get("seeds"), options.get("max_seeds")
    if seeds is not None and not isinstance(seeds, str):
        seeds = ",".join(map(str, seeds if isinstance(seeds, (list, tuple)) else [seeds]))
    if isinstance(budget, str):
        budget = parse_value(int, budget, "--max-seeds")
    parsed = parse_seeds(seeds, budget)
    preset = VulnerabilityConfig.preset(
        options.get("protocol") or DEFAULT_PROTOCOL, parsed, **given
    )
    return dataclasses.asdict(preset)


def build(cls: type[C], data: Mapping[str, Any], where: str) -> C:
    """The config dataclass ``cls`` from ``data``: nested sections from nested dicts,
    lists as tuples, missing keys at their defaults.

    Raises:
        ConfigError: ``data`` is not a dict, a key is not an option of ``cls`` (named with
            its path from ``where``), or a value has the wrong type.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a dict of options, got {type(data).__name__}")
    check_fields(cls, data, where)
    values = {}
    for field in dataclasses.fields(typing.cast(Any, cls)):
        if field.name not in data:
            continue
        value = data[field.name]
        if dataclasses.is_dataclass(field.default_factory) and not _is_instance(value):
            value = build(field.default_factory, value, f"{where}.{field.name}")
        values[field.name] = tuple(value) if isinstance(value, list) else value
    try:
        return cls(**values)
    except TypeError as exc:  # a value of the wrong type met a check
        raise ConfigError(f"{where}: an option has a value of the wrong type ({exc})") from None


def _is_instance(value: object) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)

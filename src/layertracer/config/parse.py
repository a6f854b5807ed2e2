"""Parsing the text of command-line options into config values: by a config field's type
(:func:`parse_value`, for ``--set section.field=value``), or by an option's own syntax."""

from __future__ import annotations

import types
import typing
from typing import Any

from layertracer.config.checks import check, with_needs
from layertracer.config.methods import VulnerabilityConfig
from layertracer.errors import ConfigError

TRUE = ("true", "yes", "on", "1")
FALSE = ("false", "no", "off", "0")
NAMES = {int: "an integer", float: "a number", bool: "true or false"}


def parse_value(kind: Any, text: str, option: str) -> Any:
    """``text`` as a value of the type hint ``kind`` (a config field's): ``int``, ``float``,
    ``bool`` (true/false, yes/no, on/off, 1/0), ``str``, ``tuple[X, ...]`` (a comma list),
    or a union of them tried in order (``none`` is ``None`` where a non-``str`` field
    allows it).

    Raises:
        ConfigError: ``text`` is not such a value (one line naming ``option``).
    """
    args = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        kinds = [a for a in args if a is not type(None)]
        if len(kinds) < len(args) and str not in kinds and text.strip().lower() == "none":
            return None
        for other in kinds[:-1]:
            try:
                return parse_value(other, text, option)
            except ConfigError:
                continue
        return parse_value(kinds[-1], text, option)
    if typing.get_origin(kind) is tuple:
        return tuple(parse_value(args[0], t.strip(), option) for t in text.split(",") if t.strip())
    if kind not in NAMES:  # text
        return text
    word, wrong = text.strip().lower(), f"{option} must be {NAMES[kind]}, got {text!r}"
    if kind is bool:
        check(word in TRUE + FALSE, wrong)
        return word in TRUE
    try:
        return kind(word)
    except ValueError:
        raise ConfigError(wrong) from None


def parse_final_norm(text: str | None) -> tuple[str, ...] | None:
    """Parses ``--final-norm`` (comma list of paths, or ``none``)."""
    if text is None:
        return None
    if text.strip().lower() == "none":
        return ()
    paths = tuple(t.strip() for t in text.split(",") if t.strip())
    check(bool(paths), "--final-norm needs module paths or 'none'")
    return paths


def parse_methods(text: str) -> tuple[str, ...]:
    """Parses ``--methods`` (comma list or ``all``) into a tuple of method names.

    A method pulls in the methods it needs (:func:`~layertracer.config.checks.with_needs`:
    ``particles`` adds ``lens``, ``removal`` the methods whose criteria it ranks blocks by).

    Raises:
        ConfigError: An unknown method name, or none.
    """
    names = [t.strip() for t in text.split(",") if t.strip()]
    check(bool(names), "--methods is empty")
    return with_needs(names)


def parse_batch_size(text: str) -> int | str:
    """Parses ``--batch-size``: a positive integer or ``auto``.

    Raises:
        ConfigError: Neither.
    """
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"--batch-size must be an integer or 'auto', got {text!r}") from None


def parse_map_prompts(text: str) -> int | None:
    """Parses ``--tracing-map-prompts`` (a count, or ``all``: ``None``).

    Raises:
        ConfigError: Neither a non-negative integer nor ``all``.
    """
    if text.strip().lower() == "all":
        return None
    try:
        count = int(text)
    except ValueError:
        raise ConfigError(f"--tracing-map-prompts must be a count or 'all', got {text!r}") from None
    check(count >= 0, f"--tracing-map-prompts must be >= 0, got {count}")
    return count


def parse_seeds(text: str | None, max_seeds: int | None = None) -> dict[str, Any]:
    """Parses ``--seeds``: ``0,1,2``, or ``auto`` (adaptive: seeds 0..3 first, up to
    ``max_seeds``), or ``None`` (the protocol's seeds); returns the matching
    :class:`~layertracer.config.VulnerabilityConfig` options (``max_seeds``: ``None`` keeps
    the config's default, raised to the number of seeds given).

    Raises:
        ConfigError: A seed that is not a non-negative integer.
    """
    budget: dict[str, Any] = {} if max_seeds is None else {"max_seeds": max_seeds}
    if text is None:
        return budget
    if text.strip().lower() == "auto":
        return {"seeds": (0, 1, 2, 3), "adaptive": True, **budget}
    try:
        seeds = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise ConfigError(
            f"--seeds must be comma-separated integers or auto, got {text!r}"
        ) from None
    check(len(seeds) > 0, "--seeds needs at least one seed")
    check(all(s >= 0 for s in seeds), f"--seeds must be non-negative integers, got {text!r}")
    least = max(VulnerabilityConfig.max_seeds if max_seeds is None else max_seeds, len(seeds))
    return {"seeds": seeds, "adaptive": False, "max_seeds": least}

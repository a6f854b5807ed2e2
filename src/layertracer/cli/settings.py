"""``layertracer run --set section.field=value``: any field of a section of
:class:`~layertracer.config.RunConfig` (the research options: mask, positions, δ, z,
tracing, CKA, removal, text window, ...), and their listing, ``--help-set``, with each
field's default, type and description read from the config dataclasses themselves."""

from __future__ import annotations

import dataclasses
import inspect
import re
import shutil
import textwrap

import typer

from layertracer.config import RunConfig
from layertracer.config.checks import check
from layertracer.config.options import FLAT, sections


def split_setting(text: str) -> tuple[str, str]:
    """``"section.field=value"`` as ``("section.field", "value")``; the value is parsed
    later, by the field's type.

    Raises:
        ConfigError: No ``=``, or no such section or field (one line naming the known ones).
    """
    name, equals, value = text.partition("=")
    section, _, field = name.strip().partition(".")
    parts = sections(RunConfig)
    check(bool(equals) and section in parts and bool(field), f"--set takes section.field="
          f"value with a section of {', '.join(parts)}; got {text!r}")  # fmt: skip
    known = [f.name for f in dataclasses.fields(parts[section])]
    check(field in known, f"--set {name.strip()}: {section} has no field {field!r}; its "
          f"fields: {', '.join(known)}")  # fmt: skip
    return f"{section}.{field}", value.strip()


def attributes(cls: type) -> dict[str, str]:
    """The descriptions of the fields in the ``Attributes:`` section of ``cls``'s
    (Google-style) docstring, each on one line."""
    _, _, block = (inspect.getdoc(cls) or "").partition("Attributes:\n")
    found: dict[str, list[str]] = {}
    for line in block.splitlines():
        entry = re.match(r" {4}(\w+): (.*)", line)
        if entry:
            found[entry[1]] = [entry[2]]
        elif line.startswith(" " * 8) and found:
            found[list(found)[-1]].append(line.strip())
        else:
            break
    return {name: " ".join(words).replace("``", "`") for name, words in found.items()}


def _text(value: object) -> str:
    """A value as ``--set`` takes it."""
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return (
        "none" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    )


def listing(width: int = 80) -> str:
    """Every ``--set`` option: ``section.field=default [type]`` (and the flag that sets it
    too, if any), then its description wrapped to ``width`` columns."""
    config, flags = RunConfig(), {where: name for name, where in FLAT.items()}
    lines = textwrap.wrap(
        "layertracer run --set SECTION.FIELD=VALUE (repeatable) sets any option below; "
        "shown: RunConfig()'s default (the vulnerability ones are the default protocol's; "
        "--protocol sets them first).",
        width,
    )
    for section, cls in sections(RunConfig).items():
        lines.append("")
        docs = attributes(cls)
        for field in dataclasses.fields(cls):
            value = getattr(getattr(config, section), field.name)
            head = f"{section}.{field.name}={_text(value)}  [{field.type}]"
            also = flags.get((section, field.name))
            lines.append(head + (f"  (also --{also.replace('_', '-')})" if also else ""))
            lines += textwrap.wrap(docs.get(field.name, ""), width, initial_indent="    ",
                                   subsequent_indent="    ")  # fmt: skip
    return "\n".join(lines)


def show_listing(value: bool) -> None:
    """``--help-set``: prints :func:`listing` and exits."""
    if value:
        typer.echo(listing(shutil.get_terminal_size().columns))
        raise typer.Exit(0)

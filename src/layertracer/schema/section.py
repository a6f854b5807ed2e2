"""The base of every results section: typed fields, no undeclared key (a misspelt key is an
error, not an extra key beside a null), assignments validated like construction,
dict-style reading (``section["js_mean"]``, ``section.get("warning")``)."""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict

PerLayer = list[float | None]  # L+1 numbers, null where a layer does not apply
Interval = list[float] | None  # [low, high]


@dataclass(frozen=True)
class Layers:
    """Field metadata: how a per-layer field lines up with the ``L+1`` layer states.

    ``kind`` is ``layers`` (the field has L+1 entries), ``rows`` (each of its entries
    has), ``square`` (both), ``each`` (each value of the dict has) or ``pairs`` (the field
    has L entries, one per pair of consecutive states (ℓ, ℓ+1)). A field declared
    ``Annotated[PerLayer, LAYERS]`` is checked against ``model.num_layers`` on read and
    read into the per-layer frames; nothing else lists it.
    """

    kind: str


LAYERS, ROWS, SQUARE, EACH, PAIRS = (
    Layers(kind) for kind in ("layers", "rows", "square", "each", "pairs")
)


def layer_fields(model: type[BaseModel]) -> tuple[tuple[str, str], ...]:
    """``(field, kind)`` of every per-layer field of ``model``, in declaration order."""
    return tuple(
        (name, mark.kind)
        for name, field in model.model_fields.items()
        for mark in field.metadata
        if isinstance(mark, Layers)
    )


def section_fields(model: type[BaseModel]) -> dict[str, type[Section]]:
    """The fields of ``model`` that hold one section (``Section | None``), by name."""
    found: dict[str, type[Section]] = {}
    for name, field in model.model_fields.items():
        kind = field.annotation
        options = get_args(kind) if get_origin(kind) in (Union, types.UnionType) else (kind,)
        for option in options:
            if isinstance(option, type) and issubclass(option, Section):
                found[name] = option
    return found


def per_layer_table(model: type[BaseModel]) -> tuple[tuple[str, str, str], ...]:
    """``(section, field, kind)`` of every per-layer field of every section of ``model``
    (the results document): the arrays checked on read and read into frames."""
    return tuple(
        (section, name, kind)
        for section, part in section_fields(model).items()
        for name, kind in layer_fields(part)
    )


class Section(BaseModel):
    """A results section: typed fields, undeclared keys refused, dict-style reading."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), validate_assignment=True)

    def __getitem__(self, key: str) -> Any:
        if key in type(self).model_fields:
            return getattr(self, key)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` when the section has no such key."""
        try:
            value = self[key]
        except KeyError:
            return default
        return default if value is None and key not in self.model_fields_set else value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self.model_fields_set

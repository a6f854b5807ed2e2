"""The base of every results section: typed fields, no undeclared key (a misspelt key is an
error, not an extra key beside a null), dict-style reading (``section["js_mean"]``,
``section.get("warning")``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

PerLayer = list[float | None]  # L+1 numbers, null where a layer does not apply
Interval = list[float] | None  # [low, high]


class Section(BaseModel):
    """A results section: typed fields, undeclared keys refused, dict-style reading."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

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

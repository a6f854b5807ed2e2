"""Tests for layertracer.config.catalog and layertracer.stages.registry: a method is
declared once, its stage registers itself under its name, and the stages run in the
order of the declarations, each after the methods it needs."""

from __future__ import annotations

import pytest

from layertracer.config import ALL_METHODS, METHODS, NEEDS
from layertracer.stages import STAGES, registry


def test_every_declared_method_has_its_stage_in_the_declared_order() -> None:
    assert list(STAGES) == list(ALL_METHODS) == [m.name for m in METHODS]
    assert all(m.about for m in METHODS)


def test_a_method_runs_after_every_method_it_needs() -> None:
    for method, needed in NEEDS.items():
        for other in needed:
            assert ALL_METHODS.index(other) < ALL_METHODS.index(method), (method, other)


def test_a_stage_missing_or_undeclared_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(registry, "_STAGES", dict(registry._STAGES))
    with pytest.raises(RuntimeError, match=r"no stage for \['new'\]"):
        registry.in_order([*ALL_METHODS, "new"])
    registry.stage("new")(lambda run: None)
    assert list(registry.in_order([*ALL_METHODS, "new"]))[-1] == "new"
    with pytest.raises(RuntimeError, match=r"no method \['new'\]"):
        registry.in_order(ALL_METHODS)
    with pytest.raises(ValueError, match="has a stage already"):
        registry.stage("new")(lambda run: None)

"""The package layout draws the architecture: every import runs downwards.

Layers, bottom to top: errors and the version; config and the typed sections of the
results (schema); the model and the task inputs; the
engine that runs the model; the methods; the results; a run's stages and the pipeline; the
report, the notebook views and the command line; the package root. A module may import
its own subpackage and anything below it, never a layer above it nor a sibling of its own
layer.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest

import layertracer

ROOT = Path(layertracer.__file__).parent
LAYERS = [
    {"_version", "_startup", "errors", "atomic"},
    {"config", "schema"},
    {"model", "tasks"},
    {"engine"},
    {"methods"},
    {"results"},
    {"run"},
    {"stages", "preflight", "describe", "training"},
    {"pipeline"},
    {"report"},
    {"notebook"},
    {"cli"},
    {"__init__", "__main__"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _unit(path: Path) -> str:
    """The top-level unit of a module: its subpackage, or the module's own name."""
    return path.relative_to(ROOT).parts[0].removesuffix(".py")


def _package(path: Path) -> list[str]:
    """The dotted parts of the package that ``path`` belongs to (``layertracer``, ...)."""
    folder = path.parent.relative_to(ROOT).parts
    return ["layertracer", *folder]


def _absolute(path: Path, module: str | None, level: int) -> list[str]:
    """The absolute dotted parts of ``from <level dots><module> import``, in ``path``."""
    if level == 0:
        return (module or "").split(".")
    package = _package(path)
    base = package[: len(package) - (level - 1)]
    return [*base, *(module.split(".") if module else [])]


def _imports(path: Path) -> set[str]:
    """The top-level layertracer units that a module imports (at any depth in its code),
    absolute or relative (``from .x import y``, ``from ..atomic import z``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            parts = _absolute(path, node.module, node.level)
            if parts[0] == "layertracer":
                names = [parts[1]] if len(parts) > 1 else [a.name for a in node.names]
                found.update(names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "layertracer" and len(parts) > 1:
                    found.add(parts[1])
    return found


MODULES = sorted(ROOT.rglob("*.py"))


def test_every_unit_has_a_layer() -> None:
    units = {_unit(p) for p in MODULES}
    assert units <= set(RANK), f"put {sorted(units - set(RANK))} into a layer"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_run_downwards(path: Path) -> None:
    unit = _unit(path)
    for target in _imports(path) - {unit}:
        assert target in RANK, f"{path.name} imports an unknown unit {target!r}"
        assert RANK[target] < RANK[unit], (
            f"{path.relative_to(ROOT)} ({unit}, layer {RANK[unit]}) imports {target} "
            f"(layer {RANK[target]}): imports must run downwards"
        )


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("from layertracer.methods.metrics import spearman\n")
    assert _imports(module) == {"methods"}
    assert RANK["methods"] > RANK["model"]  # so model/bad.py would fail the test above


def test_the_rule_sees_relative_imports(tmp_path: Path) -> None:
    model = ROOT / "model" / "bad.py"  # not written: only its place matters
    assert _absolute(model, "lens", 1) == ["layertracer", "model", "lens"]
    assert _absolute(model, "methods.metrics", 2) == ["layertracer", "methods", "metrics"]
    assert _absolute(ROOT / "bad.py", None, 1) == ["layertracer"]
    module = tmp_path / "bad.py"
    module.write_text("from ..methods.metrics import spearman\n")
    assert _absolute(ROOT / "model" / "bad.py", "methods.metrics", 2)[1] == "methods"


MOD = re.compile(r":mod:`~?([\w.]+)`")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_module_reference_names_a_module_that_exists(path: Path) -> None:
    """``:mod:`x``` in a docstring: absolute, or relative to the module's package."""
    for name in MOD.findall(path.read_text(encoding="utf-8")):
        level = len(name) - len(name.lstrip("."))
        parts = _absolute(path, name.lstrip(".") or None, level)
        assert importlib.util.find_spec(".".join(parts)) is not None, (
            f"{path.relative_to(ROOT)} refers to :mod:`{name}`, which does not exist"
        )


def test_no_module_cites_a_file_outside_the_repository() -> None:
    cites = re.compile(r"\.\./[\w/.-]+\.\w+|\bshared/")  # ../x/FILE.md, the agents' shared/
    outside = [str(p.relative_to(ROOT)) for p in MODULES if cites.search(p.read_text("utf-8"))]
    assert not outside, f"these cite a path outside the repository: {outside}"

"""The public API: every name of ``layertracer.__all__`` (and every public method of its
classes) has a docstring, docs/api.md lists them as scripts/make_api_doc.py writes it, and
the package is marked as typed (``py.typed``)."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import layertracer

ROOT = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("make_api_doc", ROOT / "scripts/make_api_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_public_names_and_methods_have_docstrings() -> None:
    make = _generator()
    missing = []
    for name in layertracer.__all__:
        obj = getattr(layertracer, name)
        if name != "__version__" and not inspect.getdoc(obj):
            missing.append(name)
        if inspect.isclass(obj):
            missing += [f"{name}.{m}" for m, f in make.methods(obj) if not inspect.getdoc(f)]
    assert not missing


def test_docs_api_lists_every_public_name_as_generated() -> None:
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    assert text == _generator().generate(), "run: PYTHONPATH=src python scripts/make_api_doc.py"
    for name in layertracer.__all__:
        assert f"- `{name}" in text
    assert "`Results.to_frame(" in text and "`Results.figure(" in text


def test_the_package_is_typed() -> None:
    assert (Path(layertracer.__file__).parent / "py.typed").is_file()


def test_the_notebook_views_are_registered_by_the_package() -> None:
    from layertracer.results import views

    assert set(views._VIEWS) == {"figure", "html", "report"}

"""Views of a run drawn by the layers above ``results``: the report's figures and the
notebook page (``Results.figure``, ``Results._repr_html_``).

``results`` sits below ``report`` (tests/test_layout.py), so :class:`Results` cannot import
the figures, not even inside a method. Instead it asks this registry, which
:mod:`layertracer.notebook` fills when the package is imported (``import layertracer``
always runs first, whatever submodule is imported). The methods stay on ``Results``, with
their signatures and docstrings, where a reader and a type checker look for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from layertracer.errors import ResultsError

_VIEWS: dict[str, Callable[..., Any]] = {}


def register(name: str, view: Callable[..., Any]) -> None:
    """Makes ``view`` the implementation of view ``name`` (``figure`` or ``html``)."""
    _VIEWS[name] = view


def show(name: str, *args: Any, **kwargs: Any) -> Any:
    """Calls view ``name``.

    Raises:
        ResultsError: No layer registered it (``layertracer.notebook`` was not imported).
    """
    if name not in _VIEWS:
        raise ResultsError(f"no {name!r} view registered: import layertracer.notebook first")
    return _VIEWS[name](*args, **kwargs)

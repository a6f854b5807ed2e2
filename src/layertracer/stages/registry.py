"""The stage of each method, registered under the method's name by its module
(``@stage("cka")``); :mod:`layertracer.stages` collects them in the order of the methods'
declarations (:data:`layertracer.config.METHODS`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from layertracer.run import Run

Stage = Callable[[Run], None]
_STAGES: dict[str, Stage] = {}


def stage(method: str) -> Callable[[Stage], Stage]:
    """Registers the decorated function as the stage of ``method``: it adds the typed
    section of the method to ``run.results``."""

    def register(function: Stage) -> Stage:
        if method in _STAGES:
            raise ValueError(f"method {method!r} has a stage already")
        _STAGES[method] = function
        return function

    return register


def in_order(methods: Sequence[str]) -> dict[str, Stage]:
    """The stages of ``methods``, in that order.

    Raises:
        RuntimeError: A method without a stage, or a stage of no declared method (a
            mistake in the package, found when it is imported).
    """
    missing = [m for m in methods if m not in _STAGES]
    extra = [m for m in _STAGES if m not in methods]
    if missing or extra:
        raise RuntimeError(f"stages and methods differ: no stage for {missing}, no method {extra}")
    return {m: _STAGES[m] for m in methods}

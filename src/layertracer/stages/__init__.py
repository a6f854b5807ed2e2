"""The analysis stages of a run, in the order they run: ``STAGES[name](run)`` adds the
typed ``name`` section to ``run.results``. Each stage is a thin adapter from
:class:`~layertracer.run.Run` to the pure functions of its method's module.
"""

from __future__ import annotations

from collections.abc import Callable

from layertracer.run import Run
from layertracer.stages.ablation import ablation
from layertracer.stages.agreement import agreement
from layertracer.stages.cka import cka
from layertracer.stages.lens import lens, particles
from layertracer.stages.removal import removal
from layertracer.stages.spectral import spectral
from layertracer.stages.tracing import tracing
from layertracer.stages.vulnerability import vulnerability

STAGES: dict[str, Callable[[Run], None]] = {
    "lens": lens,  # extras of the clean lens pass (nothing unless --full-target)
    "particles": particles,
    "vulnerability": vulnerability,
    "cka": cka,
    "spectral": spectral,  # after cka: reads its critical layers
    "ablation": ablation,
    "tracing": tracing,
    "removal": removal,  # after the methods of the criteria it ranks blocks by
    "agreement": agreement,  # last: compares the criteria of every stage before it
}

__all__ = ["STAGES"]

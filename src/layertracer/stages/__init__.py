"""The analysis stages of a run: ``STAGES[name](run)`` adds the typed ``name`` section to
``run.results``. Each stage is a thin adapter from :class:`~layertracer.run.Run` to the
pure functions of its method's module, registered by its module under the method's name
(:func:`~layertracer.stages.registry.stage`); the modules of this package are imported
here, so a new method's stage is a new module with no list to edit. ``STAGES`` is in the
order of :data:`layertracer.config.METHODS`, the order the stages run.
"""

from __future__ import annotations

import importlib
import pkgutil

from layertracer.config import ALL_METHODS
from layertracer.stages.registry import Stage, in_order

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

STAGES: dict[str, Stage] = in_order(ALL_METHODS)

__all__ = ["STAGES"]

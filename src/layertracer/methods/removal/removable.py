"""Which blocks can be removed by their position (docs/method.md#layer-removal): those that
act on later blocks only through their output (:mod:`layertracer.engine.channels`: shared
modules and side channels). Such blocks are left out of every removal order and reported
with the reason.
"""

from layertracer.engine.channels import shared_modules, side_channels

__all__ = ["shared_modules", "side_channels"]

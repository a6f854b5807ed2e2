"""The named vulnerability protocols (``--protocol``): the options each one sets.

``paper`` is the LayerTracer paper's protocol exactly: 20% of the hidden dims zeroed at
every position, seeds 0, 1, 2, massive channels not protected. The default protocol was
chosen by measurement (docs/stability.md): it is the design whose seed reliability and
confidence set held up on both bundled real models at no more than twice the compute of
the paper's protocol. Options given explicitly override a protocol's; the run then records
``protocol: custom`` unless they happen to equal a named protocol.
"""

from __future__ import annotations

PROTOCOLS: dict[str, dict[str, object]] = {
    "paper": {
        "mask_mode": "zero",
        "mask_ratio": 0.2,
        "positions": "all",
        "seeds": (0, 1, 2),
        "protect_massive": "none",
        "adaptive": False,
        "layer_rule": "argmax",
    },
    "stable": {
        "mask_mode": "norm",
        "mask_ratio": 0.2,
        "positions": "all",
        "seeds": (0, 1, 2, 3, 4, 5),
        "protect_massive": "auto",
        "adaptive": False,
        "layer_rule": "interior-peak",
    },
}
DEFAULT = "stable"

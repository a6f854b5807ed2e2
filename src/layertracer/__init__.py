"""layertracer: where inside a language model is a task decided?

Public API::

    from layertracer import RunConfig, trace
    results = trace("smollm2-135m", "capitals", RunConfig())
    results.save("runs/demo")

Layer convention: a model with ``L`` blocks has ``L+1`` layer states; state 0 is the
embedding output (input of block 1), state ``i`` the residual stream after block ``i``.
"""

from layertracer._version import __version__
from layertracer.config import ParticleConfig, RunConfig, VulnerabilityConfig
from layertracer.errors import LayerTracerError
from layertracer.model.load import LoadedModel, load_model
from layertracer.pipeline import trace
from layertracer.results import Results, load

__all__ = [
    "LayerTracerError",
    "LoadedModel",
    "ParticleConfig",
    "Results",
    "RunConfig",
    "VulnerabilityConfig",
    "__version__",
    "load",
    "load_model",
    "trace",
]

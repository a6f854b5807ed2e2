"""Every option of a run, as frozen dataclasses gathered in :class:`RunConfig`, which is
saved into the results. Validation happens on construction, so a bad option fails before a
model is loaded.

- :mod:`.catalog`: the methods of a run, one declaration each;
- :mod:`.checks`: the allowed values and the two checks;
- :mod:`.methods`: the options of each analysis method;
- :mod:`.spectral`: the spectral analysis of the critical layers;
- :mod:`.lens`: the lens (logit or tuned) and the tuned lens's training;
- :mod:`.run`: inputs, anatomy overrides and the run itself;
- :mod:`.parse`: command-line text to values;
- :mod:`.options`: configs from plain dicts and flat options (the Python API).
"""

from layertracer.config.catalog import (
    ALL_METHODS,
    DEFAULT_METHODS,
    METHODS,
    NEEDS,
    REMOVAL_NEEDS,
    Method,
)
from layertracer.config.checks import (
    CKA_ESTIMATORS,
    CKA_REPRESENTATIONS,
    DEVICE_MAPS,
    DEVICES,
    DTYPES,
    MASK_MODES,
    POSITIONS,
    PROTECT,
    SENSITIVITY_DELTAS,
    SITES,
)
from layertracer.config.lens import LENS_KINDS, LensConfig
from layertracer.config.methods import (
    AblationConfig,
    AgreementConfig,
    CKAConfig,
    ParticleConfig,
    RemovalConfig,
    TracingConfig,
    VulnerabilityConfig,
)
from layertracer.config.parse import (
    parse_batch_size,
    parse_final_norm,
    parse_map_prompts,
    parse_methods,
    parse_seeds,
    parse_value,
)
from layertracer.config.protocols import DEFAULT as DEFAULT_PROTOCOL
from layertracer.config.protocols import PROTOCOLS
from layertracer.config.run import (
    DEFAULT_TASK,
    AnatomyOverrides,
    InputConfig,
    RunConfig,
    as_config,
)
from layertracer.config.spectral import SpectralConfig

__all__ = [
    "ALL_METHODS",
    "CKA_ESTIMATORS",
    "CKA_REPRESENTATIONS",
    "DEFAULT_METHODS",
    "DEFAULT_PROTOCOL",
    "DEFAULT_TASK",
    "DEVICES",
    "DEVICE_MAPS",
    "DTYPES",
    "LENS_KINDS",
    "MASK_MODES",
    "METHODS",
    "NEEDS",
    "POSITIONS",
    "PROTECT",
    "PROTOCOLS",
    "REMOVAL_NEEDS",
    "SENSITIVITY_DELTAS",
    "SITES",
    "AblationConfig",
    "AgreementConfig",
    "AnatomyOverrides",
    "CKAConfig",
    "InputConfig",
    "LensConfig",
    "Method",
    "ParticleConfig",
    "RemovalConfig",
    "RunConfig",
    "SpectralConfig",
    "TracingConfig",
    "VulnerabilityConfig",
    "as_config",
    "parse_batch_size",
    "parse_final_norm",
    "parse_map_prompts",
    "parse_methods",
    "parse_seeds",
    "parse_value",
]

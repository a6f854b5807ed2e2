"""The allowed values of the options, and the checks every config class uses."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from layertracer.errors import ConfigError

MASK_MODES = ("zero", "mean", "gaussian", "norm")
POSITIONS = ("all", "last")
DEVICES = ("auto", "cpu", "cuda")
DEVICE_MAPS = ("auto",)
DTYPES = ("float32", "bfloat16", "float16")
PROTECT = ("none", "auto")
SITES = ("residual", "mixer", "mlp", "state")
# docs/method.md#interior-vulnerable-layer
LAYER_RULES = ("interior-peak", "interior-argmax", "argmax")
# in the order the stages run: removal uses the criteria of the methods before it, and
# agreement compares every criterion measured before it
ALL_METHODS = (
    "lens", "particles", "vulnerability", "cka", "spectral", "ablation", "tracing", "removal",
    "agreement",
)  # fmt: skip
REMOVAL_NEEDS = ("vulnerability", "cka", "ablation", "tracing")  # js, cka, ablation, tracing
# the methods a method needs, added before it (removal ranks blocks by their criteria)
NEEDS: dict[str, tuple[str, ...]] = {
    "particles": ("lens",),
    "spectral": ("cka",),  # its readout is taken around CKA's critical layers
    "removal": REMOVAL_NEEDS,
}
DEFAULT_METHODS = ("lens", "particles", "vulnerability")
CKA_ESTIMATORS = ("biased", "debiased")
CKA_REPRESENTATIONS = ("last", "mean")
SENSITIVITY_DELTAS = (0.03, 0.04, 0.05, 0.06, 0.07, 0.08)
# Bounds checked before any work, so that a typo is refused rather than run for days.
MAX_SEED = 2**63 - 1  # seeds are stored as int64
MAX_SEEDS = 1024  # vulnerability seeds (--seeds, --max-seeds)
MAX_REPEATS = 1000  # --removal-random orders, --tracing-copies


def with_needs(names: Iterable[str]) -> tuple[str, ...]:
    """The methods ``names`` with the methods they need (:data:`NEEDS`), each once.

    ``all`` is :data:`ALL_METHODS`; a needed method missing is inserted just before the
    first method that needs it (``particles`` -> ``lens, particles``); the order is kept
    otherwise. ``RunConfig`` applies it to its ``methods``, so the Python API and
    ``--methods`` run the same methods; it is idempotent.

    Raises:
        ConfigError: An unknown method name.
    """
    names = list(names)
    if "all" in names:
        return ALL_METHODS
    for name in names:
        choice("--methods", name, (*ALL_METHODS, "all"))
    for method, needed in NEEDS.items():
        if method in names:
            where = names.index(method)
            names[where:where] = [m for m in needed if m not in names]
    return tuple(dict.fromkeys(names))


def seed_ok(option: str, seed: int) -> None:
    """Raises :class:`ConfigError` unless ``0 <= seed <= MAX_SEED`` (a 64-bit signed int)."""
    check(0 <= seed <= MAX_SEED, f"{option} must be in 0..2**63-1, got {str(seed)[:40]}")


def at_most(option: str, value: int, limit: int) -> None:
    """Raises :class:`ConfigError` if ``value`` exceeds ``limit``."""
    check(value <= limit, f"{option} must be at most {limit}, got {str(value)[:40]}")


def check(ok: bool, message: str) -> None:
    """Raises :class:`ConfigError` with ``message`` unless ``ok``."""
    if not ok:
        raise ConfigError(message)


def check_fields(cls: type, names: Iterable[str], where: str) -> None:
    """Raises :class:`ConfigError` unless every name is a field of dataclass ``cls``."""
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = [repr(n) for n in names if n not in known]
    check(not unknown, f"{where}: unknown option {', '.join(unknown)}; options: {', '.join(known)}")


def choice(option: str, value: str, allowed: tuple[str, ...]) -> None:
    """Raises :class:`ConfigError` unless ``value`` is one of ``allowed``."""
    check(value in allowed, f"{option} must be one of {', '.join(allowed)}; got {value!r}")

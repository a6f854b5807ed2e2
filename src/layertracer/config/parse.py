"""Parsing the text of command-line options into config values."""

from __future__ import annotations

from layertracer.config.checks import ALL_METHODS, REMOVAL_NEEDS, check, choice
from layertracer.errors import ConfigError


def parse_final_norm(text: str | None) -> tuple[str, ...] | None:
    """Parses ``--final-norm`` (comma list of paths, or ``none``)."""
    if text is None:
        return None
    if text.strip().lower() == "none":
        return ()
    paths = tuple(t.strip() for t in text.split(",") if t.strip())
    check(bool(paths), "--final-norm needs module paths or 'none'")
    return paths


def parse_methods(text: str) -> tuple[str, ...]:
    """Parses ``--methods`` (comma list or ``all``) into a tuple of method names.

    A method pulls in the methods it needs: ``particles`` adds ``lens`` (first), ``removal``
    adds the methods whose criteria it ranks blocks by (:data:`REMOVAL_NEEDS`: vulnerability,
    cka, ablation, tracing), just before it.

    Raises:
        ConfigError: An unknown method name.
    """
    names = [t.strip() for t in text.split(",") if t.strip()]
    if "all" in names:
        return ALL_METHODS
    check(bool(names), "--methods is empty")
    for n in names:
        choice("--methods", n, (*ALL_METHODS, "all"))
    if "particles" in names and "lens" not in names:
        names.insert(0, "lens")
    if "removal" in names:
        where = names.index("removal")
        names[where:where] = [m for m in REMOVAL_NEEDS if m not in names]
    return tuple(dict.fromkeys(names))


def parse_batch_size(text: str) -> int | str:
    """Parses ``--batch-size``: a positive integer or ``auto``.

    Raises:
        ConfigError: Neither.
    """
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"--batch-size must be an integer or 'auto', got {text!r}") from None


def parse_map_prompts(text: str) -> int | None:
    """Parses ``--tracing-map-prompts`` (a count, or ``all``: ``None``).

    Raises:
        ConfigError: Neither a non-negative integer nor ``all``.
    """
    if text.strip().lower() == "all":
        return None
    try:
        count = int(text)
    except ValueError:
        raise ConfigError(f"--tracing-map-prompts must be a count or 'all', got {text!r}") from None
    check(count >= 0, f"--tracing-map-prompts must be >= 0, got {count}")
    return count


def parse_seeds(text: str | None, max_seeds: int = 32) -> dict:
    """Parses ``--seeds``: ``0,1,2``, or ``auto`` (adaptive: seeds 0..3 first, up to
    ``max_seeds``), or ``None`` (the protocol's seeds); returns the matching
    :class:`~layertracer.config.VulnerabilityConfig` options.

    Raises:
        ConfigError: A seed that is not a non-negative integer.
    """
    if text is None:
        return {"max_seeds": max_seeds} if max_seeds != 32 else {}
    if text.strip().lower() == "auto":
        return {"seeds": (0, 1, 2, 3), "adaptive": True, "max_seeds": max_seeds}
    try:
        seeds = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise ConfigError(
            f"--seeds must be comma-separated integers or auto, got {text!r}"
        ) from None
    check(len(seeds) > 0, "--seeds needs at least one seed")
    check(all(s >= 0 for s in seeds), f"--seeds must be non-negative integers, got {text!r}")
    return {"seeds": seeds, "adaptive": False, "max_seeds": max(max_seeds, len(seeds))}

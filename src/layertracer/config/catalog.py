"""The methods of a run, one declaration each (docs/method.md): its name, what it does,
the methods it needs. Every list of methods derives from :data:`METHODS`: the names
``--methods`` accepts, ``all``, the dependencies that the config resolves (the same from
the Python API and the command line), and the order the stages run in. Each method's
stage registers itself under the same name (:mod:`layertracer.stages`), which checks at
import that every method declared here has exactly one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    """One method of a run.

    Attributes:
        name: Its name in ``--methods``, in ``RunConfig.methods`` and (for most) its
            results section's key.
        about: What it measures, in a few words (``layertracer run --help``).
        needs: The methods it needs, run before it (added to a run that lacks them).
    """

    name: str
    about: str
    needs: tuple[str, ...] = ()


# In the order the stages run: removal uses the criteria of the methods before it, and
# agreement compares every criterion measured before it.
METHODS: tuple[Method, ...] = (
    Method("lens", "lens trajectories and top tokens; the clean pass runs always"),
    Method("particles", "each prompt's task particle", ("lens",)),
    Method("vulnerability", "JS of the output per perturbed layer"),
    Method("cka", "linear CKA between layer states"),
    # its readout is taken around CKA's critical layers
    Method("spectral", "principal components behind each CKA shift", ("cka",)),
    Method("ablation", "each block skipped in turn"),
    Method("tracing", "ROME causal tracing"),
    # ranks blocks by the criteria of these methods: js, cka, cka_text, ablation, tracing
    Method(
        "removal",
        "blocks removed in each criterion's order",
        ("vulnerability", "cka", "spectral", "ablation", "tracing"),
    ),
    Method("agreement", "agreement of every criterion measured"),
)
ALL_METHODS = tuple(method.name for method in METHODS)
# the methods a method needs, added before it
NEEDS: dict[str, tuple[str, ...]] = {m.name: m.needs for m in METHODS if m.needs}
REMOVAL_NEEDS = NEEDS["removal"]
DEFAULT_METHODS = ("lens", "particles", "vulnerability")


def about(name: str) -> str:
    """What method ``name`` measures (``""`` for an unknown name)."""
    return next((m.about for m in METHODS if m.name == name), "")

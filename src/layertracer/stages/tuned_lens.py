"""Which lens reads the layer states (``--lens logit|tuned``), and the other lens beside it
(docs/method.md#tuned-lens).

Before the clean pass, :func:`prepare_lens` finds the model's tuned lens: with ``--lens
tuned`` it is read from the cache or trained once (a note, then progress); with ``--lens
logit`` a cached one is used for the other particle, and none is trained.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from layertracer.methods.tuned_lens import cached_lens, tuned_lens
from layertracer.run import Run, timed

log = logging.getLogger("layertracer")
Reader = Callable[[int, torch.Tensor], torch.Tensor] | None


def prepare_lens(run: Run) -> None:
    """Sets ``run.tuned``: trained if ``--lens tuned`` needs it, else only a cached one."""
    cfg = run.config.lens
    with timed(run.timing, "tuned_lens"):
        if cfg.kind == "tuned":
            run.tuned = tuned_lens(run.lm, run.anatomy, cfg, run.progress.stage, log.info)
        else:
            run.tuned = cached_lens(run.lm, cfg)


def readers(run: Run) -> tuple[Reader, tuple[str, Reader] | None]:
    """The chosen lens's translator (``None``: the logit lens) and the other lens as
    ``(kind, translator)``, or ``None`` when the other lens is not available."""
    translate = run.tuned[0].translate if run.tuned is not None else None
    if run.config.lens.kind == "tuned":
        return translate, ("logit", None)
    return None, (("tuned", translate) if translate is not None else None)

"""Layer removal guided by each criterion of "critical layers" (docs/method.md#layer-removal).

Every criterion ranks the removable blocks from least to most critical (:mod:`.orders`);
removing the ``k`` least critical blocks (each removed block's output equals its input)
for ``k = 0..K`` gives a pruned model per ``k``, evaluated on the run's prompts by suffix
replay (:mod:`.scan`); the curves of accuracy, target log-prob and KL against ``k``, their
areas and the best criterion follow (:mod:`.curves`). Blocks that cannot be removed by
position (a shared module, a side channel) are found by structure and measurement in
:mod:`layertracer.engine.channels` and left out of every order.
"""

from layertracer.methods.removal.curves import (
    accuracy_auc,
    best_criterion,
    logprob_auc,
    summarize_curves,
)
from layertracer.methods.removal.orders import (
    RANDOM,
    criterion_orders,
    default_max_blocks,
    pruned_sets,
    random_orders,
)
from layertracer.methods.removal.scan import RemovalScan, RemovalState

__all__ = [
    "RANDOM",
    "RemovalScan",
    "RemovalState",
    "accuracy_auc",
    "best_criterion",
    "criterion_orders",
    "default_max_blocks",
    "logprob_auc",
    "pruned_sets",
    "random_orders",
    "summarize_curves",
]

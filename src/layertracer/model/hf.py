"""A causal LM as ``transformers`` types it, for the type checker.

Every model this tool analyses is a ``transformers`` causal LM (``PreTrainedModel``): one it
loaded, or one a caller lends (:mod:`layertracer.model.borrowed`). The code holds it as a
plain ``nn.Module``, whose attribute lookup torch types as ``Tensor | Module``;
:func:`as_hf` gives the checker the ``transformers`` view (``config``, the embeddings)
without importing ``transformers`` at startup or checking anything at run time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from torch import nn

if TYPE_CHECKING:
    from transformers import PreTrainedModel


def as_hf(model: nn.Module) -> PreTrainedModel:
    """``model`` typed as the ``transformers`` model it is (no run-time check: a lent
    model is duck-typed, as ``transformers`` itself treats it)."""
    return cast("PreTrainedModel", model)

"""The exceptions layertracer raises on bad input or an unsupported model.

Every error a user can cause is a :class:`LayerTracerError`; the CLI prints its
message on one line and exits with status 2. Anything else is a bug.
"""

from __future__ import annotations


class LayerTracerError(Exception):
    """Base class: a problem the user can fix (bad input, unsupported model)."""

    def _render_traceback_(self) -> list[str]:
        """What IPython and Jupyter show for it: one line, ``ErrorType: message``."""
        return [f"{type(self).__name__}: {first_line(self)}"]


class ConfigError(LayerTracerError):
    """An option value is invalid (e.g. mask ratio outside (0, 1))."""


class TaskError(LayerTracerError):
    """A task suite or task file is missing, empty or malformed."""


class ModelError(LayerTracerError):
    """A model spec cannot be resolved or loaded."""


class AnatomyError(LayerTracerError):
    """The model's blocks, final norm or unembedding could not be found."""


class FidelityError(LayerTracerError):
    """The logit lens of the last layer does not reproduce the model's output."""


class ResultsError(LayerTracerError):
    """A results.json cannot be read: missing, not JSON, or not a valid results object."""


class ReportError(LayerTracerError):
    """A run directory or results.json cannot be turned into figures and a report."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type name if it has none."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

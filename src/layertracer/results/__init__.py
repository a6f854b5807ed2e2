"""A run's results: the typed :class:`Results` (:mod:`layertracer.schema` has one model per
section),
its files (:mod:`.files`), and the summary every front end shows (:mod:`.summary`)."""

from layertracer.results.document import SCHEMA_VERSION, Results, load
from layertracer.results.files import CSV_FIELDS, atomic_write, prompts_csv

__all__ = ["CSV_FIELDS", "SCHEMA_VERSION", "Results", "atomic_write", "load", "prompts_csv"]

"""The typed sections of ``results.json`` (schema 1): one pydantic model per section, the
same on write and on read, with no undeclared key. They sit below the methods, so a
method's ``summarize`` returns its own typed section (:mod:`.methods`); the run's own
sections (the tool, model, task, lens, prompt rows, suites) are in :mod:`.sections`, the
base class and the per-layer field marks in :mod:`.section`. The document that gathers
them is :class:`layertracer.results.Results`.
"""

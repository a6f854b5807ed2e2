"""layertracer: where inside a language model is a task decided?

Public API (README "Python API", docs/api.md)::

    from layertracer import RunConfig, trace
    results = trace("smollm2-135m", "capitals", RunConfig())
    results.save("runs/demo")
    results.to_frame("lens")          # pandas, one row per prompt × layer
    results.figure("trajectory")      # the report's matplotlib Figure
    results.report("runs/demo")       # figures + report.html, as `layertracer report`
    compare(results, "runs/other", out="runs/cmp")   # as `layertracer compare`

    # a model and tokenizer already loaded in a notebook, and items given inline:
    results = trace(model, [{"prompt": "The capital of France is", "target": " Paris"}],
                    tokenizer=tokenizer, progress=ConsoleProgress())

Layer convention: a model with ``L`` blocks has ``L+1`` layer states; state 0 is the
embedding output (input of block 1), state ``i`` the residual stream after block ``i``.
"""

from layertracer._startup import command_interrupts

with command_interrupts():  # the command's start-up: Ctrl-C is one line, exit 130
    from layertracer import notebook as _notebook  # registers Results.figure / _repr_html_
    from layertracer._version import __version__
    from layertracer.cli.progress import ConsoleProgress
    from layertracer.config import ParticleConfig, RunConfig, VulnerabilityConfig
    from layertracer.errors import LayerTracerError
    from layertracer.model.load import LoadedModel, load_model
    from layertracer.notebook import compare
    from layertracer.pipeline import trace
    from layertracer.results import Results, load
    from layertracer.tasks import Task, TaskItem, load_task

__all__ = [
    "ConsoleProgress",
    "LayerTracerError",
    "LoadedModel",
    "ParticleConfig",
    "Results",
    "RunConfig",
    "Task",
    "TaskItem",
    "VulnerabilityConfig",
    "__version__",
    "compare",
    "load",
    "load_model",
    "load_task",
    "trace",
]

del _notebook

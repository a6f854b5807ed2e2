"""Running one configured run from the command line, safely: the output folder checked
first, a lock, everything written into a staging folder and published whole, Ctrl-C
answered with one line, and ``--resume`` continuing a killed run from its checkpoints
(README "Reliability")."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import typer

from layertracer.config import RunConfig
from layertracer.engine.checkpoint import SUFFIX, Checkpoints, read_json
from layertracer.engine.distributed import is_main_process, leave
from layertracer.errors import ConfigError, LayerTracerError, first_line
from layertracer.results import Results
from layertracer.results.outdir import OutputDir
from layertracer.run import Progress

RESUME_STATE = ("checkpoints", "run-config.json")  # kept in staging, never published


def execute(
    config: RunConfig,
    target: Path,
    flags: dict[str, bool],
    progress: Progress,
    show: Callable[[Results, Path], None],
) -> None:
    """Runs ``config`` into ``target`` and publishes it; prints through ``show``.

    Args:
        config: The run's options.
        target: ``--out``.
        flags: ``overwrite``, ``resume`` and ``report`` (write figures and report.html).
        progress: The progress reporter.
        show: Prints the summary of the saved results (given the published folder).

    Raises:
        ConfigError: A bad output folder, a locked one, or a resume with other options.
        typer.Exit: 130 on Ctrl-C (after one line), 2 when only the report failed.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # torchrun: rank 0 writes, no checkpoints
        report_error = _distributed(config, target, flags, progress, show)
    else:
        outdir = OutputDir(target, flags["overwrite"], flags["resume"])
        outdir.check()
        with outdir.lock():
            results, report_error = _staged(outdir, config, flags, progress, target)
        show(results, target)
    if report_error:
        typer.echo(
            f"error: report not written ({report_error}); results.json is intact, retry with "
            f"`layertracer report {target}`",
            err=True,
        )
        raise typer.Exit(2)


def _distributed(
    config: RunConfig,
    target: Path,
    flags: dict[str, bool],
    progress: Progress,
    show: Callable[[Results, Path], None],
) -> str | None:
    """A run under torchrun: every rank runs its share, rank 0 publishes the results
    (:func:`_publish_finished`) and shows them; returns what went wrong with the report.

    Raises:
        ConfigError: ``--resume`` (no checkpoints under torchrun), or a bad output folder.
    """
    from layertracer.pipeline import trace

    if flags["resume"]:
        raise ConfigError("--resume is not available under torchrun")
    if is_main_process():
        OutputDir(target, flags["overwrite"]).check()
    results = trace(config.model, config.task, config, progress=progress)
    report_error = None
    if is_main_process():
        report_error = _publish_finished(results, target, flags)
        show(results, target)
    leave()
    return report_error


def _staged(
    outdir: OutputDir, config: RunConfig, flags: dict[str, bool], progress: Progress, target: Path
) -> tuple[Results, str | None]:
    """The run, written into the staging folder and published; returns the results and
    what went wrong with the report, if anything. Any failure is one line, and leaves the
    staging folder only if it holds finished batches (for ``--resume``).

    Raises:
        LayerTracerError: The run failed (an ``OSError`` becomes one, e.g. a full disk).
        typer.Exit: 130 on Ctrl-C, after one line.
    """
    from layertracer.pipeline import trace

    staging = outdir.start()
    try:
        _same_options(staging, config, flags["resume"])
        checkpoints = Checkpoints(staging / "checkpoints")
        results = trace(
            config.model, config.task, config, progress=progress, checkpoints=checkpoints
        )
        results.save(staging)
        report_error = _report(results, staging) if flags["report"] else None
        outdir.publish(keep=RESUME_STATE)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: no traceback
        where = _kept(outdir) or "no batch had finished"
        typer.echo(f"interrupted: nothing published to {target}; {where}", err=True)
        raise typer.Exit(130) from None
    except BaseException as exc:
        kept = _kept(outdir)
        if kept and isinstance(exc, LayerTracerError) and not flags["resume"]:
            raise type(exc)(f"{first_line(exc)}; {kept}") from None
        if isinstance(exc, OSError):  # a full disk, a folder gone: one line, not a trace
            where = f"; {kept}" if kept else ""
            raise ConfigError(f"{first_line(exc)}; nothing published to {target}{where}") from None
        raise
    return results, report_error


def _kept(outdir: OutputDir) -> str | None:
    """Where an unfinished run keeps its finished batches; without a checkpoint, its
    staging folder is removed (``None``), but that of an interrupted run ``--resume``
    continues."""
    if any((outdir.staging / "checkpoints").glob(f"*{SUFFIX}")):
        return (
            f"the finished batches are kept in {outdir.staging} (rerun the same command "
            f"with --resume)"
        )
    if not outdir.resume:
        outdir.discard()
    return None


def _same_options(staging: Path, config: RunConfig, resume: bool) -> None:
    """Saves the run's options beside its checkpoints; a resume must have the same ones.

    Raises:
        ConfigError: ``--resume`` with options that differ (naming them).
    """
    saved = staging / "run-config.json"
    mine = json.loads(json.dumps(config.to_dict()))
    if resume and saved.is_file():
        theirs = read_json(saved, "--resume: the interrupted run's options")
        differ = sorted(_differences(theirs, mine))
        if differ:
            raise ConfigError(
                f"--resume: the interrupted run used other options ({', '.join(differ[:8])}); "
                f"rerun it with the same options, or drop --resume to start anew"
            )
    saved.write_text(json.dumps(mine, indent=1) + "\n")


def _differences(a: object, b: object, path: str = "") -> list[str]:
    """The dotted keys where two JSON objects differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            out += _differences(a.get(key), b.get(key), f"{path}.{key}" if path else key)
        return out
    return [] if a == b else [path or "config"]


def _report(results: Results, folder: Path) -> str | None:
    """Writes the figures and report.html; returns what went wrong, if anything."""
    from layertracer.report import write_report

    try:
        write_report(results, folder)
    except Exception as exc:  # the results are complete; the report can be rebuilt
        (folder / "report.html").unlink(missing_ok=True)
        return f"{type(exc).__name__}: {exc}"
    return None


def _publish_finished(results: Results, target: Path, flags: dict[str, bool]) -> str | None:
    """Publishes results computed outside a staging folder (torchrun's rank 0: no
    checkpoints to keep): the output folder checked and locked like any run's, the results
    and report written into a staging folder and published whole; returns what went wrong
    with the report, if anything."""
    outdir = OutputDir(target, flags["overwrite"], False)
    outdir.check()
    with outdir.lock():
        staging = outdir.start()
        results.save(staging)
        report_error = _report(results, staging) if flags["report"] else None
        outdir.publish()
    return report_error

"""The ``layertracer`` command: a thin shell over the API.

Every user error is one line on stderr and exit status 2; nothing already written is lost.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from layertracer.config import (
    DEFAULT_METHODS,
    AnatomyOverrides,
    ParticleConfig,
    RunConfig,
    VulnerabilityConfig,
    parse_final_norm,
    parse_methods,
    parse_seeds,
)
from layertracer.errors import ConfigError, LayerTracerError
from layertracer.models import DEFAULT_MODEL, resolve_device
from layertracer.summary import summary_table

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Where inside a language model is a task decided? "
    "Logit lens, task particles, vulnerable layers.",
)
tasks_app = typer.Typer(help="Built-in task suites, and validation of task files.")
app.add_typer(tasks_app, name="tasks")
err = Console(stderr=True)
out = Console()


def _friendly(func: Callable) -> Callable:
    """Turns a LayerTracerError into one line on stderr and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: object, **kwargs: object) -> object:
        try:
            return func(*args, **kwargs)
        except LayerTracerError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None

    return wrapper


class RichProgress:
    """A progress bar per stage on stderr."""

    @contextmanager
    def stage(self, name: str, total: int) -> Iterator[Callable[[], None]]:
        """Shows one bar of ``total`` steps while the stage runs."""
        columns = (
            TextColumn(f"{name:<14}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=err, transient=False) as bar:
            task = bar.add_task(name, total=total)
            yield lambda: bar.advance(task)


@app.command()
@_friendly
def run(
    model: str = typer.Option(
        DEFAULT_MODEL, help="Hub id, directory, .gguf file, smollm2-135m or tiny:<model_type>."
    ),
    task: str = typer.Option(
        "capitals", help="Built-in suite name or a .jsonl/.csv file (prompt, target)."
    ),
    out_dir: Path | None = typer.Option(
        None, "--out", help="Output directory (default: a new folder under ./runs/)."
    ),
    seeds: str = typer.Option("0,1,2", help="Mask seeds, comma-separated."),
    mask_ratio: float = typer.Option(0.2, help="Fraction of hidden dims masked, in (0, 1)."),
    mask_mode: str = typer.Option("zero", help="zero | mean | gaussian."),
    positions: str = typer.Option(
        "all", help="Perturb all positions or only the last: all | last."
    ),
    delta: float = typer.Option(0.05, help="Particle jump threshold δ."),
    z: float = typer.Option(2.0, help="Particle z-score threshold."),
    batch_size: int = typer.Option(8, help="Prompts per batch (seeds are stacked on top)."),
    device: str = typer.Option("auto", help="cpu | cuda | auto."),
    dtype: str = typer.Option("float32", help="float32 | bfloat16 | float16."),
    max_prompts: int | None = typer.Option(None, help="Use only the first N prompts."),
    shots: int = typer.Option(0, help="Few-shot demonstrations from the same task per prompt."),
    protect_massive: str = typer.Option(
        "none", help="none (the paper) | auto (never mask massive channels)."
    ),
    massive_ratio: float = typer.Option(
        10.0, help="Massive channel: mean |h| > this × the median channel's."
    ),
    no_replay: bool = typer.Option(
        False, "--no-replay", help="Force hooked full passes (no suffix replay)."
    ),
    methods: str = typer.Option(
        ",".join(DEFAULT_METHODS), help="Comma list of lens,particles,vulnerability, or all."
    ),
    trust_remote_code: bool = typer.Option(False, help="Allow model code from the hub."),
    blocks: str | None = typer.Option(None, help="Override: path of the blocks' ModuleList."),
    final_norm: str | None = typer.Option(
        None, help="Override: comma list of final-norm module paths, or 'none'."
    ),
    unembed: str | None = typer.Option(None, help="Override: path of the unembedding module."),
    no_report: bool = typer.Option(
        False, "--no-report", help="Write results only, no figures or report.html."
    ),
) -> None:
    """Analyse MODEL on TASK: logit lens, task particles, vulnerable layer."""
    config = RunConfig(
        model=model,
        task=task,
        batch_size=batch_size,
        device=device,
        dtype=dtype,
        max_prompts=max_prompts,
        shots=shots,
        methods=parse_methods(methods),
        trust_remote_code=trust_remote_code,
        particles=ParticleConfig(delta=delta, z=z),
        anatomy=AnatomyOverrides(blocks, parse_final_norm(final_norm), unembed),
        vulnerability=VulnerabilityConfig(
            seeds=parse_seeds(seeds),
            mask_ratio=mask_ratio,
            mask_mode=mask_mode,
            positions=positions,
            protect_massive=protect_massive,
            massive_ratio=massive_ratio,
            replay=not no_replay,
        ),
    )
    target = out_dir or _default_out(model, task)
    if target.exists() and not target.is_dir():
        raise ConfigError(f"--out {target} exists and is not a directory")
    resolve_device(device)
    from layertracer.trace import trace

    results = trace(config.model, config.task, config, progress=RichProgress())
    path = results.save(target)
    out.print(summary_table(results))
    for warning in results.warnings[:10]:
        err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, markup=True)
    out.print(f"results: {path}", highlight=False)
    if not no_report:
        _write_report_after_run(results, target)


def _write_report_after_run(results: object, target: Path) -> None:
    """Figures and report.html next to results.json; a failure leaves the results intact."""
    from layertracer.report import write_report

    try:
        out.print(f"report:  {write_report(results, target)}", highlight=False)
    except Exception as exc:  # the results are saved; say how to retry, exit 2
        typer.echo(
            f"error: report not written ({type(exc).__name__}: {exc}); results.json is "
            f"intact, retry with `layertracer report {target}`",
            err=True,
        )
        raise typer.Exit(2) from None


def _default_out(model: str, task: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{Path(model).name}-{Path(task).stem}").strip("-")
    return Path("runs") / f"{slug}-{time.strftime('%Y%m%d-%H%M%S')}"


@app.command()
@_friendly
def report(
    run_dir: Path = typer.Argument(..., help="A run directory holding results.json."),
    prompt: str | None = typer.Option(
        None, help="Id (or index) of the prompt for the top-k token table."
    ),
) -> None:
    """(Re)build the figures and report.html of a run from its results.json."""
    from layertracer.report import write_report

    out.print(f"report: {write_report(run_dir, run_dir, topk_prompt=prompt)}", highlight=False)


@app.command()
@_friendly
def compare(
    run_dirs: list[Path] = typer.Argument(..., help="Two or more run directories."),
    out_dir: Path = typer.Option(..., "--out", help="Directory for the figures and compare.html."),
) -> None:
    """Compare runs side by side on a relative depth axis (layer / L)."""
    from layertracer.report import write_compare

    out.print(f"comparison: {write_compare(run_dirs, out_dir)}", highlight=False)


@app.command()
@_friendly
def inspect(
    model: str = typer.Option(DEFAULT_MODEL, help="Model spec, as for `run`."),
    as_json: bool = typer.Option(False, "--json", help="Print the layer map as JSON."),
    device: str = typer.Option("auto", help="cpu | cuda | auto."),
    trust_remote_code: bool = typer.Option(False, help="Allow model code from the hub."),
) -> None:
    """Print the layer map of MODEL: blocks, types, sizes, final norm, unembedding."""
    from layertracer.layermap import layer_map, layer_map_table
    from layertracer.models import load_model

    info = layer_map(load_model(model, device, "float32", trust_remote_code))
    if as_json:
        typer.echo(json.dumps(info, indent=1))
    else:
        out.print(layer_map_table(info))


@tasks_app.callback(invoke_without_command=True)
def tasks(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the suites as JSON."),
) -> None:
    """List the built-in task suites."""
    if ctx.invoked_subcommand is not None:
        return
    from layertracer.tasks import list_suites

    suites = list_suites()
    if as_json:
        typer.echo(json.dumps([s.__dict__ for s in suites], indent=1))
        return
    table = Table(
        "suite", "items", "description", "licence", caption="--json adds each suite's source"
    )
    for s in suites:
        table.add_row(s.name, str(s.items), s.description, s.licence)
    out.print(table)


@tasks_app.command("validate")
@_friendly
def validate(file: Path = typer.Argument(..., help="A .jsonl or .csv task file.")) -> None:
    """Report every problem of a task file with its line number (exit 2 if any)."""
    from layertracer.tasks import validate_file

    problems = validate_file(str(file))
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        raise typer.Exit(2)
    typer.echo(f"{file}: ok")


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the app; usage errors are one line and exit status 2."""
    try:
        code = app(args=argv, standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except typer.TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # help was printed
            sys.exit(0)
        typer.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(2)
    if isinstance(code, int) and code:
        sys.exit(code)

"""The ``layertracer`` command: a thin shell over the API.

Every user error is one line on stderr and exit status 2; nothing already written is lost.
"""

from __future__ import annotations

import functools
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from layertracer.cli.finetune import finetune_command
from layertracer.cli.lens import lens_app
from layertracer.cli.lens import train as lens_train
from layertracer.cli.run import run as run_command
from layertracer.config import AnatomyOverrides, parse_final_norm
from layertracer.errors import LayerTracerError, first_line
from layertracer.model.load import DEFAULT_MODEL, resolve_device
from layertracer.results import Results

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Where inside a language model is a task decided? "
    "Logit lens, task particles, vulnerable layers.",
)
tasks_app = typer.Typer(help="Built-in task suites, and validation of task files.")
app.add_typer(tasks_app, name="tasks")
app.add_typer(lens_app, name="lens")
err = Console(stderr=True)
out = Console()

P = ParamSpec("P")
R = TypeVar("R")


def _friendly(func: Callable[P, R]) -> Callable[P, R]:
    """Turns a LayerTracerError, or an OSError (a read-only folder, a full disk), into one
    line on stderr and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except LayerTracerError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            typer.echo(f"error: {where}{exc.strerror or first_line(exc)}", err=True)
            raise typer.Exit(2) from None

    return wrapper


app.command("run")(_friendly(run_command))
lens_app.command("train")(_friendly(lens_train))
app.command("finetune")(_friendly(finetune_command))


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

    runs: list[Results | str | Path] = [*run_dirs]
    out.print(f"comparison: {write_compare(runs, out_dir)}", highlight=False)


@app.command()
@_friendly
def inspect(
    model: str = typer.Option(DEFAULT_MODEL, help="Model spec, as for `run`."),
    as_json: bool = typer.Option(False, "--json", help="Print the layer map as JSON."),
    device: str = typer.Option("auto", help="cpu | cuda | auto."),
    trust_remote_code: bool = typer.Option(False, help="Allow model code from the hub."),
    blocks: str | None = typer.Option(None, help="Override: path of the blocks' ModuleList."),
    final_norm: str | None = typer.Option(
        None, help="Override: comma list of final-norm module paths, or 'none'."
    ),
    unembed: str | None = typer.Option(None, help="Override: path of the unembedding module."),
) -> None:
    """Print the layer map of MODEL: blocks, types, sites, sizes, final norm, unembedding."""
    from layertracer.model.layermap import layer_map, layer_map_table
    from layertracer.model.load import load_model

    overrides = AnatomyOverrides(blocks, parse_final_norm(final_norm), unembed)
    resolve_device(device)
    info = layer_map(load_model(model, device, "float32", trust_remote_code), overrides)
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
def validate(
    file: Path = typer.Argument(..., help="A .jsonl or .csv task file, or a HF dataset folder."),
    prompt_field: str = typer.Option("prompt", help="Name of the prompt field."),
    target_field: str = typer.Option("target", help="Name of the target field."),
    split: str | None = typer.Option(None, help="Split of a HF DatasetDict folder."),
) -> None:
    """Report every problem of a task file with its line number (exit 2 if any)."""
    from layertracer.tasks import validate_file

    problems = validate_file(str(file), (prompt_field, target_field), split)
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
    except (typer.Abort, KeyboardInterrupt):  # Ctrl-C in any phase: one line, 130
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: no traceback
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except typer.TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # help was printed
            sys.exit(0)
        typer.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(2)
    if isinstance(code, int) and code:
        sys.exit(code)

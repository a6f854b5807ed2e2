"""``layertracer run``: the run's options (:mod:`.flags`, :mod:`.settings`), the run, its
summary and its report."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from layertracer.cli.execute import execute
from layertracer.cli.flags import alias, config_of, flag
from layertracer.cli.messages import hidden_note, library_messages, show_own_logs
from layertracer.cli.progress import ConsoleProgress
from layertracer.cli.settings import show_listing
from layertracer.cli.summary import summary_json, summary_table
from layertracer.errors import ConfigError
from layertracer.model.load import resolve_device
from layertracer.results import Results
from layertracer.run import SilentProgress

err = Console(stderr=True)
out = Console()
OUTPUT = "Output"


def run(
    ctx: typer.Context,
    model: str = flag("model"),
    trust_remote_code: bool = flag("trust_remote_code"),
    task: str | None = flag("task"),
    text: str | None = flag("text"),
    prompt_field: str = flag("prompt_field"),
    target_field: str = flag("target_field"),
    split: str | None = flag("split"),
    chat_template: bool = flag("chat_template"),
    full_target: bool = flag("full_target"),
    max_prompts: int | None = flag("max_prompts"),
    truncate: str = flag("truncate"),
    shots: int = flag("shots"),
    methods: str = flag("methods"),
    protocol: str = flag("protocol"),
    seeds: str | None = flag("seeds"),
    lens: str = flag("lens"),
    settings: list[str] | None = typer.Option(
        None,
        "--set",
        metavar="NAME=VALUE",
        help="Any other option as section.field=value, e.g. vulnerability.mask_ratio=0.1 "
        "or tracing.copies=20 (repeatable; --help-set lists them with their defaults).",
        rich_help_panel="Method",
    ),
    help_set: bool = typer.Option(
        False,
        "--help-set",
        is_eager=True,
        callback=show_listing,
        help="List every --set option with its default and meaning, and exit.",
        rich_help_panel="Method",
    ),
    out_dir: str | None = typer.Option(
        None,
        "--out",
        help="Output directory (default: a new folder under ./runs/).",
        rich_help_panel=OUTPUT,
    ),
    no_report: bool = typer.Option(
        False,
        "--no-report",
        help="Results only, no figures or report.html.",
        rich_help_panel=OUTPUT,
    ),
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help="Replace an earlier run in --out (once the new one is complete).",
        rich_help_panel=OUTPUT,
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue an interrupted run into --out (same options) from its checkpoints.",
        rich_help_panel=OUTPUT,
    ),
    verbose: bool = typer.Option(
        False,
        "-v",
        "--verbose",
        help="Also show the libraries' own messages and progress bars.",
        rich_help_panel=OUTPUT,
    ),
    quiet: bool = typer.Option(
        False, "--quiet", help="Print only errors and the results path.", rich_help_panel=OUTPUT
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print the summary as JSON on stdout (nothing else on stdout).",
        rich_help_panel=OUTPUT,
    ),
    batch_size: str = flag("batch_size"),
    device: str = flag("device"),
    device_map: str | None = flag("device_map"),
    dtype: str = flag("dtype"),
    no_replay: bool = flag("no_replay"),
    # the former flags of the --set options, hidden (each is its --set)
    text_window: str | None = alias("text_window"),
    blocks: str | None = alias("blocks"),
    final_norm: str | None = alias("final_norm"),
    unembed: str | None = alias("unembed"),
    delta: str | None = alias("delta"),
    z: str | None = alias("z"),
    cka_estimator: str | None = alias("cka_estimator"),
    cka_representation: str | None = alias("cka_representation"),
    spectral_k: str | None = alias("spectral_k"),
    tracing_noise: str | None = alias("tracing_noise"),
    tracing_copies: str | None = alias("tracing_copies"),
    tracing_seed: str | None = alias("tracing_seed"),
    tracing_map_prompts: str | None = alias("tracing_map_prompts"),
    removal_blocks: str | None = alias("removal_blocks"),
    removal_span: str | None = alias("removal_span"),
    removal_random: str | None = alias("removal_random"),
    removal_seed: str | None = alias("removal_seed"),
    mask_ratio: str | None = alias("mask_ratio"),
    mask_mode: str | None = alias("mask_mode"),
    positions: str | None = alias("positions"),
    protect_massive: str | None = alias("protect_massive"),
    massive_ratio: str | None = alias("massive_ratio"),
    site: str | None = alias("site"),
    layer_rule: str | None = alias("layer_rule"),
    lens_tokens: str | None = alias("lens_tokens"),
    max_seeds: str | None = alias("max_seeds"),
) -> None:
    """Analyse MODEL on TASK: logit lens, task particles, vulnerable layer."""
    config = config_of(ctx.params)
    if verbose and quiet:
        raise ConfigError("give -v/--verbose or --quiet, not both")
    if out_dir is not None and not out_dir.strip():  # Path("") would be the working folder
        raise ConfigError("--out is empty: give the folder to write the run into")
    target = Path(out_dir or _default_out(config.model, config.task or config.inputs.text or ""))
    resolve_device(config.device)
    flags = {"overwrite": overwrite, "resume": resume, "report": not no_report}
    progress = SilentProgress() if quiet else ConsoleProgress(err)
    own = logging.WARNING if quiet else logging.INFO

    def show(results: Results, folder: Path) -> None:
        """Prints the published run: its summary as JSON (--json), only its results path
        (--quiet), or the summary table, warnings and paths (the default)."""
        path, html = folder / "results.json", folder / "report.html"
        report = html if html.is_file() else None
        if as_json:
            typer.echo(json.dumps(summary_json(results, path, report), indent=1))
        elif quiet:
            out.print(f"results: {path}", highlight=False, soft_wrap=True)
        else:
            _print_summary(results, path, report)

    with show_own_logs(err, own), library_messages(show=verbose) as hidden:
        execute(config, target, flags, progress, show)
    note = hidden_note(hidden)
    if note and not quiet:
        err.print(f"[dim]{note}[/dim]", highlight=False)


def _print_summary(results: Results, path: Path, report: Path | None) -> None:
    """The summary table, the first warnings and where the files are."""
    out.print(summary_table(results))
    for warning in results.warnings[:10]:
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False, soft_wrap=True)
    out.print(f"results: {path}", highlight=False, soft_wrap=True)
    if report is not None:
        out.print(f"report:  {report}", highlight=False, soft_wrap=True)


def _default_out(model: str, task: str) -> Path:
    """``runs/<model>-<task>-<date>-<time>``, the folder of a run without --out."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{Path(model).name}-{Path(task).stem}").strip("-")
    return Path("runs") / f"{slug}-{time.strftime('%Y%m%d-%H%M%S')}"

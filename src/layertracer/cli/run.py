"""``layertracer run``: every option of a run, the run, its summary and its report."""

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
from layertracer.cli.messages import hidden_note, library_messages, show_own_logs
from layertracer.cli.progress import ConsoleProgress
from layertracer.cli.summary import summary_json, summary_table
from layertracer.config import (
    ALL_METHODS,
    DEFAULT_METHODS,
    DEFAULT_PROTOCOL,
    PROTOCOLS,
    AblationConfig,
    AnatomyOverrides,
    CKAConfig,
    InputConfig,
    LensConfig,
    ParticleConfig,
    RemovalConfig,
    RunConfig,
    TracingConfig,
    VulnerabilityConfig,
    parse_batch_size,
    parse_final_norm,
    parse_map_prompts,
    parse_methods,
    parse_seeds,
)
from layertracer.errors import ConfigError
from layertracer.model.load import DEFAULT_MODEL, resolve_device
from layertracer.results import Results
from layertracer.run import SilentProgress

err = Console(stderr=True)
out = Console()


def run(
    model: str = typer.Option(
        DEFAULT_MODEL,
        help="Hub id, directory, .gguf file, smollm2-135m or tiny:<model_type>.",
        rich_help_panel="Model",
    ),
    trust_remote_code: bool = typer.Option(
        False, "--trust-remote-code", help="Allow model code from the hub.", rich_help_panel="Model"
    ),
    blocks: str | None = typer.Option(
        None, help="Override: path of the blocks' ModuleList.", rich_help_panel="Model"
    ),
    final_norm: str | None = typer.Option(
        None,
        help="Override: comma list of final-norm module paths, or 'none'.",
        rich_help_panel="Model",
    ),
    unembed: str | None = typer.Option(
        None, help="Override: path of the unembedding module.", rich_help_panel="Model"
    ),
    task: str | None = typer.Option(
        None,
        help="Built-in suite, .jsonl/.csv file or saved HF dataset folder, or a comma list "
        "of them (default: capitals).",
        rich_help_panel="Task & inputs",
    ),
    text: str | None = typer.Option(
        None,
        help="Text mode instead of --task: a text file, or builtin:gettysburg.",
        rich_help_panel="Task & inputs",
    ),
    text_window: int = typer.Option(
        32, help="Text mode: tokens per window.", rich_help_panel="Task & inputs"
    ),
    prompt_field: str = typer.Option(
        "prompt", help="Name of the prompt field of the task.", rich_help_panel="Task & inputs"
    ),
    target_field: str = typer.Option(
        "target", help="Name of the target field of the task.", rich_help_panel="Task & inputs"
    ),
    split: str | None = typer.Option(
        None,
        help="Split of a HF DatasetDict folder (default: test, or the only one).",
        rich_help_panel="Task & inputs",
    ),
    chat_template: bool = typer.Option(
        False,
        "--chat-template",
        help="Wrap each prompt in the tokenizer's chat template.",
        rich_help_panel="Task & inputs",
    ),
    full_target: bool = typer.Option(
        False,
        "--full-target",
        help="Also the teacher-forced log-prob of the whole answer.",
        rich_help_panel="Task & inputs",
    ),
    max_prompts: int | None = typer.Option(
        None, help="Use only the first N prompts.", rich_help_panel="Task & inputs"
    ),
    truncate: str = typer.Option(
        "none",
        help="Prompts longer than the model's context: none (refuse) | left (keep the last "
        "tokens).",
        rich_help_panel="Task & inputs",
    ),
    shots: int = typer.Option(
        0,
        help="Few-shot demonstrations from the same task per prompt.",
        rich_help_panel="Task & inputs",
    ),
    protocol: str = typer.Option(
        DEFAULT_PROTOCOL,
        help=f"Vulnerability protocol: {' | '.join(PROTOCOLS)} (paper: the paper's exact "
        "protocol). The options below override it.",
        rich_help_panel="Protocol",
    ),
    seeds: str | None = typer.Option(
        None,
        help="Seeds, comma-separated, or auto (4 at a time until stable, up to --max-seeds) "
        "[default: the protocol's].",
        rich_help_panel="Protocol",
    ),
    max_seeds: int = typer.Option(32, help="Budget of --seeds auto.", rich_help_panel="Protocol"),
    mask_ratio: float | None = typer.Option(
        None,
        help="Share of the state perturbed, in (0, 1): masked dims, or the noise norm "
        "sqrt(r)·|h| for norm [default: the protocol's].",
        rich_help_panel="Protocol",
    ),
    mask_mode: str | None = typer.Option(
        None,
        help="zero | mean | gaussian | norm [default: the protocol's].",
        rich_help_panel="Protocol",
    ),
    positions: str | None = typer.Option(
        None,
        help="Perturb all positions or only the last: all | last [default: the protocol's].",
        rich_help_panel="Protocol",
    ),
    delta: float = typer.Option(
        0.05, help="Particle jump threshold δ.", rich_help_panel="Protocol"
    ),
    z: float = typer.Option(2.0, help="Particle z-score threshold.", rich_help_panel="Protocol"),
    protect_massive: str | None = typer.Option(
        None,
        help="none | auto (leave massive channels unperturbed) [default: the protocol's].",
        rich_help_panel="Protocol",
    ),
    layer_rule: str | None = typer.Option(
        None,
        help="Vulnerable layer reported: interior-peak | interior-argmax | argmax "
        "[default: the protocol's].",
        rich_help_panel="Protocol",
    ),
    massive_ratio: float = typer.Option(
        10.0,
        help="Massive channel: mean |h| > this × the median channel's.",
        rich_help_panel="Protocol",
    ),
    lens: str = typer.Option(
        "logit",
        "--lens",
        help="Lens of trajectories, top-k and particles: logit | tuned (trained once per "
        "model and cached; see `layertracer lens train`).",
        rich_help_panel="Protocol",
    ),
    lens_tokens: int = typer.Option(
        LensConfig.tokens,
        help="Tuned lens: training tokens (time grows linearly with them).",
        rich_help_panel="Protocol",
    ),
    site: str = typer.Option(
        "residual",
        help="Perturbed site: residual | mixer | mlp | state (see `inspect`).",
        rich_help_panel="Protocol",
    ),
    methods: str = typer.Option(
        ",".join(DEFAULT_METHODS),
        help="Comma list of " + ",".join(ALL_METHODS) + ", or all; removal adds "
        "vulnerability, cka, ablation and tracing (its criteria).",
        rich_help_panel="Methods",
    ),
    tracing_noise: float = typer.Option(
        3.0,
        help="Causal tracing: noise scale in stds of the subject embeddings.",
        rich_help_panel="Methods",
    ),
    tracing_copies: int = typer.Option(
        10, help="Causal tracing: noisy copies per prompt.", rich_help_panel="Methods"
    ),
    tracing_seed: int = typer.Option(
        0, help="Causal tracing: seed of the first noisy copy.", rich_help_panel="Methods"
    ),
    tracing_map_prompts: str = typer.Option(
        "4",
        help="Causal tracing: full layer × position map for the first N prompts, or all.",
        rich_help_panel="Methods",
    ),
    cka_estimator: str = typer.Option(
        "biased", help="CKA estimator: biased | debiased.", rich_help_panel="Methods"
    ),
    cka_representation: str = typer.Option(
        "last",
        help="CKA representation: last (prompt token) | mean (over tokens).",
        rich_help_panel="Methods",
    ),
    removal_blocks: int | None = typer.Option(
        None,
        help="Layer removal: remove k = 0..K blocks (default K = max(1, L // 4)).",
        rich_help_panel="Methods",
    ),
    removal_span: int = typer.Option(
        1,
        help="Angular distance between states n apart: rates windows of n blocks.",
        rich_help_panel="Methods",
    ),
    removal_random: int = typer.Option(
        5, help="Layer removal: random orders in the baseline.", rich_help_panel="Methods"
    ),
    removal_seed: int = typer.Option(
        0, help="Layer removal: seed of the random orders.", rich_help_panel="Methods"
    ),
    out_dir: str | None = typer.Option(
        None,
        "--out",
        help="Output directory (default: a new folder under ./runs/).",
        rich_help_panel="Output",
    ),
    no_report: bool = typer.Option(
        False,
        "--no-report",
        help="Write results only, no figures or report.html.",
        rich_help_panel="Output",
    ),
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help="Replace an earlier run in --out (once the new one is complete).",
        rich_help_panel="Output",
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue an interrupted run into --out (same options) from its checkpoints.",
        rich_help_panel="Output",
    ),
    verbose: bool = typer.Option(
        False,
        "-v",
        "--verbose",
        help="Also show the libraries' own messages and progress bars.",
        rich_help_panel="Output",
    ),
    quiet: bool = typer.Option(
        False, "--quiet", help="Print only errors and the results path.", rich_help_panel="Output"
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print the summary as JSON on stdout (nothing else on stdout).",
        rich_help_panel="Output",
    ),
    batch_size: str = typer.Option(
        "8",
        help="Prompts per batch (seeds stacked on top), or auto (from free GPU memory).",
        rich_help_panel="Performance",
    ),
    device: str = typer.Option("auto", help="cpu | cuda | auto.", rich_help_panel="Performance"),
    device_map: str | None = typer.Option(
        None,
        help="auto: spread the blocks over the GPUs and the CPU (accelerate).",
        rich_help_panel="Performance",
    ),
    dtype: str = typer.Option(
        "float32", help="float32 | bfloat16 | float16.", rich_help_panel="Performance"
    ),
    no_replay: bool = typer.Option(
        False,
        "--no-replay",
        help="Force hooked full passes (no suffix replay).",
        rich_help_panel="Performance",
    ),
) -> None:
    """Analyse MODEL on TASK: logit lens, task particles, vulnerable layer."""
    config = RunConfig(
        model=model,
        task=task if task is not None or text else "capitals",
        batch_size=parse_batch_size(batch_size),
        device=device,
        device_map=device_map,
        dtype=dtype,
        max_prompts=max_prompts,
        shots=shots,
        methods=parse_methods(methods),
        trust_remote_code=trust_remote_code,
        inputs=InputConfig(
            prompt_field,
            target_field,
            split,
            chat_template,
            full_target,
            text,
            text_window,
            truncate,
        ),
        particles=ParticleConfig(delta=delta, z=z),
        lens=LensConfig(kind=lens, tokens=lens_tokens),
        anatomy=AnatomyOverrides(blocks, parse_final_norm(final_norm), unembed),
        cka=CKAConfig(estimator=cka_estimator, representation=cka_representation),
        ablation=AblationConfig(replay=not no_replay),
        tracing=TracingConfig(
            noise_multiplier=tracing_noise,
            copies=tracing_copies,
            seed=tracing_seed,
            map_prompts=parse_map_prompts(tracing_map_prompts),
            replay=not no_replay,
        ),
        removal=RemovalConfig(
            max_blocks=removal_blocks,
            span=removal_span,
            random_orders=removal_random,
            random_seed=removal_seed,
            replay=not no_replay,
        ),
        vulnerability=VulnerabilityConfig.preset(
            protocol,
            **parse_seeds(seeds, max_seeds),
            mask_ratio=mask_ratio,
            mask_mode=mask_mode,
            positions=positions,
            protect_massive=protect_massive,
            layer_rule=layer_rule,
            massive_ratio=massive_ratio,
            replay=not no_replay,
            site=site,
        ),
    )
    if verbose and quiet:
        raise ConfigError("give -v/--verbose or --quiet, not both")
    if out_dir is not None and not out_dir.strip():  # Path("") would be the working folder
        raise ConfigError("--out is empty: give the folder to write the run into")
    target = Path(out_dir or _default_out(model, config.task or config.inputs.text))
    resolve_device(device)
    flags = {"overwrite": overwrite, "resume": resume, "report": not no_report}
    progress = SilentProgress() if quiet else ConsoleProgress(err)
    own = logging.WARNING if quiet else logging.INFO

    def show(results: Results, folder: Path) -> None:
        """The summary of the published run, as --quiet, --json or by default ask."""
        path, report = folder / "results.json", folder / "report.html"
        report = report if report.is_file() else None
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
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{Path(model).name}-{Path(task).stem}").strip("-")
    return Path("runs") / f"{slug}-{time.strftime('%Y%m%d-%H%M%S')}"

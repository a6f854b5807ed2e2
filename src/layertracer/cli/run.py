"""``layertracer run``: every option of a run, the run, its summary and its report."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from layertracer.cli.summary import summary_table
from layertracer.config import (
    ALL_METHODS,
    DEFAULT_METHODS,
    AblationConfig,
    AnatomyOverrides,
    CKAConfig,
    InputConfig,
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
from layertracer.engine.distributed import is_main_process, leave
from layertracer.errors import ConfigError
from layertracer.model.load import DEFAULT_MODEL, resolve_device

err = Console(stderr=True)
out = Console()


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
    shots: int = typer.Option(
        0,
        help="Few-shot demonstrations from the same task per prompt.",
        rich_help_panel="Task & inputs",
    ),
    seeds: str = typer.Option(
        "0,1,2", help="Mask seeds, comma-separated.", rich_help_panel="Protocol"
    ),
    mask_ratio: float = typer.Option(
        0.2, help="Fraction of hidden dims masked, in (0, 1).", rich_help_panel="Protocol"
    ),
    mask_mode: str = typer.Option(
        "zero", help="zero | mean | gaussian.", rich_help_panel="Protocol"
    ),
    positions: str = typer.Option(
        "all",
        help="Perturb all positions or only the last: all | last.",
        rich_help_panel="Protocol",
    ),
    delta: float = typer.Option(
        0.05, help="Particle jump threshold δ.", rich_help_panel="Protocol"
    ),
    z: float = typer.Option(2.0, help="Particle z-score threshold.", rich_help_panel="Protocol"),
    protect_massive: str = typer.Option(
        "none",
        help="none (the paper) | auto (never mask massive channels).",
        rich_help_panel="Protocol",
    ),
    massive_ratio: float = typer.Option(
        10.0,
        help="Massive channel: mean |h| > this × the median channel's.",
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
    out_dir: Path | None = typer.Option(
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
            prompt_field, target_field, split, chat_template, full_target, text, text_window
        ),
        particles=ParticleConfig(delta=delta, z=z),
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
        vulnerability=VulnerabilityConfig(
            seeds=parse_seeds(seeds),
            mask_ratio=mask_ratio,
            mask_mode=mask_mode,
            positions=positions,
            protect_massive=protect_massive,
            massive_ratio=massive_ratio,
            replay=not no_replay,
            site=site,
        ),
    )
    target = out_dir or _default_out(model, config.task or config.inputs.text)
    if target.exists() and not target.is_dir():
        raise ConfigError(f"--out {target} exists and is not a directory")
    resolve_device(device)
    from layertracer.pipeline import trace

    results = trace(config.model, config.task, config, progress=RichProgress())
    if not is_main_process():  # torchrun: rank 0 writes the results, the others leave
        leave()
        return
    path = results.save(target)
    out.print(summary_table(results))
    for warning in results.warnings[:10]:
        err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, markup=True)
    out.print(f"results: {path}", highlight=False)
    if not no_report:
        _write_report_after_run(results, target)
    leave()


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

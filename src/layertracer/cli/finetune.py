"""``layertracer finetune``: critical layers at training time (docs/training.md).

The output folder is handled as ``run``'s: checked first, locked, written into a staging
folder and published whole. Every finished arm is kept in the staging folder's
``checkpoints/``, so that ``--resume`` (same options) trains only the arms not finished.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from layertracer.cli.progress import ConsoleProgress
from layertracer.config.training import EXPERIMENTS, FinetuneConfig
from layertracer.errors import ConfigError
from layertracer.model.load import resolve_device
from layertracer.results.outdir import OutputDir
from layertracer.results.training import Arm, FinetuneResults
from layertracer.run import SilentProgress

if TYPE_CHECKING:
    from layertracer.training.finetune import Resume

err = Console(stderr=True)
out = Console()
D = FinetuneConfig()
RESUME_STATE = ("checkpoints", "finetune-config.json")


def finetune_command(
    experiment: str = typer.Option(..., help=f"One of {', '.join(EXPERIMENTS)}."),
    model: str = typer.Option(D.model, help="Model spec, as for `run`."),
    task: str = typer.Option(D.task, help="Task suite or file: the training data."),
    out_dir: Path = typer.Option(..., "--out", help="Output directory."),
    criteria_from: str | None = typer.Option(
        None, help="A `run` folder of the same model with agreement: the criteria's curves."
    ),
    criteria: str | None = typer.Option(None, help="Comma list of criteria (default: all)."),
    random: int = typer.Option(D.random, help="Random draws of k blocks."),
    k: int | None = typer.Option(None, help="Blocks per arm (default: max(1, L // 4))."),
    steps: int = typer.Option(D.steps, help="AdamW steps per arm."),
    lr: float = typer.Option(D.lr, help="AdamW learning rate."),
    batch_size: int = typer.Option(D.batch_size, help="Training examples per step."),
    heldout: int = typer.Option(D.heldout, help="Held-out prompts (the rest train)."),
    max_train: int | None = typer.Option(None, help="At most this many training prompts."),
    poison_rate: float = typer.Option(D.poison_rate, help="backdoor: share poisoned, (0, 1]."),
    trigger: str = typer.Option(D.trigger, help="backdoor: the trigger before the prompt."),
    attack_target: str = typer.Option(D.attack_target, help="backdoor: the attack target."),
    seed: int = typer.Option(D.seed, help="Seeds the split, poisoning, batches, draws."),
    device: str = typer.Option(D.device, help="cpu | cuda | auto."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an earlier result in --out."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue an interrupted experiment (same options)."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="Print only errors and the results path."),
) -> None:
    """Fine-tune chosen blocks of MODEL on TASK: which criterion's layers matter in training."""
    names = tuple(n.strip() for n in (criteria or "").split(",") if n.strip())
    config = FinetuneConfig(
        experiment=experiment, model=model, task=task, criteria_from=criteria_from,
        criteria=names, random=random, k=k, steps=steps, lr=lr, batch_size=batch_size,
        heldout=heldout, max_train=max_train, poison_rate=poison_rate, trigger=trigger,
        attack_target=attack_target, seed=seed, device=device,
    )  # fmt: skip
    resolve_device(config.device)
    outdir = OutputDir(out_dir, overwrite, resume)
    outdir.check()
    with outdir.lock():
        results = _staged(outdir, config, quiet)
    path = outdir.target / "results.json"
    if quiet:
        out.print(f"results: {path}", highlight=False, soft_wrap=True)
    else:
        _show(results, path)


def _staged(outdir: OutputDir, config: FinetuneConfig, quiet: bool) -> FinetuneResults:
    """The experiment, written into the staging folder and published."""
    from layertracer.training.finetune import finetune

    staging = outdir.start()
    try:
        _same_options(staging, config, outdir.resume)
        progress = SilentProgress() if quiet else ConsoleProgress(err)
        results = finetune(config, progress=progress, resume=_checkpoints(staging))
        results.save(staging)
        outdir.publish(keep=RESUME_STATE)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        typer.echo(
            f"interrupted: nothing published; the finished arms are kept in {staging} "
            "(rerun the same command with --resume)",
            err=True,
        )
        raise typer.Exit(130) from None
    return results


def _checkpoints(staging: Path) -> Resume:
    """Each finished arm as ``checkpoints/<arm>.json`` in the staging folder."""
    from layertracer.training.finetune import Resume

    folder = staging / "checkpoints"
    folder.mkdir(exist_ok=True)

    def file(name: str) -> Path:
        return folder / f"{name.replace('/', '--')}.json"

    def done(name: str) -> Arm | None:
        path = file(name)
        return Arm.model_validate_json(path.read_text()) if path.is_file() else None

    def keep(arm: Arm) -> None:
        file(arm.name).write_text(arm.model_dump_json())

    return Resume(done, keep)


def _same_options(staging: Path, config: FinetuneConfig, resume: bool) -> None:
    """Saves the options beside the checkpoints; a resume must have the same ones.

    Raises:
        ConfigError: ``--resume`` with other options (naming them).
    """
    saved, mine = staging / "finetune-config.json", json.loads(json.dumps(config.to_dict()))
    if resume and saved.is_file():
        theirs = json.loads(saved.read_text())
        differ = sorted(k for k in mine if theirs.get(k) != mine[k])
        if differ:
            raise ConfigError(
                f"--resume: the interrupted experiment used other options ({', '.join(differ)}); "
                "rerun it with the same options, or drop --resume"
            )
    saved.write_text(json.dumps(mine, indent=1) + "\n")


def _show(results: FinetuneResults, path: Path) -> None:
    """One line per arm: trained blocks, held-out loss, ASR, clean accuracy, seconds."""
    section = results.adapt or results.backdoor
    arms = [results.sensitivity.arm] if results.sensitivity else section.arms if section else []
    for arm in arms:
        asr = "" if arm.asr is None else f"  ASR {arm.asr:.2f}"
        acc = "" if arm.clean_accuracy is None else f"  clean acc {arm.clean_accuracy:.2f}"
        out.print(
            f"{arm.name:18} trained {len(arm.trained):3d}  loss {arm.heldout_loss_start:.3f} -> "
            f"{arm.heldout_loss_final:.3f}{asr}{acc}  {arm.seconds:.0f} s "
            f"({arm.cpu_seconds:.0f} s CPU)",
            highlight=False,
        )
    for warning in results.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)
    out.print(f"results: {path}", highlight=False, soft_wrap=True)

"""``layertracer lens train``: train a model's tuned lens once and cache it (docs/lens.md)."""

from __future__ import annotations

import json
import logging

import typer
from rich.console import Console
from rich.table import Table

from layertracer.cli.messages import library_messages, show_own_logs
from layertracer.cli.progress import ConsoleProgress
from layertracer.config import LensConfig
from layertracer.model.load import DEFAULT_MODEL, resolve_device

lens_app = typer.Typer(help="The tuned lens: train it once per model (cached).")
err = Console(stderr=True)
out = Console()


def train(
    model: str = typer.Option(DEFAULT_MODEL, help="Model spec, as for `run`."),
    lens_tokens: int = typer.Option(
        LensConfig.tokens, help="Training tokens (time grows linearly with them)."
    ),
    device: str = typer.Option("auto", help="cpu | cuda | auto."),
    trust_remote_code: bool = typer.Option(False, help="Allow model code from the hub."),
    as_json: bool = typer.Option(False, "--json", help="Print the lens's record as JSON."),
) -> None:
    """Train MODEL's tuned lens (or read it from the cache) and print the held-out KL of
    the logit and the tuned lens per layer, in bits."""
    import torch

    from layertracer.methods.tuned_lens import tuned_lens
    from layertracer.model.anatomy import discover
    from layertracer.model.load import load_model

    cfg = LensConfig(kind="tuned", tokens=lens_tokens)
    resolve_device(device)
    with show_own_logs(err, logging.INFO), library_messages(show=False):
        lm = load_model(model, device, "float32", trust_remote_code)
        with torch.inference_mode():
            anatomy = discover(lm.model, lm.tokenizer)
        _, meta = tuned_lens(lm, anatomy, cfg, ConsoleProgress(err).stage, err.print)
    if as_json:
        typer.echo(json.dumps(meta, indent=1))
        return
    out.print(kl_table(meta["kl_bits"]))
    out.print(f"tuned lens: {meta['folder']}", highlight=False, soft_wrap=True)


def kl_table(kl_bits: dict[str, list[float]]) -> Table:
    """Held-out ``KL(final ‖ lens)`` per layer, logit against tuned, in bits."""
    table = Table("layer", "logit lens (bits)", "tuned lens (bits)", title="held-out KL")
    for i, (a, b) in enumerate(zip(kl_bits["logit"], kl_bits["tuned"], strict=True)):
        table.add_row(str(i), f"{a:.3f}", f"{b:.3f}")
    return table

"""The tuned lens of a model: read from the cache, or trained once and cached
(docs/method.md#tuned-lens, docs/lens.md).

:func:`tuned_lens` returns the translators and their record (``meta``): the model, the
training settings, the corpus, the held-out ``kl_bits`` of both lenses per layer, and the
seconds and threads the training took. A training run writes into a temporary folder named
after its process and moves it into place when complete, so a half-written lens is never
read.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from layertracer.config import LensConfig
from layertracer.methods.tuned_lens.measure import kl_bits
from layertracer.methods.tuned_lens.train import corpus_states, train_lens
from layertracer.model.anatomy import Anatomy
from layertracer.model.bundled import remove_stale_conversions
from layertracer.model.lens_cache import fingerprint, lens_folder, lens_key
from layertracer.model.load import LoadedModel, input_device
from layertracer.model.tuned import META, TunedLens, load_lens, save_lens
from layertracer.tasks.corpus import CORPUS, corpus_digest, corpus_windows

Stage = Callable[[str, int], contextlib.AbstractContextManager[Callable[..., None]]]

__all__ = ["cached_lens", "lens_location", "train_and_measure", "tuned_lens"]


def lens_location(lm: LoadedModel, cfg: LensConfig) -> tuple[str, Path]:
    """The cache key and folder of ``lm``'s tuned lens under ``cfg``'s training settings."""
    key = lens_key(fingerprint(lm.model), cfg.training(), corpus_digest())
    return key, lens_folder(lm.spec, key)


def cached_lens(lm: LoadedModel, cfg: LensConfig) -> tuple[TunedLens, dict[str, Any]] | None:
    """The cached tuned lens of ``lm`` under ``cfg``, or ``None`` when there is none."""
    _, folder = lens_location(lm, cfg)
    return _load(folder) if (folder / META).is_file() else None


def _load(folder: Path) -> tuple[TunedLens, dict[str, Any]]:
    """The lens saved in ``folder``; its record says where it is (``folder``)."""
    lens, meta = load_lens(folder)
    return lens, {**meta, "folder": str(folder)}


def tuned_lens(
    lm: LoadedModel,
    anatomy: Anatomy,
    cfg: LensConfig,
    stage: Stage,
    note: Callable[[str], None] = lambda _: None,
) -> tuple[TunedLens, dict[str, Any]]:
    """The tuned lens of ``lm``: from the cache, or trained now (``note`` says so first)
    and cached.

    Args:
        lm: The model.
        anatomy: Its parts.
        cfg: The training settings.
        stage: ``progress.stage``: a context per phase that yields a step function.
        note: Receives one line before a training starts.
    """
    key, folder = lens_location(lm, cfg)
    if (folder / META).is_file():
        return _load(folder)
    note(
        f"no tuned lens of {lm.spec} in the cache yet: training it once on "
        f"{cfg.tokens} tokens ({cfg.steps} steps), then cached in {folder}"
    )
    lens, meta = train_and_measure(lm, anatomy, cfg, stage)
    meta.update(model=lm.spec, key=key)
    folder.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_conversions(folder.parent)  # a killed training's temporary folder
    tmp = tempfile.mkdtemp(prefix=f".{folder.name}-{os.getpid()}-", dir=folder.parent)
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is not
    try:
        save_lens(lens, Path(tmp), meta)
        shutil.rmtree(folder, ignore_errors=True)
        os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return lens, {**meta, "folder": str(folder)}


def train_and_measure(
    lm: LoadedModel, anatomy: Anatomy, cfg: LensConfig, stage: Stage
) -> tuple[TunedLens, dict[str, Any]]:
    """Collects the corpus's layer states, trains the translators and measures both lenses'
    held-out ``kl_bits``; returns the lens and its record."""
    start, seconds = time.perf_counter(), {}
    windows = {
        split: corpus_windows(lm.tokenizer, split, n, cfg.window)
        for split, n in (("train", cfg.tokens), ("heldout", cfg.heldout))
    }
    states = {}
    for split, w in windows.items():
        with stage(f"lens corpus ({split})", len(range(0, w.input_ids.shape[0], 4))) as step:
            states[split] = corpus_states(lm, anatomy, w, step)
    seconds["collect"] = time.perf_counter() - start
    device = input_device(lm.model)
    losses: list[float] = []

    def record(loss: float) -> None:
        losses.append(loss)
        step()

    with stage("tuned lens training", cfg.steps) as step:
        lens = train_lens(anatomy, states["train"], cfg, record, device)
    seconds["train"] = time.perf_counter() - start - seconds["collect"]
    batches = len(range(0, cfg.heldout, 64))
    with stage("held-out KL (logit, tuned)", 2 * batches) as step:
        curves = {
            "logit": kl_bits(anatomy, states["heldout"].to(device), None, step),
            "tuned": kl_bits(anatomy, states["heldout"].to(device), lens, step),
        }
    seconds["total"] = time.perf_counter() - start
    meta = {
        "training": cfg.training(),
        "corpus": {**CORPUS, "digest": corpus_digest(), "source": "tasks/data/lens/SOURCE.md"},
        "positions": {"train": states["train"].shape[1], "heldout": states["heldout"].shape[1]},
        "kl_bits": curves,
        "loss_nats": {"first": losses[0], "last": losses[-1]},
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "threads": torch.get_num_threads(),
        "device": str(device),
    }
    return lens.cpu(), meta

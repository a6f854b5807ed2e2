"""The spectral stage: PCA of every layer's representations, the top-k split of each CKA
shift, the lens readout of the leading directions around CKA's critical layers, and the
critical layers of generic text beside each suite's (docs/method.md#spectral)."""

from __future__ import annotations

from typing import Any

import numpy as np

from layertracer.methods.cka.core import critical_layers
from layertracer.methods.spectral import oblivious
from layertracer.methods.spectral.core import Spectrum, summarize
from layertracer.methods.spectral.readout import direction_scores, top_tokens
from layertracer.methods.spectral.text import SPLIT, WINDOW, text_representations
from layertracer.methods.suite_summary import suite_groups
from layertracer.run import Run
from layertracer.schema.spectral import SpectralSection
from layertracer.stages.cka import collect
from layertracer.stages.registry import stage

AROUND = 3  # CKA critical layers whose neighbourhood (ℓ−1, ℓ, ℓ+1) is read through the lens
TOKENS = 5  # tokens per side of a direction
MAX_SAVED = 2**25  # float32 entries of the representations saved into arrays.npz (128 MiB)
DEFINITION = (
    "per layer: centred PCA of the representations; per pair (l, l+1): 1 - CKA = top + "
    "rest + cross of the normalised Gram matrices split by each side's top-k components"
)


@stage("spectral")
def spectral(run: Run) -> None:
    """The ``spectral`` section, and the representations in ``arrays.npz``."""
    results = run.results
    cfg, cka = run.config.spectral, results.cka
    reps = _representations(run)  # [n, L+1, d]
    fields, spectra = summarize(reps, cfg.k)
    around = (cka.critical_layers if cka is not None else [])[:AROUND]
    section: dict[str, Any] = {
        **fields,
        "representation": run.config.cka.representation,
        "critical_layers": around,
        "readout": _readout(run, spectra, around, cfg.readout),
        "bootstrap": cfg.bootstrap,
        "definition": DEFINITION,
    }
    if cfg.text_windows:
        suites = suite_groups([row.suite for row in results.prompts], missing="task")
        section.update(_oblivious(run, reps, suites))
    if reps.size <= MAX_SAVED:
        results.arrays["spectral_representations"] = reps.astype(np.float32)
        section["arrays"] = {"file": "arrays.npz", "representations": "spectral_representations"}
    results.spectral = SpectralSection.model_validate(section)


def _representations(run: Run) -> np.ndarray:
    """Every prompt's representation at every layer, prompts in task order: those the CKA
    stage collected (its ``gram`` form), else from a clean pass of its own. ``[n, L+1, d]``"""
    mine = run.kept.get("cka_rows")
    with run.stage("spectral", 1 if mine is not None else run.num_batches) as step:
        if mine is None:  # CKA streamed sums (``features`` form): no rows to reuse
            mine = collect(run, "spectral", step, form="gram").rows
        else:
            step()
        rows = run.gather(mine)
    return np.stack([rows[n] for n in sorted(rows)])


def _readout(
    run: Run, spectra: list[Spectrum], around: list[int], count: int
) -> list[dict[str, Any]]:
    """The leading ``count`` directions of the layers ``c−1, c, c+1`` of each critical
    layer ``c``, read through the lens (:mod:`layertracer.methods.spectral.readout`)."""
    last = len(spectra) - 1
    layers = sorted({c + step for c in around for step in (-1, 0, 1) if 0 <= c + step <= last})
    decode = run.lm.tokenizer.batch_decode
    out = []
    with run.stage("spectral_readout", max(1, len(layers))) as step:
        for layer in layers:
            found = spectra[layer]
            used = min(count, found.rank, len(found.components))
            if used:
                scores = direction_scores(
                    run.anatomy, found.mean, found.components[:used], found.std[:used]
                )  # [used, vocab]
                plus, minus = top_tokens(scores, TOKENS)
                for i in range(used):
                    out.append({
                        "layer": layer, "component": i + 1, "ratio": float(found.ratio[i]),
                        "plus": decode([[t] for t in plus[i]]),
                        "minus": decode([[t] for t in minus[i]]),
                    })  # fmt: skip
            step()
    return out


def _oblivious(run: Run, reps: np.ndarray, groups: dict[str, list[int]]) -> dict[str, Any]:
    """The text's δ profile and critical layers, and each suite's (its prompts' indices in
    ``groups``) beside it."""
    cfg, estimator = run.config.spectral, run.config.cka.estimator
    with run.stage("spectral_text", 1) as step:
        text = text_representations(
            run.lm.model, run.anatomy, run.lm.tokenizer, cfg.text_windows,
            run.config.cka.representation, run.batch_size, run.device,
        )  # fmt: skip
        step()
    text_grams = oblivious.grams_of(text)
    delta = oblivious.profile(text_grams, estimator)[0]
    ranked = critical_layers(delta)
    rng = np.random.default_rng(cfg.seed)
    suites = {
        name: oblivious.compare(
            oblivious.grams_of(reps[index]), text_grams, estimator, cfg.bootstrap, rng
        )
        for name, index in groups.items()
    }
    profile = {
        "source": f"lens corpus, {SPLIT} text (Northanger Abbey)",
        "windows": len(text),
        "window_tokens": WINDOW,
        "delta": delta.tolist(),
        "critical_layers": ranked,
        "critical_layer": ranked[0] if ranked else None,
    }
    return {"text": profile, "suites": suites}

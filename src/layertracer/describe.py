"""The results of a run before any analysis stage: its configuration, the model and its
anatomy, the task, the environment, and one row per prompt from the clean lens pass."""

from __future__ import annotations

import platform
import sys
from typing import Any

import torch

from layertracer._version import __version__
from layertracer.config import RunConfig
from layertracer.model.anatomy import Anatomy
from layertracer.model.hf import as_hf
from layertracer.model.load import LoadedModel, input_device, model_dtype
from layertracer.model.transforms import FIDELITY_TOLERANCE
from layertracer.results import Results
from layertracer.run import Run
from layertracer.schema.sections import LensSection, ModelInfo, PromptRow, TaskInfo, Tool


def base_results(run: Run) -> Results:
    """The run's results before any analysis stage: config, model, lens, prompt rows."""
    lm, clean, task, encoded = run.lm, run.clean, run.task, run.encoded
    if clean is None:
        raise RuntimeError("the run's results need its clean lens pass first")
    tokenizer, L = lm.tokenizer, run.anatomy.num_layers
    rows: list[PromptRow] = []
    for n, (item, enc) in enumerate(zip(task.items, encoded, strict=True)):
        top = int(clean.topk_ids[n, L, 0])
        truncated: dict[str, Any] = {"truncated": enc.truncated} if enc.truncated else {}
        rows.append(
            PromptRow(
                id=item.id,
                suite=item.suite or task.name,
                prompt=item.prompt,
                target=item.target,
                subject=item.subject,
                target_token_id=enc.target_id,
                target_token=tokenizer.decode([enc.target_id]),
                num_tokens=len(enc.input_ids),
                target_prob=clean.target_prob[n].tolist(),
                final_prob=float(clean.target_prob[n, L]),
                top1_token_id=top,
                top1_token=tokenizer.decode([top]),
                correct=top == enc.target_id,
                particle_layer=None,
                topk=_topk_rows(tokenizer, clean.topk_ids[n], clean.topk_probs[n]),
                **truncated,
            )
        )
    warnings = list(task.warnings) + [e.warning for e in encoded if e.warning]
    return Results(
        tool=Tool(name="layertracer", version=__version__),
        config=run.config.to_dict(),
        environment=_environment(lm, run.config, run.world.size),
        model=ModelInfo.model_validate(_model_info(lm, run.anatomy)),
        task=TaskInfo.model_validate(_task_info(run)),
        lens=LensSection(
            fidelity_max_abs_err=clean.fidelity,
            tolerance=FIDELITY_TOLERANCE,
            positions="last real token of each prompt",
            dtype="float32",
            **lens_record(run),
        ),
        prompts=rows,
        accuracy=sum(bool(r.correct) for r in rows) / len(rows),
        warnings=warnings,
    )


def lens_record(run: Run) -> dict[str, Any]:
    """The ``lens`` section's fields about the lenses: the kind, the other lens read beside
    it, ``kl_bits`` of both lenses per layer (held-out, bits) and the tuned lens's training
    record (docs/method.md#tuned-lens)."""
    kind = run.config.lens.kind
    other = "logit" if kind == "tuned" else ("tuned" if run.tuned is not None else None)
    record: dict[str, Any] = {"kind": kind, "other": other}
    if run.tuned is not None:
        meta = dict(run.tuned[1])
        record["kl_bits"] = meta.pop("kl_bits")
        record["tuned"] = meta
    return record


def _task_info(run: Run) -> dict[str, Any]:
    """Name, source and size of the task; text mode and chat template when used."""
    task, inputs = run.task, run.config.inputs
    info: dict[str, Any] = {"name": task.name, "source": task.source, "items": len(task.items)}
    if inputs.text:
        info.update(mode="text", text_window=inputs.text_window)
    if inputs.chat_template:
        first = run.lm.tokenizer.decode(list(run.encoded[0].input_ids))
        info.update(chat_template=True, example_input=first)
    return info


def _topk_rows(
    tokenizer: Any, ids: torch.Tensor, probs: torch.Tensor
) -> list[list[tuple[str, float]]]:
    """Per layer, the top tokens as ``[(token, prob), ...]``. ids/probs: ``[L+1, k]``"""
    words = tokenizer.batch_decode(ids.reshape(-1, 1).tolist())
    k = ids.shape[1]
    return [
        [(words[layer * k + j], round(float(probs[layer, j]), 6)) for j in range(k)]
        for layer in range(ids.shape[0])
    ]


def _model_info(lm: LoadedModel, anatomy: Anatomy) -> dict[str, Any]:
    config = as_hf(lm.model).config
    weight = getattr(anatomy.unembed, "weight", None)
    return {
        "spec": lm.spec,
        "model_type": lm.model_type,
        "num_layers": anatomy.num_layers,
        "hidden_size": anatomy.hidden_size,
        "layer_types": anatomy.layer_types,
        "vocab_size": int(weight.shape[0])
        if weight is not None
        else getattr(config, "vocab_size", None),
        "num_parameters": sum(p.numel() for p in lm.model.parameters()),
        "blocks": anatomy.block_path,
        "residual_slot": anatomy.slot,
        "final_norm": anatomy.final_norm_paths,
        "unembed": anatomy.unembed_path,
        "logit_transform": anatomy.transform.describe(),
    }


def _environment(lm: LoadedModel, config: RunConfig, world_size: int = 1) -> dict[str, Any]:
    import transformers

    device_map = getattr(lm.model, "hf_device_map", None)
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": str(input_device(lm.model)),
        "devices": sorted({str(d) for d in device_map.values()}) if device_map else None,
        "dtype": model_dtype(lm.model),
        "world_size": world_size,
    }

"""The results of a run before any analysis stage: its configuration, the model and its
anatomy, the task, the environment, and one row per prompt from the clean lens pass."""

from __future__ import annotations

import platform
import sys

import torch

from layertracer._version import __version__
from layertracer.config import RunConfig
from layertracer.model.anatomy import Anatomy
from layertracer.model.load import LoadedModel, input_device, model_dtype
from layertracer.model.transforms import FIDELITY_TOLERANCE
from layertracer.results import Results
from layertracer.results.sections import LensSection, ModelInfo, PromptRow, TaskInfo, Tool
from layertracer.run import Run


def base_results(run: Run) -> Results:
    """The run's results before any analysis stage: config, model, lens, prompt rows."""
    lm, clean, task, encoded = run.lm, run.clean, run.task, run.encoded
    tokenizer, L = lm.tokenizer, run.anatomy.num_layers
    rows = []
    for n, (item, enc) in enumerate(zip(task.items, encoded, strict=True)):
        top = int(clean.topk_ids[n, L, 0])
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
                **({"truncated": enc.truncated} if enc.truncated else {}),
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


def lens_record(run: Run) -> dict:
    """The ``lens`` section's fields about the lenses: the kind, the other lens read beside
    it, ``kl_bits`` of both lenses per layer (held-out, bits) and the tuned lens's training
    record (docs/method.md#tuned-lens)."""
    kind = run.config.lens.kind
    other = "logit" if kind == "tuned" else ("tuned" if run.tuned is not None else None)
    record: dict = {"kind": kind, "other": other}
    if run.tuned is not None:
        meta = dict(run.tuned[1])
        record["kl_bits"] = meta.pop("kl_bits")
        record["tuned"] = meta
    return record


def _task_info(run: Run) -> dict:
    """Name, source and size of the task; text mode and chat template when used."""
    task, inputs = run.task, run.config.inputs
    info = {"name": task.name, "source": task.source, "items": len(task.items)}
    if inputs.text:
        info.update(mode="text", text_window=inputs.text_window)
    if inputs.chat_template:
        first = run.lm.tokenizer.decode(list(run.encoded[0].input_ids))
        info.update(chat_template=True, example_input=first)
    return info


def _topk_rows(tokenizer: object, ids: torch.Tensor, probs: torch.Tensor) -> list[list]:
    """Per layer, the top tokens as ``[[token, prob], ...]``. ids/probs: ``[L+1, k]``"""
    words = tokenizer.batch_decode(ids.reshape(-1, 1).tolist())
    k = ids.shape[1]
    return [
        [[words[layer * k + j], round(float(probs[layer, j]), 6)] for j in range(k)]
        for layer in range(ids.shape[0])
    ]


def _model_info(lm: LoadedModel, anatomy: Anatomy) -> dict:
    config = lm.model.config
    return {
        "spec": lm.spec,
        "model_type": lm.model_type,
        "num_layers": anatomy.num_layers,
        "hidden_size": anatomy.hidden_size,
        "layer_types": anatomy.layer_types,
        "vocab_size": int(anatomy.unembed.weight.shape[0])
        if hasattr(anatomy.unembed, "weight")
        else getattr(config, "vocab_size", None),
        "num_parameters": sum(p.numel() for p in lm.model.parameters()),
        "blocks": anatomy.block_path,
        "residual_slot": anatomy.slot,
        "final_norm": anatomy.final_norm_paths,
        "unembed": anatomy.unembed_path,
        "logit_transform": anatomy.transform.describe(),
    }


def _environment(lm: LoadedModel, config: RunConfig, world_size: int = 1) -> dict:
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

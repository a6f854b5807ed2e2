"""Find a causal LM's blocks, final norm, unembedding and logit transform by structure.

No model names: one probe forward with a hook on every module shows which modules ran
and in what order, and tensors are followed by equality (docs/method.md#anatomy; the
rules' coverage: docs/architectures.md).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from layertracer.config import AnatomyOverrides
from layertracer.errors import AnatomyError
from layertracer.model.capture import ArgPath, Slot, output_tensor
from layertracer.model.hf import as_hf
from layertracer.model.layer_types import classify_blocks
from layertracer.model.probe import Call, batch_major_paths, run_probe, same, trace_final_norm
from layertracer.model.transforms import LogitTransform, choose_transform

Ran = dict[nn.Module, Call]  # each module's first call in the probe forward


@dataclass
class Anatomy:
    """The parts of a model that layer analysis needs.

    Attributes:
        blocks: The ``L`` residual blocks in call order.
        block_path: Dotted path of their ModuleList.
        slot: Where a block receives the residual stream (arg index or kwarg name).
        final_norm: Modules applied between the last block and the unembedding.
        final_norm_paths: Their dotted paths.
        unembed: The module mapping the final hidden state to logits.
        unembed_path: Its dotted path.
        transform: Output transform applied to the logits (identity, soft-cap, scale).
        layer_types: Block type per block (``L`` entries).
        hidden_size: Width ``d`` of the residual stream.
        vocab_size: Width of the logits.
        batch_major: Per block, the paths of the call arguments whose first dimension is
            batch-major (it scales with the batch); replay repeats exactly those, and uses
            ``first dim == batch`` for arguments the probes never saw.
        batch_seen: Per block, the argument paths the probes saw.
    """

    blocks: list[nn.Module]
    block_path: str
    slot: Slot
    final_norm: list[nn.Module]
    final_norm_paths: list[str]
    unembed: nn.Module
    unembed_path: str
    transform: LogitTransform
    layer_types: list[str]
    hidden_size: int
    vocab_size: int
    batch_major: list[frozenset[ArgPath]] = field(default_factory=list)
    batch_seen: list[frozenset[ArgPath]] = field(default_factory=list)

    @property
    def num_layers(self) -> int:
        """``L``, the number of blocks (there are ``L+1`` layer states)."""
        return len(self.blocks)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """``T(unembed(final_norm(h)))`` in float32. ``[..., d] -> [..., vocab]``"""
        for norm in self.final_norm:
            hidden = output_tensor(norm(hidden))
        return self.transform(output_tensor(self.unembed(hidden)).float())


def discover(
    model: nn.Module, tokenizer: Any, overrides: AnatomyOverrides | None = None
) -> Anatomy:
    """Finds the model's anatomy from one probe forward and checks it.

    Args:
        model: The causal LM.
        tokenizer: Its tokenizer (encodes the probe sentence).
        overrides: Module paths that replace discovery (each is still checked by the
            fidelity check).

    Raises:
        AnatomyError: No block list, unembedding or final-norm path could be found, an
            override names no module, or the model is not a single residual stack.
        FidelityError: No logit transform reproduces the model's own output.
    """
    ov = overrides or AnatomyOverrides()
    probe = run_probe(model, tokenizer)
    ran, names = probe.ran, probe.names
    if ov.blocks:
        block_path, blocks = ov.blocks, _ran_children(model, ov.blocks, ran)
    else:
        block_path, blocks = _find_blocks(model, ran)
    last = ran[blocks[-1]]
    if last.out is None:
        raise AnatomyError(f"{names[blocks[-1]]!r}: the last block returned no tensor")
    unembed = (
        _named(model, ov.unembed, "--unembed") if ov.unembed else _find_unembed(model, ran, names)
    )
    if unembed not in ran or ran[unembed].inp is None:
        raise AnatomyError(f"--unembed {names[unembed]!r} did not run on a hidden state")
    if ov.final_norm is not None:
        norms = [_named(model, path, "--final-norm") for path in ov.final_norm]
    else:
        norms = trace_final_norm(probe, last, unembed)
    anatomy = Anatomy(
        blocks=blocks,
        block_path=block_path,
        slot=_residual_slot(ran, blocks),
        final_norm=norms,
        final_norm_paths=[names[m] for m in norms],
        unembed=unembed,
        unembed_path=names[unembed],
        transform=LogitTransform.identity(),
        layer_types=classify_blocks(blocks),
        hidden_size=int(last.out.shape[-1]),
        vocab_size=int(probe.logits.shape[-1]),
    )
    anatomy.transform = _check_lens(model, anatomy, last.out, probe.logits)
    anatomy.batch_major, anatomy.batch_seen = batch_major_paths(
        model, tokenizer, blocks, anatomy.slot
    )
    return anatomy


def _check_lens(
    model: nn.Module, anatomy: Anatomy, last_out: torch.Tensor, logits: torch.Tensor
) -> LogitTransform:
    """The output transform that makes the lens of the last block equal the model's logits."""
    config = as_hf(model).config
    model_type = config.model_type
    with torch.inference_mode():
        try:
            lens_logits = anatomy.logits(last_out)
        except (RuntimeError, TypeError, ValueError) as exc:
            raise AnatomyError(
                f"{model_type}: final norm + unembedding cannot be applied to the last block's "
                f"output, so it is not a single residual stream ({type(exc).__name__}: "
                f"{str(exc)[:160]}); override with --blocks/--final-norm/--unembed"
            ) from None
        return choose_transform(config, lens_logits, logits.float(), model_type)


def _find_blocks(model: nn.Module, ran: Ran) -> tuple[str, list[nn.Module]]:
    """The ModuleList of residual blocks: right length, outermost, most parameters."""
    want = _num_layers(model)
    candidates = []
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList):
            used = [child for child in module if child in ran]
            if used:
                params = sum(p.numel() for p in module.parameters())
                score = (len(module) == want, -name.count("."), params)
                candidates.append((score, name, used))
    if not candidates:
        raise AnatomyError(
            f"{as_hf(model).config.model_type}: no list of blocks ran in the forward"
        )
    _, name, used = max(candidates, key=lambda c: c[0])
    return name, sorted(used, key=lambda m: ran[m].order)


def _named(model: nn.Module, path: str, option: str) -> nn.Module:
    """The module at ``path``, or an error naming the closest paths."""
    try:
        return model.get_submodule(path)
    except AttributeError:
        close = difflib.get_close_matches(path, [n for n, _ in model.named_modules() if n], 3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise AnatomyError(f"{option}: the model has no module {path!r}{hint}") from None


def _ran_children(model: nn.Module, path: str, ran: Ran) -> list[nn.Module]:
    """The children of the ModuleList at ``path`` that ran, in call order."""
    blocks = _named(model, path, "--blocks")
    if not isinstance(blocks, nn.ModuleList):
        raise AnatomyError(f"--blocks: {path!r} is a {type(blocks).__name__}, not a ModuleList")
    used = [child for child in blocks if child in ran]
    if not used:
        raise AnatomyError(f"--blocks: no block of {path!r} ran in the forward")
    return sorted(used, key=lambda m: ran[m].order)


def _num_layers(model: nn.Module) -> int | None:
    config = as_hf(model).config
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    layers = getattr(text, "num_hidden_layers", None)
    return layers if isinstance(layers, int) else None


def _find_unembed(model: nn.Module, ran: Ran, names: dict[nn.Module, str]) -> nn.Module:
    """The output embedding, or the outermost head around it that maps ``d`` to vocab."""
    head = as_hf(model).get_output_embeddings()
    ref = ran.get(head) if isinstance(head, nn.Module) else None
    if ref is None or ref.inp is None or ref.out is None:
        raise AnatomyError(
            f"{as_hf(model).config.model_type}: no output embedding ran in the forward"
        )
    width_in, width_out = ref.inp.shape[-1], ref.out.shape[-1]

    def fits(module: nn.Module) -> bool:
        call = ran[module]
        return (
            module is not model
            and any(m is head for m in module.modules())
            and call.inp is not None
            and call.out is not None
            and call.inp.shape[-1] == width_in
            and call.out.shape[-1] == width_out
        )

    return min((m for m in ran if fits(m)), key=lambda m: names[m].count("."))


def _residual_slot(ran: Ran, blocks: list[nn.Module]) -> Slot:
    """The argument of block 2 that equals block 1's output (args[0] in practice)."""
    first = ran[blocks[0]]
    if len(blocks) > 1:
        call, previous = ran[blocks[1]], ran[blocks[0]].out
        for i, value in enumerate(call.args):
            if isinstance(value, torch.Tensor) and same(value, previous):
                return i
        for key, value in call.kwargs.items():
            if isinstance(value, torch.Tensor) and same(value, previous):
                return key
    for i, value in enumerate(first.args):
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            return i
    for key, value in first.kwargs.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            return key
    raise AnatomyError("cannot find the residual-stream argument of the blocks")

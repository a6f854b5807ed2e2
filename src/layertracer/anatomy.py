"""Find a causal LM's blocks, final norm, unembedding and logit transform by structure.

No model names: one probe forward with a hook on every module shows which modules ran
and in what order, and tensors are followed by equality (../shared/ARCHITECTURES.md).
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from layertracer.capture import Slot, first_tensor, forward, hooks_removed
from layertracer.config import AnatomyOverrides
from layertracer.errors import AnatomyError
from layertracer.layer_types import classify_blocks
from layertracer.transforms import LogitTransform, choose_transform

PROBE_TEXT = "The capital of France is Paris, and the capital of Italy is"


@dataclass
class _Call:
    name: str
    module: nn.Module
    order: int
    inp: torch.Tensor | None
    out: torch.Tensor | None
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


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

    @property
    def num_layers(self) -> int:
        """``L``, the number of blocks (there are ``L+1`` layer states)."""
        return len(self.blocks)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """``T(unembed(final_norm(h)))`` in float32. ``[..., d] -> [..., vocab]``"""
        for norm in self.final_norm:
            hidden = first_tensor(norm(hidden))
        return self.transform(first_tensor(self.unembed(hidden)).float())


def discover(
    model: nn.Module, tokenizer: object, overrides: AnatomyOverrides | None = None
) -> Anatomy:
    """Finds the model's anatomy from one probe forward and checks it.

    Args:
        model: The causal LM.
        tokenizer: Its tokenizer (encodes the probe sentence).
        overrides: Module paths that replace discovery (each is still checked by the
            fidelity check).

    Raises:
        AnatomyError: No block list, unembedding or final-norm path could be found, or an
            override names no module.
        FidelityError: No logit transform reproduces the model's own output.
    """
    ov = overrides or AnatomyOverrides()
    names = {m: n for n, m in model.named_modules()}
    enc = tokenizer(PROBE_TEXT, return_tensors="pt")
    device = next(model.parameters()).device
    ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
    with torch.inference_mode(), _record_calls(model, names) as calls:
        try:
            output, _ = forward(model, ids, mask)
        except (RuntimeError, TypeError, ValueError, IndexError, KeyError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise AnatomyError(
                f"{model.config.model_type}: the model's forward fails on plain text input "
                f"({type(exc).__name__}: {first[:200]})"
            ) from None
    ran = {c.module: c for c in calls}
    if ov.blocks:
        block_path, blocks = ov.blocks, _ran_children(model, ov.blocks, ran)
    else:
        block_path, blocks = _find_blocks(model, ran)
    last = ran[blocks[-1]]
    unembed = _named(model, ov.unembed, "--unembed") if ov.unembed else None
    unembed = unembed or _find_unembed(model, ran, names)
    if unembed not in ran or ran[unembed].inp is None:
        raise AnatomyError(f"--unembed {names[unembed]!r} did not run on a hidden state")
    if ov.final_norm is not None:
        norms = [_named(model, path, "--final-norm") for path in ov.final_norm]
    else:
        norms = _final_norm(calls, ran[unembed].inp, last.out, unembed)
    model_logits = first_tensor(output.logits if hasattr(output, "logits") else output)
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
        vocab_size=int(model_logits.shape[-1]),
    )
    head_width = ran[unembed].inp.shape[-1]
    if last.out.shape[-1] != head_width:
        raise AnatomyError(
            f"{model.config.model_type}: the last block's output has width "
            f"{last.out.shape[-1]} but the unembedding reads width {head_width}: "
            "not a single residual stream (override with --blocks/--final-norm/--unembed)"
        )
    with torch.inference_mode():
        try:
            lens_logits = anatomy.logits(last.out)
        except (RuntimeError, TypeError, ValueError) as exc:
            raise AnatomyError(
                f"{model.config.model_type}: final norm + unembedding cannot be applied to the "
                f"last block's output ({type(exc).__name__}: {str(exc)[:200]})"
            ) from None
        anatomy.transform = choose_transform(
            model.config, lens_logits, model_logits.float(), model.config.model_type
        )
    return anatomy


@contextlib.contextmanager
def _record_calls(model: nn.Module, names: dict) -> Iterator[list[_Call]]:
    """Records every module's first call, in order of completion."""
    calls: list[_Call] = []
    seen: set[int] = set()

    def hook(module: nn.Module, args: tuple, kwargs: dict, output: object) -> None:
        if id(module) in seen:
            return
        seen.add(id(module))
        inp = _first_float(args, kwargs)
        calls.append(
            _Call(names[module], module, len(calls), inp, first_tensor(output), args, kwargs)
        )

    with hooks_removed() as handles:
        for module in names:
            handles.append(module.register_forward_hook(hook, with_kwargs=True))
        yield calls


def _first_float(args: tuple, kwargs: dict) -> torch.Tensor | None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            return value
    return None


def _find_blocks(model: nn.Module, ran: dict) -> tuple[str, list[nn.Module]]:
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
        raise AnatomyError(f"{model.config.model_type}: no list of blocks ran in the forward")
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


def _ran_children(model: nn.Module, path: str, ran: dict) -> list[nn.Module]:
    """The children of the ModuleList at ``path`` that ran, in call order."""
    blocks = _named(model, path, "--blocks")
    if not isinstance(blocks, nn.ModuleList):
        raise AnatomyError(f"--blocks: {path!r} is a {type(blocks).__name__}, not a ModuleList")
    used = [child for child in blocks if child in ran]
    if not used:
        raise AnatomyError(f"--blocks: no block of {path!r} ran in the forward")
    return sorted(used, key=lambda m: ran[m].order)


def _num_layers(model: nn.Module) -> int | None:
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else None
    return getattr(config or model.config, "num_hidden_layers", None)


def _find_unembed(model: nn.Module, ran: dict, names: dict) -> nn.Module:
    """The output embedding, or the outermost head around it that maps ``d`` to vocab."""
    head = model.get_output_embeddings()
    if head is None or head not in ran or ran[head].inp is None:
        raise AnatomyError(f"{model.config.model_type}: no output embedding ran in the forward")
    ref = ran[head]

    def fits(module: nn.Module) -> bool:
        call = ran[module]
        return (
            module is not model
            and any(m is head for m in module.modules())
            and call.inp is not None
            and call.out is not None
            and call.inp.shape[-1] == ref.inp.shape[-1]
            and call.out.shape[-1] == ref.out.shape[-1]
        )

    return min((m for m in ran if fits(m)), key=lambda m: names[m].count("."))


def _same(a: torch.Tensor | None, b: torch.Tensor | None) -> bool:
    return a is not None and b is not None and a.shape == b.shape and torch.equal(a, b)


def _final_norm(
    calls: list[_Call], head_in: torch.Tensor, last_out: torch.Tensor, unembed: nn.Module
) -> list[nn.Module]:
    """Modules from the last block's output to the head's input, traced back by equality."""
    after = [
        c for c in calls if c.inp is not None and c.out is not None and c.module is not unembed
    ]
    chain: list[nn.Module] = []
    current = head_in
    while not _same(current, last_out):
        producers = [
            c
            for c in after
            if _same(c.out, current) and not _same(c.inp, current) and c.inp.shape == last_out.shape
        ]
        if not producers or len(chain) > 8:
            return _forward_chain(after, last_out)
        step = min(producers, key=lambda c: (c.name.count("."), -c.order))
        chain.append(step.module)
        current = step.inp
    return chain[::-1]


def _forward_chain(after: list[_Call], last_out: torch.Tensor) -> list[nn.Module]:
    """Fallback when a functional op precedes the head: follow modules forwards."""
    chain: list[nn.Module] = []
    current = last_out
    for _ in range(8):
        nexts = [
            c
            for c in after
            if _same(c.inp, current) and not _same(c.out, current) and c.out.shape == current.shape
        ]
        if not nexts:
            break
        step = min(nexts, key=lambda c: (c.name.count("."), c.order))
        chain.append(step.module)
        current = step.out
    return chain


def _residual_slot(ran: dict, blocks: list[nn.Module]) -> Slot:
    """The argument of block 2 that equals block 1's output (args[0] in practice)."""
    first = ran[blocks[0]]
    if len(blocks) > 1:
        call, previous = ran[blocks[1]], ran[blocks[0]].out
        for i, value in enumerate(call.args):
            if isinstance(value, torch.Tensor) and _same(value, previous):
                return i
        for key, value in call.kwargs.items():
            if isinstance(value, torch.Tensor) and _same(value, previous):
                return key
    for i, value in enumerate(first.args):
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            return i
    for key, value in first.kwargs.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            return key
    raise AnatomyError("cannot find the residual-stream argument of the blocks")

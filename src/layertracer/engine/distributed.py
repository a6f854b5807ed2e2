"""Data-parallel runs under ``torchrun``: which prompts this process analyses, and how the
per-prompt results of all processes meet.

``torchrun --nproc_per_node W -m layertracer run ...`` starts ``W`` processes with
``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` set. Each one loads the model (on
``cuda:LOCAL_RANK``, or the CPU), analyses every ``W``-th batch of the run's length-sorted
batch plan (the same batches a single process would form, so every per-prompt number is
the one a single process computes), and the per-prompt values are gathered from all ranks
(``all_gather_object``) before any run-level summary: sums over prompts, never means of
means. Only rank 0 writes the results. A single process (no ``WORLD_SIZE`` or ``1``) does
no communication at all.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


@dataclass(frozen=True)
class World:
    """This process's place among the processes of one run.

    Attributes:
        rank: This process's rank, ``0..size-1``.
        size: Number of processes (``1``: no communication).
        local_rank: Rank on this machine (picks the GPU).
    """

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes results and shows progress."""
        return self.rank == 0

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's share of ``items``: ``items[rank::size]``."""
        return list(items[self.rank :: self.size])

    def all_gather(self, value: T) -> list[T]:
        """``value`` of every rank, in rank order (picklable values; tensors on the CPU)."""
        if self.size == 1:
            return [value]
        out: list[Any] = [None] * self.size  # all_gather_object fills in every rank's value
        dist.all_gather_object(out, value)
        return out

    def gather(self, per_prompt: dict[int, T]) -> dict[int, T]:
        """The union of every rank's ``{prompt index: value}``, sorted by prompt index."""
        if self.size == 1:
            return per_prompt
        merged: dict[int, T] = {}
        for part in self.all_gather(per_prompt):
            merged.update(part)
        return dict(sorted(merged.items()))


def world_from_env(device: str = "auto") -> World:
    """The :class:`World` described by ``torchrun``'s variables; joins its process group.

    With ``WORLD_SIZE > 1`` this initialises ``torch.distributed`` once (``nccl`` when the
    run uses CUDA, else ``gloo``) and, on CUDA, makes ``cuda:LOCAL_RANK`` the current device.

    Args:
        device: The run's ``--device`` (``auto``, ``cpu`` or ``cuda``).
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device != "cpu" and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=size)
    return World(rank, size, local)


def rank_device(device: str, world: World) -> str:
    """The device this rank loads the model on: ``cuda:LOCAL_RANK`` for a CUDA run."""
    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if world.size > 1 and cuda:
        return f"cuda:{world.local_rank}"
    return device


def is_main_process() -> bool:
    """Whether this process is rank 0 (``RANK`` unset counts as rank 0)."""
    return int(os.environ.get("RANK", "0")) == 0


def leave() -> None:
    """Leaves the process group, if this process joined one (end of a ``torchrun`` run),
    after every rank got here: a rank that tears its group down while rank 0 still writes
    can abort inside gloo ("terminate called without an active exception")."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()

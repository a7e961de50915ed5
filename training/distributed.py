"""Training across processes with PyTorch's own DistributedDataParallel, launched by `torchrun`.

`torchrun --nproc-per-node N -m training ...` starts N copies of the CLI with RANK, WORLD_SIZE
and LOCAL_RANK set; each joins the process group here (gloo on the CPU, nccl on CUDA).
Without torchrun (WORLD_SIZE unset) a run is world size 1 and nothing here talks to anyone.

How the work is shared, so that a run at world size N takes the same steps as one process
at the same global batch:
- every rank draws the same global batches (same seed), and takes its own rows of each
  (`rows_of`); the language model's ranks take their own contiguous streams instead;
- each rank's loss is scaled by its share of the global batch (`share_of_batch`), so the
  gradient DDP averages is the global batch's mean gradient even when shares are uneven;
- validation sums are added across ranks (`sum_across`), so every rank sees the same
  validation loss and makes the same early-stopping decision;
- only rank 0 writes checkpoints and the artifact.
"""

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from training.provenance import pick_device

T = TypeVar("T")


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    backend: str | None  # None when running alone
    devices: list[str]  # every rank's device, in rank order

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def join(requested_device: str) -> tuple[World, torch.device]:
    """Join the process group torchrun prepared, or run alone; returns the world and this rank's device."""
    device = pick_device(requested_device)
    if not launched_by_torchrun():
        return World(0, 1, None, [str(device)]), device
    local_rank = int(os.environ["LOCAL_RANK"])
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)  # one GPU per process on each node
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, device_id=device if device.type == "cuda" else None)
    devices: list[str | None] = [None] * dist.get_world_size()
    dist.all_gather_object(devices, str(device))
    return World(dist.get_rank(), dist.get_world_size(), backend, [str(name) for name in devices]), device


def leave(world: World) -> None:
    if world.distributed:
        dist.destroy_process_group()


def wrap(model: nn.Module, world: World, device: torch.device) -> nn.Module:
    """The module training steps run through: DDP (which averages gradients across ranks) or the model
    itself."""
    if not world.distributed:
        return model
    return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def rows_of(items: Sequence[T], world: World) -> list[T]:
    """This rank's rows of a global batch: every size-th row from its rank on."""
    return list(items[world.rank :: world.size])


def share_of_batch(rows: int, global_rows: int, world: World) -> float:
    """Scale for a rank's mean loss over `rows`, so that DDP's average over ranks is the global batch's
    mean."""
    return rows * world.size / global_rows


def sum_across(values: list[float], world: World, device: torch.device) -> list[float]:
    """Element-wise sums over all ranks (in float64); the values themselves when alone."""
    if not world.distributed:
        return values
    totals = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(totals, op=dist.ReduceOp.SUM)
    return [float(total) for total in totals.tolist()]


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()

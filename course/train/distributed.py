"""This process's place in a DDP run: world size, rank, and the few collective calls ``fit`` needs.

``fit`` runs the same code in one process and under ``torchrun``/``accelerate launch``;
:func:`setup_distributed` reads what the launcher set (``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``) and joins the process group.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from course import config as course_config

__all__ = [
    "Distributed",
    "setup_distributed",
]


@dataclass
class Distributed:
    """This process's place in a DDP run (world 1, rank 0 without torchrun)."""

    world: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """True on the process that prints and saves (rank 0)."""
        return self.rank == 0

    def barrier(self) -> None:
        """Wait for every process (no-op in a single process)."""
        if self.world > 1:
            dist.barrier()

    def mean(self, value: float) -> float:
        """Average a number over the processes."""
        if self.world == 1:
            return value
        tensor = torch.tensor([value], dtype=torch.float64)
        if dist.get_backend() == "nccl":
            tensor = tensor.cuda()
        dist.all_reduce(tensor)
        return tensor.item() / self.world

    def share(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every process."""
        if self.world == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def setup_distributed(device_name: str | None = None) -> tuple[Distributed, torch.device]:
    """Join the process group when launched by torchrun/accelerate; pick this process's device.

    ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` come from the launcher. The backend is
    nccl on CUDA and gloo on CPU.
    """
    world = int(os.environ.get("WORLD_SIZE", 1))
    rank = int(os.environ.get("RANK", 0))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    name = course_config.device(device_name)
    if world > 1 and name == "cuda":
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device(name)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Distributed(world, rank, local_rank), device

"""Checkpoints that resume exactly, and the best weights of a run.

``output_dir/checkpoint-<step>/`` holds the weights (safetensors), the optimizer, scheduler
and scaler states, every process's random number generators and ``state.json`` (a
:class:`TrainState`). ``output_dir/best/model.safetensors`` holds the best weights so far.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from course.errors import CourseModelError
from course.train.distributed import Distributed

__all__ = [
    "BestWeights",
    "TrainState",
    "latest_checkpoint",
    "load_checkpoint",
    "save_checkpoint",
]


@dataclass
class TrainState:
    """Where the run is; saved in ``state.json`` with every checkpoint."""

    step: int = 0
    epoch: int = 0
    batches_done: int = 0  # batches of the current epoch already trained on
    best_metric: float | None = None
    best_step: int | None = None
    bad_evals: int = 0
    stopped_early: bool = False
    history: list[dict[str, float]] = field(default_factory=list)


def _rng_state() -> dict[str, Any]:
    numpy_state = cast(tuple, np.random.get_state(legacy=True))
    return {
        "python": random.getstate(),
        "numpy": [numpy_state[0], numpy_state[1].tolist(), *numpy_state[2:]],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete ``checkpoint-*`` folder in ``output_dir``, or None."""
    folders = [p for p in Path(output_dir).glob("checkpoint-*") if (p / "state.json").is_file()]
    return max(folders, key=lambda p: int(p.name.split("-")[1]), default=None)


def save_checkpoint(output_dir, model, optimizer, scheduler, scaler, state: TrainState,
                    ddp: Distributed, keep: int = 2) -> Path:
    """Write a checkpoint atomically (a temporary folder, then a rename); prune old ones."""
    from safetensors.torch import save_model

    root = Path(output_dir)
    final = root / f"checkpoint-{state.step}"
    tmp = root / f".tmp-checkpoint-{state.step}"
    if ddp.main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_model(model, str(tmp / "model.safetensors"))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        if scaler is not None:
            torch.save(scaler.state_dict(), tmp / "scaler.pt")
    ddp.barrier()
    torch.save(_rng_state(), tmp / f"rng-rank{ddp.rank}.pt")  # every process has its own
    ddp.barrier()
    if ddp.main:
        (tmp / "state.json").write_text(json.dumps(asdict(state), indent=1))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        checkpoints = sorted(root.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
        for old in checkpoints[: max(0, len(checkpoints) - keep)]:
            shutil.rmtree(old, ignore_errors=True)
    ddp.barrier()
    return final


def load_checkpoint(folder: Path, model, optimizer, scheduler, scaler, ddp: Distributed,
                    device: torch.device) -> TrainState:
    """Restore everything :func:`save_checkpoint` wrote; returns the saved state."""
    from safetensors.torch import load_model

    load_model(model, str(folder / "model.safetensors"), device=str(device))
    optimizer.load_state_dict(torch.load(folder / "optimizer.pt", map_location=device))
    scheduler.load_state_dict(torch.load(folder / "scheduler.pt"))
    if scaler is not None and (folder / "scaler.pt").is_file():
        scaler.load_state_dict(torch.load(folder / "scaler.pt"))
    rng_file = folder / f"rng-rank{ddp.rank}.pt"
    if not rng_file.is_file():
        raise CourseModelError(
            f"{rng_file} is missing: the checkpoint was written by a run with fewer processes. "
            "Resume with the same number of processes, or set resume=False."
        )
    _set_rng_state(torch.load(rng_file))
    return TrainState(**json.loads((folder / "state.json").read_text()))


class BestWeights:
    """The best weights so far: on disk in ``output_dir/best/`` when there is one, else in
    memory."""

    def __init__(self, output_dir: str | None, ddp: Distributed):
        self.path = Path(output_dir) / "best" / "model.safetensors" if output_dir else None
        self.ddp = ddp
        self.memory: dict[str, torch.Tensor] | None = None

    def save(self, model) -> None:
        """Keep a copy of ``model``'s current weights."""
        if self.path is None:
            self.memory = {k: v.detach().to("cpu", copy=True)
                           for k, v in model.state_dict().items()}
            return
        from safetensors.torch import save_model

        if self.ddp.main:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            save_model(model, str(self.path) + ".tmp")
            os.replace(str(self.path) + ".tmp", self.path)
        self.ddp.barrier()

    def restore(self, model, device: torch.device) -> bool:
        """Load the kept weights into ``model``; False when there are none."""
        if self.path is None:
            if self.memory is None:
                return False
            model.load_state_dict(self.memory)
            return True
        from safetensors.torch import load_model

        self.ddp.barrier()
        if not self.path.is_file():
            return False
        load_model(model, str(self.path), device=str(device))
        return True

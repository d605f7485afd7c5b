"""Tracked runs: every training run can leave a TensorBoard log that a trainee can browse.

The engine writes a run's curves when ``TrainConfig.log_dir`` is set (and the Hugging Face
``Trainer`` does the same with ``report_to="tensorboard"``), so the runs a lesson compares
sit side by side in one folder. Open them in JupyterLab with::

    %load_ext tensorboard
    %tensorboard --logdir build/runs/03-relevance-finetuning

or in a shell with ``tensorboard --logdir ... --host 127.0.0.1``. :func:`read_runs` reads
the same files back as a table, for plots and tests that need no TensorBoard server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from course.errors import CourseDataError

__all__ = [
    "open_command",
    "read_runs",
    "write_run",
]


def write_run(log_dir: str | Path, history: pd.DataFrame,
              hparams: dict[str, Any] | None = None) -> Path:
    """Write a run's history (one row per logged step) as TensorBoard scalars.

    Every numeric column except ``step`` becomes a scalar tag (``train_loss``, ``lr``,
    ``valid/macro_f1``, ...); ``hparams`` (plain numbers and strings) go to the HParams tab.
    """
    from torch.utils.tensorboard import SummaryWriter

    if "step" not in history.columns:
        raise CourseDataError(f"A run history needs a 'step' column; it has {list(history)}.")
    log_dir = Path(log_dir)
    writer = SummaryWriter(log_dir=str(log_dir))
    try:
        for row in history.to_dict("records"):
            for name, value in row.items():
                if name != "step" and isinstance(value, (int, float)) and pd.notna(value):
                    writer.add_scalar(_tag(name), float(value), int(row["step"]))
        if hparams:
            clean = {k: v for k, v in hparams.items() if isinstance(v, (int, float, str, bool))}
            final = {f"final/{_tag(k)}": float(v) for k, v in history.iloc[-1].items()
                     if k != "step" and isinstance(v, (int, float)) and pd.notna(v)}
            writer.add_hparams(clean, final, run_name=".")
    finally:
        writer.close()
    return log_dir


def _tag(name: str) -> str:
    return name if name in ("train_loss", "lr", "epoch") else f"valid/{name}"


def read_runs(root: str | Path) -> pd.DataFrame:
    """Every scalar under ``root`` (one folder per run): columns ``run, tag, step, value``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root = Path(root)
    files = sorted(root.rglob("events.out.tfevents.*"))
    if not files:
        raise CourseDataError(f"No TensorBoard event files under {root}; train with log_dir set.")
    rows = []
    for file in files:
        events = EventAccumulator(str(file))
        events.Reload()
        run = file.parent.relative_to(root).as_posix()
        for tag in events.Tags().get("scalars", []):
            rows += [(run, tag, e.step, e.value) for e in events.Scalars(tag)]
    return pd.DataFrame(rows, columns=["run", "tag", "step", "value"])


def open_command(root: str | Path) -> str:
    """The shell command that serves the runs under ``root`` on this machine only."""
    return f"tensorboard --logdir {Path(root)} --host 127.0.0.1"

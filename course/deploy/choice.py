"""Choosing a fine-tuning method when one training seed is not enough to name a winner.

Lesson 05 compares full fine-tuning, LoRA, AdaLoRA and a frozen encoder at one step budget.
At 100 steps the validation macro-F1 of one run moves by several points with the training
seed alone (the adapter's initialisation, the head's, the batch order, dropout), so:

* :func:`seed_spread` summarises runs over seeds: mean, standard deviation, min and max of
  the validation score per (method, learning rate);
* :func:`choose_within_noise` takes each method at its best mean learning rate, finds the
  leader, and treats every method whose mean is within the leader's seed standard deviation
  as tied with it; among the tied methods it takes the one with the fewest trainable
  parameters (the smallest optimizer state and checkpoint): a bigger method must win by more
  than the noise;
* :func:`save_seed_runs` / :func:`load_seed_runs`: the runs recorded by
  ``benchmarks/lesson05_methods.py``, with the setup they were measured in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from course.errors import CourseArgumentError, CourseDataError

__all__ = [
    "SETUP_KEYS",
    "choose_within_noise",
    "comparison_setup",
    "load_seed_runs",
    "save_seed_runs",
    "seed_spread",
]

COLUMNS = ("method", "lr", "seed", "valid_macro_f1")
# the lesson's parameters a recorded comparison depends on (lesson 05's names)
SETUP_KEYS = ("PROFILE", "MODEL_NAME", "SHOP_QUERIES", "SHOP_PRODUCTS", "MAX_TRAIN", "MAX_VALID",
              "STEPS", "BATCH_SIZE", "MAX_LENGTH", "HEAD_LR", "LORA_RANK", "LR_GRID", "SEED")


def comparison_setup(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The lesson's settings that recorded seed runs depend on, as plain JSON values.

    The lesson uses recorded runs only when its own setup equals the recorded one.
    """
    missing = [k for k in SETUP_KEYS if k not in parameters]
    if missing:
        raise CourseArgumentError(f"The comparison's setup needs {missing}.")
    setup = {k.lower(): parameters[k] for k in SETUP_KEYS}
    setup["lr_grid"] = {m: [float(lr) for lr in grid] for m, grid in setup["lr_grid"].items()}
    return json.loads(json.dumps(setup))


def _check(runs: pd.DataFrame) -> None:
    missing = [c for c in COLUMNS if c not in runs.columns]
    if missing:
        raise CourseDataError(f"seed runs lack columns {missing}; they have {list(runs.columns)}.")
    if runs.empty:
        raise CourseDataError("No seed runs to summarise.")


def seed_spread(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (method, lr): ``mean``, ``std`` (over seeds, ddof=1), ``min``, ``max`` and ``seeds``."""
    _check(runs)
    grouped = runs.groupby(["method", "lr"], sort=False)["valid_macro_f1"]
    table = grouped.agg(["mean", "std", "min", "max", "count"]).rename(columns={"count": "seeds"})
    return table.fillna({"std": 0.0})


def choose_within_noise(spread: pd.DataFrame, trainable: Mapping[str, int]) -> dict[str, Any]:
    """The method (and its learning rate) to use: best mean over seeds, smallest within the noise.

    Args:
        spread: :func:`seed_spread`'s table.
        trainable: trainable parameters of each method (the cost that breaks ties).

    Returns:
        ``{"method", "lr", "leader", "noise", "tied", "best"}``: the choice, the method with
        the best mean, the leader's seed standard deviation, the methods within it of the
        leader, and each method's best (lr, mean).
    """
    if spread.empty:
        raise CourseDataError("No seed spread to choose from.")
    best = {}
    for method, rows in spread.groupby(level="method", sort=False):
        lr = rows["mean"].droplevel("method").idxmax()
        best[method] = (float(lr), float(rows.loc[(method, lr), "mean"]),
                        float(rows.loc[(method, lr), "std"]))
    missing = [m for m in best if m not in trainable]
    if missing:
        raise CourseArgumentError(f"trainable has no parameter count for {missing}.")
    leader = max(best, key=lambda m: best[m][1])
    noise = best[leader][2]
    tied = [m for m in best if best[m][1] >= best[leader][1] - noise]
    chosen = min(tied, key=lambda m: (trainable[m], -best[m][1]))
    return {"method": chosen, "lr": best[chosen][0], "leader": leader, "noise": noise,
            "tied": tied, "best": {m: (lr, mean) for m, (lr, mean, _) in best.items()}}


def save_seed_runs(path: str | Path, runs: pd.DataFrame, setup: Mapping[str, Any]) -> Path:
    """Write the runs and the setup they were measured in as JSON."""
    _check(runs)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"setup": dict(setup), "split": "valid",
               "runs": runs[list(COLUMNS)].to_dict(orient="records")}
    path.write_text(json.dumps(payload, indent=1) + "\n")
    return path


def load_seed_runs(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``(runs, setup)`` from :func:`save_seed_runs`'s file."""
    path = Path(path)
    if not path.is_file():
        raise CourseDataError(
            f"No recorded seed runs at {path.name}; benchmarks/lesson05_methods.py writes them."
        )
    payload = json.loads(path.read_text())
    if payload.get("split") != "valid":
        raise CourseDataError(f"{path.name} was not measured on the validation split.")
    runs = pd.DataFrame(payload["runs"])
    _check(runs)
    return runs, payload["setup"]

"""Paths, profiles, seeds and device choice.

A *profile* sizes every lesson:

* ``smoke``: seconds; CI and the autograder use it.
* ``cpu``: minutes on a 2-core laptop, the packaged MiniLM, mini-shop data.
* ``full``: the real thing on a GPU (``bert-base-uncased``, real data sets).

``COURSE_PROFILE`` picks one; by default ``full`` where CUDA exists, else ``cpu``.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
from pathlib import Path
from typing import Any

from course.errors import CourseArgumentError, CourseError

__all__ = [
    "DEFAULT_SEED",
    "HelpFormatter",
    "PROFILES",
    "ROOT",
    "ROOT_HELP",
    "bf16_supported",
    "by_profile",
    "cache_dir",
    "course_root",
    "cuda_available",
    "data_dir",
    "device",
    "environment_report",
    "offline",
    "profile",
    "seed_everything",
]

PROFILES = ("smoke", "cpu", "full")
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SEED = 42


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every ``course`` command's help: each argument's text ends with its default.

    A help text that already says ``(default: ...)`` in words is left as it is, and so is
    a required argument's (it has no default).
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.required or (action.help and "(default" in action.help):
            return action.help
        return super()._get_help_string(action)


# The one meaning of ``--root`` in every ``course`` command that works on a course directory.
ROOT_HELP = ("the course directory: the folder that holds nbgrader_config.py and solutions/ "
             "(a checkout of the course)")


def course_root(path: Path | str = ".", *, solutions: bool = True) -> Path:
    """``path`` resolved, once checked to be a course directory (what ``--root`` names).

    A course directory holds ``nbgrader_config.py`` and, with ``solutions`` (the default),
    the ``solutions/`` folder of the lessons' source notebooks. ``course grade`` and
    ``course analytics`` pass ``solutions=False``: grading needs nbgrader's configuration
    and gradebook only.

    Raises:
        CourseArgumentError: naming the path, what it lacks, and ``--root``.
    """
    root = Path(path).expanduser().resolve()
    needed = ["nbgrader_config.py"] + (["solutions/"] if solutions else [])
    missing = [name for name in needed if not (root / name.rstrip("/")).exists()]
    if not root.is_dir() or missing:
        lacks = "does not exist" if not root.exists() else (
            "is not a folder" if not root.is_dir() else f"has no {' and no '.join(missing)}")
        raise CourseArgumentError(
            f"{root} is not a course directory: it {lacks}. Run the command in the course "
            "directory (the folder with nbgrader_config.py and solutions/) or pass --root DIR.")
    return root


def cuda_available() -> bool:
    """True when torch sees a CUDA GPU."""
    import torch

    return bool(torch.cuda.is_available())


def profile(name: str | None = None) -> str:
    """Return the active profile: ``name``, else ``COURSE_PROFILE``, else by hardware.

    Raises:
        CourseError: the name is not one of ``smoke``, ``cpu``, ``full``.
    """
    chosen = name or os.environ.get("COURSE_PROFILE") or ("full" if cuda_available() else "cpu")
    chosen = chosen.strip().lower()
    if chosen not in PROFILES:
        raise CourseError(
            f"Unknown profile {chosen!r} (from COURSE_PROFILE or the notebook). "
            f"Use one of {', '.join(PROFILES)}."
        )
    return chosen


def by_profile(active: str, *, smoke: Any, cpu: Any, full: Any) -> Any:
    """Pick the value for the active profile.

    Example: ``by_profile(P, smoke=200, cpu=5000, full=None)``.
    """
    return {"smoke": smoke, "cpu": cpu, "full": full}[profile(active)]


def device(prefer: str | None = None) -> str:
    """Best available device: ``cuda`` > ``mps`` > ``cpu`` (or ``prefer`` if given)."""
    import torch

    if prefer:
        return prefer
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def bf16_supported() -> bool:
    """True when the CUDA GPU computes in bfloat16 natively (Ampere or newer)."""
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def offline() -> bool:
    """True when the hub must not be contacted (``HF_HUB_OFFLINE`` or ``COURSE_OFFLINE``)."""
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("COURSE_OFFLINE", ""))
    return any(f.strip().lower() in {"1", "true", "yes", "on"} for f in flags)


def data_dir() -> Path | None:
    """The folder named by ``COURSE_DATA_DIR``, if set."""
    value = os.environ.get("COURSE_DATA_DIR")
    return Path(value).expanduser().resolve() if value else None


def cache_dir() -> Path:
    """Where downloads are cached: ``COURSE_CACHE_DIR`` or ``~/.cache/bert-ecommerce-course``."""
    value = os.environ.get("COURSE_CACHE_DIR")
    path = Path(value) if value else Path.home() / ".cache" / "bert-ecommerce-course"
    return path.expanduser()


def seed_everything(seed: int = DEFAULT_SEED) -> int:
    """Seed Python, NumPy and torch (all devices). Returns the seed."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    return seed


def environment_report() -> dict[str, Any]:
    """Python, torch, accelerator and data facts, as a flat dict for a lesson to print."""
    import torch

    report: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "bf16": bf16_supported(),
        "mps_available": bool(
            getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
        ),
        "cpu_threads": torch.get_num_threads(),
        "device": device(),
        "profile": profile(),
        "offline": offline(),
        "data_dir": str(data_dir()) if data_dir() else None,
        "executable": sys.executable,
    }
    return report

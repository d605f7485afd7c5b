"""Record metrics in a notebook's output, and read them back.

``record("test_macro_f1", 0.83)`` displays the value as the custom MIME type
``application/vnd.course.metric+json``. Tests and ``make course`` read every
recorded metric back from the executed notebook with :func:`read_metrics`.
This is the microsoft/recommenders "scrapbook" pattern without scrapbook.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from course.errors import CourseError

__all__ = [
    "MIME",
    "SELECTION_SUFFIX",
    "VALIDATION",
    "choices_not_made_on_validation",
    "metric_bundle",
    "read_metrics",
    "record",
]

MIME = "application/vnd.course.metric+json"


def _plain(value: Any) -> Any:
    """Convert NumPy/torch scalars to JSON-friendly Python values."""
    if hasattr(value, "item") and callable(value.item):
        try:
            return value.item()
        except (ValueError, RuntimeError):
            pass
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def metric_bundle(name: str, value: Any) -> dict[str, Any]:
    """The display bundle for one metric (MIME payload plus a readable text line)."""
    if not isinstance(name, str) or not name.strip():
        raise CourseError("record() needs a non-empty metric name, e.g. record('accuracy', 0.9).")
    plain = _plain(value)
    try:
        json.dumps(plain, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CourseError(
            f"Metric {name!r} has a value that cannot be stored as JSON ({value!r}). "
            "Record numbers, strings, booleans or lists/dicts of them; NaN is not allowed."
        ) from exc
    if isinstance(plain, float) and not math.isfinite(plain):  # pragma: no cover - caught above
        raise CourseError(f"Metric {name!r} is not finite: {value!r}")
    text = f"{name} = {plain:.4f}" if isinstance(plain, float) else f"{name} = {plain}"
    return {MIME: {"name": name, "value": plain}, "text/plain": text}


def record(name: str, value: Any) -> Any:
    """Show ``value`` in the cell output as a recorded metric and return it."""
    from IPython.display import display

    display(metric_bundle(name, value), raw=True)
    return value


SELECTION_SUFFIX = "selected_on"
VALIDATION = "valid"


def choices_not_made_on_validation(metrics: dict[str, Any]) -> dict[str, Any]:
    """The recorded choices that a split other than validation made.

    A lesson records which split chose each of its choices under a name ending in
    ``selected_on`` (``record("loss_selected_on", "valid")``). The test split is read once,
    at the end, so any value other than ``"valid"`` is a choice made on the wrong split.

    Args:
        metrics: what :func:`read_metrics` returned for an executed lesson.

    Returns:
        Each offending metric name with its value; empty when every choice was made on
        validation.
    """
    return {name: value for name, value in metrics.items()
            if name.endswith(SELECTION_SUFFIX) and value != VALIDATION}


def read_metrics(notebook: str | Path | dict) -> dict[str, Any]:
    """All metrics recorded in an executed notebook (a path or a loaded dict).

    A metric recorded twice keeps its last value, as a re-run cell would.
    """
    if isinstance(notebook, dict):
        data = notebook
    else:
        path = Path(notebook)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise CourseError(f"Cannot read notebook {path}: {exc}") from exc
    metrics: dict[str, Any] = {}
    for cell in data.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            payload = output.get("data", {}).get(MIME)
            if payload is not None:
                metrics[payload["name"]] = payload["value"]
    return metrics

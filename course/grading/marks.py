"""What the grading child writes into an autograded notebook and the batch reads back."""

from __future__ import annotations

import json

__all__ = [
    "KERNEL_DIED",
    "TRUNCATED_MARK",
    "outputs_bytes",
]

TRUNCATED_MARK = "... output truncated by the course autograder"
KERNEL_DIED = "KernelDied"


def outputs_bytes(cell: dict) -> int:
    """Size of a cell's stored outputs, as JSON bytes."""
    return len(json.dumps(cell.get("outputs", []), ensure_ascii=False).encode())

"""Run All on an unsolved lesson reaches the last cell.

A lesson's cells after an exercise use the library's reference, not the trainee's
answer. Where a cell also shows the trainee's answer beside the reference, it calls
it through :func:`attempt`: an answer that is not written yet (its stub raises
``NotImplementedError``) gives ``None`` and one line that says so, instead of an
error that stops Run All. Any other error in the answer is raised as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = [
    "attempt",
]


def attempt(answer: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the trainee's ``answer(*args, **kwargs)``; None while it is not written yet."""
    try:
        return answer(*args, **kwargs)
    except NotImplementedError:
        name = getattr(answer, "__name__", "your answer")
        print(f"{name}() is not written yet: this cell shows the library's reference only.")
        return None

"""The 2PL item-response model behind every simulated cohort of the instructors' lesson.

Student skill is N(0, 1). A student answers exercise ``e`` correctly with probability
``sigmoid(a_e * (skill - b_e))``: ``b`` is the exercise's difficulty (the skill at which
half the students get it right), ``a`` its discrimination (how sharply skill matters;
``a = 0`` makes it a coin toss). An exercise with a *broken test* scores 0 whatever the
answer. ``course.grading.analytics`` turns the draws into a gradebook-shaped table;
``course.grading.cohort`` turns them into real submissions and grades them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from course.errors import CourseArgumentError

__all__ = [
    "DEFAULT_ITEMS",
    "Item",
    "LatentItem",
    "draw_answers",
    "planted",
    "student_ids",
]


class LatentItem(Protocol):
    """What the model needs of an exercise (an :class:`Item`, or a quiz exercise)."""

    @property
    def name(self) -> str: ...

    @property
    def difficulty(self) -> float: ...

    @property
    def discrimination(self) -> float: ...

    @property
    def points(self) -> float: ...

    @property
    def broken_test(self) -> bool: ...


@dataclass(frozen=True)
class Item:
    """One exercise of a simulated gradebook: its lesson and its 2PL parameters."""

    name: str
    lesson: str
    difficulty: float       # b
    discrimination: float   # a
    points: float = 1.0
    broken_test: bool = False


DEFAULT_ITEMS: tuple[Item, ...] = (
    Item("mindmap_branch", "00", -6.0, 1.5, 1.0),      # the easiest: nearly everyone
    Item("device_report", "00", -1.2, 1.5, 1.0),
    Item("label_distribution", "01", -0.8, 2.0, 2.0),
    Item("pareto_share", "01", -0.4, 1.8, 2.0),
    Item("wordpiece", "02", 0.0, 2.0, 2.0),
    Item("padding_waste", "02", -0.3, 0.0, 1.0),       # flat: a = 0, a coin toss
    Item("macro_f1", "03", -0.2, 1.5, 2.0),
    Item("ndcg_at_10", "03", -0.6, 1.8, 2.0),
    Item("bpr_loss", "04", 1.5, 2.5, 2.0),             # the hardest: a few strong students
    Item("recall_at_k", "04", -0.5, 1.8, 2.0, broken_test=True),  # always fails
)


def student_ids(n_students: int) -> list[str]:
    """``student001``, ``student002``, ... (the ids the gradebook will hold)."""
    return [f"student{i + 1:03d}" for i in range(n_students)]


def draw_answers(n_students: int, items: Sequence[LatentItem],
                 seed: int = 0) -> tuple[pd.Series, pd.DataFrame]:
    """Latent skills, and who answers what correctly.

    A broken test does not change the answer drawn here: the student may well be right,
    and the grader still gives 0 (see :func:`course.grading.analytics.synthetic_cohort`).

    Returns:
        ``(skill, correct)``: skill per student, and a students x exercises boolean
        frame (True: the student writes a correct answer).
    """
    if n_students < 2:
        raise CourseArgumentError(f"A cohort needs at least 2 students, got {n_students}.")
    rng = np.random.default_rng(seed)
    ids = student_ids(n_students)
    skill = pd.Series(rng.normal(0.0, 1.0, n_students), index=ids, name="skill")
    correct = {}
    for item in items:
        chance = 1.0 / (1.0 + np.exp(-item.discrimination * (skill.to_numpy() - item.difficulty)))
        correct[item.name] = rng.random(n_students) < chance
    return skill, pd.DataFrame(correct, index=ids)


def planted(items: Sequence[LatentItem]) -> dict[str, str | None]:
    """Names of the broken, flat (a = 0), easiest and hardest exercises (by b, live ones only)."""
    broken = [i.name for i in items if i.broken_test]
    flat = [i.name for i in items if i.discrimination == 0]
    live = [i for i in items if not i.broken_test and i.discrimination > 0]
    if not live:
        raise CourseArgumentError(
            "The cohort needs at least one exercise that is neither broken nor flat.")
    return {"broken": broken[0] if broken else None, "flat": flat[0] if flat else None,
            "easiest": min(live, key=lambda i: i.difficulty).name,
            "hardest": max(live, key=lambda i: i.difficulty).name}

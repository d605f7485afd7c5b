"""``xdist_group`` under pytest 9: the group suffix that ``--dist loadgroup`` schedules by.

pytest-xdist 3.8 puts a test in its group by rewriting ``item._nodeid`` to end with
``@<group>``. pytest 9 keeps a node's id in ``item._id``, so that rewrite is lost and every
grouped test is scheduled on its own: the hub tier started a class in each worker and ran
its cycle once per test. This hook (imported by conftest.py) writes the same suffix where
pytest 9 reads it. It does nothing without ``--dist loadgroup``, or where the suffix is
already there (an xdist that handles it itself).
"""

from __future__ import annotations

import pytest


def group_suffix(item: pytest.Item) -> str:
    """``@name`` of the item's ``xdist_group`` marks ('' without one), as xdist spells it."""
    names = {str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
             for mark in item.iter_markers("xdist_group")}
    return "@" + "_".join(sorted(names)) if names else ""


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        suffix = group_suffix(item)
        if suffix and not item.nodeid.endswith(suffix):
            from _pytest.nodeid import NodeId  # pytest 9's structured ids

            item._id = NodeId.parse(item.nodeid + suffix)

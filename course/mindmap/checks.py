"""Checks on mind maps: grade a trainee's map on structure and keywords, and check links.

``structure_report`` grades a trainee's map on its shape and keywords, not its exact
wording: an expected label lists alternatives as ``"WordPiece | subword | 子词"``
(``"?"`` accepts anything), and ``blank_branch`` cuts the exercise out of a map.
``check_links`` finds links to missing files or to notebook headings that do not exist.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from collections.abc import Iterable
from pathlib import Path

from course.errors import CourseArgumentError
from course.mindmap.model import MindMap, Node, has_cjk, normalise, split_label
from course.mindmap.outline import HEADING, mindmap_dir

__all__ = [
    "blank_branch",
    "check_links",
    "label_matches",
    "lesson_links",
    "link_target",
    "notebook_anchor",
    "notebook_anchors",
    "same_structure",
    "structure_report",
]


def _alternatives(label: str) -> list[str]:
    """The keywords an expected label accepts: ``"WordPiece | subword | 子词"``."""
    if "|" in label:
        options = [p.strip() for p in label.split("|")]
    else:
        english, chinese = split_label(label)
        options = [english, chinese]
    return [o for o in options if normalise(o)]


def label_matches(expected: str, actual: str) -> bool:
    """True when ``actual`` contains one of the keyword alternatives of ``expected``.

    ``"?"`` or ``"*"`` accepts any label. Alternatives are separated by ``|``; a
    bilingual label ``"English / 中文"`` accepts either half. Matching ignores case,
    punctuation and full/half width.
    """
    if expected.strip() in {"?", "*"}:
        return True
    have = normalise(actual)
    padded = f" {have} "
    for option in map(normalise, _alternatives(expected)):
        if has_cjk(option):
            if option in have:
                return True
        elif f" {option} " in padded or (len(option) > 3 and option in have):
            return True
    return False


def _name(node: Node) -> str:
    english, _ = split_label(node.label.split("|")[0].strip())
    return english or node.label


def structure_report(expected: Node, actual: Node, match_labels: bool = True) -> list[str]:
    """Compare a trainee's map with the expected one on structure, not exact wording.

    Every branch in ``expected`` must exist in ``actual`` with at least as many
    children; with ``match_labels``, each expected child must be matched by a
    different actual child whose label holds one of its keywords (see
    :func:`label_matches`), and the matched pairs are compared in turn. Extra
    children in ``actual`` are welcome.

    Returns:
        One helpful message per problem; an empty list means the map passes.
    """
    problems: list[str] = []
    _compare(expected, actual, match_labels, problems)
    return problems


def _compare(expected: Node, actual: Node, match_labels: bool, problems: list[str]) -> None:
    need, have = len(expected.children), len(actual.children)
    if need == 0:
        return
    if have < need:
        problems.append(
            f"branch '{_name(actual)}' needs at least {need} "
            f"{'child' if need == 1 else 'children'}, found {have}."
        )
    if not match_labels:
        for exp, act in zip(expected.children, actual.children, strict=False):
            _compare(exp, act, match_labels, problems)
        return
    free = list(actual.children)
    for exp in expected.children:
        match = next((a for a in free if label_matches(exp.label, a.label)), None)
        if match is None:
            if have >= need:
                keywords = ", ".join(_alternatives(exp.label)) or "any label"
                problems.append(
                    f"branch '{_name(actual)}' has no child about '{_name(exp)}' "
                    f"(a label with any of: {keywords})."
                )
            continue
        free.remove(match)
        _compare(exp, match, match_labels, problems)


def blank_branch(root: Node, keyword: str) -> tuple[Node, Node]:
    """Copy ``root`` with the children of the branch matching ``keyword`` removed.

    Returns ``(exercise_map, expected_branch)``: the map a trainee completes, and
    the original branch to grade against with :func:`structure_report`.

    Raises:
        CourseArgumentError: no node matches ``keyword``.
    """
    exercise = copy.deepcopy(root)
    target = exercise.find(keyword)
    if target is None:
        raise CourseArgumentError(f"no node matches {keyword!r}; pick a label from the map.")
    expected = copy.deepcopy(target)
    target.children = []
    return exercise, expected


def same_structure(a: Node, b: Node, match_labels: bool = False) -> bool:
    """True when ``a`` and ``b`` have the same shape: equal child counts, in order, at every node.

    With ``match_labels``, each pair of nodes must also pass :func:`label_matches`
    (``a`` holds the expected keywords).
    """
    if len(a.children) != len(b.children):
        return False
    if match_labels and not label_matches(a.label, b.label):
        return False
    return all(
        same_structure(x, y, match_labels) for x, y in zip(a.children, b.children, strict=True)
    )


def notebook_anchor(heading: str) -> str:
    """The anchor JupyterLab gives a Markdown heading: its text with spaces as ``-``."""
    return heading.strip().replace(" ", "-")


def notebook_anchors(path: str | Path) -> set[str]:
    """The anchors of every Markdown heading in a notebook, as JupyterLab makes them."""
    cells = json.loads(Path(path).read_text(encoding="utf-8")).get("cells", [])
    anchors = set()
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                heading = HEADING.match(line)
                if heading and heading[2]:
                    anchors.add(notebook_anchor(heading[2]))
    return anchors


def link_target(mind: MindMap, node: Node) -> Path | None:
    """The file a node's relative link points at (None for no link or a URL)."""
    if not node.link or re.match(r"^[a-z][a-z0-9+.-]*:", node.link, flags=re.I):
        return None
    folder = Path(mind.source).parent if mind.source != "<string>" else mindmap_dir()
    return folder / node.link.partition("#")[0]


def lesson_links(mind: MindMap) -> list[dict[str, str]]:
    """One row per lesson a map links to, in map order: lesson, English, 中文, status.

    The status is ``"ready"`` when the lesson's notebook exists, else ``"coming"``.
    """
    rows: dict[str, dict[str, str]] = {}
    for node in mind.nodes():
        file = link_target(mind, node)
        if file is None or file.suffix != ".ipynb" or file.parent.name in rows:
            continue
        english, chinese = split_label(node.label)
        status = "ready" if file.is_file() else "coming"
        rows[file.parent.name] = {
            "lesson": file.parent.name, "English": english, "中文": chinese, "status": status
        }
    return sorted(rows.values(), key=lambda row: row["lesson"])


def check_links(mind: MindMap, coming: Iterable[str] = ()) -> list[str]:
    """Links that point at a missing file, or at a notebook heading that does not exist.

    Notebook anchors are checked the way JupyterLab makes them: the heading text
    with spaces turned into ``-``.

    Args:
        mind: the map.
        coming: lessons that are planned but not written yet. A link into one of
            their folders may point at a missing file, but its note must say
            "coming"; a link that says "coming" must point at a missing file.
    """
    coming = set(coming)
    problems: list[str] = []
    where = Path(mind.source).name
    for node in mind.nodes():
        file = link_target(mind, node)
        if file is None:
            continue
        target, _, anchor = node.link.partition("#")
        says_coming = "coming" in node.note.lower()
        if not file.is_file():
            if file.parent.name not in coming:
                problems.append(f"{where}: '{node.label}' links to missing file {target}.")
            elif not says_coming:
                problems.append(
                    f"{where}: '{node.label}' links to {target}, which is not written yet; "
                    f"say 'coming' in its note."
                )
            continue
        if says_coming:
            problems.append(
                f"{where}: '{node.label}' says 'coming', but {target} exists; drop 'coming'."
            )
        problems += _anchor_problem(where, node, file, target, anchor)
    return problems


def _anchor_problem(where: str, node: Node, file: Path, target: str, anchor: str) -> list[str]:
    if not anchor or file.suffix != ".ipynb":
        return []
    anchors = notebook_anchors(file)
    if anchor in anchors:
        return []
    near = difflib.get_close_matches(anchor, sorted(anchors), n=1, cutoff=0.4)
    hint = f" Did you mean #{near[0]}?" if near else ""
    return [f"{where}: '{node.label}' links to #{anchor}, which is no heading in {target}.{hint}"]

"""Read a submission the way nbgrader will, and say what is wrong with it before grading.

The notebook is read as nbformat reads it (a cell's ``source`` saved as a list
of lines is joined), so checksums are computed exactly as nbgrader computes
them. What can be repaired without guessing is repaired in a copy that is
graded instead of the file (the student's file is never rewritten):

* a UTF-8 byte-order mark, and Windows line endings inside cell sources;
* nbgrader metadata lost when the cells were copied into a new notebook: a
  cell gets its release metadata back when it has the release cell's id, or
  the same content, or (answer cells only) the same place between matched
  cells. When an answer cell cannot be placed that way, the submission fails
  with a reason saying so.
"""

from __future__ import annotations

import codecs
import copy
import difflib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course.grading.marks import outputs_bytes

__all__ = [
    "ASK_AGAIN",
    "PreCheck",
    "Unreadable",
    "attach_release_metadata",
    "cell_grade_id",
    "precheck",
    "read_submission",
]

ASK_AGAIN = "ask the student to put their answers into the released notebook and resubmit"


@dataclass
class PreCheck:
    """What the pre-check found.

    ``fatal``: do not grade, and why. ``notes``: grade and flag. ``info``: grade,
    and say it (not a flag). ``notebook``: the submission as nbgrader will read
    it; ``repaired``: grade that copy instead of the file.
    """

    fatal: str = ""
    notes: list[str] = field(default_factory=list)
    info: list[str] = field(default_factory=list)
    code_cells: int = 0
    notebook: Any = None
    repaired: bool = False


class Unreadable(ValueError):
    """The file is not a notebook nbgrader can read; the message says why."""


def read_submission(path: Path):
    """Read a submitted notebook as nbformat does; return ``(notebook, repairs made)``.

    Raises:
        Unreadable: empty file, not UTF-8, not JSON, not an nbformat 4 notebook.
        OSError: the file cannot be read.
    """
    import nbformat

    data = path.read_bytes()
    if not data.strip():
        raise Unreadable(f"empty file ({len(data)} bytes): nothing was saved")
    repairs = []
    if data.startswith(codecs.BOM_UTF8):
        repairs.append("UTF-8 byte-order mark removed before grading")
    try:
        raw = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Unreadable(f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        raise Unreadable("ValueError: no 'cells' list at the top level")
    if raw.get("nbformat") != 4:
        raise Unreadable(f"ValueError: nbformat {raw.get('nbformat')!r}, expected 4")
    nb = nbformat.v4.to_notebook_json(raw)
    _validate(nb)
    crlf = [c for c in nb.cells if isinstance(c.get("source"), str) and "\r\n" in c.source]
    for cell in crlf:
        cell.source = cell.source.replace("\r\n", "\n")
    if crlf:
        repairs.append(f"Windows line endings (CRLF) in {len(crlf)} cell(s) read as LF")
    return nb, repairs


def _validate(nb) -> None:
    """nbformat's schema check on a copy (duplicate cell ids are repaired, not fatal)."""
    import warnings

    from nbformat.validator import ValidationError, validate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            validate(copy.deepcopy(nb))
        except ValidationError as exc:
            message = f"ValueError: not a valid nbformat 4 notebook: {exc.message}"
            raise Unreadable(message) from None


def precheck(path: Path, source: dict[str, Any], *, max_output_bytes: int) -> PreCheck:
    """Read one submitted notebook and list what is wrong with it (never raises).

    Args:
        path: the submitted ``.ipynb``.
        source: ``source_cells(root, lesson)``.
        max_output_bytes: stored outputs above this are reported (nbgrader clears them).
    """
    found = PreCheck()
    try:
        nb, found.info = read_submission(path)
    except (OSError, Unreadable) as exc:
        found.fatal = f"invalid notebook: {exc}"
        return found
    found.notebook, found.repaired = nb, bool(found.info)
    try:
        _inspect(nb.cells, source, found, max_output_bytes)
    except Exception as exc:  # odd metadata that passed the schema: do not guess
        found.fatal = ("invalid notebook: unreadable nbgrader metadata "
                       f"({type(exc).__name__}: {exc})")
    return found


def cell_grade_id(cell) -> str | None:
    """The cell's nbgrader grade id, if it has one."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta.get("grade_id") if isinstance(meta, dict) else None


def _inspect(cells: list, source: dict[str, Any], found: PreCheck, max_output_bytes: int) -> None:
    if not cells or not any(str(c.get("source", "")).strip() for c in cells):
        found.fatal = (f"empty notebook ({len(cells)} cells, no code or text): an unsaved or "
                       f"blank file; {ASK_AGAIN}")
        return
    found.code_cells = sum(c.get("cell_type") == "code" for c in cells)
    attached = attach_release_metadata(cells, source.get("release", []))
    ids = [i for i in map(cell_grade_id, cells) if i]
    if not set(source["grade_ids"]) & set(ids):
        found.fatal = _foreign_reason(ids, source)
        return
    if attached:
        lost = [g for g in source["solutions"] if g not in ids]
        if lost:
            found.fatal = (
                f"nbgrader metadata missing (cells copied into a new notebook?) and answer "
                f"cell(s) {', '.join(lost)} cannot be matched to the release safely: {ASK_AGAIN}")
            return
        found.repaired = True
        found.notes.append(
            f"nbgrader metadata missing (cells copied into a new notebook?): {len(attached)} "
            "cell(s) matched to the release by cell id, content or place, and graded")
    found.notes.extend(_structure_notes(cells, ids, source))
    edited = _edited_cells(cells, source)
    if edited:
        found.notes.append(f"edited read-only cell(s) {', '.join(edited)}: "
                           "restored from the source before grading")
    stored = sum(outputs_bytes(c) for c in cells)
    if stored > max_output_bytes:
        found.notes.append(f"stored outputs of {stored / 1e6:.1f} MB "
                           f"(cap {max_output_bytes / 1e6:g} MB) stripped before grading")


def _foreign_reason(ids: list[str], source: dict[str, Any]) -> str:
    if ids:
        return ("notebook from another lesson: none of its grade ids "
                f"({', '.join(sorted(set(ids))[:4])}) belong to this lesson")
    if not source.get("release"):
        return ("nbgrader metadata missing, and the lesson's release notebook is not there to "
                f"match the cells against: release the lesson, or {ASK_AGAIN}")
    return ("nbgrader metadata missing and no cell matches this lesson's release "
            f"(a new notebook, or another lesson's?): {ASK_AGAIN}")


def _structure_notes(cells: list, ids: list[str], source: dict[str, Any]) -> list[str]:
    """Duplicated and deleted cells."""
    notes = []
    dup_grade = sorted(i for i, n in Counter(ids).items() if n > 1)
    cell_ids = [c.get("id") for c in cells if c.get("id")]
    dup_cell = sorted(i for i, n in Counter(cell_ids).items() if n > 1)
    if dup_grade:
        notes.append(f"duplicated grade id(s) {', '.join(dup_grade)}: the last copy is graded")
    if dup_cell:
        notes.append(f"duplicated cell id(s) {', '.join(dup_cell[:4])}: renumbered")
    missing_tests = [g for g in source["tests"] if g not in ids]
    if missing_tests:
        notes.append(f"deleted autograded cell(s) {', '.join(missing_tests)}: "
                     "restored from the source and graded")
    missing_solutions = [g for g in source["solutions"] if g not in ids]
    if missing_solutions:
        notes.append(f"deleted solution cell(s) {', '.join(missing_solutions)}")
    return notes


def _edited_cells(cells: list, source: dict[str, Any]) -> list[str]:
    """Read-only cells whose nbgrader checksum is neither the released nor the source one.

    nbgrader computes the same checksum and, on a mismatch with the source,
    restores the cell (that is how hidden tests come back): a cell as released
    or as in the source (the instructor's canary) is unchanged.
    """
    from nbgrader.utils import compute_checksum

    edited: list[str] = []
    for cell in cells:
        name = cell_grade_id(cell)
        if name is not None and name in source["locked"] and name not in edited:
            try:
                checksum = compute_checksum(cell)
            except Exception:  # malformed metadata: nbgrader restores the cell anyway
                checksum = None
            if checksum not in source["locked"][name]:
                edited.append(name)
    return edited


# --------------------------------------------------------------------------- lost metadata


def attach_release_metadata(cells: list, release: list[dict[str, Any]]) -> list[str]:
    """Give cells that lost their nbgrader metadata the release's back, where that is safe.

    A release nbgrader cell whose grade id is absent from the submission is
    matched to a submitted cell without a grade id that has the same cell id,
    or the same content, or (answer cells only) the same place (the same position
    between two runs that match, in a stretch of as many cells in both). Returns
    the grade ids attached.
    """
    from nbformat import from_dict

    present = {cell_grade_id(c) for c in cells}
    wanted = {k for k, r in enumerate(release)
              if r["nbgrader"] and r["nbgrader"].get("grade_id") not in present}
    free = {i for i, c in enumerate(cells) if not cell_grade_id(c)}
    if not wanted or not free:
        return []
    pairs = _pairs_by_id(cells, release, wanted, free)
    for k, i, same in _pairs_by_alignment(cells, release):
        if k not in wanted or i not in free or k in pairs.values() or i in pairs:
            continue
        answer = not release[k]["nbgrader"].get("locked")
        if cells[i].get("cell_type") == release[k]["cell_type"] and (same or answer):
            pairs[i] = k
    for i, k in pairs.items():
        cells[i].metadata["nbgrader"] = from_dict(copy.deepcopy(release[k]["nbgrader"]))
    return [release[k]["nbgrader"]["grade_id"] for k in sorted(pairs.values())]


def _pairs_by_id(cells: list, release: list[dict], wanted: set[int],
                 free: set[int]) -> dict[int, int]:
    by_id = {r["id"]: k for k, r in enumerate(release) if r.get("id")}
    pairs = {}
    for i in sorted(free):
        k = by_id.get(cells[i].get("id"))
        if k in wanted and cells[i].get("cell_type") == release[k]["cell_type"]:
            pairs[i] = k
    return pairs


def _pairs_by_alignment(cells: list, release: list[dict]) -> list[tuple[int, int, bool]]:
    """(release index, cell index, same content) for cells aligned by a diff of the two."""
    def key(cell) -> tuple[str, str]:
        return cell.get("cell_type", ""), str(cell.get("source", "")).strip()

    matcher = difflib.SequenceMatcher(None, [key(r) for r in release], [key(c) for c in cells],
                                      autojunk=False)
    pairs = []
    for tag, k1, k2, i1, i2 in matcher.get_opcodes():
        if tag == "equal" or (tag == "replace" and k2 - k1 == i2 - i1):
            pairs += [(k1 + n, i1 + n, tag == "equal") for n in range(k2 - k1)]
    return pairs

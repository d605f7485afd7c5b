"""Size limits of the library: modules of at most 600 lines, functions of at most 80.

A long module or function is where two jobs hide; the limits are the project's
(issue 12), with no exception.
"""

import ast
from pathlib import Path

import pytest

from course.config import ROOT

MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80

MODULES = sorted((ROOT / "course").rglob("*.py"))


def long_functions(path: Path, root: Path = ROOT,
                   limit: int = MAX_FUNCTION_LINES) -> dict[str, int]:
    """Each function of ``path`` longer than ``limit`` lines, with its length."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {f"{path.relative_to(root)}:{node.name}": node.end_lineno - node.lineno + 1
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > limit}


def test_the_library_is_found():
    assert len(MODULES) > 20


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_module_and_function_sizes(path):
    lines = path.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_MODULE_LINES, (
        f"{path.relative_to(ROOT)} has {lines} lines (at most {MAX_MODULE_LINES}): split it")
    too_long = long_functions(path)
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines: {too_long}"


def test_long_functions_finds_a_long_one(tmp_path):
    source = tmp_path / "m.py"
    body = "\n".join(f"    x{i} = {i}" for i in range(81))
    source.write_text(f"def short():\n    return 1\n\n\ndef long():\n{body}\n")
    assert long_functions(source, root=tmp_path) == {"m.py:long": 82}

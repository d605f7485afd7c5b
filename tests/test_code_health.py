"""Size limits of the library: modules of at most 600 lines, functions of at most 80.

A long module or function is where two jobs hide; the limits are the project's
(issue 12), with no exception.
"""

import ast
import os
import re
import shutil
import subprocess
import sys
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


def _lint_imports(package_parent: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run([str(Path(sys.executable).parent / "lint-imports"),
                           "--config", str(ROOT / "pyproject.toml")],
                          capture_output=True, text=True, env=env, cwd=package_parent)


@pytest.mark.slow
def test_the_wings_keep_their_layers_and_a_planted_upward_import_breaks_them(tmp_path):
    """``make lint`` runs import-linter; a low module importing a wing above it must fail."""
    shutil.copytree(ROOT / "course", tmp_path / "course",
                    ignore=shutil.ignore_patterns("__pycache__"))
    kept = _lint_imports(tmp_path)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    metrics = tmp_path / "course" / "metrics.py"
    metrics.write_text(metrics.read_text() + "\nfrom course.trust import bias  # noqa\n")
    broken = _lint_imports(tmp_path)
    assert broken.returncode != 0
    assert "course.metrics -> course.trust.bias" in broken.stdout


def test_no_module_of_the_library_is_dead():
    """Every module under course/ is imported by another module, a test, a notebook or the CLI."""
    users = [p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("*.py")]
    users += [p.read_text(encoding="utf-8") for p in (ROOT / "solutions").rglob("*.ipynb")]
    users += [p.read_text(encoding="utf-8") for p in MODULES]
    corpus = "\n".join(users)
    dead = []
    for path in MODULES:
        if path.name in ("__init__.py", "__main__.py"):
            continue
        dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        package, _, name = dotted.rpartition(".")
        imported_by_name = rf"from {re.escape(package)} import[^\n]*\b{name}\b"
        if dotted not in corpus and not re.search(imported_by_name, corpus):
            dead.append(dotted)
    assert not dead, f"modules nobody imports: {dead}"

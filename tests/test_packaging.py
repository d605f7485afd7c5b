"""Packaging that tells the truth: pyproject.toml, constraints.txt, environment.yml, Makefile."""

from __future__ import annotations

import re
import sys

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from course.authoring.environment import (
    TORCH_CPU_INDEX,
    environment_yml,
    locked_python,
    normalize,
    project_requirements,
    read_pins,
)
from course.config import ROOT
from course.errors import CourseDataError

if sys.version_info < (3, 11):  # pragma: no cover
    pytest.skip("tomllib (reading pyproject.toml) needs Python 3.11", allow_module_level=True)
import tomllib

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PINS = read_pins(ROOT / "constraints.txt")


def _declared(extra: str = "dev") -> list[Requirement]:
    """The runtime requirements and those of ``extra``, with "course[hub]" opened up."""
    project = PYPROJECT["project"]
    found: list[Requirement] = []
    for requirement in map(Requirement, project["dependencies"]
                           + project["optional-dependencies"][extra]):
        if requirement.name == "course":
            for other in sorted(requirement.extras):
                found += [r for r in _declared(other) if r not in found]
        elif requirement not in found:
            found.append(requirement)
    return found


def _environment_pip_lines() -> list[str]:
    lines = (ROOT / "environment.yml").read_text(encoding="utf-8").splitlines()
    start = lines.index("  - pip:")
    return [line.strip()[2:] for line in lines[start + 1:] if line.startswith("      - ")]


# --------------------------------------------------------------------------- environment.yml


def test_every_dependency_is_pinned_in_constraints_within_its_range():
    for requirement in _declared():
        pin = PINS.get(normalize(requirement.name))
        assert pin, f"{requirement.name} is in pyproject.toml but not in constraints.txt"
        assert requirement.specifier.contains(Version(pin), prereleases=True), \
            f"constraints.txt pins {requirement.name}=={pin}, outside {requirement.specifier}"


def test_environment_yml_pins_every_dependency_as_constraints_txt_does():
    pinned = {}
    for line in _environment_pip_lines():
        if line.startswith("--extra-index-url") or line == "-e .":
            continue
        name, _, version = line.partition("==")
        pinned[normalize(name)] = version
    declared = {normalize(r.name) for r in _declared()}
    assert set(pinned) == declared, (
        f"missing: {sorted(declared - set(pinned))}, not in pyproject: "
        f"{sorted(set(pinned) - declared)}")
    for name, version in pinned.items():
        assert version == PINS[name], \
            f"environment.yml: {name}=={version}, constraints.txt: {PINS[name]}"


def test_environment_yml_installs_the_cpu_torch_and_the_course():
    lines = _environment_pip_lines()
    assert f"--extra-index-url {TORCH_CPU_INDEX}" in lines
    assert lines.index(f"--extra-index-url {TORCH_CPU_INDEX}") < lines.index("torch==2.13.0")
    assert lines[-1] == "-e ."
    text = (ROOT / "environment.yml").read_text(encoding="utf-8")
    assert f"  - python={locked_python(ROOT / 'constraints.txt')}\n" in text


def test_environment_yml_is_what_make_lock_writes():
    expected = environment_yml(project_requirements(), PINS,
                               python=locked_python(ROOT / "constraints.txt"))
    assert (ROOT / "environment.yml").read_text(encoding="utf-8") == expected, \
        "environment.yml is stale: run make lock"


def test_a_dependency_without_a_pin_is_named(tmp_path):
    with pytest.raises(CourseDataError, match="no-such-package"):
        environment_yml(["torch", "no-such-package"], {"torch": "2.13.0"})
    bad = tmp_path / "constraints.txt"
    bad.write_text("# header\ntorch>=2\n")
    with pytest.raises(CourseDataError, match=r"constraints.txt:2: 'torch>=2'"):
        read_pins(bad)


# --------------------------------------------------------------------------- pyproject.toml


def test_build_system_reads_the_spdx_license():
    setuptools = next(Requirement(r) for r in PYPROJECT["build-system"]["requires"]
                      if Requirement(r).name == "setuptools")
    assert not setuptools.specifier.contains("76.1") and setuptools.specifier.contains("77.0")
    assert PYPROJECT["project"]["license"] == "Apache-2.0"


def test_classifiers_say_python_education_and_ai_and_never_repeat_the_license():
    classifiers = PYPROJECT["project"]["classifiers"]
    for wanted in ("Topic :: Education",
                   "Topic :: Scientific/Engineering :: Artificial Intelligence",
                   "Programming Language :: Python :: 3.11", "Intended Audience :: Education"):
        assert wanted in classifiers
    # setuptools >= 77 refuses a License classifier beside an SPDX expression (PEP 639)
    assert not [c for c in classifiers if c.startswith("License ::")]


def test_no_empty_extras():
    extras = PYPROJECT["project"].get("optional-dependencies", {})
    assert extras and all(extras.values()), [k for k, v in extras.items() if not v]


# --------------------------------------------------------------------------- Makefile


def _makefile() -> str:
    return (ROOT / "Makefile").read_text(encoding="utf-8")


def test_the_makefile_header_lists_every_target():
    text = _makefile()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*)\s*:(?!=)", text, flags=re.MULTILINE))
    header = text[:text.index("\n\n")]
    listed = set(re.findall(r"^#\s+make ([a-z][a-z0-9-]*)\s", header, flags=re.MULTILINE))
    assert {"lab", "course", "test", "test-fast", "release", "grade", "lint", "lock"} <= targets
    assert targets - listed == set(), "targets missing from the Makefile's header"
    assert listed - targets == set(), "the header lists targets that do not exist"
    phony = set(re.search(r"^\.PHONY:(.*)$", text, flags=re.MULTILINE).group(1).split())
    assert phony == targets, "every target is .PHONY (none of them names a file)"


def test_make_lint_runs_ruff_mypy_and_lint_imports():
    recipe = re.search(r"^lint:.*\n((?:\t.*\n)+)", _makefile(), flags=re.MULTILINE).group(1)
    for tool in ("ruff check", "mypy", "lint-imports"):
        assert tool in recipe


def test_make_grade_has_no_default_lesson():
    assert not re.search(r"^LESSON\s*[?:]?=", _makefile(), flags=re.MULTILINE)

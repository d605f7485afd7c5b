"""The newcomer's documents: short, with links that resolve and commands that exist.

README.md stays at most 150 lines and names exactly three commands; every relative link in
the four documents reaches a tracked file or a heading; every ``make X`` they name is a
Makefile target, and every ``course X`` a subcommand of ``course/cli.py``; the Makefile's
header lists every target; and no tracked file holds an absolute path of one machine.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ("README.md", "INSTRUCTORS.md", "CONTRIBUTING.md", "BENCHMARKS.md")
README_MAX_LINES = 150
THREE_COMMANDS = ["make lab", "make course", "make test"]
# Links to files another line of work adds; each is waived only while its folder is absent.
ARRIVING = {"classroom/README.md": "classroom"}

# Absolute paths of one machine. Each pattern writes one letter as a character class, so that
# this file's own lines do not match it.
MACHINE_PATHS = {
    "a folder of this project's work machine": r"/wor[k]/",
    "a user's home folder on Linux": r"/hom[e]/[A-Za-z0-9._-]+/",
    "root's home folder": r"/roo[t]/",
    "a user's home folder on macOS": r"/User[s]/[A-Za-z0-9._-]+/",
    "a user's home folder on Windows": r"[A-Za-z]:\\+User[s]\\",
}
# The home folder inside every Jupyter docker-stacks image (the single-user image of a
# JupyterHub class), the same on every machine: not a path of a particular one.
SHARED_HOMES = ("/home/jovyan/",)


def _git(*args: str) -> subprocess.CompletedProcess:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (or no git): the tracked files cannot be listed")
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)


def _tracked() -> set[str]:
    result = _git("ls-files", "-z")
    assert result.returncode == 0, result.stderr
    return set(filter(None, result.stdout.split("\0")))


def _text(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def _strip_fences(text: str) -> str:
    """Markdown without its fenced code blocks."""
    return re.sub(r"^(```|~~~).*?^\1", "", text, flags=re.S | re.M)


def _without_code(text: str) -> str:
    """Markdown with fenced blocks and inline code removed (links there are not links)."""
    return re.sub(r"`[^`\n]*`", "", _strip_fences(text))


def _code(text: str) -> list[str]:
    """The code of a Markdown text: fenced blocks, indented blocks (after a blank line), spans."""
    blocks = re.findall(r"^(?:```|~~~)[^\n]*\n(.*?)^(?:```|~~~)", text, flags=re.S | re.M)
    prose = _strip_fences(text)
    indented = re.findall(r"(?:^|\n)[ \t]*\n((?:(?: {4}|\t)[^\n]*\n?)+)", prose)
    spans = re.findall(r"`([^`\n]+)`", prose)
    return blocks + indented + spans


def heading_anchors(text: str) -> set[str]:
    """GitHub's anchors for a Markdown text's headings (lower case, punctuation dropped)."""
    anchors: set[str] = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", _strip_fences(text), flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchor, n = slug, 1
        while anchor in anchors:
            anchor, n = f"{slug}-{n}", n + 1
        anchors.add(anchor)
    return anchors


def relative_links(text: str) -> list[str]:
    """Targets of the Markdown links and images that are not URLs."""
    targets = re.findall(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)",
                         _without_code(text))
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]


def link_problem(doc: str, target: str, tracked: set[str]) -> str | None:
    """Why a link of ``doc`` does not resolve, or None."""
    path, _, anchor = target.partition("#")
    if path:
        name = str(PurePosixPath(doc).parent / path)
        folder = name.rstrip("/") + "/"
        if name not in tracked and not any(t.startswith(folder) for t in tracked):
            if name in ARRIVING and not (ROOT / ARRIVING[name]).exists():
                print(f"{doc}: {target} waived: {ARRIVING[name]}/ does not exist on this "
                      "branch yet (it arrives with the JupyterHub work)")
                return None
            return f"{doc}: {target}: no tracked file {name}"
    else:
        name = doc
    if anchor and name.endswith(".md") and anchor not in heading_anchors(_text(name)):
        return f"{doc}: {target}: {name} has no heading with the anchor #{anchor}"
    return None


def make_targets_named(text: str) -> set[str]:
    """The targets of every ``make ...`` command in a Markdown text's code."""
    named = set()
    for code in _code(text):
        for match in re.finditer(r"(?:^|[\s;&|(])make((?:[ \t]+[a-z][\w-]*)+)", code):
            named.update(match.group(1).split())
    return named


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([a-z][\w-]*)\s*:(?!=)", _text("Makefile"), flags=re.M))


def course_commands_named(text: str) -> set[str]:
    """The subcommands of every ``course ...`` command in a Markdown text's code.

    A command starts a line or a span (after ``VAR=value`` settings) or follows a path
    (``.venv/bin/course``); ``from course import x`` and ``make course`` are not commands.
    """
    command = re.compile(r"(?:^[ \t]*(?:[A-Z_]+=\S*[ \t]+)*|/)course[ \t]+([a-z][\w-]*)", re.M)
    return {m.group(1) for code in _code(text) for m in command.finditer(code)}


def cli_commands() -> set[str]:
    """Subcommand names in ``COMMANDS`` of course/cli.py, read as text."""
    source = _text("course/cli.py")
    start = re.search(r"^COMMANDS\b.*$", source, flags=re.M)
    assert start, "course/cli.py defines no COMMANDS table"
    end = re.search(r"^[}\])]", source[start.end():], flags=re.M)
    table = source[start.start(): start.end() + (end.end() if end else len(source))]
    return set(re.findall(r"""["']([a-z][a-z0-9-]*)["']\s*[:,]""", table))


# ------------------------------------------------------------------ the README


def test_the_readme_is_at_most_150_lines():
    lines = _text("README.md").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move detail to "
        "INSTRUCTORS.md, CONTRIBUTING.md or BENCHMARKS.md")


def test_the_readme_names_exactly_three_commands():
    text = _text("README.md")
    section = re.search(r"^## Three commands\n(.*?)(?=^## )", text, flags=re.S | re.M)
    assert section, "README.md has no '## Three commands' section"
    rows = re.findall(r"^\| `(make [^`]+)` \|", section.group(1), flags=re.M)
    assert rows == THREE_COMMANDS, f"the command table lists {rows}"


# ------------------------------------------------------------------ links and commands


@pytest.mark.parametrize("doc", DOCS)
def test_every_relative_link_resolves(doc):
    tracked = _tracked()
    assert doc in tracked, f"{doc} is not tracked"
    links = relative_links(_text(doc))
    problems = [p for link in links if (p := link_problem(doc, link, tracked))]
    assert not problems, "\n".join(problems)


def test_the_link_check_finds_a_broken_file_and_a_broken_anchor():
    tracked = {"README.md", "INSTRUCTORS.md", "notebooks/00-course-map/00-course-map.ipynb"}
    assert link_problem("README.md", "INSTRUCTORS.md#the-formgrader", tracked) is None
    assert link_problem("README.md", "notebooks/00-course-map/00-course-map.ipynb", tracked) is None
    assert "no tracked file" in link_problem("README.md", "NOPE.md", tracked)
    assert "no heading" in link_problem("README.md", "INSTRUCTORS.md#not-a-heading", tracked)
    assert "no heading" in link_problem("README.md", "#not-a-heading", tracked)


def test_anchors_are_githubs():
    text = "# The course's map\n## Grading: `course grade`\n## Grading: `course grade`\n"
    assert heading_anchors(text) == {"the-courses-map", "grading-course-grade",
                                     "grading-course-grade-1"}
    assert relative_links("[a](x.md#b) [c](https://e.org) `[d](y.md)` ![i](p.png)") == [
        "x.md#b", "p.png"]


@pytest.mark.parametrize("doc", DOCS)
def test_every_make_target_named_exists(doc):
    missing = make_targets_named(_text(doc)) - makefile_targets()
    assert not missing, f"{doc} names make targets the Makefile lacks: {sorted(missing)}"


@pytest.mark.parametrize("doc", DOCS)
def test_every_course_subcommand_named_exists(doc):
    commands = cli_commands()
    assert {"release", "run", "grade"} <= commands, f"COMMANDS read as {sorted(commands)}"
    missing = course_commands_named(_text(doc)) - commands
    assert not missing, f"{doc} names course subcommands cli.py lacks: {sorted(missing)}"


def test_the_command_readers_find_commands_and_skip_python():
    text = ("`make course book PROFILE=smoke`, `make grade LESSON=x`\n\n"
            "    /usr/bin/time -v make test-fast\n\n"
            "`.venv/bin/course run --profile cpu`, `from course import recsys`, `course serve F`\n")
    assert make_targets_named(text) == {"course", "book", "grade", "test-fast"}
    assert course_commands_named(text) == {"run", "serve"}
    assert {"lab", "course", "test", "venv"} <= makefile_targets()


def test_the_makefile_header_lists_every_target():
    header = re.match(r"(?:#.*\n)+", _text("Makefile"))
    assert header, "the Makefile opens with no comment header"
    listed = set(re.findall(r"^#\s+make ([a-z][\w-]*)", header.group(0), flags=re.M))
    missing = makefile_targets() - listed
    assert not missing, f"the Makefile's header does not list: {sorted(missing)}"


def files_named(text: str) -> set[str]:
    """Paths under benchmarks/, tests/, course/ and .ci/ that a Markdown text names."""
    path = r"(?<![\w./-])(?:benchmarks|tests|course|\.ci)/[\w.*/-]*[\w*/]"
    return set(re.findall(path, text))


@pytest.mark.parametrize("doc", DOCS)
def test_every_script_and_file_named_exists(doc):
    """A figure's command names a script of the repository, never one kept elsewhere."""
    tracked = _tracked()
    missing = [name for name in sorted(files_named(_text(doc)))
               if not any(fnmatch.fnmatch(t, name) or t.startswith(name.rstrip("/") + "/")
                          for t in tracked)]
    assert not missing, f"{doc} names files that are not in the repository: {missing}"


def test_the_file_reader_finds_paths_and_globs():
    text = "`benchmarks/serve.py --folder build/x`, tests/test_rehearsal*.py and `.ci/run`."
    assert files_named(text) == {"benchmarks/serve.py", "tests/test_rehearsal*.py", ".ci/run"}


# ------------------------------------------------------------------ machine paths


def machine_paths(lines: list[str]) -> list[str]:
    """The ``path:line: text`` lines of ``git grep -n`` that hold a path of one machine."""
    found = []
    for line in lines:
        text = line
        for shared in SHARED_HOMES:
            text = text.replace(shared, "")
        kinds = [kind for kind, pattern in MACHINE_PATHS.items() if re.search(pattern, text)]
        if kinds:
            found.append(f"{line.strip()}  ({', '.join(kinds)})")
    return found


def test_no_tracked_file_holds_a_path_of_one_machine():
    pattern = "|".join(MACHINE_PATHS.values())
    result = _git("grep", "-nIE", pattern)
    assert result.returncode in (0, 1), result.stderr
    found = machine_paths(result.stdout.splitlines())
    assert not found, "absolute paths of one machine in tracked files:\n" + "\n".join(found)


def test_the_machine_path_check_finds_each_kind():
    # Each path is cut in two, so that this file's lines hold none of them.
    bad = ["a:1: COURSE_DATA_DIR=" + "/wo" + "rk/shared/data",
           "b:2: " + "/ho" + "me/alice/x",
           "c:3: " + "/ro" + "ot/.cache",
           "d:4: " + "/Us" + "ers/bob/y",
           "e:5: " + "C:\\Us" + "ers\\x"]
    assert len(machine_paths(bad)) == len(bad)
    good = ["f:1: ~/.cache/bert-ecommerce-course", "g:2: " + "/ho" + "me/jovyan/work",
            "h:3: assert '/ho' 'me/' not in text", "i:4: build/05/service"]
    assert machine_paths(good) == []

"""The course as a static book (``make book``): pages, links, search, and no solution in it.

The book is built once per test session from the releases executed at smoke size (the
same executions test_run_all.py reads), see ``tests/release_runs.py``; the unit tests of
link rewriting need no build.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path, PurePosixPath

import nbformat
import pytest

from course import mindmap
from course.authoring.book import (
    book_file,
    broken_links,
    leaked_solution_lines,
    page_anchors,
    rewrite_link,
    solution_lines,
)
from course.authoring.book.links import rewrite_markdown
from course.authoring.book.pages import notebook_title
from course.authoring.release import lesson_notebook
from course.authoring.runner import release_lessons
from course.config import ROOT

LESSONS = release_lessons()
PAGE_02 = PurePosixPath("02-tokenization/02-tokenization.ipynb")


# --- link rewriting (no build) ---------------------------------------------------------

def test_course_files_have_a_place_in_the_book():
    lessons = ["00-course-map", "02-tokenization"]
    assert book_file(PurePosixPath("notebooks/02-tokenization/02-tokenization.ipynb"),
                     lessons) == PAGE_02
    assert book_file(PurePosixPath("mindmaps/glossary.md"), lessons) == PurePosixPath(
        "glossary.md")
    assert book_file(PurePosixPath("notebooks/05-x/05-x.ipynb"), lessons) is None
    assert book_file(PurePosixPath("course/text.py"), lessons) is None


@pytest.mark.parametrize(("link", "html", "expected"), [
    ("../02-tokenization/02-tokenization.ipynb#2.-WordPiece-/-词表", True,
     "../02-tokenization/02-tokenization.html#2.-WordPiece-/-词表"),
    ("../02-tokenization/02-tokenization.ipynb", False, "../02-tokenization/02-tokenization.ipynb"),
    ("../../mindmaps/glossary.md", True, "../glossary.html"),
    ("../../mindmaps/glossary.md", False, "../glossary.md"),
    ("https://nbgrader.readthedocs.io", True, "https://nbgrader.readthedocs.io"),
    ("#Summary", True, "#Summary"),
    ("../05-later/05-later.ipynb", True, None),
])
def test_a_lessons_links_are_rewritten_for_its_page(link, html, expected):
    source = PurePosixPath("notebooks/00-course-map/00-course-map.ipynb")
    page = PurePosixPath("00-course-map/00-course-map.ipynb")
    lessons = ["00-course-map", "02-tokenization"]
    assert rewrite_link(link, source, page, lessons, html=html) == expected


def test_a_link_to_a_lesson_not_written_yet_becomes_plain_text():
    text = ("See [tokens](../02-tokenization/02-tokenization.ipynb#3.-Pairs-(and-masks)), "
            "[later](../05-x/05-x.ipynb) and ![map](map.png).")
    new, dropped = rewrite_markdown(text, PurePosixPath("notebooks/00-a/00-a.ipynb"),
                                    PurePosixPath("00-a/00-a.ipynb"), ["00-a", "02-tokenization"],
                                    html=True)
    assert new == ("See [tokens](../02-tokenization/02-tokenization.html#3.-Pairs-(and-masks)), "
                   "later and ![map](map.png).")
    assert dropped == ["../05-x/05-x.ipynb"]


def test_a_page_gives_its_ids_references_and_heading_anchors():
    from course.authoring.book.site import _Page

    page = _Page()
    page.feed('<h2 id="1.-Tokens">1. Tokens <a class="headerlink" href="#1.-Tokens">¶</a></h2>'
              '<p id="" class="x">text <a href="../a.html">a</a> <img src="m.png" alt=""></p>'
              '<div href="not-a-link"></div><script src="s.js"></script>')
    assert page.ids == {"1.-Tokens"}  # an empty id is no id
    assert page.refs == ["#1.-Tokens", "../a.html", "m.png", "s.js"]
    assert page.headings == {"1. Tokens": "1.-Tokens"}  # without the pilcrow link


# --- the built book --------------------------------------------------------------------

@pytest.fixture(scope="module")
def book(built_book):
    return built_book()


def _html(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_book_has_every_lesson_in_lesson_order(book):
    index = _html(book.site / "index.html")
    assert sorted(book.pages) == LESSONS, "one page per lesson of notebooks/"
    nav = [index.find(f'href="{lesson}/{lesson}.html"') for lesson in LESSONS]
    found = dict(zip(LESSONS, nav, strict=True))
    assert all(i >= 0 for i in nav), f"the index links every lesson: {found}"
    assert nav == sorted(nav), "lessons are listed in lesson order"
    for lesson, page in book.pages.items():
        nb = nbformat.read(lesson_notebook(lesson, "notebooks"), as_version=4)
        english = notebook_title(nb, lesson).split(" / ")[0]
        assert html.escape(english, quote=False) in _html(page), f"{lesson}: no title {english}"
    assert (book.site / "glossary.html").is_file() and (book.site / "maps/course.png").is_file()


@pytest.mark.slow
def test_each_executed_lesson_shows_its_map_as_a_picture(book):
    for lesson in ("00-course-map", "02-tokenization"):
        page = _html(book.pages[lesson])
        picture = re.search(r'<img[^>]+src="data:image/png;base64,', page)
        assert picture, f"{lesson}: no picture on its page"
        assert picture.start() < page.index(">Learning objectives"), \
            f"{lesson}: the map's picture comes first, before the objectives (the template)"


@pytest.mark.slow
def test_every_link_and_anchor_of_the_book_resolves(book):
    assert book.broken == [], "\n".join(book.broken)
    assert broken_links(book.site) == []


@pytest.mark.slow
def test_the_map_links_land_on_the_lessons_headings(book):
    page = book.pages["02-tokenization"]
    text = _html(page)
    outline = text[text.index("course-map-outline"):]
    outline = outline[:outline.index("</details>")]
    hrefs = re.findall(r'href="02-tokenization\.html#([^"]+)"', outline)
    expected = [n for n in mindmap.load("02-tokenization").nodes() if "#" in n.link]
    assert len(hrefs) == len(expected) > 3, "every linked map node links to a heading"
    ids = set(page_anchors(page).values())
    assert set(hrefs) <= ids, f"map links to no heading: {set(hrefs) - ids}"


@pytest.mark.slow
def test_widgets_become_an_outline_or_a_note_and_exercises_show_no_output(book):
    text = _html(book.pages["02-tokenization"])
    assert "HBox(children" not in text and "VBox(children" not in text, "no widget repr"
    assert "Map outline / 导图大纲" in text
    assert "interactive widget" in text, "the tokenizer playground says where it works"
    for page in book.pages.values():
        assert "Traceback (most recent call last)" not in _html(page), \
            f"{page.name}: an exercise's traceback"


@pytest.mark.slow
def test_search_covers_every_lesson(book):
    index = json.loads(_html(book.site / "search" / "search_index.json"))
    located = {doc["location"].split("#")[0] for doc in index["docs"]}
    missing = [lesson for lesson in LESSONS if f"{lesson}/{lesson}.html" not in located]
    assert not missing, f"search does not index {missing}"
    wordpiece = [d for d in index["docs"] if "greedy" in d["text"].lower()]
    assert any(d["location"].startswith("02-tokenization/") for d in wordpiece)


@pytest.mark.slow
def test_the_book_loads_nothing_from_the_network(book):
    for page in book.site.rglob("*.html"):
        remote = re.findall(r'<(?:script|link|img)\b[^>]*(?:src|href)="(https?:[^"]+)"',
                            _html(page))
        remote = [r for r in remote if not r.startswith("https://squidfunk")]
        assert not remote, f"{page.relative_to(book.site)} loads {remote}"


@pytest.mark.slow
def test_no_line_of_a_solution_or_hidden_test_is_in_the_book(book):
    lines = solution_lines()
    empty = [lesson for lesson, found in lines.items() if not found]
    assert not empty, f"no solution line found to look for in {empty}"
    print({lesson: len(found) for lesson, found in lines.items()}, "solution lines looked for")
    assert leaked_solution_lines(book.site) == []


@pytest.mark.slow
def test_the_leak_check_finds_a_solution_page(tmp_path):
    from nbconvert import HTMLExporter

    site = tmp_path / "site"
    (site / "02-tokenization").mkdir(parents=True)
    body, _ = HTMLExporter().from_filename(str(lesson_notebook("02-tokenization")))
    (site / "02-tokenization" / "02-tokenization.html").write_text(body, encoding="utf-8")
    leaks = leaked_solution_lines(site)
    assert leaks and all(leak.startswith("02-tokenization: ") for leak in leaks), leaks


def test_the_builder_refuses_a_site_with_solution_code(tmp_path, monkeypatch):
    """build_book deletes the site and raises when the check finds solution code."""
    import course.authoring.book.cli as cli
    from course.errors import CourseError

    site = tmp_path / "out" / "site"
    monkeypatch.setattr(cli, "write_sources", lambda docs, *a, **k: {})
    monkeypatch.setattr(cli, "run_mkdocs", lambda config, file: site.mkdir(parents=True))
    monkeypatch.setattr(cli, "leaked_solution_lines", lambda s, r: ["02-tokenization: x = 1"])
    with pytest.raises(CourseError, match="solution code"):
        cli.build_book({}, tmp_path / "out", "smoke", ROOT)
    assert not site.exists()


def test_the_book_says_how_to_execute_a_lesson_it_lacks(tmp_path):
    from course.authoring.book import executed_releases
    from course.errors import CourseError

    with pytest.raises(CourseError, match=r"course run --release --profile cpu"):
        executed_releases("cpu", release_dir=tmp_path, execute=False, lessons=["00-course-map"])


def test_an_executed_copy_of_an_older_release_is_not_reused(tmp_path):
    from course.authoring.book import executed_releases
    from course.errors import CourseError

    stale = tmp_path / "cpu" / "00-course-map.ipynb"
    stale.parent.mkdir()
    nb = nbformat.read(lesson_notebook("00-course-map", "notebooks"), as_version=4)
    nb.metadata["course_run"] = {"source_sha256": "0" * 64, "error": None}
    nbformat.write(nb, stale)
    with pytest.raises(CourseError, match="No up-to-date executed release"):
        executed_releases("cpu", release_dir=tmp_path, execute=False, lessons=["00-course-map"])


# --- pages from the solution run (no execution) ----------------------------------------

def _code(source, grade=None, solution=False, outputs=True, cell_id=None):
    cell = nbformat.v4.new_code_cell(source)
    if cell_id:
        cell.id = cell_id
    if grade:
        cell.metadata["nbgrader"] = {"grade_id": grade, "solution": solution,
                                     "grade": not solution, "locked": not solution}
    if outputs:
        cell.outputs = [nbformat.v4.new_output("stream", text=f"ran: {source[:30]}\n")]
        cell.execution_count = 1
    return cell


def _pair():
    """A tiny solution run and its release: shared cells, an exercise, its test, uses."""
    def cells(answer):
        return [
            nbformat.v4.new_markdown_cell("# A lesson"),
            _code("import math\nscale = 2", cell_id="setup"),
            _code(answer, grade="answer", solution=True),
            _code("assert double(2) == 4", grade="test-double"),
            _code("print(exercise.attempt(double, 3))", cell_id="attempt"),
            _code("mine = double(5)\nboth = [mine, scale]", cell_id="direct"),
            _code("print(both)", cell_id="derived"),
            _code("both = [scale]\nprint(both)", cell_id="rebound"),
            _code("print(math.pi * scale)", cell_id="shared"),
            _code("print([double for double in range(2)])", cell_id="local"),
        ]
    solution = nbformat.v4.new_notebook(cells=cells(
        "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"))
    release = nbformat.v4.new_notebook(cells=cells(
        "def double(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"))
    for cell in release.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return release, solution


def _outputs(page):
    return {cell.metadata.get("nbgrader", {}).get("grade_id") or cell.id: cell.outputs
            for cell in page.cells if cell.cell_type == "code"}


def test_a_page_keeps_the_outputs_of_shared_cells_and_none_of_exercises_or_answers():
    from course.authoring.book import transplant

    release, solution = _pair()
    page = transplant(release, solution, "00-demo")
    outputs = _outputs(page)
    kept = {name for name, outs in outputs.items() if outs}
    assert kept == {"setup", "rebound", "shared", "local"}, outputs
    assert outputs["shared"][0]["text"] == "ran: print(math.pi * scale)\n"
    assert [c.source for c in page.cells] == [c.source for c in release.cells]
    assert "return 2 * x" not in json.dumps(page)
    assert not release.cells[1].outputs, "the release itself is left unchanged"


def test_papermills_injected_parameters_cell_is_not_a_lesson_cell():
    from course.authoring.book import transplant

    release, solution = _pair()
    injected = _code("scale = 3")
    injected.metadata["tags"] = ["injected-parameters"]
    solution.cells.insert(2, injected)
    assert _outputs(transplant(release, solution, "00-demo"))["shared"]


@pytest.mark.parametrize(("change", "message"), [
    (lambda nb: nb.cells.pop(4), r"00-demo: the release has 10 cells and the executed solution 9"),
    (lambda nb: nb.cells.insert(2, nb.cells.pop(3)),
     r"00-demo: release cell 2 \(answer, code\) has no counterpart"),
    (lambda nb: nb.cells.insert(1, nbformat.v4.new_markdown_cell("x")) or nb.cells.pop(2),
     r"00-demo: release cell 1 \(setup, code\) has no counterpart"),
])
def test_notebooks_that_do_not_line_up_are_refused(change, message):
    from course.authoring.book import transplant
    from course.errors import CourseError

    release, solution = _pair()
    change(solution)
    with pytest.raises(CourseError, match=message):
        transplant(release, solution, "00-demo")


def _fake_solution_run(folder: Path, lesson: str, error: bool = False) -> Path:
    """The lesson's solution with an output in every code cell, as if ``course run`` ran it."""
    nb = nbformat.read(lesson_notebook(lesson), as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", text=f"output {index}\n")]
    if error:
        last = [c for c in nb.cells if c.cell_type == "code"][-1]
        last.outputs = [nbformat.v4.new_output("error", ename="E", evalue="x", traceback=[])]
    path = folder / "smoke" / f"{lesson}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_only_a_fresh_complete_solution_run_is_used(tmp_path):
    import os

    from course.authoring.book import fresh_solution_run

    lesson = "02-tokenization"
    assert fresh_solution_run(lesson, "smoke", tmp_path) is None, "no run"
    path = _fake_solution_run(tmp_path, lesson)
    assert fresh_solution_run(lesson, "smoke", tmp_path) == path
    old = lesson_notebook(lesson).stat().st_mtime - 60
    os.utime(path, (old, old))
    assert fresh_solution_run(lesson, "smoke", tmp_path) is None, "older than the solution"
    _fake_solution_run(tmp_path, lesson, error=True)
    assert fresh_solution_run(lesson, "smoke", tmp_path) is None, "a run that stopped"


def test_a_lessons_page_comes_from_its_solution_run_with_no_solution_line(tmp_path):
    from course.authoring.book import book_notebooks
    from course.errors import CourseError

    lesson = "02-tokenization"
    _fake_solution_run(tmp_path, lesson)
    pages, stopped, origin = book_notebooks("smoke", tmp_path / "out", execute=False,
                                            lessons=[lesson], solution_dir=tmp_path,
                                            release_dir=tmp_path / "release")
    assert origin == {lesson: "solution run"} and stopped == {}
    page = nbformat.read(pages[lesson], as_version=4)
    code = [c for c in page.cells if c.cell_type == "code"]
    kept = [c for c in code if c.outputs]
    assert len(code) - len(kept) >= 4, "answers, tests and the cells showing them are empty"
    assert len(kept) >= len(code) // 2, "shared cells keep their outputs"
    text = json.dumps(page, ensure_ascii=False)
    leaks = [line for line in solution_lines()[lesson] if line in text]
    assert solution_lines()[lesson] and not leaks, leaks
    with pytest.raises(CourseError, match="No up-to-date executed release of 00-course-map"):
        book_notebooks("smoke", tmp_path / "out", execute=False,
                       lessons=[lesson, "00-course-map"], solution_dir=tmp_path,
                       release_dir=tmp_path / "release")


def test_solution_runs_draw_plots_inline_and_leave_this_process_as_it_was(monkeypatch):
    """make course's executed notebooks keep their plt.show() pictures, which the book shows."""
    import os

    from course.authoring.runner import INLINE_PLOTS, _inline_plots

    monkeypatch.setenv("MPLBACKEND", "Agg")
    with _inline_plots():
        assert os.environ["MPLBACKEND"] == INLINE_PLOTS
    assert os.environ["MPLBACKEND"] == "Agg"
    monkeypatch.delenv("MPLBACKEND")
    with _inline_plots():
        assert os.environ["MPLBACKEND"] == INLINE_PLOTS
    assert "MPLBACKEND" not in os.environ

"""The trainee's and the instructor's JupyterLab, and the book, in a real browser.

JupyterLab is started exactly as ``make lab`` starts it (and, for the formgrader, also as
``.venv/bin/jupyter lab`` with the environment not activated), on 127.0.0.1 with a
random token and a free port, in a temporary copy of the course (see test_formgrader.py),
and driven by Playwright in headless Chromium: Debian's ``chromium`` package, never a
browser Playwright downloads. Lessons run with the smoke profile, as the autograder does.

For lessons 00 and 02: the lesson opens; Run All executes every cell of the unsolved
release and only the exercise checks fail; the mind-map explorer (and lesson 02's
tokenizer playground) render and react to a click (a keystroke); Validate's dialog lists
exactly the failing graded tests; Chinese is drawn with a font that has its glyphs. The
formgrader lists every lesson with no HTTP error, console error or server-log error, from
both start paths; one page of the book opens, its map links land on headings, and search
finds a lesson.

No Chromium: the test skips and says why, except in CI (``COURSE_CI=1``, set by
``.ci/run``, which installs Chromium), where it fails. On a failure, screenshots, the
browser console and the server log are saved under ``build/browser/``.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import shutil
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from course import mindmap
from course.authoring.book.pages import SHOW_MAP
from course.authoring.release import is_graded_test, lessons
from course.config import ROOT

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "grading"))
import live_server  # noqa: E402
from test_formgrader import START_PATHS, _bare_env, _command, _copy_course, _errors_in  # noqa: E402

# One xdist worker runs the whole module (make test uses --dist loadgroup), so each
# JupyterLab is started once.
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]
ARTIFACTS = ROOT / "build" / "browser"
LESSONS = ("00-course-map", "02-tokenization")
KERNEL_IDLE = "Python 3 (ipykernel) | Idle"
RUN_TIMEOUT_S = 300
PROMPTS = """() => Array.from(document.querySelectorAll('.jp-Notebook .jp-CodeCell'))
    .map(c => (c.querySelector('.jp-InputPrompt') || {textContent: ''}).textContent.trim())"""


def _in_ci() -> bool:
    return os.environ.get("COURSE_CI") == "1"


def _chromium() -> str:
    """Debian's Chromium (or COURSE_CHROMIUM); skip outside CI, fail in CI, when there is none."""
    found = os.environ.get("COURSE_CHROMIUM") or shutil.which("chromium") \
        or shutil.which("chromium-browser")
    if found:
        return found
    reason = ("no Chromium: install Debian's package (apt-get install chromium) or set "
              "COURSE_CHROMIUM to a Chromium binary")
    if _in_ci():
        pytest.fail(f"{reason}; in CI, .ci/run installs it")
    pytest.skip(reason)


def _fontconfig(tmp: Path) -> Path:
    """A fontconfig file: the system's fonts plus the course's packaged Noto Sans CJK.

    A trainee's desktop has a CJK font (Windows and macOS ship one); a bare CI machine may
    not, so Chromium also gets the font the course installs for its mind maps.
    """
    font = mindmap.fonts.packaged_font_file()
    extra = f"<dir>{font.parent}</dir>" if font else ""
    conf = tmp / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>'
        '<include ignore_missing="yes">/etc/fonts/fonts.conf</include>'
        f"{extra}<cachedir>{tmp / 'fontcache'}</cachedir></fontconfig>\n", encoding="utf-8")
    return conf


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        if _in_ci():
            raise
        pytest.skip(f"Playwright is not installed ({exc}): pip install -e '.[dev]'")
    tmp = tmp_path_factory.mktemp("chromium")
    env = {**os.environ, "FONTCONFIG_FILE": str(_fontconfig(tmp))}
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, env=env)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def labs(tmp_path_factory):
    """``labs(how)``: JupyterLab on a copy of the course, started one way, once per module."""
    started: dict[str, tuple] = {}
    with contextlib.ExitStack() as stack:

        def start(how: str):
            if how not in started:
                tmp = tmp_path_factory.mktemp("lab")
                course = _copy_course(tmp / "course")
                port, token = live_server.free_port(), live_server.new_token()
                env = _bare_env(tmp)
                env.update(COURSE_PROFILE="smoke", HF_HUB_OFFLINE="1")  # the autograder's size
                command = _command(how, course, tmp, port, token, env)
                server = stack.enter_context(live_server.running(
                    command, cwd=course, env=env, log=tmp / "server.log", port=port,
                    token=token))
                started[how] = (server, course)
            return started[how]

        yield start


class Watched:
    """A browser page with its console errors and failed HTTP responses recorded."""

    def __init__(self, browser, name: str) -> None:
        self.name = name
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.console: list[str] = []
        self.http_errors: list[str] = []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("response", lambda r: r.status >= 400 and self.http_errors.append(
            f"{r.status} {r.request.method} {r.url.split('?')[0]}"))
        self.page.on("requestfailed", lambda r: self.http_errors.append(
            f"failed {r.method} {r.url.split('?')[0]}: {r.failure}"))

    def errors(self) -> list[str]:
        return [line for line in self.console if line.startswith("error")] + self.http_errors


@contextlib.contextmanager
def watched(browser, name: str, server=None):
    """A :class:`Watched` page; on a failure, its screenshot and logs go to build/browser/."""
    page = Watched(browser, name)
    try:
        yield page
    except BaseException:
        where = ARTIFACTS / re.sub(r"[^\w.-]+", "_", name)
        where.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):
            page.page.screenshot(path=str(where / "screenshot.png"), full_page=True)
        (where / "console.log").write_text("\n".join(page.console + page.http_errors))
        if server is not None:
            shutil.copy(server.log, where / "server.log")
        print(f"browser test artifacts: {where}")
        raise
    finally:
        page.page.close()


def _open_lesson(page, server, lesson: str) -> None:
    page.goto(f"{server.base}/lab/tree/notebooks/{lesson}/{lesson}.ipynb"
              f"?reset&token={server.token}")
    page.get_by_text(KERNEL_IDLE).wait_for(timeout=120_000)


def _menu(page, menu: str, command: str) -> None:
    page.locator("li.lm-MenuBar-item", has_text=menu).first.click()
    page.locator(f"li.lm-Menu-item[data-command='{command}']").click()


def _run_all(page) -> list[str]:
    """Run All from the Run menu; wait until no cell is queued and the kernel is idle."""
    before = page.evaluate(PROMPTS)
    _menu(page, "Run", "runmenu:run-all")
    deadline, last, calm = time.monotonic() + RUN_TIMEOUT_S, None, 0
    while time.monotonic() < deadline:
        time.sleep(1)
        prompts = page.evaluate(PROMPTS)
        idle = page.get_by_text(KERNEL_IDLE).count() > 0
        started = prompts != before
        calm = calm + 1 if started and idle and "[*]:" not in prompts and prompts == last else 0
        if calm >= 2:
            return prompts
        last = prompts
    raise AssertionError(f"Run All did not finish within {RUN_TIMEOUT_S} s: prompts {last}")


def _saved_notebook(page, course: Path, lesson: str) -> nbformat.NotebookNode:
    """Save from the File menu and read the notebook JupyterLab wrote."""
    path = course / "notebooks" / lesson / f"{lesson}.ipynb"
    before = path.stat().st_mtime_ns
    _menu(page, "File", "docmanager:save")
    deadline = time.monotonic() + 30
    while path.stat().st_mtime_ns == before and time.monotonic() < deadline:
        time.sleep(0.5)
    while True:  # the mtime can change before the server has finished writing the file
        try:
            return nbformat.read(path, as_version=4)
        except nbformat.reader.NotJSONError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _check_run_all(nb: nbformat.NotebookNode, lesson: str) -> list[nbformat.NotebookNode]:
    code = [c for c in nb.cells if c.cell_type == "code"]
    not_run = [c.id for c in code if not c.execution_count]
    assert not not_run, f"{lesson}: Run All left cells unexecuted: {not_run}"
    failed = {c.id for c in code if any(o.output_type == "error" for o in c.outputs)}
    graded = [c for c in code if is_graded_test(c)]
    assert failed == {c.id for c in graded}, \
        f"{lesson}: cells that failed {sorted(failed)}, graded tests {[c.id for c in graded]}"
    return graded


def _shown_map(nb: nbformat.NotebookNode) -> str:
    """The name of the map the lesson shows (``mindmap.show("...")``)."""
    return next(SHOW_MAP.search(c.source)[1] for c in nb.cells if SHOW_MAP.search(c.source))


def _check_explorer(page, name: str) -> None:
    """Click a branch of the map explorer: its children show and the details pane follows."""
    root = mindmap.load(name).root
    branch = next(child for child in root.children if child.children)
    button = page.locator(".jp-OutputArea-output .widget-button",
                          has_text=f"▸ {branch.label}").first
    button.wait_for(timeout=30_000)
    first_child = page.locator(".jp-OutputArea-output .widget-button",
                               has_text=branch.children[0].label).first
    assert not first_child.is_visible(), f"{name}: the branch starts folded"
    button.click()
    first_child.wait_for(state="visible", timeout=15_000)
    page.locator(".widget-html h4", has_text=branch.label).first.wait_for(timeout=15_000)
    assert page.locator(".jp-OutputArea-output .widget-button",
                        has_text=f"▾ {branch.label}").count() == 1, "the caption shows it is open"


def _check_playground(page) -> None:
    """Type into the playground's query: the token table follows the keystrokes."""
    text = page.locator(".widget-text", has_text="query").first
    box = page.locator(".widget-vbox", has=text).last
    tokens = box.locator(".widget-html-content").last
    before = tokens.inner_text()
    assert "lamp" not in before.lower()
    query = text.locator("input")
    query.click()
    query.press("End")
    query.type(" lamp")
    deadline = time.monotonic() + 15
    while "lamp" not in tokens.inner_text().lower() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert "lamp" in tokens.inner_text().lower(), "the token table follows the query"


def _check_validate(page, lesson: str, graded: list) -> None:
    """Validate's dialog lists exactly the failing graded tests (no knock-on errors)."""
    page.locator(".jp-Toolbar-item", has_text="Validate").first.click()
    dialog = page.locator(".jp-Dialog", has_text="Validation Results")
    dialog.locator(".validation-failed, .validation-passed, .validation-changed, "
                   ".validation-error, .validation-success").first.wait_for(timeout=180_000)
    listed = dialog.locator("p", has_text="The following cell failed:").count()
    blocks = [b.strip() for b in dialog.locator(".jp-RenderedText pre").all_inner_texts()]
    sources = blocks[0::2]  # each failed cell: its source, then its error
    expected = [c.source.strip() for c in graded]
    assert listed == len(sources) and sorted(sources) == sorted(expected), \
        f"{lesson}: Validate lists {listed} cells:\n" + "\n---\n".join(sources)
    assert not any("NameError" in b for b in blocks[1::2]), f"{lesson}: a knock-on NameError"
    dialog.locator("button", has_text="Ok").first.click()


def _check_chinese(page, lesson: str) -> None:
    """A Chinese heading is drawn by a font that has glyphs for it (not boxes)."""
    heading = page.locator(".jp-RenderedMarkdown h2", has_text=" / ").first
    heading.wait_for(timeout=15_000)
    chinese = "".join(ch for ch in heading.inner_text() if mindmap.has_cjk(ch))
    assert chinese, f"{lesson}: a bilingual heading has Chinese"
    heading.evaluate("(h, text) => { const s = document.createElement('span');"
                     " s.id = 'course-cjk-probe'; s.textContent = text; h.appendChild(s); }",
                     chinese)
    cdp = page.context.new_cdp_session(page)
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "#course-cjk-probe"})
    cdp.send("CSS.enable")
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})["fonts"]
    mindmap.cjk_font()  # registers the packaged font with matplotlib, for glyph_ids
    for font in fonts:
        missing = [ch for ch, gid in zip(chinese, mindmap.fonts.glyph_ids(
            chinese, font["familyName"]), strict=True) if gid == 0]
        assert not missing, f"{lesson}: {font['familyName']} draws {missing} as boxes"
    print(f"{lesson}: Chinese drawn with {[f['familyName'] for f in fonts]}")


@pytest.mark.parametrize("lesson", LESSONS)
def test_a_lesson_in_jupyterlab(lesson, browser, labs):
    server, course = labs(START_PATHS[0])
    with watched(browser, f"lesson-{lesson}", server) as watch:
        page = watch.page
        start = time.monotonic()
        _open_lesson(page, server, lesson)
        _check_chinese(page, lesson)
        _run_all(page)
        saved = _saved_notebook(page, course, lesson)
        graded = _check_run_all(saved, lesson)
        ran = time.monotonic() - start
        picture = page.locator(".jp-OutputArea-output img").first
        assert picture.evaluate("img => img.naturalWidth") > 100, "the map picture is shown"
        _check_explorer(page, _shown_map(saved))
        if lesson == "02-tokenization":
            _check_playground(page)
        widgets = time.monotonic() - start
        _check_validate(page, lesson, graded)
        print(f"{lesson}: opened and Run All in {ran:.0f} s, widgets by {widgets:.0f} s, "
              f"validated by {time.monotonic() - start:.0f} s")
        assert not watch.errors(), f"{lesson}: browser errors {watch.errors()}"


@pytest.mark.parametrize("how", START_PATHS)
def test_the_formgrader_lists_every_lesson_in_the_browser(how, browser, labs):
    server, _ = labs(how)
    with watched(browser, f"formgrader-{how}", server) as watch:
        page = watch.page
        page.goto(f"{server.base}/formgrader?token={server.token}")
        table = page.locator("table").first
        for lesson in lessons():
            table.get_by_text(lesson, exact=True).first.wait_for(timeout=60_000)
        assert page.get_by_text("does not exist").count() == 0, "the exchange banner shows"
        page.wait_for_load_state("networkidle")
        assert not watch.errors(), f"{how}: browser errors {watch.errors()}"
        errors = _errors_in(server.log_text())
        assert not errors, f"{how}: server log errors:\n" + "\n".join(errors)


@pytest.fixture(scope="module")
def book_server(built_book):
    """The built book, served over HTTP on 127.0.0.1 (search needs HTTP, not file://)."""
    site = built_book().site
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_the_book_opens_its_map_links_land_and_search_finds(browser, book_server):
    with watched(browser, "book") as watch:
        page = watch.page
        page.goto(f"{book_server}/index.html")
        page.locator(".md-nav__link", has_text="Tokenization").first.click()
        page.wait_for_url(re.compile(r"02-tokenization\.html"))
        assert page.locator(".jp-OutputArea-output img").first.evaluate(
            "img => img.naturalWidth") > 100, "the lesson's map picture is shown"
        link = page.locator(".course-map-outline a[href*='#']").nth(1)
        link.click()
        anchor = page.evaluate("decodeURIComponent(location.hash.slice(1))")
        assert anchor and page.locator(f"[id='{anchor}']").count() == 1, \
            f"the map link lands on a heading: #{anchor}"
        page.locator("input.md-search__input").first.click()
        page.keyboard.type("wordpiece")
        hit = page.locator(".md-search-result__link[href*='02-tokenization']").first
        hit.wait_for(state="attached", timeout=30_000)
        meta = page.locator(".md-search-result__meta").first.inner_text()
        assert re.search(r"\d+ matching", meta), f"search says {meta!r}"
        assert not watch.errors(), f"browser errors on the book: {watch.errors()}"


@pytest.mark.parametrize("ci", ["1", ""])
def test_no_chromium_skips_with_a_reason_but_fails_in_ci(ci, monkeypatch):
    monkeypatch.setenv("COURSE_CI", ci)
    monkeypatch.delenv("COURSE_CHROMIUM", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    expected = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(expected, match="apt-get install chromium"):
        _chromium()

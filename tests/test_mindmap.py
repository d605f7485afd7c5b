"""Tests for course.mindmap: the outlines in mindmaps/, parsing, every format, drawing, widgets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course import mindmap as mm
from course.authoring.release import lessons
from course.errors import CourseArgumentError, CourseDataError
from course.mindmap import MindMapError, Node
from course.mindmap import drawing as mm_drawing
from course.mindmap import fonts as mm_fonts

ROOT = Path(__file__).resolve().parent.parent
# Every lesson of the course (COURSE_DESIGN.md, section 4), written or not.
COURSE_LESSONS = (
    "00-course-map",
    "01-search-rec-bi",
    "02-tokenization",
    "03-relevance-finetuning",
    "04-ranking-recommender",
    "05-efficient-deployment",
    "06-trust-business-value",
    "07-labels-and-drift",
    "08-shop-pretraining",
    "09-catalogue-scale-ranking",
    "instructors-course-optimisation",
)
# Lessons whose mind map arrives with the lesson itself.
MAPS_TO_COME: set[str] = set()
# The lessons whose mind maps exist.
LESSONS = tuple(lesson for lesson in COURSE_LESSONS if lesson not in MAPS_TO_COME)
ALL_MAPS = ("course",) + LESSONS

TRICKY = """\
# Root (main) / 根节点 — the "centre"
## A/B testing / A/B 测试 — p < 0.05 & more — still the note
### [CLS] and [SEP] / [CLS] 与 [SEP]
- [Linked (paren) / 链接](../notebooks/x/x.ipynb#1.-Intro) — with a link
  - Deep "quoted" leaf / 引号
- 100% <html> & ampersand / 特殊字符
## CPU/GPU
"""


def labels_only(node: Node) -> tuple:
    """A node's label tree, without notes and links (Mermaid keeps only labels)."""
    return (node.label, tuple(labels_only(c) for c in node.children))


@pytest.fixture(scope="module")
def maps() -> dict[str, mm.MindMap]:
    return {name: mm.load(name) for name in ALL_MAPS}


# ------------------------------------------------------------------ the outlines


def test_every_expected_outline_exists_and_nothing_else():
    assert sorted(mm.available()) == sorted(ALL_MAPS)


@pytest.mark.parametrize("name", ALL_MAPS)
def test_outline_size_and_bilingual_labels(maps, name):
    mind = maps[name]
    assert 15 <= mind.root.size() <= 40, f"{name} has {mind.root.size()} nodes"
    assert mind.root.depth() >= 2
    for node in mind.nodes():
        english, chinese = mm.split_label(node.label)
        assert english and chinese, f"{name}: label {node.label!r} is not 'English / 中文'"
        assert not mm.has_cjk(english), f"{name}: Chinese in the English half of {node.label!r}"
        assert "\n" not in node.note


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_links_point_into_their_own_notebook(maps, name):
    links = [n.link for n in maps[name].nodes() if n.link]
    assert sum("#" in link for link in links) >= 3, f"{name}: link at least the main sections"
    for link in links:
        assert link.partition("#")[0] == f"../notebooks/{name}/{name}.ipynb", link


def test_course_map_links_every_lesson(maps):
    linked = {n.link.split("/")[2] for n in maps["course"].nodes() if n.link}
    assert linked == set(COURSE_LESSONS)


def test_lesson_00_names_the_instructors_track_and_no_lesson_count(maps):
    """A count of lessons went stale twice; lesson 00 points at the map instead."""
    import nbformat

    assert "instructors' track" in maps["00-course-map"].root.children[0].note
    nb = nbformat.read(ROOT / "solutions/00-course-map/00-course-map.ipynb", as_version=4)
    text = " ".join(" ".join(c.source.split()) for c in nb.cells if c.cell_type == "markdown")
    assert text.count("instructors' track") >= 2, "the map section and the summary"
    words = "five|six|seven|eight|nine|ten|eleven|twelve|\\d+"
    assert not re.search(rf"\b({words}) (trainee )?lessons\b", text)


def test_course_map_covers_the_themes_in_order_of_the_brief(maps):
    root = maps["course"].root

    def under(parent: str, child: str) -> bool:
        node = root.find(parent)
        return node is not None and node.find(child) is not None and node is not node.find(child)

    assert under("Large language models", "E-commerce search and recommendation")
    assert under("NLP", "Deep learning")
    assert under("NLP", "BI")
    assert root.find("User experience") is not None
    assert under("Business innovation", "Instructors' track")
    track = root.find("Instructors' track")
    assert track.link.endswith("instructors-course-optimisation.ipynb")


def test_lesson_01_follows_the_pipeline(maps):
    branches = [c.english for c in maps["01-search-rec-bi"].root.children]
    assert branches == ["Query understanding", "Retrieval", "Ranking", "Recommendation", "BI loop"]


def test_links_resolve_or_say_coming(maps):
    """A link to a missing file is waived only for a planned lesson not written yet."""
    coming = set(COURSE_LESSONS) - set(lessons())
    print(f"lessons not written yet (links to them must say 'coming'): {sorted(coming)}")
    shown = {name: mind for name, mind in maps.items() if name not in coming}
    print(f"maps of lessons not written yet are drafts: {sorted(set(maps) - set(shown))}")
    problems = [p for mind in shown.values() for p in mm.check_links(mind, coming=coming)]
    assert not problems, "\n".join(problems)
    targets = [mm.link_target(m, n) for m in shown.values() for n in m.nodes()]
    checked = [t for t in targets if t is not None and t.is_file()]
    assert len(checked) >= 20, "links into the written lessons were checked"


def test_check_links_waives_only_coming_lessons(tmp_path):
    (tmp_path / "nb").mkdir()
    (tmp_path / "nb" / "ready.ipynb").write_text(json.dumps({"cells": []}), encoding="utf-8")
    outline = tmp_path / "m.md"
    outline.write_text(
        "# R / 根\n"
        "## [A / 甲](later/later.ipynb) — lesson 09 (coming)\n"
        "## [B / 乙](later/later.ipynb) — lesson 09\n"
        "## [C / 丙](typo/typo.ipynb) — coming\n"
        "## [D / 丁](nb/ready.ipynb) — coming soon\n"
        "## [E / 戊](nb/ready.ipynb)\n",
        encoding="utf-8",
    )
    problems = mm.check_links(mm.load(outline), coming={"later"})
    assert len(problems) == 3, problems
    assert "'B / 乙'" in problems[0] and "say 'coming'" in problems[0]
    assert "'C / 丙'" in problems[1] and "missing file typo/typo.ipynb" in problems[1]
    assert "'D / 丁'" in problems[2] and "drop 'coming'" in problems[2]
    assert len(mm.check_links(mm.load(outline))) == 4, "nothing is coming: every missing file"


def test_check_links_reports_missing_file_and_anchor(tmp_path):
    nb = tmp_path / "nb.ipynb"
    cell = {"cell_type": "markdown", "source": ["## 1. Intro\n"], "metadata": {}}
    nb.write_text(json.dumps({"cells": [cell]}), encoding="utf-8")
    outline = tmp_path / "m.md"
    outline.write_text(
        "# R / 根\n## [A / 甲](nb.ipynb#1.-Intro)\n## [B / 乙](nb.ipynb#2.-Gone)\n"
        "## [C / 丙](missing.ipynb)\n",
        encoding="utf-8",
    )
    problems = mm.check_links(mm.load(outline))
    assert len(problems) == 2
    assert "#2.-Gone" in problems[0] and "missing.ipynb" in problems[1]


# ----------------------------------------------------------------------- parsing


def test_parse_reads_labels_notes_links_and_nesting():
    mind = mm.parse(TRICKY, source="tricky.md")
    root = mind.root
    assert root.label == "Root (main) / 根节点" and root.note == 'the "centre"'
    ab = root.children[0]
    assert ab.note == "p < 0.05 & more — still the note"
    cls = ab.children[0]
    assert cls.label == "[CLS] and [SEP] / [CLS] 与 [SEP]" and cls.link == ""
    linked = cls.children[0]
    assert linked.label == "Linked (paren) / 链接"
    assert linked.link == "../notebooks/x/x.ipynb#1.-Intro"
    assert [c.label for c in linked.children] == ['Deep "quoted" leaf / 引号']
    assert cls.children[1].label == "100% <html> & ampersand / 特殊字符"
    assert root.children[1].label == "CPU/GPU" and root.children[1].chinese == ""
    assert mind.name == "tricky"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("## Orphan\n", 1, "no root heading"),
        ("\n\nplain text\n# Root\n", 3, "no root heading"),
        ("# Root\n## A\n#### Too deep\n", 3, "jumps"),
        ("# Root\n## A\n- a\n    - jumps two levels\n", 4, "indentation jumps"),
        ("# Root\n- a\n   - odd indent\n", 3, "two spaces"),
        ("# Root\n##  — only a note\n", 2, "empty label"),
        ("# Root\n## A\n-  \n", 3, "empty label"),
        ("# Root\n# Second root\n", 2, "second root"),
        ("# Root\n## A\nloose text\n", 3, "neither a heading nor a bullet"),
        ("# Root\n\t- tabbed\n", 2, "tab"),
        ("", 1, "no root heading"),
    ],
)
def test_parse_errors_name_file_and_line(text, line, words):
    with pytest.raises(MindMapError) as info:
        mm.parse(text, source="lesson.md")
    message = str(info.value)
    assert message.startswith(f"lesson.md, line {line}:"), message
    assert words in message
    assert isinstance(info.value, CourseDataError)


def test_load_by_name_path_and_env_override(tmp_path, monkeypatch):
    (tmp_path / "mine.md").write_text("# Mine / 我的\n## A / 甲\n", encoding="utf-8")
    assert mm.load(tmp_path / "mine.md").root.label == "Mine / 我的"
    monkeypatch.setenv(mm.MINDMAP_DIR_ENV, str(tmp_path))
    assert mm.load("mine").name == "mine"
    with pytest.raises(MindMapError, match="no such mind map.*mine"):
        mm.load("course")


def test_load_error_in_a_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.md"
    bad.write_text("# Root\n## A\n#### C\n", encoding="utf-8")
    with pytest.raises(MindMapError, match=r"bad\.md, line 3"):
        mm.load(bad)


# -------------------------------------------------------------------- round trips

label_text = (
    st.text(
        alphabet=st.sampled_from(list("abcXYZ019 ()/&<>\"'%#-_.,:;!?分词搜索推荐")),
        min_size=1,
        max_size=18,
    )
    .map(lambda s: " ".join(s.split()))
    .filter(lambda s: s and " — " not in s)
)
notes = st.one_of(st.just(""), label_text)
links = st.one_of(
    st.just(""), st.sampled_from(["../notebooks/a/a.ipynb#1.-A", "https://x.org/p?q=1"])
)
trees = st.recursive(
    st.builds(Node, label_text, notes, links, st.just([])),
    lambda kids: st.builds(Node, label_text, notes, links, st.lists(kids, max_size=3)),
    max_leaves=12,
)


@settings(max_examples=40, deadline=None)
@given(trees)
def test_markdown_round_trip_any_tree(root):
    assert mm.parse(mm.to_markdown(root)).root == root


@settings(max_examples=30, deadline=None)
@given(trees)
def test_mermaid_round_trip_any_tree(root):
    text = mm.to_mermaid(root)
    assert text.startswith("mindmap\n")
    back = mm.from_mermaid(text)
    assert labels_only(back) == labels_only(root)


@pytest.mark.parametrize("name", ALL_MAPS)
def test_every_outline_round_trips_through_markdown_and_mermaid(maps, name):
    mind = maps[name]
    assert mm.parse(mm.to_markdown(mind)).root == mind.root
    assert labels_only(mm.from_mermaid(mm.to_mermaid(mind))) == labels_only(mind.root)


@pytest.mark.parametrize("suffix", [".mm", ".opml", ".md"])
@pytest.mark.parametrize("name", ["course", "02-tokenization"])
def test_export_import_round_trip(maps, tmp_path, name, suffix):
    mind = maps[name]
    path = mm.export(mind, tmp_path / f"{name}{suffix}")
    assert path.stat().st_size > 500
    assert mm.import_file(path).root == mind.root


@pytest.mark.parametrize("suffix", [".mm", ".opml"])
def test_export_tricky_labels_round_trip(tmp_path, suffix):
    mind = mm.parse(TRICKY)
    assert mm.import_file(mm.export(mind, tmp_path / f"t{suffix}")).root == mind.root


def test_freemind_and_opml_shapes(maps, tmp_path):
    import xml.etree.ElementTree as ET

    mind = maps["02-tokenization"]
    top = ET.parse(mm.export(mind, tmp_path / "t.mm")).getroot()
    assert top.tag == "map" and top.find("node").get("TEXT") == mind.root.label
    assert len(top.findall(".//node")) == mind.root.size()
    assert top.find(".//node[@LINK]") is not None
    assert top.find(".//richcontent[@TYPE='NOTE']") is not None
    opml = ET.parse(mm.export(mind, tmp_path / "t.opml")).getroot()
    assert opml.get("version") == "2.0"
    assert len(opml.findall(".//outline")) == mind.root.size()


def test_mermaid_quotes_labels_safely():
    text = mm.to_mermaid(mm.parse(TRICKY))
    lines = text.splitlines()
    assert lines[1] == '  n0(("Root (main) / 根节点"))'
    assert '["A/B testing / A/B 测试"]' in text
    assert "#quot;quoted#quot;" in text
    for line in lines[1:]:
        body = line.strip()
        # exactly one quoted string per node, so brackets inside it are inert
        assert body.count('"') == 2, line


def test_import_errors(tmp_path):
    broken = tmp_path / "broken.mm"
    broken.write_text("<map><node TEXT='a'>\n<node></map>", encoding="utf-8")
    with pytest.raises(MindMapError, match=r"broken\.mm, line 2"):
        mm.import_file(broken)
    empty = tmp_path / "empty.opml"
    empty.write_text("<opml version='2.0'><body/></opml>", encoding="utf-8")
    with pytest.raises(MindMapError, match="no root node"):
        mm.import_file(empty)
    with pytest.raises(CourseArgumentError, match="use a .mm, .opml or .md"):
        mm.import_file(tmp_path / "x.xmind")
    with pytest.raises(CourseArgumentError, match="unknown export format"):
        mm.export(mm.parse(TRICKY), tmp_path / "x.pdf")


# ----------------------------------------------------------------------- drawing


def ink(png: Path) -> tuple[np.ndarray, float]:
    image = mpimg.imread(png)
    rgb = image[..., :3]
    return image, float((rgb.min(axis=2) < 0.9).mean())


@pytest.mark.parametrize("layout", ["tree", "radial"])
def test_render_png_has_size_and_content(maps, tmp_path, layout):
    out = tmp_path / f"map-{layout}.png"
    fig = mm.render(maps["02-tokenization"], out, layout=layout, cjk=False)
    image, share = ink(out)
    height, width = image.shape[:2]
    expected = fig.get_size_inches() * fig.dpi
    assert abs(width - expected[0]) <= 1 and abs(height - expected[1]) <= 1
    assert 600 <= width <= 2400 and 600 <= height <= 2400
    assert 0.05 < share < 0.6, f"ink share {share:.2f}: blank or a solid block"
    levels = (image[..., :3] * 4).round().astype(int)  # 5 levels per channel
    colours = np.unique(levels[..., 0] * 25 + levels[..., 1] * 5 + levels[..., 2])
    assert len(colours) > 20, "expected several branch colours (greys alone give 5)"
    root_text = [t for t in fig.axes[0].texts if t.get_text() == "Tokenization"]
    assert root_text, "the root label is drawn"


def test_render_is_readable_at_100_percent(maps):
    fig = mm.render(maps["course"], cjk=False)
    assert fig.dpi == 100
    assert min(t.get_fontsize() for t in fig.axes[0].texts) >= 9


@pytest.mark.parametrize("layout", ["tree", "radial"])
@pytest.mark.parametrize("cjk", [False, True])
def test_no_boxes_overlap_in_any_map(maps, layout, cjk):
    for name, mind in maps.items():
        assert not mm_drawing._overlaps(mm.layout_boxes(mind.root, layout, cjk)), f"{name} {layout}"


def test_render_without_cjk_font_draws_english_only_and_says_so_once(maps, monkeypatch):
    monkeypatch.setattr(mm_fonts, "cjk_font", lambda: None)
    monkeypatch.setitem(mm_fonts._warned, "no_cjk", False)
    with pytest.warns(UserWarning, match="No CJK font found") as caught:
        fig = mm.render(maps["course"])  # cjk=None: auto, and no font is "installed"
        mm.render(maps["02-tokenization"])
    assert len([w for w in caught if "CJK" in str(w.message)]) == 1, "said once, not per map"
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert len(texts) == maps["course"].root.size()
    assert not any(mm.has_cjk(t) for t in texts), "CJK would become tofu boxes"


def test_render_with_cjk_font_draws_both_halves(maps):
    tree = mm.layout_boxes(maps["02-tokenization"].root, "tree", cjk=True)
    assert tree[0].text == "Tokenization\n分词"


def test_fallback_strips_chinese_from_unsplittable_labels(monkeypatch):
    monkeypatch.setattr(mm_fonts, "cjk_font", lambda: None)
    monkeypatch.setitem(mm_fonts._warned, "no_cjk", True)
    root = Node("BERT 模型", children=[Node("分词"), Node("Plain")])
    texts = [box.text for box in mm.layout_boxes(root, "tree")]
    assert texts == ["BERT", "?", "Plain"]


def test_a_cjk_font_is_installed_with_the_course():
    path = mm_fonts.packaged_font_file()
    assert path is not None, f"reinstall the course: {mm_fonts.PACKAGED_FONT['package']} is missing"
    assert mm.cjk_font() == "Noto Sans CJK TC"
    assert "Noto Sans CJK TC" in mm.font_status() and str(path) not in mm.font_status()


def test_a_changed_font_file_is_not_used(monkeypatch):
    monkeypatch.setitem(mm_fonts.PACKAGED_FONT, "sha256", "0" * 64)
    with pytest.warns(UserWarning, match="does not match its pinned sha256"):
        assert mm_fonts.packaged_font_file() is None


def test_every_chinese_character_of_every_map_has_a_glyph(maps):
    chars = {ch for mind in maps.values() for n in mind.nodes() for ch in n.label if mm.has_cjk(ch)}
    assert len(chars) > 100
    text = "".join(sorted(chars))
    ids = dict(zip(text, mm_fonts.glyph_ids(text, mm.cjk_font()), strict=True))
    missing = sorted(ch for ch, gid in ids.items() if gid == 0)
    assert not missing, f"drawn as .notdef boxes: {missing}"
    assert set(mm_fonts.glyph_ids("分词", "DejaVu Sans")) == {0}, "the check can fail"


def _text_pixels(text: str, **font) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1.6, 0.6), dpi=100)
    canvas = FigureCanvasAgg(fig)
    fig.text(0.05, 0.3, text, fontsize=20, **font)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def test_a_chinese_label_renders_as_the_fonts_own_glyphs():
    """The renderer's font list draws 分词 exactly as the CJK font file does, not as boxes."""
    import warnings

    path = str(mm_fonts.packaged_font_file())
    family, use_cjk = mm_drawing._fonts(cjk=True)
    assert use_cjk
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing" for a box
        drawn = _text_pixels("分词", family=family)
    from matplotlib.font_manager import FontProperties

    own = _text_pixels("分词", fontproperties=FontProperties(fname=path, size=20))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        boxes = _text_pixels("分词", family=["DejaVu Sans"])
    assert (drawn < 128).any(), "something is drawn"
    assert np.array_equal(drawn, own)
    assert not np.array_equal(drawn, boxes), "the comparison can tell glyphs from boxes"


def test_every_map_renders_with_chinese_and_no_missing_glyph(maps):
    import warnings

    for name, mind in maps.items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fig = mm.render(mind, cjk=True)
            mm.figure_bytes(fig)  # draws every text
        texts = [t.get_text() for t in fig.axes[0].texts]
        assert sum(mm.has_cjk(t) for t in texts) == mind.root.size(), name


def test_render_svg_and_bad_layout(maps, tmp_path):
    out = mm.render(maps["05-efficient-deployment"], tmp_path / "m.svg", cjk=False)
    assert out is not None
    svg = (tmp_path / "m.svg").read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and svg.count("<path") > 20
    with pytest.raises(CourseArgumentError, match="unknown layout"):
        mm.render(maps["course"], layout="spiral")


# --------------------------------------------------------------------- explorer


def test_explorer_click_expands_and_shows_note_and_link(maps):
    ex = mm.Explorer(maps["02-tokenization"], link_base=ROOT / "notebooks" / "02-tokenization")
    assert ex.is_expanded(())
    assert not ex.is_expanded((1,))
    ex.buttons[(1,)].click()  # WordPiece: the real on_click handler
    assert ex.is_expanded((1,))
    assert ex.buttons[(1,)].description.startswith("▾")
    assert "subword tokenizer" in ex.detail.value
    assert "href='02-tokenization.ipynb#2.-WordPiece-from-first-principles" in ex.detail.value
    ex.buttons[(1, 1)].click()  # greedy longest match: nested
    assert ex.is_expanded((1, 1)) and "longest piece" in ex.detail.value
    ex.buttons[(1,)].click()
    assert not ex.is_expanded((1,))
    ex.buttons[(1, 0)].click()  # a leaf: shows the note, nothing to expand
    assert "30,000" in ex.detail.value and ex.buttons[(1, 0)].description.startswith("•")
    assert len(ex.buttons) == maps["02-tokenization"].root.size()


def test_explorer_rewrites_links_relative_to_the_notebook(maps):
    ex = mm.Explorer(maps["course"], link_base=ROOT / "notebooks" / "00-course-map")
    path = next(p for p, n in ex.nodes.items() if n.english == "Tokenization")
    ex.click(path)
    assert "href='../02-tokenization/02-tokenization.ipynb'" in ex.detail.value


def _shown(monkeypatch, *args, **kwargs) -> tuple[object, list]:
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append((obj, kw)))
    return mm.show(*args, **kwargs), shown


def test_show_displays_one_picture_and_the_explorer(monkeypatch):
    import IPython.display
    import ipywidgets

    result, shown = _shown(monkeypatch, "06-trust-business-value")
    assert result is None, "show() returns nothing, so the cell prints no MindMap(...) repr"
    image, widget = (obj for obj, _ in shown)
    assert isinstance(image, IPython.display.Image) and image.data[:4] == b"\x89PNG"
    assert isinstance(widget, ipywidgets.Widget)


def test_show_gives_mermaid_only_on_request(monkeypatch):
    _, shown = _shown(monkeypatch, "02-tokenization", widget=False, mermaid=True)
    (image, _), (bundle, kwargs) = shown
    assert kwargs == {"raw": True}
    assert bundle["text/markdown"].startswith("```mermaid\nmindmap\n")
    assert bundle["text/markdown"].rstrip().endswith("```")
    _, shown = _shown(monkeypatch, "02-tokenization")
    assert not any(isinstance(obj, dict) for obj, _ in shown), "no Mermaid by default"


def test_nothing_shown_holds_an_absolute_path(maps, monkeypatch):
    _, shown = _shown(monkeypatch, "course", mermaid=True)
    texts = [repr(maps["course"]), str(shown[1][0])]
    ex = mm.Explorer(maps["course"], link_base=ROOT / "notebooks" / "00-course-map")
    texts += [ex.detail.value] + [b.description + b.tooltip for b in ex.buttons.values()]
    for path in ex.nodes:
        ex.click(path)
        texts.append(ex.detail.value)
    for text in texts:
        assert str(ROOT) not in text and "/home/" not in text and "/tmp/" not in text, text
    size = maps["course"].root.size()
    assert repr(maps["course"]) == f"MindMap('course', {size} nodes, course.md)"


# ---------------------------------------------------------------------- grading

EXPECTED = mm.parse(
    """\
# Course / 课程
## Tokenization / 分词
- WordPiece | subword | 子词
- special tokens | [CLS] | 特殊
- attention mask | padding | 掩码
"""
).root


def answer(*children: str) -> Node:
    text = "# My course\n## Tokenization\n" + "".join(f"- {c}\n" for c in children)
    return mm.parse(text).root


def test_structure_report_passes_different_wording():
    got = answer(
        "Subword pieces (WordPiece)", "Special tokens like [SEP]", "Masks / 掩码", "Extra"
    )
    assert mm.structure_report(EXPECTED, got) == []


def test_structure_report_counts_children_helpfully():
    problems = mm.structure_report(EXPECTED, answer("WordPiece"))
    assert problems == ["branch 'Tokenization' needs at least 3 children, found 1."]


def test_structure_report_names_the_missing_idea():
    problems = mm.structure_report(EXPECTED, answer("WordPiece", "WordPiece again", "padding"))
    assert len(problems) == 1
    assert "no child about 'special tokens'" in problems[0] and "[cls]" in problems[0].lower()


def test_structure_report_missing_branch_and_shape_only():
    empty = mm.parse("# My course\n## Something else\n").root
    assert mm.structure_report(EXPECTED, empty)[0].startswith("branch 'My course' has no child")
    only_shape = answer("a", "b", "c")
    assert mm.structure_report(EXPECTED, only_shape, match_labels=False) == []
    assert len(mm.structure_report(EXPECTED, only_shape)) == 3


def test_label_matches_rules():
    assert mm.label_matches("Tokenization / 分词", "中文分词")
    assert mm.label_matches("Tokenization / 分词", "tokenization!")
    assert mm.label_matches("?", "anything")
    assert not mm.label_matches("BI", "Bidirectional attention")  # short keywords match whole words
    assert mm.label_matches("BI", "BI dashboards")
    assert mm.label_matches("mask", "attention masks")  # longer keywords match inside words


def test_blank_branch_makes_a_gradable_exercise(maps):
    exercise, expected = mm.blank_branch(maps["course"].root, "Business innovation")
    branch = exercise.find("Business innovation")
    assert branch.children == [] and len(expected.children) == 3
    assert maps["course"].root.find("Business innovation").children, "the original is untouched"
    problems = mm.structure_report(expected, branch)
    assert problems == ["branch 'Business innovation' needs at least 3 children, found 0."]
    assert mm.structure_report(expected, maps["course"].root.find("Business innovation")) == []
    with pytest.raises(CourseArgumentError, match="no node matches"):
        mm.blank_branch(maps["course"].root, "Quantum")


def test_same_structure():
    a = mm.parse("# R\n## A\n- x\n- y\n## B\n").root
    b = mm.parse("# Q\n## C\n- 1\n- 2\n## D\n").root
    c = mm.parse("# Q\n## C\n- 1\n## D\n- 2\n").root
    assert mm.same_structure(a, b)
    assert not mm.same_structure(a, c)
    assert not mm.same_structure(a, b, match_labels=True)
    assert mm.same_structure(a, a, match_labels=True)


# --------------------------------------------------------------------------- CLI


def test_cli_render_export_mermaid_check(tmp_path, capsys):
    png = tmp_path / "c.png"
    assert mm.cli_main(["render", "04-ranking-recommender", "-o", str(png)]) == 0
    assert ink(png)[1] > 0.05
    svg = tmp_path / "c.svg"
    assert (
        mm.cli_main(["render", "04-ranking-recommender", "-o", str(svg), "--layout", "radial"]) == 0
    )
    assert "<svg" in svg.read_text(encoding="utf-8")
    for suffix in (".mm", ".opml"):
        out = tmp_path / f"c{suffix}"
        assert mm.cli_main(["export", "course", "-o", str(out)]) == 0
        assert mm.import_file(out).root == mm.load("course").root
    capsys.readouterr()
    assert mm.cli_main(["mermaid", "course"]) == 0
    assert capsys.readouterr().out.startswith("mindmap\n")
    assert mm.cli_main(["check"]) == 0
    assert capsys.readouterr().out.count("nodes") == len(ALL_MAPS)


def test_cli_reports_errors(tmp_path, capsys):
    assert mm.cli_main(["render", "no-such-map"]) == 1
    assert "no such mind map" in capsys.readouterr().err
    assert mm.cli_main(["export", "course", "-o", str(tmp_path / "x.docx")]) == 1
    assert "unknown export format" in capsys.readouterr().err

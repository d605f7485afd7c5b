"""Mind maps: parse the course outlines, draw them, explore them, export them.

Every lesson opens with its map. The text source of truth lives in ``mindmaps/``
(one ``NN-lesson.md`` per lesson, plus ``course.md``), in the markmap style of
Markdown::

    # Tokenization / 分词 — from text to ids
    ## [WordPiece / WordPiece 算法](../notebooks/02-tokenization/02-tokenization.ipynb#2.-...)
    ### Greedy longest match / 贪心最长匹配
    - Continuation prefix / 续接前缀
      - Vocabulary / 词表

The package, one job per module:

* :mod:`~course.mindmap.model`: ``Node``, ``MindMap`` and bilingual labels (data only: every
  drawing and format is a function of the modules below, so nothing imports back up);
* :mod:`~course.mindmap.outline`: ``parse``, ``load_outline`` and the outline rules;
* :mod:`~course.mindmap.formats`: Mermaid, FreeMind ``.mm`` and OPML, and ``load`` for any of them;
* :mod:`~course.mindmap.fonts`: the CJK font for the Chinese half of labels;
* :mod:`~course.mindmap.drawing`: ``render``, the matplotlib picture (tree or radial);
* :mod:`~course.mindmap.explorer`: the ipywidgets explorer and ``show``;
* :mod:`~course.mindmap.checks`: grading a trainee's map, and link checks;
* :mod:`~course.mindmap.cli`: ``course mindmap``.

In a notebook, ``show("02-tokenization")`` draws the map and adds the explorer;
``show_mermaid(...)`` adds the Mermaid source on request.
"""

from course.mindmap.checks import (
    blank_branch,
    check_links,
    label_matches,
    lesson_links,
    link_target,
    notebook_anchor,
    notebook_anchors,
    same_structure,
    structure_report,
)
from course.mindmap.cli import cli_main
from course.mindmap.drawing import figure_bytes, layout_boxes, render
from course.mindmap.explorer import Explorer, show, show_mermaid
from course.mindmap.fonts import cjk_font, font_status
from course.mindmap.formats import (
    export,
    from_mermaid,
    import_file,
    load,
    mermaid_markdown,
    to_mermaid,
)
from course.mindmap.model import (
    NOTE_SEP,
    MindMap,
    MindMapError,
    Node,
    has_cjk,
    normalise,
    root_of,
    split_label,
)
from course.mindmap.outline import (
    MINDMAP_DIR_ENV,
    available,
    load_outline,
    mindmap_dir,
    parse,
    to_markdown,
)

__all__ = [
    "MINDMAP_DIR_ENV",
    "NOTE_SEP",
    "Explorer",
    "MindMap",
    "MindMapError",
    "Node",
    "available",
    "blank_branch",
    "check_links",
    "cjk_font",
    "cli_main",
    "export",
    "figure_bytes",
    "font_status",
    "from_mermaid",
    "has_cjk",
    "import_file",
    "label_matches",
    "layout_boxes",
    "lesson_links",
    "link_target",
    "load",
    "load_outline",
    "mermaid_markdown",
    "mindmap_dir",
    "normalise",
    "notebook_anchor",
    "notebook_anchors",
    "parse",
    "render",
    "root_of",
    "same_structure",
    "show",
    "show_mermaid",
    "split_label",
    "structure_report",
    "to_markdown",
    "to_mermaid",
]

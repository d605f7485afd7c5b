"""``course mindmap``: render, export, print Mermaid, check every map, report the CJK font."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course.config import HelpFormatter
from course.errors import CourseError
from course.mindmap.drawing import render
from course.mindmap.fonts import font_status
from course.mindmap.formats import export, load, to_mermaid
from course.mindmap.outline import available

__all__ = [
    "cli_main",
]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="course mindmap", description="Course mind maps.",
                                     formatter_class=HelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="ACTION",
                                help="render, export, mermaid, check or fonts")
    name_help = "a map name (e.g. 02-tokenization, course) or the path of a map file"
    p_render = sub.add_parser("render", help="draw a map as PNG or SVG",
                              formatter_class=HelpFormatter)
    p_render.add_argument("name", help=name_help)
    p_render.add_argument("-o", "--output", help="out.png or out.svg (default: NAME.png)")
    p_render.add_argument("--layout", choices=("tree", "radial"), default="tree",
                          help="tree (left to right) or radial (around the root)")
    p_export = sub.add_parser("export", help="write FreeMind .mm or OPML",
                              formatter_class=HelpFormatter)
    p_export.add_argument("name", help=name_help)
    p_export.add_argument("-o", "--output", required=True,
                          help="out.mm or out.opml (the suffix picks the format; required)")
    p_mermaid = sub.add_parser("mermaid", help="print the Mermaid mindmap text",
                               formatter_class=HelpFormatter)
    p_mermaid.add_argument("name", help=name_help)
    sub.add_parser("check", help="parse every map in the mindmaps folder",
                   formatter_class=HelpFormatter)
    sub.add_parser("fonts", help="say which font draws the Chinese labels",
                   formatter_class=HelpFormatter)
    return parser


def cli_main(argv: list[str] | None = None) -> int:
    """``course mindmap render|export|mermaid|check|fonts``; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "render":
            mind = load(args.name)
            out = Path(args.output or f"{mind.name or 'mindmap'}.png")
            render(mind, out, layout=args.layout)
            print(f"wrote {out}")
        elif args.command == "export":
            print(f"wrote {export(load(args.name), args.output)}")
        elif args.command == "mermaid":
            print(to_mermaid(load(args.name)), end="")
        elif args.command == "fonts":
            print(font_status())
        else:
            for name in available():
                mind = load(name)
                print(f"{name}: {mind.root.size()} nodes, depth {mind.root.depth()}")
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0

"""A font that draws Chinese, for the bilingual labels of the mind maps.

The course depends on the PyPI package ``cvttf-NotoSansCJK-Regular``, which ships
Noto Sans CJK TC Regular (SIL Open Font License 1.1; its glyphs cover simplified
Chinese too). So every install path that installs the course (pip/Make, conda's
pip section, CI) has a CJK font. The file is checked against its sha256 before
matplotlib reads it. Without it, an installed system font (Noto Sans CJK SC,
WenQuanYi, Microsoft YaHei, ...) is used. With neither, the maps draw the English
half of every label and say so once.

Run ``python -m course.mindmap.fonts`` (``make lab`` does) to see which font is used.

:func:`font_file` finds the file of a font family without trusting matplotlib's font
cache to be fresh: a font installed after the cache was built (``apt install
fonts-noto-cjk`` on a machine that had run matplotlib) is found through fontconfig's
``fc-list``, else by reading the family names of the font files on the system.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "CJK_FONT_CANDIDATES",
    "INSTALL_HINT",
    "PACKAGED_FONT",
    "cjk_font",
    "font_file",
    "font_status",
    "glyph_ids",
    "packaged_font_file",
    "warn_once_without_cjk",
]

# The font file inside the pinned package, with its size and sha256.
PACKAGED_FONT: dict[str, Any] = {
    "package": "cvttf-NotoSansCJK-Regular",
    "module": "cvttf_NotoSansCJK_Regular",
    "file": "NotoSansCJKtc-Regular.otf",
    "bytes": 16_431_292,
    "sha256": "f57e46120a3dd025ac993801981849622405d1359b32093b1f046490f7885711",
}
CJK_FONT_CANDIDATES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Noto Sans CJK TC",
    "Noto Sans CJK JP",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
    "Hiragino Sans GB",
    "Arial Unicode MS",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "Noto Serif CJK SC",
)
INSTALL_HINT = (
    "pip install cvttf-NotoSansCJK-Regular==1.0 (the course's own dependency), or a system "
    "font: apt install fonts-noto-cjk, brew install --cask font-noto-sans-cjk-sc; "
    "Windows and macOS already have one"
)
_warned = {"no_cjk": False}


def packaged_font_file() -> Path | None:
    """The verified Noto Sans CJK file of the course's font package, or None.

    The package is located without importing it (no third-party code runs), and the
    file must have the pinned size and sha256; a changed file is not used.
    """
    spec = importlib.util.find_spec(PACKAGED_FONT["module"])
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / PACKAGED_FONT["file"]
    if not path.is_file() or path.stat().st_size != PACKAGED_FONT["bytes"]:
        return None
    from course.checksums import sha256_of

    if sha256_of(path) != PACKAGED_FONT["sha256"]:
        warnings.warn(
            f"{PACKAGED_FONT['file']} of {PACKAGED_FONT['package']} does not match its pinned "
            f"sha256, so it is not used. Reinstall the package.",
            stacklevel=2,
        )
        return None
    return path


def _register(path: str | Path) -> str | None:
    from matplotlib import font_manager

    try:
        font_manager.fontManager.addfont(str(path))
        return font_manager.FontProperties(fname=str(path)).get_name()
    except (OSError, RuntimeError, ValueError):
        return None


def _system_cjk_font() -> str | None:
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    for candidate in CJK_FONT_CANDIDATES:
        if candidate in names:
            return candidate
    for entry in font_manager.fontManager.ttflist:
        if any(k in entry.name for k in ("CJK", "Hei", "Ming", "Song", "Kai", "Han Sans")):
            return entry.name
    # A font installed after matplotlib built its cache: add it by file name.
    hints = ("cjk", "wqy", "sourcehan", "droidsansfallback", "simhei", "msyh", "pingfang")
    for path in font_manager.findSystemFonts():
        if any(h in Path(path).name.lower().replace("-", "") for h in hints):
            name = _register(path)
            if name:
                return name
    return None


@lru_cache(maxsize=1)
def _chosen() -> tuple[str | None, str]:
    packaged = packaged_font_file()
    name = _register(packaged) if packaged else None
    if name:
        return name, f"from the package {PACKAGED_FONT['package']}"
    name = _system_cjk_font()
    return name, "installed on this system" if name else ""


def cjk_font() -> str | None:
    """The family name of a font that draws Chinese (the packaged one first), or None."""
    return _chosen()[0]


def font_status() -> str:
    """One line for people: which font draws Chinese, or how to get one."""
    name, origin = _chosen()
    if name is None:
        return (
            "No CJK font found: mind maps draw the English half of each label only. "
            f"To see the Chinese half: {INSTALL_HINT}."
        )
    return f"Chinese labels in mind maps are drawn with {name} ({origin})."


def warn_once_without_cjk() -> None:
    """Say once per process that Chinese labels are left out, and how to get a font."""
    if _warned["no_cjk"]:
        return
    _warned["no_cjk"] = True
    warnings.warn(
        "No CJK font found: the mind maps show the English half of each label. "
        f"To see the Chinese half: {INSTALL_HINT}.",
        stacklevel=3,
    )


def _regular_first(style: str) -> tuple[bool, str]:
    return (style.strip().lower() not in {"regular", "normal", "book", "roman"}, style)


def _from_matplotlib(family: str) -> tuple[Path, int] | None:
    """The family's file in matplotlib's font list (its cache, plus registered fonts)."""
    from matplotlib import font_manager

    found = [(_regular_first(e.style), Path(e.fname), int(e.index))
             for e in font_manager.fontManager.ttflist
             if e.name.lower() == family.lower() and Path(e.fname).is_file()]
    return min(found)[1:] if found else None


def _from_fontconfig(family: str) -> tuple[Path, int] | None:
    """The family's file as fontconfig lists it now (``fc-list``), if fontconfig is here."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    try:
        listing = subprocess.run([fc_list, "--format", "%{file}\t%{index}\t%{family}\t%{style}\n"],
                                 capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = []
    for line in listing.splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and family.lower() in {f.strip().lower() for f in parts[2].split(",")}:
            path, index, style = Path(parts[0]), int(parts[1] or 0), parts[3].split(",")[0]
            if path.is_file():
                found.append((_regular_first(style), path, index))
    return min(found)[1:] if found else None


def _from_font_files(family: str) -> tuple[Path, int] | None:
    """The family's file found by reading the name of every face of every system font."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    packaged = packaged_font_file()
    paths = [packaged] if packaged else []
    paths += [Path(p) for p in font_manager.findSystemFonts()]
    found = []
    for path in paths:
        try:
            faces = FT2Font(str(path)).num_faces
            for index in range(faces):
                face = FT2Font(str(path), face_index=index)
                if face.family_name.lower() == family.lower():
                    found.append((_regular_first(face.style_name), path, index))
        except (OSError, RuntimeError, ValueError):
            continue
    return min(found)[1:] if found else None


def font_file(family: str) -> tuple[Path, int] | None:
    """The file holding ``family`` (its regular style first) and the face's index in it.

    Looked up in matplotlib's font list, then with fontconfig (``fc-list``), then by reading
    the system's font files: a font installed after matplotlib built its cache is found.
    None when no font of that family is installed.
    """
    for lookup in (_from_matplotlib, _from_fontconfig, _from_font_files):
        found = lookup(family)
        if found is not None:
            return found
    return None


def glyph_ids(text: str, family: str) -> list[int]:
    """The glyph index of each character of ``text`` in ``family`` (0 is .notdef, a box).

    Raises:
        ValueError: no font of that family is installed (see :func:`font_file`).
    """
    from matplotlib.ft2font import FT2Font

    found = font_file(family)
    if found is None:
        raise ValueError(f"No font of the family {family!r} is installed (looked in "
                         "matplotlib's font list, fc-list and the system's font folders).")
    path, index = found
    font = FT2Font(str(path), face_index=index)
    return [font.get_char_index(ord(ch)) for ch in text]


if __name__ == "__main__":
    print(font_status())

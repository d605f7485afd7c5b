"""Fonts are found without trusting matplotlib's font cache to be fresh (issue: a CJK font
installed with apt after matplotlib built its cache made ``glyph_ids`` fail with
``ValueError: Failed to find font Noto Sans CJK JP``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course.mindmap import fonts

FAMILY = "Noto Sans CJK TC"  # the family of the course's packaged font
TEXT = "分词"

# Run in a child: the font cache is built at matplotlib's import, from MPLCONFIGDIR.
CHILD = """
import json, sys
from matplotlib import font_manager
from course.mindmap import fonts
if sys.argv[1] == "no-package":
    fonts.packaged_font_file = lambda: None  # only the font installed on the system counts
cached = sorted({e.name for e in font_manager.fontManager.ttflist})
try:
    found = fonts.font_file(sys.argv[2])
    out = {"cached": cached, "file": str(found[0]) if found else None,
           "ids": fonts.glyph_ids(sys.argv[3], sys.argv[2])}
except ValueError as exc:
    out = {"cached": cached, "error": str(exc)}
print(json.dumps(out))
"""


def _child(env: dict[str, str], *args: str) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD, *args], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _stale_cache(tmp_path: Path, with_fontconfig: bool) -> tuple[dict[str, str], Path]:
    """A matplotlib cache built first, then the CJK font installed in the user's font folder."""
    packaged = fonts.packaged_font_file()
    assert packaged is not None, "cvttf-NotoSansCJK-Regular is a dependency of the course"
    bin_dir = tmp_path / "bin"  # a PATH with python's folder only: no fc-list on it
    bin_dir.mkdir()
    path = os.environ["PATH"] if with_fontconfig else str(bin_dir)
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / "mpl"), "PATH": path,
           "XDG_DATA_HOME": str(tmp_path / "share"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    before = _child(env, "no-package", FAMILY, TEXT)
    assert FAMILY not in before["cached"] and "error" in before, "no CJK font yet"
    assert list((tmp_path / "mpl").glob("fontlist-*.json")), "matplotlib wrote its cache"
    installed = tmp_path / "share" / "fonts" / "NotoSansCJKtc-Regular.otf"
    installed.parent.mkdir(parents=True)
    shutil.copy2(packaged, installed)
    return env, installed


@pytest.mark.skipif(shutil.which("fc-list") is None, reason="fontconfig's fc-list is not here")
def test_a_font_installed_after_matplotlibs_cache_is_found_through_fontconfig(tmp_path):
    env, installed = _stale_cache(tmp_path, with_fontconfig=True)
    after = _child(env, "no-package", FAMILY, TEXT)
    assert FAMILY not in after["cached"], "the cache is stale: it predates the font"
    assert "error" not in after, after.get("error")
    assert Path(after["file"]) == installed
    assert all(after["ids"]), "both characters have a glyph"


def test_a_font_installed_after_matplotlibs_cache_is_found_without_fontconfig(tmp_path):
    env, installed = _stale_cache(tmp_path, with_fontconfig=False)
    after = _child(env, "no-package", FAMILY, TEXT)
    assert FAMILY not in after["cached"], "the cache is stale: it predates the font"
    assert "error" not in after, after.get("error")
    assert Path(after["file"]) == installed
    assert all(after["ids"])


def test_glyph_ids_of_a_family_that_is_nowhere_says_so():
    assert fonts.font_file("No Such Family 42") is None
    with pytest.raises(ValueError, match="No Such Family 42"):
        fonts.glyph_ids(TEXT, "No Such Family 42")


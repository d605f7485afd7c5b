"""benchmarks/gpu.sh and its helpers: the wheel set for the GPU machine, and the script's syntax.

The script itself runs on a lent GPU; ``bash benchmarks/gpu.sh --dry-run`` runs all of it on
CPU (a few minutes), and the lesson path it drives is rehearsed by tests/test_rehearsal.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_wheels  # noqa: E402


def test_the_wheels_cover_papermill_and_leave_out_what_the_gpu_image_has():
    wanted = gpu_wheels.needed()
    for name in ("papermill", "nbformat", "nbclient", "ipykernel", "jupyter-client", "ipywidgets"):
        assert name in wanted, name
    for name in ("torch", "transformers", "pandas", "numpy", "aiohttp", "pyyaml"):
        assert name not in wanted, name
    from importlib.metadata import version

    assert wanted["papermill"] == version("papermill")  # the version pinned here travels


def test_check_names_missing_doubled_and_unexpected_wheels(tmp_path):
    wanted = gpu_wheels.needed()
    for name, ver in wanted.items():
        (tmp_path / f"{name.replace('-', '_')}-{ver}-py3-none-any.whl").touch()
    assert gpu_wheels.check(tmp_path) == []
    (tmp_path / f"papermill-{wanted['papermill']}-py3-none-any.whl").unlink()
    (tmp_path / "tornado-0.1-py3-none-any.whl").touch()
    (tmp_path / "torch-9.9-py3-none-any.whl").touch()
    problems = gpu_wheels.check(tmp_path)
    assert any(p.startswith("missing: papermill==") for p in problems)
    assert any(p.startswith("several versions of tornado") for p in problems)
    assert "not needed: torch" in problems


def test_gpu_sh_parses():
    subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / "gpu.sh")], check=True)

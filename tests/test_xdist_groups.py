"""``--dist loadgroup`` keeps an ``xdist_group`` on one worker (tests/xdist_groups.py).

A pytest session in a child process, on three workers: the grouped tests must all run on
one worker, and their module-scoped parametrized fixture must be set up once per parameter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

GROUPED = '''
import os, pytest
pytestmark = [pytest.mark.xdist_group("g")]

@pytest.fixture(scope="module", params=["a", "b"])
def shared(request):
    with open(os.environ["LOG"], "a") as f:
        f.write(f"setup {request.param}\\n")
    return request.param

@pytest.mark.parametrize("i", range(3))
def test_grouped(shared, i):
    with open(os.environ["LOG"], "a") as f:
        f.write(f"ran {os.environ['PYTEST_XDIST_WORKER']}\\n")
'''
OTHERS = '''
import time, pytest
@pytest.mark.parametrize("i", range(12))
def test_other(i):
    time.sleep(0.02)
'''


def test_a_group_runs_on_one_worker_and_shares_its_fixtures(tmp_path):
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    (tmp_path / "test_others.py").write_text(OTHERS)
    (tmp_path / "conftest.py").write_text(
        "from xdist_groups import pytest_collection_modifyitems  # noqa: F401\n")
    log = tmp_path / "log.txt"
    env = {**os.environ, "LOG": str(log),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent),
                                          os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "3", "--dist", "loadgroup",
                           "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    lines = log.read_text().splitlines()
    workers = {line.split()[1] for line in lines if line.startswith("ran ")}
    setups = [line for line in lines if line.startswith("setup ")]
    assert len([line for line in lines if line.startswith("ran ")]) == 6
    assert len(workers) == 1, f"the group ran on {sorted(workers)}"
    assert setups == ["setup a", "setup b"], setups

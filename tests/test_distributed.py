"""course.train.fit under torchrun with two CPU processes (gloo) matches one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

WORKER = Path(__file__).with_name("ddp_worker.py")
TORCHRUN = Path(sys.executable).with_name("torchrun")


def run_worker(out: Path, batch_size: int, processes: int, output_dir: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    args = [str(WORKER), "--batch-size", str(batch_size), "--out", str(out),
            "--output-dir", str(output_dir)]
    if processes == 1:
        command = [sys.executable, *args]
    else:
        command = [str(TORCHRUN), "--standalone", f"--nproc_per_node={processes}", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return json.loads(out.read_text())


@pytest.mark.slow
@pytest.mark.distributed
def test_two_process_ddp_matches_one_process_with_the_same_global_batch(tmp_path):
    if not TORCHRUN.exists():
        pytest.skip(f"torchrun not found next to {sys.executable}")
    single = run_worker(tmp_path / "single.json", 16, 1, tmp_path / "ckpt-single")
    ddp = run_worker(tmp_path / "ddp.json", 8, 2, tmp_path / "ckpt-ddp")
    assert (single["world"], ddp["world"]) == (1, 2)
    assert single["steps"] == ddp["steps"] == 18  # 96 examples / 16 per step * 3 epochs
    assert ddp["samples"] == single["samples"] / 2  # each rank trains on half of every batch
    np.testing.assert_allclose(ddp["train_loss"], single["train_loss"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ddp["macro_f1"], single["macro_f1"], atol=1e-6)
    assert ddp["best_metric"] == pytest.approx(single["best_metric"], abs=1e-6)
    np.testing.assert_allclose(ddp["classifier"], single["classifier"], rtol=1e-4, atol=1e-5)
    assert ddp["embedding_norm"] == pytest.approx(single["embedding_norm"], rel=1e-5)
    # every rank saved its own random state in the checkpoint
    checkpoint = sorted((tmp_path / "ckpt-ddp").glob("checkpoint-*"))[-1]
    assert {p.name for p in checkpoint.glob("rng-rank*.pt")} == {"rng-rank0.pt", "rng-rank1.pt"}

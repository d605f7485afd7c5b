"""course.train picks bf16 autocast on a CPU only with native bf16 and when the switch says so."""

from __future__ import annotations

import torch

from course import train
from course.train import precision


def test_cpu_bf16_flags_reads_the_cpu_flags(monkeypatch, tmp_path):
    flags = train.cpu_bf16_flags()
    assert set(flags) <= {"avx512_bf16", "amx_bf16"}
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile\n")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: real_open(
        cpuinfo if path == "/proc/cpuinfo" else path, *a, **k))
    assert train.cpu_bf16_flags() == ["avx512_bf16"]


def test_auto_precision_on_cpu_follows_the_measurement(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: ["avx512_bf16"])
    monkeypatch.setattr(precision, "BF16_ON_CPU", True)
    assert train.resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(precision, "BF16_ON_CPU", False)
    assert train.resolve_precision("auto", cpu) == "fp32"
    monkeypatch.setattr(precision, "BF16_ON_CPU", True)
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: [])
    assert train.resolve_precision("auto", cpu) == "fp32"  # emulated bf16 is never automatic
    assert train.resolve_precision("bf16", cpu) == "bf16"  # asking for it still works

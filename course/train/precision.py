"""Training precision: which of fp32, bf16 and fp16 a run uses on this device.

``auto`` is bf16 on a CUDA GPU that has it, fp16 (with a scaler) on older GPUs, bf16 on a CPU
with native bf16 instructions (while :data:`BF16_ON_CPU` says the measurement found it
faster), and fp32 elsewhere.
"""

from __future__ import annotations

import torch

from course import config as course_config
from course.errors import CourseArgumentError

__all__ = [
    "BF16_ON_CPU",
    "PRECISIONS",
    "autocast_dtype",
    "cpu_bf16_flags",
    "resolve_precision",
]

PRECISIONS = ("auto", "bf16", "fp16", "fp32")

# bf16 autocast on a CPU with native bf16 (avx512_bf16 or AMX): measured by
# benchmarks/precision.py on a quiet 2-core machine (BENCHMARKS.md, "Training engine and
# precision"): full fine-tuning of MiniLM for 300 steps, interleaved, was 1.46x faster per step
# than fp32, and its validation macro-F1 was 0.653 against fp32's 0.629. So ``auto`` picks bf16
# on such CPUs.
BF16_ON_CPU = True


def cpu_bf16_flags() -> list[str]:
    """The CPU's native bfloat16 instruction sets (``avx512_bf16``, ``amx_bf16``); [] if none.

    Read from ``/proc/cpuinfo`` (Linux); elsewhere the list is empty and bf16 is never automatic.
    """
    try:
        with open("/proc/cpuinfo") as handle:
            flags = next((line.split(":", 1)[1].split() for line in handle
                          if line.startswith("flags")), [])
    except OSError:
        return []
    return [flag for flag in ("avx512_bf16", "amx_bf16") if flag in flags]


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` becomes bf16 on a CUDA GPU that has it, fp16 on older GPUs, fp32 elsewhere.

    On a CPU with native bf16 (:func:`cpu_bf16_flags`) ``auto`` is bf16 when
    ``BF16_ON_CPU`` says the measurement found it faster at the same quality.
    """
    if precision not in PRECISIONS:
        raise CourseArgumentError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}.")
    if precision == "auto":
        if device.type == "cpu":
            return "bf16" if BF16_ON_CPU and cpu_bf16_flags() else "fp32"
        if device.type != "cuda":
            return "fp32"
        return "bf16" if course_config.bf16_supported() else "fp16"
    if precision == "fp16" and device.type != "cuda":
        raise CourseArgumentError(
            "fp16 training needs a CUDA GPU; use precision='fp32' (or 'bf16').")
    return precision


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a resolved precision; None for fp32."""
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)

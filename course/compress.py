"""Smaller, faster inference: int8 dynamic quantization and ONNX Runtime.

* :func:`quantize_int8`: PyTorch dynamic quantization. Every ``nn.Linear`` stores int8
  weights: by default (``quantize_dynamic``'s default qconfig) with **one** scale and zero
  point for the whole weight matrix (``torch.per_tensor_affine``); with ``per_channel=True``
  one scale per output row (``torch.per_channel_affine``), which follows rows of very
  different ranges more closely. Activations are quantized on the fly, per batch, and the
  CPU's integer dot-product instructions (VNNI) do the matrix products.
* :func:`weight_qschemes`: which scheme each quantized linear layer really uses.
* :func:`linear_layer_bytes`: the size on disk of the linear layers, fp32 against int8.
* :func:`export_onnx` / :class:`OnnxClassifier`: the same classifier as an ONNX graph run by
  ONNX Runtime, the usual CPU serving runtime, optionally with its own int8 quantization.
* :func:`classifier_logits`: logits of any of them for a list of pairs, batch by batch.
"""

from __future__ import annotations

import copy
import io
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from course.errors import CourseArgumentError, CourseModelError

__all__ = [
    "OnnxClassifier",
    "classifier_logits",
    "export_onnx",
    "linear_layer_bytes",
    "model_file_bytes",
    "quantize_int8",
    "quantize_onnx",
    "weight_qschemes",
]


def quantize_int8(model: torch.nn.Module, per_channel: bool = False) -> torch.nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` dynamically quantized to int8 (CPU only).

    ``per_channel=False`` is ``quantize_dynamic``'s default qconfig: one scale per weight
    matrix. ``per_channel=True`` uses ``per_channel_dynamic_qconfig``: one scale per output row.
    """
    from torch.ao.quantization import (
        default_dynamic_qconfig,
        per_channel_dynamic_qconfig,
        quantize_dynamic,
    )

    engines = torch.backends.quantized.supported_engines
    if "fbgemm" in engines:  # x86; "qnnpack" is the ARM engine
        torch.backends.quantized.engine = "fbgemm"
    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*", category=UserWarning)
        qconfig = per_channel_dynamic_qconfig if per_channel else default_dynamic_qconfig
        quantized = quantize_dynamic(
            copy.deepcopy(model).cpu().eval(), {torch.nn.Linear: qconfig}, dtype=torch.qint8
        )
    return quantized


def weight_qschemes(model: torch.nn.Module) -> set:
    """The quantization schemes of the int8 linear weights (``{torch.per_tensor_affine}``, ...)."""
    schemes = {m.weight().qscheme() for m in model.modules()  # type: ignore[operator]
               if _is_quantized_linear(m)}
    if not schemes:
        raise CourseArgumentError("The model has no int8 linear layer; quantize it first.")
    return schemes


def _is_quantized_linear(module: torch.nn.Module) -> bool:
    return type(module).__name__ == "Linear" and "quantized" in type(module).__module__


def linear_layer_bytes(model: torch.nn.Module) -> int:
    """Bytes on disk (``torch.save``) of the state of every linear layer, quantized or not."""
    state = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) or _is_quantized_linear(module):
            for key, value in module.state_dict().items():
                state[f"{name}.{key}"] = value
    if not state:
        raise CourseArgumentError("The model has no linear layer.")
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.tell()


def model_file_bytes(model: torch.nn.Module) -> int:
    """Bytes of the whole state dict saved with ``torch.save`` (works for quantized models)."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()


def _pairs(tokenizer, queries: Sequence[str], texts: Sequence[str], max_length: int):
    return tokenizer(
        list(queries),
        list(texts),
        padding=True,
        truncation="only_second",
        max_length=max_length,
        return_tensors="pt",
    )


@torch.no_grad()
def classifier_logits(
    model,
    tokenizer,
    queries: Sequence[str],
    texts: Sequence[str],
    max_length: int = 64,
    batch_size: int = 32,
) -> np.ndarray:
    """``[n, classes]`` logits of a torch classifier or an :class:`OnnxClassifier`."""
    if len(queries) != len(texts):
        raise CourseArgumentError(f"Got {len(queries)} queries for {len(texts)} texts.")
    out = []
    if isinstance(model, torch.nn.Module):
        model.eval()
    for start in range(0, len(texts), batch_size):
        enc = _pairs(
            tokenizer,
            queries[start : start + batch_size],
            texts[start : start + batch_size],
            max_length,
        )
        logits = model(**enc).logits
        out.append(np.asarray(logits.float() if torch.is_tensor(logits) else logits))
    return np.concatenate(out) if out else np.zeros((0, 0))


# ------------------------------------------------------------------------- ONNX


class _Logits:
    def __init__(self, logits: np.ndarray):
        self.logits = torch.from_numpy(logits)


class OnnxClassifier:
    """An exported classifier run by ONNX Runtime; called like the torch model: ``.logits``."""

    def __init__(self, path: str | Path, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]

    def __call__(self, **batch) -> _Logits:
        feed = {name: batch[name].numpy().astype(np.int64) for name in self.inputs}
        return _Logits(self.session.run(["logits"], feed)[0])


def export_onnx(model: torch.nn.Module, tokenizer, path: str | Path, max_length: int = 64) -> Path:
    """Export a sequence classifier to ONNX with dynamic batch and sequence axes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sample = _pairs(
        tokenizer, ["red sofa", "oak table"], ["a red velvet sofa", "a table"], max_length
    )
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    model = copy.deepcopy(model).cpu().eval()

    class Wrapped(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *tensors):
            return self.inner(**dict(zip(names, tensors, strict=True))).logits

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Wrapped(model),
            tuple(sample[n] for n in names),
            str(path),
            input_names=names,
            output_names=["logits"],
            dynamic_axes={**axes, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    if not path.is_file():
        raise CourseModelError(f"ONNX export wrote nothing to {path}.")
    return path


def quantize_onnx(path: str | Path, out: str | Path | None = None) -> Path:
    """ONNX Runtime's dynamic int8 quantization of an exported model (MatMul weights)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path = Path(path)
    out = Path(out) if out else path.with_name(path.stem + "-int8.onnx")
    quantize_dynamic(str(path), str(out), weight_type=QuantType.QInt8)
    return out

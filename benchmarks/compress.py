"""int8 dynamic quantization and ONNX Runtime against fp32: latency per batch and linear-layer size.

The packaged MiniLM cross-encoder (its head untrained: latency and size do not depend on the
weights' values) scores mini-shop (query, product) pairs at batch 1 and batch 32, at
``--max-length`` tokens. The variants are timed round-robin (fp32, int8, ONNX fp32, ONNX
int8, fp32, ...) so that a change in machine load hits all of them; each call records wall
and CPU seconds (CPU time is less sensitive to other jobs), and the medians are printed with
the ratio to fp32. Quality (macro-F1 change) needs a trained model: lesson 05 measures it.

Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/compress.py --repeats 10
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per variant and batch")
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--no-onnx", action="store_true", help="time the torch variants only")
    args = parser.parse_args(argv)

    import torch

    from course import compress, data, models

    resolved = models.resolve_model("minilm", quiet=True)
    tokenizer = models.load_tokenizer(resolved)
    fp32 = models.load_classifier(resolved, list(data.LABELS), seed=0).eval()
    variants = {"fp32": fp32, "int8": compress.quantize_int8(fp32)}
    sizes = {name: compress.linear_layer_bytes(m) / 2**20 for name, m in variants.items()}
    tmp = tempfile.TemporaryDirectory()
    if not args.no_onnx:
        path = compress.export_onnx(fp32, tokenizer, Path(tmp.name) / "ce.onnx", args.max_length)
        int8_path = compress.quantize_onnx(path)
        threads = torch.get_num_threads()
        variants["onnx fp32"] = compress.OnnxClassifier(path, threads=threads)
        variants["onnx int8"] = compress.OnnxClassifier(int8_path, threads=threads)
        sizes["onnx fp32"] = path.stat().st_size / 2**20
        sizes["onnx int8"] = Path(int8_path).stat().st_size / 2**20
    pairs = data.relevance_pairs(data.make_minishop(seed=42, n_queries=200, n_products=300))
    queries, texts = pairs["query"].tolist()[:32], pairs["product_text"].tolist()[:32]
    wall: dict[tuple[str, int], list[float]] = {}
    cpu: dict[tuple[str, int], list[float]] = {}
    for repeat in range(args.repeats + 1):  # the first round warms up, untimed
        for batch in (1, 32):
            for name, model in variants.items():
                w0, c0 = time.perf_counter(), time.process_time()
                compress.classifier_logits(
                    model, tokenizer, queries[:batch], texts[:batch], args.max_length, batch
                )
                if repeat:
                    wall.setdefault((name, batch), []).append(time.perf_counter() - w0)
                    cpu.setdefault((name, batch), []).append(time.process_time() - c0)
    rows = {}
    for name in variants:
        row = {"linear/file MB": sizes[name]}
        for batch in (1, 32):
            row[f"wall ms b{batch}"] = 1000 * float(np.median(wall[(name, batch)]))
            row[f"CPU ms b{batch}"] = 1000 * float(np.median(cpu[(name, batch)]))
        rows[name] = row
    table = pd.DataFrame(rows).T
    for batch in (1, 32):
        table[f"fp32/x CPU b{batch}"] = (
            table.loc["fp32", f"CPU ms b{batch}"] / table[f"CPU ms b{batch}"]
        )
        table[f"fp32/x wall b{batch}"] = (
            table.loc["fp32", f"wall ms b{batch}"] / table[f"wall ms b{batch}"]
        )
    table["fp32/x size"] = table.loc["fp32", "linear/file MB"] / table["linear/file MB"]
    print(
        f"MiniLM cross-encoder, max_length {args.max_length}, {args.repeats} timed calls per "
        f"cell, torch threads {torch.get_num_threads()}, load {os.getloadavg()[0]:.1f}; "
        "torch rows: linear layers only, ONNX rows: the whole file"
    )
    print(table.round(2).to_string())
    tmp.cleanup()


if __name__ == "__main__":
    main()

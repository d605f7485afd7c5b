"""Toy (query, product, label) pairs that the tiny BERT learns in seconds.

Shared by tests/test_train.py and tests/ddp_worker.py (which torchrun starts as a script).
"""

from __future__ import annotations

import numpy as np

LABELS = ["Exact", "Partial", "Irrelevant"]
COLOURS = ["red", "blue", "green", "black", "white", "grey"]
TYPES = ["sofa", "chair", "table", "lamp", "bed", "rug"]
FILLERS = ("soft", "modern", "oak", "large", "small")


def toy_pairs(n: int, seed: int,
              fillers: tuple[str, ...] = FILLERS) -> tuple[list[str], list[str], list[int]]:
    """Queries 'colour type'; the label says how many of the two words the product matches."""
    rng = np.random.default_rng(seed)
    queries, docs, labels = [], [], []
    for _ in range(n):
        colour, kind = rng.choice(COLOURS), rng.choice(TYPES)
        other_colour = rng.choice([c for c in COLOURS if c != colour])
        other_kind = rng.choice([t for t in TYPES if t != kind])
        label = int(rng.integers(0, 3))
        options = [(colour, kind), (other_colour, kind), (other_colour, other_kind)]
        doc_colour, doc_kind = options[label]
        filler = " ".join(rng.choice(list(fillers), rng.integers(0, 8)))
        queries.append(f"{colour} {kind}")
        docs.append(f"{filler} {doc_colour} {doc_kind}".strip())
        labels.append(label)
    return queries, docs, labels

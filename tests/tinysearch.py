"""A tiny two-stage search and a LambdaMART ranker over it, built in seconds with the tiny BERT.

Shared by tests/test_search_ranked.py and tests/test_serve_properties.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from course import data
from course.models import load_classifier, load_encoder, load_tokenizer, resolve_model
from course.search import BiEncoder, CrossEncoderScorer, TwoStageSearch, encode_texts, ltr


def tiny_two_stage(seed: int, n_products: int) -> tuple[TwoStageSearch, pd.DataFrame]:
    """A two-stage search over ``n_products`` of a mini-shop drawn with ``seed``, and those
    products (with their business features)."""
    resolved = resolve_model("tiny")
    tokenizer = load_tokenizer(resolved)
    bi = BiEncoder(load_encoder(resolved, seed=0))
    cross = load_classifier(resolved, list(data.LABELS), seed=0)
    products = data.make_minishop(seed=seed, n_products=n_products, n_queries=5,
                                  n_users=2).products
    catalog = products[["product_id", "title", "text"]]
    vectors = encode_texts(bi, tokenizer, catalog["text"].tolist(), max_length=32)
    base = TwoStageSearch(catalog, bi, tokenizer, vectors,
                          CrossEncoderScorer(cross, tokenizer, max_length=32), lexical_weight=0.3)
    return base, products


def tiny_ranker(n_queries: int, n_train: int, label, rounds: int):
    """LambdaMART on random features of ``n_queries`` queries of 10 products; ``label(frame,
    rng)`` gives the labels. The first ``n_train`` queries train, the rest stop early."""
    rng = np.random.default_rng(0)
    n = n_queries * 10
    frame = pd.DataFrame(rng.random((n, len(ltr.FEATURES))), columns=list(ltr.FEATURES))
    frame["query_id"] = np.repeat(np.arange(n_queries), 10)
    frame["label"] = label(frame, rng)
    return ltr.fit_lambdamart(frame[frame.query_id < n_train], frame[frame.query_id >= n_train],
                              rounds=rounds, early_stopping=rounds,
                              params={"min_data_in_leaf": 5})

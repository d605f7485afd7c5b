"""A lexical baseline for relevance: TF-IDF features and logistic regression.

Input is the text ``"query [SEP] product_text"`` (see :func:`pair_text`). A linear
model on the bag of words of the whole pair cannot tell whether a query word
*also* appears in the product, so the features are lexical match features
(:class:`QueryProductMatch`):

* for every word, its TF-IDF weight in the query times its weight in the product;
* the share of query words found in the product, whether all are found, and the
  TF-IDF cosine of query and product.

It matches words only, so it cannot know that a couch is a sofa.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

SEP = " [SEP] "


def pair_text(pairs: pd.DataFrame) -> pd.Series:
    """``query [SEP] product_text`` for each row of a relevance-pairs frame."""
    return pairs["query"].astype(str) + SEP + pairs["product_text"].astype(str)


class QueryProductMatch(BaseEstimator, TransformerMixin):
    """Per-word TF-IDF(query) * TF-IDF(product), word coverage, all-covered and cosine."""

    def __init__(self, min_df: int = 1):
        self.min_df = min_df

    @staticmethod
    def _split(texts) -> tuple[list[str], list[str]]:
        parts = [str(t).split(SEP.strip(), 1) for t in texts]
        return [p[0] for p in parts], [p[1] if len(p) > 1 else "" for p in parts]

    def fit(self, texts, y=None):
        queries, products = self._split(texts)
        self.vectorizer_ = TfidfVectorizer(min_df=self.min_df).fit(queries + products)
        return self

    def transform(self, texts):
        queries, products = self._split(texts)
        q = self.vectorizer_.transform(queries)
        p = self.vectorizer_.transform(products)
        q_words, p_words = (q > 0).astype(float), (p > 0).astype(float)
        found = np.asarray(q_words.multiply(p_words).sum(axis=1)).ravel()
        asked = np.maximum(1.0, np.asarray(q_words.sum(axis=1)).ravel())
        cosine = np.asarray(q.multiply(p).sum(axis=1)).ravel()
        dense = np.column_stack([found / asked, found == asked, cosine]).astype(float)
        return sp.hstack([q.multiply(p), sp.csr_matrix(dense)]).tocsr()


def lexical_baseline(c: float = 10.0, max_iter: int = 3000, seed: int = 0) -> Pipeline:
    """An unfitted TF-IDF + logistic regression pipeline over ``pair_text`` strings."""
    return Pipeline([
        ("features", QueryProductMatch()),
        ("classifier", LogisticRegression(C=c, max_iter=max_iter, random_state=seed)),
    ])


__all__ = ["SEP", "QueryProductMatch", "lexical_baseline", "pair_text"]

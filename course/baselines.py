"""Lexical baselines that a fine-tuned BERT has to beat.

* :func:`tfidf_logreg`: classify (query, product) pairs as Exact / Partial / Irrelevant
  with logistic regression on TF-IDF word-match features;
* :func:`tfidf_cosine_scores` and :func:`bm25_scores`: rank each query's candidates
  by word overlap;
* :class:`BM25Index`: BM25 over a whole catalog, the lexical retriever of lesson 05.

All take the split DataFrames of the lessons (columns ``query_id``, ``query``,
``product_text`` and, for training, ``label``). They only match words, so they fail
where a query says "couch" and the product says "sofa": that is the point.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from course.data import LABELS
from course.errors import CourseArgumentError, CourseDataError

__all__ = [
    "TOKEN",
    "BM25Index",
    "bm25_scores",
    "tfidf_cosine_scores",
    "tfidf_logreg",
    "tokenize_words",
]

TOKEN = re.compile(r"[a-z0-9]+")


def tokenize_words(text: str) -> list[str]:
    """Lower-case words and numbers: ``"Red Sofa, 3-seat"`` -> ``["red", "sofa", "3", "seat"]``."""
    return TOKEN.findall(text.lower())


def _check_columns(df: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise CourseDataError(f"{name} lacks columns {missing}; it has {list(df.columns)}.")
    if len(df) == 0:
        raise CourseDataError(f"{name} is empty.")


def _pair_features(vectorizer, df: pd.DataFrame):
    """Word-match features of each pair: shared terms, cosine, share of query words found."""
    queries = vectorizer.transform(df["query"])
    products = vectorizer.transform(df["product_text"])
    shared = queries.multiply(products)  # TF-IDF weight of every term in both texts
    cosine = np.asarray(shared.sum(axis=1))  # rows are L2-normalised, so this is the cosine
    found = []
    for query, product in zip(df["query"], df["product_text"], strict=True):
        words, present = tokenize_words(query), set(tokenize_words(product))
        found.append(sum(w in present for w in words) / max(1, len(words)))
    coverage = np.asarray(found)[:, None]
    return sparse.hstack([shared, cosine, coverage, coverage == 1, coverage == 0]).tocsr()


def tfidf_logreg(
    train_df: pd.DataFrame, test_df: pd.DataFrame, labels: Sequence[str] = LABELS, C: float = 10.0
) -> np.ndarray:
    """Fit TF-IDF + logistic regression on ``train_df``; class probabilities for ``test_df``.

    The features describe how the query matches the product text: the TF-IDF
    weight of each shared word, their cosine, and the share of query words found.

    Returns:
        ``[len(test_df), len(labels)]`` probabilities, columns in ``labels`` order
        (Exact, Partial, Irrelevant); take ``argmax`` for the predicted class.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    _check_columns(train_df, ("query", "product_text", "label"), "train_df")
    _check_columns(test_df, ("query", "product_text"), "test_df")
    unknown = sorted(set(train_df["label"]) - set(labels))
    if unknown:
        raise CourseDataError(f"train_df has labels {unknown} outside {list(labels)}.")
    vectorizer = TfidfVectorizer(token_pattern=TOKEN.pattern, sublinear_tf=True)
    vectorizer.fit(pd.concat([train_df["query"], train_df["product_text"]]))
    model = LogisticRegression(C=C, max_iter=2000)
    model.fit(_pair_features(vectorizer, train_df), train_df["label"])
    probs = model.predict_proba(_pair_features(vectorizer, test_df))
    out = np.zeros((len(test_df), len(labels)))
    for j, label in enumerate(model.classes_):  # reorder to the course's label order
        out[:, labels.index(label)] = probs[:, j]
    return out


def tfidf_cosine_scores(df: pd.DataFrame) -> np.ndarray:
    """Cosine similarity of TF-IDF vectors of each query and its product (one score per row).

    The vocabulary and IDF come from the distinct product texts of ``df``.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    _check_columns(df, ("query", "product_text"), "df")
    vectorizer = TfidfVectorizer(token_pattern=TOKEN.pattern, sublinear_tf=True)
    vectorizer.fit(df["product_text"].drop_duplicates())
    shared = vectorizer.transform(df["query"]).multiply(vectorizer.transform(df["product_text"]))
    return np.asarray(shared.sum(axis=1)).ravel()


class BM25Index:
    """Okapi BM25 over a fixed list of documents, scored for every document at once.

    ``score = sum over query words w of idf(w) * tf * (k1 + 1) / (tf + k1 * norm)`` with
    ``norm = 1 - b + b * dl / avgdl`` and ``idf(w) = ln(1 + (N - n_w + 0.5) / (n_w + 0.5))``
    over the ``N`` documents, ``tf``
    the count of ``w`` in a document and ``dl`` its length in words. The per-word term of
    every document is precomputed in a sparse matrix, so a query costs one sparse row sum.

    Args:
        texts: the documents (e.g. the catalog's product texts).
        k1: term-frequency saturation.
        b: length normalisation.
    """

    def __init__(self, texts, k1: float = 1.2, b: float = 0.75):
        docs = [Counter(tokenize_words(text)) for text in texts]
        if not docs:
            raise CourseDataError("BM25Index needs at least one document.")
        self.vocabulary: dict[str, int] = {}
        rows, cols, tfs = [], [], []
        for i, doc in enumerate(docs):
            for word, tf in doc.items():
                rows.append(i)
                cols.append(self.vocabulary.setdefault(word, len(self.vocabulary)))
                tfs.append(tf)
        rows_a, cols_a, tf_a = np.asarray(rows), np.asarray(cols), np.asarray(tfs, dtype=float)
        lengths = np.asarray([sum(doc.values()) for doc in docs], dtype=float)
        avgdl = lengths.mean() or 1.0
        doc_freq = np.bincount(cols_a, minlength=len(self.vocabulary))
        self.idf = np.log(1 + (len(docs) - doc_freq + 0.5) / (doc_freq + 0.5))
        norm = k1 * (1 - b + b * lengths[rows_a] / avgdl)
        weights = self.idf[cols_a] * tf_a * (k1 + 1) / (tf_a + norm)
        # word x document, so that a query's words select rows
        self.weights = sparse.csr_matrix((weights, (cols_a, rows_a)),
                                         shape=(len(self.vocabulary), len(docs)))
        self.n_docs = len(docs)

    def scores(self, query: str) -> np.ndarray:
        """The BM25 score of every document for ``query`` (``[n_docs]``; 0 with no shared word)."""
        ids = [self.vocabulary[w] for w in tokenize_words(query) if w in self.vocabulary]
        if not ids:
            return np.zeros(self.n_docs)
        counts = np.bincount(ids, minlength=len(self.vocabulary))  # a repeated word counts twice
        used = np.flatnonzero(counts)
        return np.asarray(self.weights[used].T @ counts[used], dtype=float).ravel()

    def search(self, query: str, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best documents for ``query``: ``(indices, scores)``, best first.

        Ties keep document order, so documents sharing no word with the query come last
        in their catalog order.
        """
        if not 1 <= k <= self.n_docs:
            raise CourseArgumentError(f"k must be between 1 and {self.n_docs}, got {k}.")
        scores = self.scores(query)
        top = np.argsort(-scores, kind="stable")[:k]
        return top, scores[top]


def bm25_scores(df: pd.DataFrame, k1: float = 1.2, b: float = 0.75) -> np.ndarray:
    """Okapi BM25 score of each row's product text for its query (one score per row).

    ``score = sum over query words w of idf(w) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / L))``
    with ``L`` the mean document length
    with ``idf(w) = ln(1 + (N - n_w + 0.5) / (n_w + 0.5))`` over the N distinct product
    texts of ``df``, ``tf`` the count of ``w`` in the product, ``dl`` its length in words.

    The index (:class:`BM25Index`) holds the N distinct product texts of ``df``.
    """
    _check_columns(df, ("query", "product_text"), "df")
    texts = df["product_text"].drop_duplicates()
    index = BM25Index(texts.tolist(), k1=k1, b=b)
    position = {text: i for i, text in enumerate(texts)}
    scores = np.zeros(len(df))
    rows_of = df.reset_index(drop=True).groupby("query", sort=False).indices
    for query, rows in rows_of.items():
        every = index.scores(query)
        scores[rows] = every[[position[t] for t in df["product_text"].to_numpy()[rows]]]
    return scores

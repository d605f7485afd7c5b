"""A frozen pretrained encoder with a small trained head: label-cheap, and fast on a CPU.

Fine-tuning the cross-encoder of lesson 03 costs about a second per step on a laptop,
too slow to train dozens of models for a learning curve or an active-learning loop.
Here the encoder is **frozen**: every distinct query and product text is embedded once
(:func:`embed_texts`, lesson 04's item tower: mean pooling, no projection), each pair
becomes ``[u, v, u * v, |u - v|]`` (:class:`PairFeatures`, as in Sentence-BERT), and only
a head is trained on those features:

* :func:`logreg_head`: standardised features and multinomial logistic regression;
* :class:`HeadClassifier`: a small torch MLP trained with ``course.train.fit`` (through
  :mod:`course.train.heads`, as lesson 05's frozen head is), which can go on training from
  its current weights (fine-tuning on new data, with replay).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from course.data.splits import label_ids
from course.errors import CourseArgumentError, CourseDataError
from course.train.heads import FeatureHead, fit_head, head_probabilities

__all__ = [
    "HeadClassifier",
    "PairFeatures",
    "embed_texts",
    "head_probabilities",
    "logreg_head",
    "train_head",
]


def embed_texts(
    texts: Sequence[str],
    model_name: str = "minilm",
    max_length: int = 64,
    batch_size: int = 64,
    progress: bool = True,
) -> np.ndarray:
    """L2-normalised mean-pooled encoder vectors of ``texts``, ``[len(texts), hidden]``.

    The encoder is frozen (no gradients); it is lesson 04's item tower without projection.
    """
    from course import recsys

    texts = list(texts)
    if not texts:
        raise CourseArgumentError("embed_texts needs at least one text.")
    with torch.no_grad():
        tower = recsys.two_tower(model_name, texts, freeze_encoder=True, max_length=max_length,
                                 batch_size=batch_size, progress=progress)
        vectors = torch.nn.functional.normalize(tower.item_cache, dim=-1)
    return vectors.cpu().numpy()


@dataclass
class PairFeatures:
    """Embeddings of every distinct text, and the pair features built from them."""

    index: dict[str, int]
    vectors: np.ndarray

    @classmethod
    def build(cls, frames: Sequence[pd.DataFrame], embed: Callable[[list[str]], np.ndarray]
              = embed_texts) -> PairFeatures:
        """Embed every distinct ``query`` and ``product_text`` of ``frames`` once."""
        texts = pd.concat([pd.concat([f["query"], f["product_text"]]) for f in frames]).unique()
        vectors = np.asarray(embed(list(texts)), dtype=np.float32)
        if len(vectors) != len(texts):
            raise CourseDataError(f"embed returned {len(vectors)} vectors for {len(texts)} texts.")
        return cls({text: i for i, text in enumerate(texts)}, vectors)

    def rows(self, texts: pd.Series) -> np.ndarray:
        """Row of each text in :attr:`vectors`; a text never embedded is an error."""
        rows = texts.map(self.index)
        if rows.isna().any():
            missing = texts[rows.isna()].iloc[0]
            raise CourseDataError(
                f"{int(rows.isna().sum())} texts were not embedded (first: {missing!r}); "
                "pass every frame to PairFeatures.build."
            )
        return rows.to_numpy(dtype=int)

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        """``[u, v, u * v, |u - v|]`` for each (query, product_text) row, ``[n, 4 * hidden]``."""
        u = self.vectors[self.rows(frame["query"])]
        v = self.vectors[self.rows(frame["product_text"])]
        return np.hstack([u, v, u * v, np.abs(u - v)])


def logreg_head(
    features: np.ndarray, labels: np.ndarray, seed: int = 0, C: float = 1.0
) -> Callable[[np.ndarray], np.ndarray]:
    """Fit standardised multinomial logistic regression; returns ``predict_proba``.

    Labels are class ids ``0..k-1``; the probability columns are always ``0..k-1``
    (a class missing from a tiny training set gets probability 0).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = np.asarray(labels, dtype=int)
    n_classes = 3 if labels.max() < 3 else int(labels.max()) + 1
    model = make_pipeline(StandardScaler(),
                          LogisticRegression(C=C, max_iter=500, random_state=seed))
    model.fit(features, labels)
    classes = model.classes_

    def predict_proba(x: np.ndarray) -> np.ndarray:
        out = np.zeros((len(x), n_classes))
        out[:, classes] = model.predict_proba(x)
        return out

    return predict_proba


class HeadClassifier(FeatureHead):
    """A head over frozen pair features: ``Linear -> GELU -> Dropout -> Linear``, or one
    ``Linear`` (softmax regression) when ``hidden`` is 0.

    A :class:`course.train.heads.FeatureHead`, so ``course.train.fit`` and
    ``course.train.predict`` can train and run it.
    """

    def __init__(self, n_features: int, n_classes: int = 3, hidden: int = 256,
                 dropout: float = 0.1, seed: int = 0):
        torch.manual_seed(seed)
        if hidden:
            net = nn.Sequential(nn.Linear(n_features, hidden), nn.GELU(),
                                nn.Dropout(dropout), nn.Linear(hidden, n_classes))
        else:
            net = nn.Sequential(nn.Dropout(dropout), nn.Linear(n_features, n_classes))
        super().__init__(net)


def train_head(
    head: HeadClassifier,
    features: np.ndarray,
    labels: np.ndarray | pd.Series,
    *,
    epochs: float = 10,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
) -> HeadClassifier:
    """Train ``head`` from its current weights (:func:`course.train.heads.fit_head`).

    ``labels`` are class ids or label names (Exact, Partial, Irrelevant).
    """
    if not pd.api.types.is_numeric_dtype(np.asarray(labels)):
        labels = label_ids(pd.Series(np.asarray(labels)))
    fit_head(head, features, np.asarray(labels), lr=lr, batch_size=batch_size, epochs=epochs,
             seed=seed)
    return head



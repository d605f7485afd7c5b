"""The same search models through sentence-transformers, the field's library for them.

Lesson 05 trains its bi-encoder with the course's engine and scores pairs with its own
:class:`~course.search.pipeline.CrossEncoderScorer`. At work the same models usually go
through `sentence-transformers <https://sbert.net>`_ (Reimers and Gurevych, 2019); this module
puts the two side by side:

* :func:`sentence_transformer`: a ``SentenceTransformer`` (BERT, mean pooling, L2
  normalisation: the layout of the course's :class:`~course.search.pipeline.BiEncoder`) from
  a model folder or from a trained encoder;
* :func:`train_mnrl`: train it on (query, relevant product) pairs with
  ``MultipleNegativesRankingLoss`` (the in-batch softmax of lesson 04) through
  ``SentenceTransformerTrainer``, for a fixed number of steps;
* :func:`ir_evaluator`: its ``InformationRetrievalEvaluator`` over the catalogue, with the
  relevant products of each query (binary relevance: NDCG, Recall, MRR at cut-offs);
* :func:`cross_encoder`: a saved relevance classifier as a ``CrossEncoder``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from course.errors import CourseArgumentError, CourseDataError

__all__ = [
    "cross_encoder",
    "ir_evaluator",
    "relevant_products",
    "sentence_transformer",
    "train_mnrl",
]


def sentence_transformer(source: Any, tokenizer=None, max_length: int = 64, device: str = "cpu"):
    """A ``SentenceTransformer`` of BERT + mean pooling + L2 normalisation.

    ``source`` is a model folder (the packaged MiniLM, or anything ``save_pretrained`` wrote)
    or a loaded Hugging Face encoder, which is saved with ``tokenizer`` to a temporary folder
    first. Either way the modules are built explicitly, so the pooling is the course's.
    """
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    if isinstance(source, (str, Path)):
        word = Transformer(str(source), max_seq_length=max_length)
    else:
        if tokenizer is None:
            raise CourseArgumentError("A loaded encoder needs its tokenizer to become a model.")
        with tempfile.TemporaryDirectory(prefix="course-st-") as folder:  # loaded, then removed
            source.save_pretrained(folder)
            tokenizer.save_pretrained(folder)
            word = Transformer(folder, max_seq_length=max_length)
    pooling = Pooling(word.get_embedding_dimension(), pooling_mode="mean")
    return SentenceTransformer(modules=[word, pooling, Normalize()], device=device)


def train_mnrl(
    model,
    queries: Sequence[str],
    products: Sequence[str],
    *,
    steps: int,
    batch_size: int,
    lr: float,
    warmup_ratio: float = 0.1,
    temperature: float = 0.05,
    seed: int = 42,
    log_dir: str | Path | None = None,
):
    """Train ``model`` with ``MultipleNegativesRankingLoss`` for ``steps`` optimizer steps.

    Each query's product is its positive; the other products of the batch are its negatives.
    ``scale = 1 / temperature`` (sentence-transformers' default 20 is a temperature of 0.05).
    Batches never hold the same text twice (``BatchSamplers.NO_DUPLICATES``). ``log_dir``
    writes the run's loss curve as TensorBoard files. Returns the trainer's ``TrainOutput``.
    """
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    if len(queries) != len(products) or not len(queries):
        raise CourseDataError(
            f"Got {len(queries)} queries and {len(products)} products: pass one product per query."
        )
    if steps < 1:
        raise CourseArgumentError(f"steps must be >= 1, got {steps}.")
    scratch = tempfile.TemporaryDirectory(prefix="course-st-run-")  # nothing is saved there
    args = SentenceTransformerTrainingArguments(
        output_dir=scratch.name,
        max_steps=steps,
        per_device_train_batch_size=batch_size,
        learning_rate=lr,
        warmup_steps=int(round(warmup_ratio * steps)),
        seed=seed,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        save_strategy="no",
        report_to=["tensorboard"] if log_dir else "none",
        logging_steps=max(1, steps // 20),
        disable_tqdm=True,
        use_cpu=str(model.device) == "cpu",
    )
    pairs = Dataset.from_dict({"query": list(queries), "product": list(products)})
    loss = MultipleNegativesRankingLoss(model, scale=1.0 / temperature)
    before = os.environ.get("TENSORBOARD_LOGGING_DIR")
    if log_dir:  # transformers' TensorBoard callback reads its folder from here
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(log_dir)
    try:
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=pairs,
                                             loss=loss)
    finally:
        if before is None:
            os.environ.pop("TENSORBOARD_LOGGING_DIR", None)
        else:
            os.environ["TENSORBOARD_LOGGING_DIR"] = before
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # no log dict printed every few steps
    with scratch:
        return trainer.train()


def relevant_products(gains: np.ndarray, product_ids: Sequence[Any], level: float = 1.0
                      ) -> list[set[str]]:
    """Per query (a row of ``gains``), the ids of the products whose gain is at least ``level``."""
    gains = np.asarray(gains)
    if gains.ndim != 2 or gains.shape[1] != len(product_ids):
        raise CourseDataError(
            f"gains has shape {gains.shape}; expected [queries, {len(product_ids)}] products."
        )
    ids = np.asarray([str(i) for i in product_ids])
    return [set(ids[row >= level]) for row in gains]


def ir_evaluator(queries: Sequence[str], catalog_texts: Sequence[str], product_ids: Sequence[Any],
                 relevant: Sequence[set[str]], ks: Sequence[int] = (10, 50), name: str = "valid"):
    """sentence-transformers' ``InformationRetrievalEvaluator`` over the whole catalogue.

    Queries get the ids ``q0, q1, ...``; products keep theirs (as strings). Cosine similarity
    ranks the catalogue, as the course's bi-encoder does. Call it on a model:
    ``evaluator(model)`` returns ``{f"{name}_cosine_ndcg@10": ..., ...}``.
    """
    from sentence_transformers.sentence_transformer.evaluation import (
        InformationRetrievalEvaluator,
    )

    if len(queries) != len(relevant):
        raise CourseDataError(f"Got {len(queries)} queries but {len(relevant)} relevant sets.")
    ks = sorted(set(ks))
    return InformationRetrievalEvaluator(
        queries={f"q{i}": q for i, q in enumerate(queries)},
        corpus={str(i): t for i, t in zip(product_ids, catalog_texts, strict=True)},
        relevant_docs={f"q{i}": set(r) for i, r in enumerate(relevant)},
        mrr_at_k=[10], ndcg_at_k=ks, accuracy_at_k=[10], precision_recall_at_k=ks, map_at_k=[10],
        name=name, write_csv=False, batch_size=64,
    )


def cross_encoder(folder: str | Path, max_length: int = 64, device: str = "cpu"):
    """A saved relevance classifier (``save_pretrained``) as a sentence-transformers CrossEncoder.

    ``predict`` then returns the three logits (Exact, Partial, Irrelevant) of each pair.
    """
    import torch
    from sentence_transformers import CrossEncoder

    if not (Path(folder) / "config.json").is_file():
        raise CourseDataError(f"{folder} has no config.json; save the classifier there first.")
    return CrossEncoder(str(folder), max_length=max_length, device=device,
                        activation_fn=torch.nn.Identity())

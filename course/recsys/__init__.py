"""The ranking-loss recommender of lesson 04: two towers, baselines, retrieval and evaluation.

Item ids are integer *indices* ``0 .. num_items-1`` everywhere in this package;
:func:`build_id_maps` turns raw ids (stock codes, SKUs) into indices and back.
A user's *sequence* is the time-ordered list of item indices they bought.

Modules (every public name is re-exported here, so ``from course import recsys`` is enough):

* :mod:`~course.recsys.sequences`: :func:`load_sequences`, purchase histories and item
  texts from Online Retail or mini-shop (lessons 04 and 06);
* :mod:`~course.recsys.data`: :func:`build_id_maps`, :func:`leave_last_out`,
  :func:`leave_last_out_splits` (lesson 04's three splits in one call),
  :class:`NextItemDataset`, :func:`sample_negatives`, :class:`TwoTowerCollator`,
  :func:`split_cold_items`;
* :mod:`~course.recsys.towers`: :class:`ItemTower`, :class:`UserTower` (with
  :func:`recency_pool`), :class:`TwoTower`;
* :mod:`~course.recsys.training`: :func:`make_loss_fn`, :func:`item_log_q`,
  :func:`make_evaluate_fn` for ``course.train.fit``, and :func:`fit_text_two_tower`
  (lesson 04's text two-tower in one call);
* :mod:`~course.recsys.retrieval`: :func:`topk_retrieval`, exact top-k in bounded memory;
* :mod:`~course.recsys.recommender`: the :class:`Recommender` interface and
  :class:`TwoTowerRecommender`;
* :mod:`~course.recsys.baselines`: :class:`PopularityRecommender`,
  :class:`ItemKNNRecommender`, :class:`BPRMF`;
* :mod:`~course.recsys.evaluation`: :func:`evaluate_models`, :func:`evaluate_sampled`
  (sampled metrics, to show how they mislead), :func:`comparison_table`,
  :func:`plot_comparison`, :func:`explain_recommendation`;
* :mod:`~course.recsys.sequential` (lesson 08): histories as sentences: :class:`SequenceModel`
  (BERT4Rec or SASRec), :class:`ClozeCollator`, :class:`NextItemCollator`,
  :func:`cloze_for_last`, :func:`sequence_loss`, :class:`SequenceRecommender`,
  :func:`make_sequence_evaluate_fn`, :func:`step_seconds`.

The ranking metrics (Recall@k, NDCG@k, MRR, coverage) live in :mod:`course.metrics`.
"""

from course.recsys.baselines import (
    BPRMF,
    ItemKNNRecommender,
    PopularityRecommender,
    interaction_matrix,
)
from course.recsys.data import (
    ColdStartSplit,
    IdMaps,
    LeaveLastOutSplits,
    NextItemDataset,
    TwoTowerCollator,
    build_id_maps,
    item_popularity,
    leave_last_out,
    leave_last_out_splits,
    pad_histories,
    sample_negatives,
    split_cold_items,
)
from course.recsys.evaluation import (
    comparison_table,
    evaluate_baselines,
    evaluate_models,
    evaluate_recommender,
    evaluate_sampled,
    explain_recommendation,
    fit_baselines,
    plot_comparison,
)
from course.recsys.recommender import (
    Recommender,
    TwoTowerRecommender,
    two_tower_recommend,
    unwrap,
    user_vectors_for,
)
from course.recsys.retrieval import retrieval_block_bytes, topk_retrieval
from course.recsys.sequences import load_sequences
from course.recsys.sequential import (
    KINDS,
    ClozeCollator,
    NextItemCollator,
    SequenceConfig,
    SequenceModel,
    SequenceRecommender,
    SequenceWindows,
    cloze_for_last,
    fit_within_budget,
    make_sequence_evaluate_fn,
    sequence_loss,
    step_seconds,
)
from course.recsys.towers import (
    ItemTower,
    TwoTower,
    UserTower,
    mean_pool,
    recency_pool,
    recency_weights,
    two_tower,
)
from course.recsys.training import (
    LOSS_KINDS,
    batch_vectors,
    fit_text_two_tower,
    item_log_q,
    make_evaluate_fn,
    make_loss_fn,
)

__all__ = [
    "BPRMF",
    "KINDS",
    "LOSS_KINDS",
    "ClozeCollator",
    "ColdStartSplit",
    "IdMaps",
    "ItemKNNRecommender",
    "ItemTower",
    "LeaveLastOutSplits",
    "NextItemCollator",
    "NextItemDataset",
    "PopularityRecommender",
    "Recommender",
    "SequenceConfig",
    "SequenceModel",
    "SequenceRecommender",
    "SequenceWindows",
    "TwoTower",
    "TwoTowerCollator",
    "TwoTowerRecommender",
    "UserTower",
    "batch_vectors",
    "build_id_maps",
    "cloze_for_last",
    "comparison_table",
    "evaluate_baselines",
    "evaluate_models",
    "evaluate_recommender",
    "evaluate_sampled",
    "explain_recommendation",
    "fit_within_budget",
    "fit_baselines",
    "fit_text_two_tower",
    "interaction_matrix",
    "item_log_q",
    "item_popularity",
    "leave_last_out",
    "leave_last_out_splits",
    "load_sequences",
    "make_evaluate_fn",
    "make_loss_fn",
    "make_sequence_evaluate_fn",
    "mean_pool",
    "pad_histories",
    "plot_comparison",
    "recency_pool",
    "recency_weights",
    "retrieval_block_bytes",
    "sample_negatives",
    "sequence_loss",
    "split_cold_items",
    "step_seconds",
    "topk_retrieval",
    "two_tower",
    "two_tower_recommend",
    "unwrap",
    "user_vectors_for",
]

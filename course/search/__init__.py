"""The search wing (lesson 05): two-stage product search, score fusion and its evaluation.

``from course import search`` gives every name below. The modules, lowest first:

* :mod:`~course.search.fusion`: reciprocal rank fusion, z-scored convex fusion, blending
  and re-ranking of candidate lists (plain NumPy);
* :mod:`~course.search.pipeline`: the bi-encoder, the cross-encoder scorer and
  :class:`TwoStageSearch` (retrieve, re-rank, save and load);
* :mod:`~course.search.evaluation`: catalogue-wide gains, per-family tables, the fusion
  curve and the choice of depth and weight on validation;
* :mod:`~course.search.sbert`: the same models through sentence-transformers (training with
  ``MultipleNegativesRankingLoss``, its ``InformationRetrievalEvaluator`` and ``CrossEncoder``);
  imported on its own (``from course.search import sbert``), as it loads that library.

The ranking metrics themselves live in :mod:`course.metrics`.
"""

from course.search.evaluation import (
    by_family,
    catalog_gains,
    choose_depth,
    choose_weight,
    fusion_curve,
    ndcg_table,
    recall_table,
)
from course.search.fusion import (
    blend_scores,
    convex_fusion,
    reciprocal_rank_fusion,
    rerank_head,
    rerank_many,
    top_k_rows,
    zscore_rows,
)
from course.search.pipeline import (
    INT8_SCHEMES,
    METHODS,
    BiEncoder,
    CrossEncoderScorer,
    QueryProductPairs,
    SearchResult,
    TwoStageSearch,
    bi_encoder_loss,
    encode_texts,
)

__all__ = [
    "INT8_SCHEMES",
    "METHODS",
    "BiEncoder",
    "CrossEncoderScorer",
    "QueryProductPairs",
    "SearchResult",
    "TwoStageSearch",
    "bi_encoder_loss",
    "blend_scores",
    "by_family",
    "catalog_gains",
    "choose_depth",
    "choose_weight",
    "convex_fusion",
    "encode_texts",
    "fusion_curve",
    "ndcg_table",
    "recall_table",
    "reciprocal_rank_fusion",
    "rerank_head",
    "rerank_many",
    "top_k_rows",
    "zscore_rows",
]

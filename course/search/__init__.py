"""The search wing (lessons 05 and 09): two-stage product search, score fusion and its
evaluation; search at catalogue scale and ranking for the business.

``from course import search`` gives every name below. The modules, lowest first:

* :mod:`~course.search.fusion`: reciprocal rank fusion, z-scored convex fusion, blending
  and re-ranking of candidate lists (plain NumPy);
* :mod:`~course.search.ann`: faiss indexes (exact, HNSW, IVF-PQ), recall against exact
  search, the recall-throughput sweep, the operating point, synthetic catalogues (lesson 09);
* :mod:`~course.search.pipeline`: the bi-encoder, the cross-encoder scorer and
  :class:`TwoStageSearch` (retrieve, re-rank, save and load);
* :mod:`~course.search.ltr`: LambdaMART (LightGBM ``lambdarank``) over model scores and
  business features, grouped by query, and the relevance-margin trade-off (lesson 09);
* :mod:`~course.search.negatives`: mined hard negatives, false-negative filtering with the
  cross-encoder, triples and their loss (lesson 09);
* :mod:`~course.search.distill`: Margin-MSE distillation of the cross-encoder into the
  bi-encoder (lesson 09);
* :mod:`~course.search.evaluation`: catalogue-wide gains, per-family tables, the fusion
  curve and the choice of depth and weight on validation;
* :mod:`~course.search.sbert`: the same models through sentence-transformers (training with
  ``MultipleNegativesRankingLoss``, its ``InformationRetrievalEvaluator`` and ``CrossEncoder``);
  imported on its own (``from course.search import sbert``), as it loads that library.
* :mod:`~course.search.ranked`: :class:`RankedSearch`, ANN retrieval ranked by LambdaMART,
  saved and loaded as one folder (``course serve --ltr``).

Lesson 09 reads its modules by name: ``from course.search import ann, ltr, negatives,
distill``. faiss and LightGBM are imported only when a function needs them. The ranking
metrics themselves live in :mod:`course.metrics`.
"""

from course.search import ann, distill, ltr, negatives
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
from course.search.ranked import RankedSearch

__all__ = [
    "INT8_SCHEMES",
    "METHODS",
    "BiEncoder",
    "CrossEncoderScorer",
    "QueryProductPairs",
    "RankedSearch",
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
    # modules of lesson 09
    "ann",
    "distill",
    "ltr",
    "negatives",
]

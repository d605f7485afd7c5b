"""Two-stage product search: fast retrievers find candidates, a cross-encoder re-ranks them.

The stages of lesson 05, each a small piece:

* :class:`BiEncoder`: one BERT encodes queries and products separately (mean pooling,
  L2-normalised), so the catalog is encoded once, ahead of time; trained with the
  in-batch softmax loss of ``course.losses`` (:func:`bi_encoder_loss`);
* dense retrieval (:meth:`TwoStageSearch.retrieve` with ``"dense"``) by inner product
  with ``course.recsys.topk_retrieval``; lexical retrieval with ``course.baselines.BM25Index``;
* the hybrid of the two: :func:`reciprocal_rank_fusion` from ranks alone, or
  :func:`convex_fusion` of standardised scores with a lexical weight chosen on validation;
* :class:`CrossEncoderScorer`: the fine-tuned relevance classifier of lesson 03 scores each
  (query, candidate) pair; its expected gain re-ranks the top ``depth`` candidates;
* :class:`TwoStageSearch`: the pipeline, timed stage by stage, saved and loaded as one folder
  (what ``course serve`` loads);
* evaluation over the whole catalog is in :mod:`course.search.evaluation`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from course.baselines import BM25Index
from course.errors import CourseArgumentError, CourseDataError, CourseModelError
from course.losses import in_batch_softmax_loss
from course.recsys import mean_pool, topk_retrieval
from course.search.fusion import (
    blend_scores,
    convex_fusion,
    reciprocal_rank_fusion,
    rerank_head,
    top_k_rows,
)
from course.text import encode_pairs

INT8_SCHEMES = ("per-tensor", "per-channel")
METHODS = ("bm25", "dense", "hybrid", "rrf")  # hybrid: the pipeline's fusion; rrf: always RRF


# ------------------------------------------------------------------- bi-encoder


class BiEncoder(nn.Module):
    """A BERT encoder with mean pooling and L2 normalisation: text -> unit vector."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder: Any = encoder  # a Hugging Face model (save_pretrained, ...)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``[B, T]`` token ids and mask -> ``[B, d]`` unit vectors."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return nn.functional.normalize(mean_pool(hidden, attention_mask).float(), dim=-1)


class QueryProductPairs(torch.utils.data.Dataset):
    """Tokenized (query, relevant product) pairs for in-batch softmax training.

    Args:
        tokenizer: the bi-encoder's tokenizer.
        queries: query texts.
        products: the text of each query's relevant product.
        item_ids: the product id of each pair (repeated products are masked in the loss).
        query_length: tokens kept per query.
        product_length: tokens kept per product.
    """

    def __init__(
        self,
        tokenizer,
        queries: Sequence[str],
        products: Sequence[str],
        item_ids: Sequence[int],
        query_length: int = 24,
        product_length: int = 64,
    ):
        if not len(queries) == len(products) == len(item_ids):
            raise CourseDataError(
                f"Got {len(queries)} queries, {len(products)} products and {len(item_ids)} item "
                "ids; pass one product and one id per query."
            )
        self.queries = encode_pairs(tokenizer, queries, max_length=query_length)["input_ids"]
        self.products = encode_pairs(tokenizer, products, max_length=product_length)["input_ids"]
        self.item_ids = [int(i) for i in item_ids]
        self.lengths = [len(q) + len(p) for q, p in zip(self.queries, self.products, strict=True)]
        self.pad_id = tokenizer.pad_token_id or 0

    def __len__(self) -> int:
        return len(self.item_ids)

    def __getitem__(self, i: int) -> dict:
        return {"query": self.queries[i], "product": self.products[i], "item_id": self.item_ids[i]}

    def collate(self, features: list[dict]) -> dict[str, torch.Tensor]:
        """Pad queries and products separately; keep the item ids."""
        batch = {}
        for side in ("query", "product"):
            ids, mask = _pad([f[side] for f in features], self.pad_id)
            batch[f"{side}_input_ids"], batch[f"{side}_attention_mask"] = ids, mask
        batch["item_ids"] = torch.tensor([f["item_id"] for f in features])
        return batch


def _pad(sequences: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), longest), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask


def bi_encoder_loss(temperature: float = 0.05):
    """A ``loss_fn`` for ``course.train.fit``: in-batch softmax over (query, product) vectors."""

    def loss_fn(model: BiEncoder, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        queries = model(batch["query_input_ids"], batch["query_attention_mask"])
        products = model(batch["product_input_ids"], batch["product_attention_mask"])
        return in_batch_softmax_loss(queries, products, temperature, item_ids=batch["item_ids"])

    return loss_fn


@torch.no_grad()
def encode_texts(
    model: BiEncoder,
    tokenizer,
    texts: Sequence[str],
    max_length: int = 64,
    batch_size: int = 128,
    progress: bool = False,
) -> torch.Tensor:
    """Unit vectors ``[len(texts), d]`` in the order of ``texts`` (batched by length)."""
    ids = encode_pairs(tokenizer, list(texts), max_length=max_length)["input_ids"]
    if not ids:
        raise CourseDataError("encode_texts got no texts.")
    device = next(model.parameters()).device
    order = np.argsort([len(x) for x in ids], kind="stable")
    out: torch.Tensor | None = None
    model.eval()
    starts = range(0, len(order), batch_size)
    for start in tqdm(starts, desc="encode", unit="batch", disable=not progress):
        rows = order[start : start + batch_size]
        input_ids, mask = _pad([ids[i] for i in rows], tokenizer.pad_token_id or 0)
        vectors = model(input_ids.to(device), mask.to(device)).cpu()
        if out is None:
            out = torch.empty(len(ids), vectors.shape[1])
        out[torch.from_numpy(rows)] = vectors
    assert out is not None  # ids is not empty, so the loop ran
    return out


# ---------------------------------------------------------------- cross-encoder


@dataclass
class CrossEncoderScorer:
    """Scores (query, product) pairs with a relevance classifier: expected gain in [0, 1].

    ``gains`` weights the classes in the model's label order (Exact 1, Partial 0.5,
    Irrelevant 0 for the course's classifiers).
    """

    model: Any  # a Hugging Face sequence classifier
    tokenizer: Any
    max_length: int = 64
    batch_size: int = 64
    gains: tuple[float, ...] = (1.0, 0.5, 0.0)

    @torch.no_grad()
    def score(self, queries: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        """Expected gain of each pair (one query per text, or one query for all texts)."""
        queries = [queries] * len(texts) if isinstance(queries, str) else list(queries)
        if len(queries) != len(texts):
            raise CourseArgumentError(f"Got {len(queries)} queries for {len(texts)} texts.")
        self.model.eval()
        gains = torch.tensor(self.gains)
        out = []
        for start in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(
                queries[start : start + self.batch_size],
                list(texts[start : start + self.batch_size]),
                padding=True,
                truncation="only_second",
                max_length=self.max_length,
                return_tensors="pt",
            )
            logits = self.model(**enc).logits.float()
            out.append(torch.softmax(logits, dim=-1) @ gains)
        return torch.cat(out).numpy() if out else np.zeros(0)


# --------------------------------------------------------------------- pipeline


@dataclass
class SearchResult:
    """The ranked products of one query, and the milliseconds each stage took."""

    products: pd.DataFrame
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class TwoStageSearch:
    """BM25 and dense retrieval, fused by RRF, then re-ranked by a cross-encoder.

    Args:
        catalog: one row per product, with ``product_id``, ``title`` and ``text``.
        bi_encoder: the query encoder (the catalog's vectors are ``item_vectors``).
        tokenizer: the tokenizer of both models.
        item_vectors: ``[len(catalog), d]`` unit vectors of the catalog texts.
        reranker: the cross-encoder; None serves first-stage results only.
        rrf_k: the RRF constant.
        query_length: tokens kept per query.
        bm25: a prebuilt BM25 index of the catalog texts (built when None).
        lexical_weight: None fuses by RRF; a weight in [0, 1] fuses standardised scores
            (:func:`convex_fusion`).
        blend: the weight of the fused first-stage score in the re-ranked order
            (:func:`blend_scores`); > 0 needs ``lexical_weight``.
        int8_scheme: how :meth:`load` quantizes the re-ranker when asked for int8:
            ``"per-tensor"`` (``quantize_dynamic``'s default) or ``"per-channel"``.
    """

    catalog: pd.DataFrame
    bi_encoder: BiEncoder
    tokenizer: Any
    item_vectors: torch.Tensor
    reranker: CrossEncoderScorer | None = None
    rrf_k: int = 60
    query_length: int = 24
    bm25: BM25Index | None = None
    lexical_weight: float | None = None
    blend: float = 0.0
    int8_scheme: str = "per-tensor"

    def __post_init__(self):
        missing = [c for c in ("product_id", "title", "text") if c not in self.catalog.columns]
        if missing:
            raise CourseDataError(f"catalog lacks columns {missing}; it has {list(self.catalog)}.")
        if len(self.catalog) != len(self.item_vectors):
            raise CourseDataError(
                f"catalog has {len(self.catalog)} products but item_vectors has "
                f"{len(self.item_vectors)} rows; encode the catalog again."
            )
        if self.blend and self.lexical_weight is None:
            raise CourseArgumentError("blend > 0 needs lexical_weight: it blends the fused score.")
        if self.int8_scheme not in INT8_SCHEMES:
            raise CourseArgumentError(
                f"int8_scheme must be one of {INT8_SCHEMES}, got {self.int8_scheme!r}."
            )
        self.catalog = self.catalog.reset_index(drop=True)
        self.texts = self.catalog["text"].tolist()
        if self.bm25 is None:
            self.bm25 = BM25Index(self.texts)

    def query_vectors(self, queries: Sequence[str]) -> torch.Tensor:
        """Unit vectors of the queries."""
        return encode_texts(self.bi_encoder, self.tokenizer, queries, self.query_length)

    def _bm25(self) -> BM25Index:
        if self.bm25 is None:  # __post_init__ builds it
            raise CourseModelError("This pipeline has no BM25 index.")
        return self.bm25

    def retrieve(
        self,
        query: str,
        method: str = "hybrid",
        k: int = 50,
        timings: dict[str, float] | None = None,
    ) -> np.ndarray:
        """Catalog row indices of the ``k`` best products for ``query``, best first."""
        if method not in METHODS:
            raise CourseArgumentError(f"method must be one of {METHODS}, got {method!r}.")
        k = min(k, len(self.catalog))
        timings = {} if timings is None else timings
        if method == "hybrid" and self.lexical_weight is not None:
            return self._convex_top_k(query, k, timings)[0]
        lists = []
        if method in ("bm25", "hybrid", "rrf"):
            start = time.perf_counter()
            lists.append(self._bm25().search(query, k)[0])
            timings["bm25"] = (time.perf_counter() - start) * 1000
        if method in ("dense", "hybrid", "rrf"):
            start = time.perf_counter()
            vector = self.query_vectors([query])
            timings["encode_query"] = (time.perf_counter() - start) * 1000
            start = time.perf_counter()
            lists.append(topk_retrieval(vector, self.item_vectors, k)[1][0].numpy())
            timings["dense"] = (time.perf_counter() - start) * 1000
        if method in ("bm25", "dense"):
            return np.asarray(lists[0])
        start = time.perf_counter()
        fused, _ = reciprocal_rank_fusion([x.tolist() for x in lists], self.rrf_k, limit=k)
        timings["fuse"] = (time.perf_counter() - start) * 1000
        return np.asarray(fused)

    def catalog_scores(self, queries: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """BM25 and dense (cosine) scores of every product: two ``[len(queries), n]`` arrays."""
        lexical = np.stack([self._bm25().scores(q) for q in queries])
        dense = (self.query_vectors(queries) @ self.item_vectors.T).numpy()
        return lexical, dense

    def hybrid_scores(self, queries: Sequence[str]) -> np.ndarray:
        """The score-fusion hybrid's scores of every product: ``[len(queries), n]``."""
        if self.lexical_weight is None:
            raise CourseModelError("hybrid_scores needs lexical_weight (score fusion, not RRF).")
        return convex_fusion(*self.catalog_scores(queries), self.lexical_weight)

    def _convex_top_k(
        self, query: str, k: int, timings: dict[str, float]
    ) -> tuple[np.ndarray, np.ndarray]:
        start = time.perf_counter()
        lexical = self._bm25().scores(query)[None]
        timings["bm25"] = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        vector = self.query_vectors([query])
        timings["encode_query"] = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        dense = (vector @ self.item_vectors.T).numpy()
        timings["dense"] = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        fused = convex_fusion(lexical, dense, float(self.lexical_weight or 0.0))
        top = top_k_rows(fused, k)[0]
        timings["fuse"] = (time.perf_counter() - start) * 1000
        return top, fused[0]

    def search(
        self, query: str, k: int = 10, depth: int = 20, method: str = "hybrid", rerank: bool = True
    ) -> SearchResult:
        """The top ``k`` products: retrieve ``max(k, depth)`` candidates, re-rank ``depth``."""
        timings: dict[str, float] = {}
        start = time.perf_counter()
        fused = None
        if method == "hybrid" and self.lexical_weight is not None:
            candidates, fused = self._convex_top_k(query, max(k, depth), timings)
        else:
            candidates = self.retrieve(query, method, max(k, depth), timings)
        scores = None
        if rerank and self.reranker is not None and depth > 0:
            t0 = time.perf_counter()
            head = self.reranker.score(query, [self.texts[i] for i in candidates[:depth]])
            if self.blend:
                fused = self.hybrid_scores([query])[0] if fused is None else fused
                head = blend_scores(head, fused[candidates[:depth]], self.blend)
            candidates, scores = rerank_head(candidates, head)
            timings["rerank"] = (time.perf_counter() - t0) * 1000
        timings["total"] = (time.perf_counter() - start) * 1000
        top = candidates[:k]
        rows = self.catalog.iloc[top][["product_id", "title"]].reset_index(drop=True)
        rows.insert(0, "rank", np.arange(1, len(top) + 1))
        if scores is not None:
            rows["score"] = scores[: len(top)]
        return SearchResult(rows, timings)

    def retrieve_many(
        self, queries: Sequence[str], method: str = "hybrid", k: int = 50
    ) -> list[np.ndarray]:
        """:meth:`retrieve` for many queries at once (the dense side in one batch)."""
        if method not in METHODS:
            raise CourseArgumentError(f"method must be one of {METHODS}, got {method!r}.")
        k = min(k, len(self.catalog))
        if method == "hybrid" and self.lexical_weight is not None:
            return top_k_rows(convex_fusion(*self.catalog_scores(queries), self.lexical_weight), k)
        lexical: list[np.ndarray] = []
        dense: list[np.ndarray] = []
        if method in ("bm25", "hybrid", "rrf"):
            lexical = [self._bm25().search(q, k)[0] for q in queries]
        if method in ("dense", "hybrid", "rrf"):
            dense = list(
                topk_retrieval(self.query_vectors(queries), self.item_vectors, k)[1].numpy()
            )
        if method == "bm25":
            return lexical
        if method == "dense":
            return dense
        return [
            np.asarray(reciprocal_rank_fusion([a.tolist(), b.tolist()], self.rrf_k, limit=k)[0])
            for a, b in zip(lexical, dense, strict=True)
        ]

    def score_candidates(
        self, queries: Sequence[str], candidates: Sequence[np.ndarray], depth: int
    ) -> list[np.ndarray]:
        """Cross-encoder scores of the first ``depth`` candidates of each query, in big batches."""
        if self.reranker is None:
            raise CourseModelError("This pipeline has no re-ranker.")
        heads = [np.asarray(c[:depth]) for c in candidates]
        flat_q = [q for q, h in zip(queries, heads, strict=True) for _ in h]
        flat_t = [self.texts[i] for h in heads for i in h]
        flat = self.reranker.score(flat_q, flat_t)
        bounds = np.cumsum([0] + [len(h) for h in heads])
        return [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def save(self, folder: str | Path) -> Path:
        """Write the catalog, item vectors, both models and a manifest to ``folder``."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.catalog[["product_id", "title", "text"]].to_json(
            folder / "catalog.jsonl", orient="records", lines=True
        )
        save_file(
            {"item_vectors": self.item_vectors.contiguous()}, str(folder / "vectors.safetensors")
        )
        self.bi_encoder.encoder.save_pretrained(folder / "bi_encoder")
        self.tokenizer.save_pretrained(folder / "bi_encoder")
        manifest: dict[str, Any] = {
            "rrf_k": self.rrf_k,
            "query_length": self.query_length,
            "lexical_weight": self.lexical_weight,
            "blend": self.blend,
            "int8_scheme": self.int8_scheme,
            "reranker": None,
        }
        if self.reranker is not None:
            if any("quantized" in type(m).__module__ for m in self.reranker.model.modules()):
                raise CourseModelError(
                    "The re-ranker is quantized; save the fp32 model and serve it with "
                    "TwoStageSearch.load(folder, int8=True) (course serve --int8)."
                )
            self.reranker.model.save_pretrained(folder / "cross_encoder")
            self.reranker.tokenizer.save_pretrained(folder / "cross_encoder")
            manifest["reranker"] = {
                "max_length": self.reranker.max_length,
                "gains": list(self.reranker.gains),
            }
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
        return folder

    @classmethod
    def load(cls, folder: str | Path, int8: bool = False) -> TwoStageSearch:
        """Read a folder written by :meth:`save`; ``int8`` quantizes the re-ranker's linears."""
        from safetensors.torch import load_file
        from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

        folder = Path(folder)
        if not (folder / "manifest.json").is_file():
            raise CourseModelError(
                f"{folder} has no manifest.json; write it with TwoStageSearch.save(folder)."
            )
        manifest = json.loads((folder / "manifest.json").read_text())
        catalog = pd.read_json(folder / "catalog.jsonl", orient="records", lines=True)
        vectors = load_file(str(folder / "vectors.safetensors"))["item_vectors"]
        tokenizer = AutoTokenizer.from_pretrained(folder / "bi_encoder")
        bi_encoder = BiEncoder(AutoModel.from_pretrained(folder / "bi_encoder")).eval()
        reranker = None
        if manifest["reranker"] is not None:
            model = AutoModelForSequenceClassification.from_pretrained(
                folder / "cross_encoder"
            ).eval()
            if int8:
                from course.compress import quantize_int8

                scheme = manifest.get("int8_scheme", "per-tensor")
                model = quantize_int8(model, per_channel=scheme == "per-channel")
            reranker = CrossEncoderScorer(
                model,
                AutoTokenizer.from_pretrained(folder / "cross_encoder"),
                max_length=manifest["reranker"]["max_length"],
                gains=tuple(manifest["reranker"]["gains"]),
            )
        return cls(
            catalog,
            bi_encoder,
            tokenizer,
            vectors,
            reranker,
            manifest["rrf_k"],
            manifest["query_length"],
            lexical_weight=manifest.get("lexical_weight"),
            blend=manifest.get("blend", 0.0),
            int8_scheme=manifest.get("int8_scheme", "per-tensor"),
        )


__all__ = [
    "INT8_SCHEMES", "METHODS", "BiEncoder", "CrossEncoderScorer", "QueryProductPairs",
    "SearchResult",
    "TwoStageSearch", "bi_encoder_loss", "encode_texts",
]

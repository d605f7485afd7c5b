"""Text helpers for BERT: pair encoding, dynamic padding, length bucketing, length reports.

The pieces a fine-tuning run needs between raw text and a batch of tensors:

* :func:`encode_pairs` turns (query, product) pairs into token ids, without padding;
* :class:`PairDataset` holds the encoded pairs and their labels;
* :class:`DynamicPaddingCollator` pads each batch only to its own longest sequence;
* :class:`LengthBucketSampler` puts sequences of similar length into the same batch,
  so that there is little padding left to pay for, while the batch order stays random;
* :func:`token_length_report` and :func:`padding_waste` help pick ``max_length`` from data.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from course.errors import CourseArgumentError, CourseDataError

__all__ = [
    "DynamicPaddingCollator",
    "LengthBucketSampler",
    "PairDataset",
    "encode_pairs",
    "padding_waste",
    "token_length_report",
    "token_lengths",
]


def _as_text_list(texts: Sequence[str] | Any, name: str) -> list[str]:
    """A list of strings; a CourseDataError names a bad entry, a CourseArgumentError a bad call."""
    if isinstance(texts, str):
        raise CourseArgumentError(
            f"{name} must be a list of strings, not one string. Wrap it: [{name}].")
    values = list(texts)
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise CourseDataError(
                f"{name}[{i}] is {type(value).__name__} ({value!r}), not a string. "
                "Fill or drop missing texts first, e.g. df['product_text'].fillna('')."
            )
    return values


def encode_pairs(
    tokenizer,
    queries: Sequence[str],
    docs: Sequence[str] | None = None,
    max_length: int | None = 128,
    truncation: str | bool = "only_second",
) -> dict[str, list[list[int]]]:
    """Tokenize (query, doc) pairs as ``[CLS] query [SEP] doc [SEP]``, without padding.

    Args:
        tokenizer: a Hugging Face (fast) tokenizer.
        queries: the first segment of each pair.
        docs: the second segment (product texts); ``None`` encodes the queries alone.
        max_length: longest encoding, special tokens included (None: no limit, with
            ``truncation=False``).
        truncation: ``"only_second"`` cuts the product text and keeps the query whole.

    Returns:
        A dict of lists (``input_ids``, ``attention_mask``, ``token_type_ids``), one entry per pair.
    """
    queries = _as_text_list(queries, "queries")
    if docs is None:
        encoded = tokenizer(queries, truncation=bool(truncation), max_length=max_length)
        return {key: list(value) for key, value in encoded.items()}
    docs = _as_text_list(docs, "docs")
    if len(queries) != len(docs):
        raise CourseArgumentError(
            f"Got {len(queries)} queries but {len(docs)} docs; pass one doc per query."
        )
    try:
        encoded = tokenizer(queries, docs, truncation=truncation, max_length=max_length)
    except Exception as exc:  # the fast tokenizer raises a bare Exception here
        if "Truncation error" not in str(exc):
            raise
        raise CourseDataError(
            f"A query alone is longer than max_length={max_length}, so truncation={truncation!r} "
            "cannot cut only the product text. Raise max_length or pass truncation='longest_first'."
        ) from exc
    return {key: list(value) for key, value in encoded.items()}


class PairDataset(torch.utils.data.Dataset):
    """Encoded pairs plus optional integer labels; item ``i`` is a dict of lists and a label.

    ``lengths`` holds the token count of every example, for bucketing and reports.
    """

    def __init__(self, encodings: dict[str, list[list[int]]], labels: Sequence[int] | None = None):
        if "input_ids" not in encodings:
            raise CourseArgumentError("encodings has no 'input_ids'; build it with encode_pairs().")
        self.encodings = encodings
        self.labels = None if labels is None else [int(label) for label in labels]
        n = len(encodings["input_ids"])
        if self.labels is not None and len(self.labels) != n:
            raise CourseArgumentError(f"Got {n} encoded pairs but {len(self.labels)} labels.")
        self.lengths = [len(ids) for ids in encodings["input_ids"]]

    @classmethod
    def from_texts(
        cls,
        tokenizer,
        queries: Sequence[str],
        docs: Sequence[str] | None = None,
        labels: Sequence[Any] | None = None,
        label_names: Sequence[str] | None = None,
        max_length: int = 128,
    ) -> PairDataset:
        """Encode texts and labels in one go; string labels are mapped with ``label_names``."""
        encodings = encode_pairs(tokenizer, queries, docs, max_length=max_length)
        if labels is not None and label_names is not None:
            index = {name: i for i, name in enumerate(label_names)}
            unknown = sorted({str(x) for x in labels if x not in index})
            if unknown:
                raise CourseDataError(
                    f"Labels {unknown} are not in label_names {list(label_names)}; fix the data "
                    "or pass the full list of label names."
                )
            labels = [index[x] for x in labels]
        return cls(encodings, labels)

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item: dict[str, Any] = {key: values[i] for key, values in self.encodings.items()}
        if self.labels is not None:
            item["labels"] = self.labels[i]
        return item


class DynamicPaddingCollator:
    """Pad a list of examples to the longest one in the batch and stack them as tensors.

    Args:
        tokenizer: gives the pad token id.
        pad_to_multiple_of: round the padded length up (8 suits GPU tensor cores).
    """

    def __init__(self, tokenizer, pad_to_multiple_of: int | None = None):
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        if pad_to_multiple_of is not None and pad_to_multiple_of < 1:
            raise CourseArgumentError("pad_to_multiple_of must be a positive integer or None.")
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if not features:
            raise CourseArgumentError("Cannot collate an empty batch.")
        longest = max(len(f["input_ids"]) for f in features)
        if self.pad_to_multiple_of:
            longest = math.ceil(longest / self.pad_to_multiple_of) * self.pad_to_multiple_of
        batch: dict[str, torch.Tensor] = {}
        for key in features[0]:
            if key == "labels":
                continue
            pad_value = self.pad_token_id if key == "input_ids" else 0
            rows = [list(f[key]) + [pad_value] * (longest - len(f[key])) for f in features]
            batch[key] = torch.tensor(rows, dtype=torch.long)
        if "labels" in features[0]:
            labels = [f["labels"] for f in features]
            dtype = torch.float if isinstance(labels[0], float) else torch.long
            batch["labels"] = torch.tensor(labels, dtype=dtype)
        return batch


def _world_from_env() -> tuple[int, int]:
    """(world size, rank) as torchrun/accelerate set them; (1, 0) in a plain process."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size(), torch.distributed.get_rank()
    return int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0))


class LengthBucketSampler:
    """A batch sampler that groups examples of similar length, in a random batch order.

    Each epoch: shuffle all indices, cut them into buckets of
    ``batch_size * bucket_size_multiplier``, sort each bucket by length, cut it
    into batches, and shuffle the order of the batches. Every index appears
    exactly once per epoch (single process, ``drop_last=False``).

    Under DDP (``num_replicas > 1``; read from ``WORLD_SIZE``/``RANK`` when not
    given) ``batch_size`` is per process. All ranks build the same global batches
    of ``batch_size * num_replicas`` indices from the same seed, and each rank takes
    its share, so one DDP step sees the same examples as one single-process step
    with the global batch size. Like ``DistributedSampler``, a few indices are
    repeated so that every rank gets equally many examples.

    Call ``set_epoch(epoch)`` before each epoch for a new order.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        bucket_size_multiplier: int = 50,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        num_replicas: int | None = None,
        rank: int | None = None,
    ):
        if batch_size < 1:
            raise CourseArgumentError(f"batch_size must be at least 1, got {batch_size}.")
        if bucket_size_multiplier < 1:
            raise CourseArgumentError("bucket_size_multiplier must be at least 1.")
        if len(lengths) == 0:
            raise CourseArgumentError("No examples to sample from: lengths is empty.")
        env_world, env_rank = _world_from_env()
        self.num_replicas = num_replicas if num_replicas is not None else env_world
        self.rank = rank if rank is not None else env_rank
        if not 0 <= self.rank < self.num_replicas:
            raise CourseArgumentError(f"rank {self.rank} is outside 0..{self.num_replicas - 1}.")
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.bucket_size_multiplier = bucket_size_multiplier
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0

    @classmethod
    def random(cls, n: int, batch_size: int, **kwargs: Any) -> LengthBucketSampler:
        """Plain shuffled batches (no length grouping) with the same epoch, resume and DDP logic."""
        return cls([0] * n, batch_size, bucket_size_multiplier=1, **kwargs)

    def set_epoch(self, epoch: int) -> None:
        """Use the order of epoch ``epoch`` (same seed and epoch, same batches)."""
        self.epoch = epoch

    def global_batches(self) -> list[np.ndarray]:
        """This epoch's batches of ``batch_size * num_replicas`` indices, the same on every
        rank."""
        rng = np.random.default_rng(self.seed + self.epoch)
        n = len(self.lengths)
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        if self.num_replicas > 1 and not self.drop_last and n % self.num_replicas:
            extra = self.num_replicas - n % self.num_replicas
            # Repeat indices (cyclically, in case there are fewer examples than ranks)
            # so that every rank gets as many examples.
            order = np.concatenate([order, np.resize(order, extra)])
        size = self.batch_size * self.num_replicas
        bucket = size * self.bucket_size_multiplier
        batches = []
        for start in range(0, len(order), bucket):
            chunk = order[start : start + bucket]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [chunk[i : i + size] for i in range(0, len(chunk), size)]
        if self.drop_last:
            batches = [b for b in batches if len(b) == size]
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.global_batches():
            yield batch[self.rank :: self.num_replicas].tolist()

    def __len__(self) -> int:
        n = len(self.lengths)
        size = self.batch_size * self.num_replicas
        if self.drop_last:
            # Buckets are cut separately, so count the full batches bucket by bucket.
            bucket = size * self.bucket_size_multiplier
            full, rest = divmod(n, bucket)
            return full * self.bucket_size_multiplier + rest // size
        padded = math.ceil(n / self.num_replicas) * self.num_replicas
        bucket = size * self.bucket_size_multiplier
        full, rest = divmod(padded, bucket)
        return full * self.bucket_size_multiplier + math.ceil(rest / size)


def token_lengths(tokenizer, queries: Sequence[str],
                  docs: Sequence[str] | None = None) -> np.ndarray:
    """Token count of each query (or pair), special tokens included, without truncation."""
    encoded = encode_pairs(tokenizer, queries, docs, max_length=None, truncation=False)
    return np.array([len(ids) for ids in encoded["input_ids"]])


def token_length_report(
    tokenizer,
    queries: Sequence[str],
    docs: Sequence[str] | None = None,
    max_lengths: Sequence[int] = (32, 64, 128, 256),
) -> pd.DataFrame:
    """Length statistics to pick ``max_length`` from data.

    Returns:
        A DataFrame indexed by statistic (``mean``, ``p50``, ``p90``, ``p95``, ``p99``,
        ``max``, then ``truncated@L``: the share of encodings longer than ``L``),
        with a column ``query`` and, when ``docs`` is given, ``doc`` and ``pair``.
    """
    columns = {"query": token_lengths(tokenizer, queries)}
    if docs is not None:
        columns["doc"] = token_lengths(tokenizer, docs)
        columns["pair"] = token_lengths(tokenizer, queries, docs)
    rows = {}
    for name, lengths in columns.items():
        stats = {"mean": float(lengths.mean())}
        for q in (50, 90, 95, 99):
            stats[f"p{q}"] = float(np.percentile(lengths, q))
        stats["max"] = float(lengths.max())
        for limit in max_lengths:
            stats[f"truncated@{limit}"] = float((lengths > limit).mean())
        rows[name] = stats
    return pd.DataFrame(rows)


def padding_waste(
    lengths: Sequence[int], batch_size: int, max_length: int, seed: int = 0
) -> dict[str, float]:
    """Share of pad tokens in the batches, for three ways of padding.

    * ``fixed``: every sequence padded to ``max_length``;
    * ``dynamic``: padded to the longest in its batch, random batches;
    * ``bucketed``: dynamic padding with :class:`LengthBucketSampler` batches.

    Lengths are first truncated to ``max_length``.
    """
    clipped = np.minimum(np.asarray(lengths), max_length)
    if clipped.size == 0:
        raise CourseArgumentError("padding_waste needs at least one length.")
    real = clipped.sum()

    def waste(batches: list[np.ndarray]) -> float:
        padded = sum(len(b) * clipped[b].max() for b in batches)
        return float(1 - real / padded)

    order = np.random.default_rng(seed).permutation(len(clipped))
    random_batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    sampler = LengthBucketSampler(clipped, batch_size, seed=seed, num_replicas=1, rank=0)
    return {
        "fixed": float(1 - real / (len(clipped) * max_length)),
        "dynamic": waste(random_batches),
        "bucketed": waste(sampler.global_batches()),
    }

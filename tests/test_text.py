"""Unit tests for course.text: pair encoding, collator, bucketing, length reports."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from course.errors import CourseArgumentError, CourseDataError
from course.models import resolve_model
from course.text import (
    DynamicPaddingCollator,
    LengthBucketSampler,
    PairDataset,
    encode_pairs,
    padding_waste,
    token_length_report,
)

QUERIES = ["red sofa", "oak dining table", "couch", "lamp"]
DOCS = [
    "a comfortable red sofa with three seats and soft cushions",
    "solid oak dining table for six",
    "grey velvet sofa",
    "brass floor lamp with linen shade and a long cable for any corner of the room",
]


def test_encode_pairs_has_cls_query_sep_doc_sep(tokenizer):
    enc = encode_pairs(tokenizer, ["red sofa"], ["a red sofa"])
    ids = enc["input_ids"][0]
    assert ids[0] == tokenizer.cls_token_id
    assert ids.count(tokenizer.sep_token_id) == 2
    # the query sits in segment 0, the product text in segment 1
    first_sep = ids.index(tokenizer.sep_token_id)
    assert set(enc["token_type_ids"][0][: first_sep + 1]) == {0}
    assert set(enc["token_type_ids"][0][first_sep + 1 :]) == {1}
    assert tokenizer.decode(ids, skip_special_tokens=True) == "red sofa a red sofa"


def test_encode_pairs_truncates_only_the_product_and_does_not_pad(tokenizer):
    enc = encode_pairs(tokenizer, QUERIES, DOCS, max_length=10)
    lengths = [len(ids) for ids in enc["input_ids"]]
    assert max(lengths) == 10
    assert len(set(lengths)) > 1  # no padding: lengths differ
    full_query = tokenizer("oak dining table")["input_ids"][:-1]
    assert enc["input_ids"][1][: len(full_query)] == full_query


def test_encode_pairs_rejects_bad_input(tokenizer):
    with pytest.raises(CourseArgumentError, match="one doc per query"):
        encode_pairs(tokenizer, ["a", "b"], ["x"])
    with pytest.raises(CourseDataError, match="fillna"):
        encode_pairs(tokenizer, ["a"], [None])
    with pytest.raises(CourseArgumentError, match="not one string"):
        encode_pairs(tokenizer, "a query", ["x"])
    with pytest.raises(CourseDataError, match="longest_first"):
        encode_pairs(tokenizer, ["red sofa " * 20], ["a b c"], max_length=16)
    both = encode_pairs(tokenizer, ["red sofa " * 20], ["a b c"], max_length=16,
                        truncation="longest_first")
    assert len(both["input_ids"][0]) == 16


def test_pair_dataset_items_and_lengths(tokenizer):
    ds = PairDataset.from_texts(
        tokenizer, QUERIES, DOCS, ["Exact", "Partial", "Irrelevant", "Exact"],
        label_names=["Exact", "Partial", "Irrelevant"], max_length=16,
    )
    assert len(ds) == 4
    assert ds[2]["labels"] == 2
    assert ds.lengths == [len(ds[i]["input_ids"]) for i in range(4)]
    with pytest.raises(CourseDataError, match="not in label_names"):
        PairDataset.from_texts(tokenizer, ["a"], ["b"], ["Great"], label_names=["Exact"])


def test_collator_pads_to_longest_in_batch_and_stacks_labels(tokenizer):
    ds = PairDataset.from_texts(tokenizer, QUERIES, DOCS, [0, 1, 2, 0], max_length=64)
    batch = DynamicPaddingCollator(tokenizer)([ds[0], ds[1], ds[2]])
    longest = max(ds.lengths[:3])
    assert batch["input_ids"].shape == (3, longest)
    assert batch["labels"].tolist() == [0, 1, 2]
    assert batch["labels"].dtype == torch.long
    # the mask counts exactly the real tokens, and pads carry the pad id
    assert batch["attention_mask"].sum(1).tolist() == ds.lengths[:3]
    shortest = int(np.argmin(ds.lengths[:3]))
    assert batch["input_ids"][shortest, -1].item() == tokenizer.pad_token_id


def test_collator_pad_to_multiple_of(tokenizer):
    ds = PairDataset.from_texts(tokenizer, QUERIES, DOCS, max_length=64)
    batch = DynamicPaddingCollator(tokenizer, pad_to_multiple_of=8)([ds[0], ds[2]])
    assert batch["input_ids"].shape[1] % 8 == 0
    assert batch["input_ids"].shape[1] >= max(ds.lengths[0], ds.lengths[2])
    assert "labels" not in batch


def test_collated_batch_gives_same_logits_as_unpadded(tokenizer):
    from course.models import load_classifier

    model = load_classifier(resolve_model("tiny"), ["a", "b", "c"]).eval()
    ds = PairDataset.from_texts(tokenizer, QUERIES, DOCS, max_length=64)
    batch = DynamicPaddingCollator(tokenizer)([ds[i] for i in range(4)])
    with torch.no_grad():
        padded = model(**batch).logits
        collate = DynamicPaddingCollator(tokenizer)
        single = torch.cat([model(**collate([ds[i]])).logits for i in range(4)])
    torch.testing.assert_close(padded, single, atol=1e-5, rtol=1e-4)


def _all_indices(sampler):
    return sorted(i for batch in sampler for i in batch)


@settings(max_examples=40, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 200), min_size=1, max_size=300),
    batch_size=st.integers(1, 17),
    multiplier=st.integers(1, 5),
    seed=st.integers(0, 3),
)
def test_bucket_sampler_yields_every_index_once(lengths, batch_size, multiplier, seed):
    sampler = LengthBucketSampler(lengths, batch_size, multiplier, seed=seed, num_replicas=1,
                                  rank=0)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert len(batches) == len(sampler)
    assert all(1 <= len(b) <= batch_size for b in batches)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 200),
    batch_size=st.integers(1, 9),
    multiplier=st.integers(1, 4),
    world=st.integers(1, 4),
    drop_last=st.booleans(),
)
@example(n=1, batch_size=1, multiplier=1, world=3, drop_last=False)  # fewer examples than ranks
def test_bucket_sampler_len_matches_iteration_under_ddp(n, batch_size, multiplier, world,
                                                        drop_last):
    lengths = list(range(n))
    counts = []
    for rank in range(world):
        sampler = LengthBucketSampler(lengths, batch_size, multiplier, drop_last=drop_last,
                                      num_replicas=world, rank=rank)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        counts.append([len(b) for b in batches])
    assert all(c == counts[0] for c in counts), "every rank must take the same number of steps"


def test_bucket_sampler_groups_similar_lengths_and_shuffles_batches():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 120, size=2000)
    sampler = LengthBucketSampler(lengths, 32, bucket_size_multiplier=50, seed=1, num_replicas=1,
                                  rank=0)
    batches = list(sampler)
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    random_spread = np.mean([np.ptp(lengths[i : i + 32]) for i in range(0, 2000, 32)])
    assert spread < random_spread / 5
    # batch order is random, not sorted by length
    means = [lengths[b].mean() for b in batches]
    assert not np.all(np.diff(means) >= 0)


def test_bucket_sampler_epochs_differ_and_repeat_by_seed():
    lengths = list(range(100))
    a = LengthBucketSampler(lengths, 8, 2, seed=3, num_replicas=1, rank=0)
    b = LengthBucketSampler(lengths, 8, 2, seed=3, num_replicas=1, rank=0)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
    b.set_epoch(1)
    assert list(a) == list(b)


def test_bucket_sampler_ranks_split_the_global_batches():
    lengths = list(range(64))
    single = LengthBucketSampler(lengths, 8, 2, seed=5, num_replicas=1, rank=0)
    rank0 = LengthBucketSampler(lengths, 4, 2, seed=5, num_replicas=2, rank=0)
    rank1 = LengthBucketSampler(lengths, 4, 2, seed=5, num_replicas=2, rank=1)
    for whole, part0, part1 in zip(single, rank0, rank1, strict=True):
        assert not set(part0) & set(part1)
        assert sorted(part0 + part1) == sorted(whole)


def test_bucket_sampler_reads_world_from_env(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    sampler = LengthBucketSampler(list(range(10)), 2)
    assert (sampler.num_replicas, sampler.rank) == (2, 1)


def test_bucket_sampler_rejects_bad_arguments():
    with pytest.raises(CourseArgumentError, match="batch_size"):
        LengthBucketSampler([1, 2], 0)
    with pytest.raises(CourseArgumentError, match="empty"):
        LengthBucketSampler([], 4)
    with pytest.raises(CourseArgumentError, match="rank"):
        LengthBucketSampler([1, 2], 1, num_replicas=2, rank=2)


def test_token_length_report(tokenizer):
    report = token_length_report(tokenizer, QUERIES, DOCS, max_lengths=(8, 64))
    assert list(report.columns) == ["query", "doc", "pair"]
    lengths = [len(tokenizer(q, d)["input_ids"]) for q, d in zip(QUERIES, DOCS, strict=True)]
    assert report.loc["max", "pair"] == max(lengths)
    assert report.loc["p50", "pair"] == np.median(lengths)
    assert report.loc["truncated@8", "pair"] == np.mean(np.array(lengths) > 8)
    assert report.loc["truncated@64", "pair"] == 0.0
    assert token_length_report(tokenizer, QUERIES).columns.tolist() == ["query"]


def test_padding_waste_by_hand():
    # lengths 2, 4 in one batch, 6, 8 in the other (after clipping at 8)
    waste = padding_waste([2, 4, 6, 10], batch_size=2, max_length=8)
    real = 2 + 4 + 6 + 8
    assert waste["fixed"] == pytest.approx(1 - real / 32)
    assert waste["bucketed"] == pytest.approx(1 - real / (2 * 4 + 2 * 8))
    assert waste["bucketed"] <= waste["dynamic"] <= waste["fixed"]


def test_padding_waste_on_skewed_lengths():
    lengths = np.random.default_rng(0).gamma(2.0, 12.0, size=3000).astype(int) + 4
    waste = padding_waste(lengths, batch_size=32, max_length=128)
    assert waste["fixed"] > 0.6
    assert waste["bucketed"] < 0.05 < waste["dynamic"] < waste["fixed"]

"""course.recsys.sequential and sampled evaluation: BERT4Rec and SASRec on purchase sequences."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import ndcg_score

from course import recsys, train
from course.errors import CourseArgumentError, CourseDataError
from course.recsys import sequential as sq

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = sq.SequenceConfig(max_len=8, hidden=16, layers=1, heads=2, dropout=0.0, mask_prob=0.3)


def _cycles(num_items: int = 12, users: int = 160, seed: int = 0):
    """Every user walks the catalogue in steps of one from a random start: item i -> i + 1,
    for 2 to 10 steps."""
    rng = np.random.default_rng(seed)
    return [[(s + t) % num_items for t in range(int(n))]
            for s, n in zip(rng.integers(0, num_items, users), rng.integers(2, 11, users),
                            strict=True)]


def test_cloze_for_last_hides_only_the_last_item():
    out = sq.cloze_for_last([4, 7, 9], max_len=5, mask_id=21)
    assert out == {"input_ids": [0, 0, 5, 8, 21], "attention_mask": [0, 0, 1, 1, 1],
                   "labels": [-100, -100, -100, -100, 10]}
    long = sq.cloze_for_last(list(range(10)), max_len=4, mask_id=99)
    assert long["input_ids"] == [7, 8, 9, 99] and long["labels"] == [-100, -100, -100, 10]
    with pytest.raises(CourseDataError):
        sq.cloze_for_last([3], max_len=4, mask_id=99)


def test_cloze_collator_hides_about_mask_prob_and_labels_only_hidden_items():
    collate = sq.ClozeCollator(num_items=50, max_len=20, mask_prob=0.25, seed=0)
    windows = [list(np.random.default_rng(i).integers(0, 50, 20)) for i in range(200)]
    batch = collate(windows)
    hidden = batch["labels"] != -100
    assert abs(hidden.float().mean().item() - 0.25) < 0.03
    assert (batch["input_ids"][hidden] == 51).all()
    tokens = torch.tensor(np.array(windows)) + 1
    assert torch.equal(batch["labels"][hidden], tokens[hidden])
    assert torch.equal(batch["input_ids"][~hidden], tokens[~hidden])
    one = sq.ClozeCollator(num_items=50, max_len=20, mask_prob=0.01, seed=0)([[1, 2]] * 30)
    assert ((one["labels"] != -100).sum(1) >= 1).all()  # at least one hidden item each


def test_cloze_batches_pad_on_the_left_so_the_latest_item_is_last():
    batch = sq.ClozeCollator(num_items=9, max_len=4, mask_prob=0.5, seed=0)([[1, 2, 3, 4, 5], [6]])
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [0, 0, 0, 1]]
    short = sq.ClozeCollator(num_items=9, max_len=4, mask_prob=0.5, seed=0)([[1, 2]])
    assert short["attention_mask"].tolist() == [[0, 0, 1, 1]]  # always max_len wide
    assert batch["input_ids"][1, :3].tolist() == [0, 0, 0]
    assert batch["labels"][1].tolist() == [-100, -100, -100, 7]  # the one item is hidden


def test_next_item_collator_shifts_by_one_and_pads_on_the_right():
    batch = sq.NextItemCollator(max_len=3)([[0, 1, 2, 3, 4], [5, 6]])
    assert batch["input_ids"].tolist() == [[2, 3, 4], [6, 0, 0]]
    assert batch["labels"].tolist() == [[3, 4, 5], [7, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_windows_cover_long_histories_latest_first():
    ds = sq.SequenceWindows([list(range(10)), [1], [3, 4]], max_len=3, stride=3, max_windows=2)
    assert ds.windows == [[6, 7, 8, 9], [3, 4, 5, 6], [3, 4]]


def test_sasrec_is_causal_and_bert4rec_is_not():
    for kind, causal in (("sasrec", True), ("bert4rec", False)):
        model = sq.SequenceModel(20, SMALL, kind, seed=0).eval()
        a = torch.tensor([[3, 4, 5, 6]])
        b = torch.tensor([[3, 4, 9, 9]])
        ones = torch.ones_like(a)
        with torch.no_grad():
            same = torch.allclose(model.hidden(a, ones)[0, :2], model.hidden(b, ones)[0, :2])
        assert same == causal, kind
        tied = model.net.bert.embeddings.word_embeddings.weight
        assert model.net.cls.predictions.decoder.weight is tied
        assert model(a, ones).shape == (1, 4, 20)  # items only: no [PAD], no [MASK]


def test_sequence_loss_is_cross_entropy_over_the_catalogue():
    model = sq.SequenceModel(20, SMALL, "bert4rec", seed=0).eval()
    batch = sq.ClozeCollator(20, SMALL.max_len, 0.5, seed=1)([[1, 2, 3, 4, 5]] * 3)
    with torch.no_grad():
        loss = sq.sequence_loss(model, batch)
        logits = model(batch["input_ids"], batch["attention_mask"])
    chosen = batch["labels"] != -100
    expected = torch.nn.functional.cross_entropy(logits[chosen], batch["labels"][chosen] - 1)
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("kind", sq.KINDS)
def test_both_models_learn_a_simple_pattern_and_rank_it_first(kind):
    sequences = _cycles()
    collate = (sq.ClozeCollator(12, SMALL.max_len, 0.3, seed=0) if kind == "bert4rec"
               else sq.NextItemCollator(SMALL.max_len))
    model = sq.SequenceModel(12, SMALL, kind, seed=0)
    histories = [[3, 4, 5], [10, 11, 0, 1]]
    config = train.TrainConfig(max_steps=300, batch_size=32, lr=1e-2, weight_decay=0.0,
                               progress=False, precision="fp32", warmup_ratio=0.05)
    train.fit(model, sq.SequenceWindows(sequences, SMALL.max_len), config, collate_fn=collate,
              loss_fn=sq.sequence_loss)
    recs = sq.SequenceRecommender(model).recommend(histories, k=3)
    assert recs[:, 0].tolist() == [6, 2], f"{kind}: {recs}"
    alone = sq.SequenceRecommender(model).recommend(histories[:1], k=3)
    assert np.array_equal(alone, recs[:1]), "a history's list must not depend on its batch"
    evaluate = sq.make_sequence_evaluate_fn(histories, [6, 2], k=1)
    assert evaluate(model) == {"recall@1": 1.0, "ndcg@1": 1.0}


def test_recommendations_leave_out_the_history_and_match_sklearn_ndcg():
    model = sq.SequenceModel(30, SMALL, "sasrec", seed=0)
    rec = sq.SequenceRecommender(model)
    rng = np.random.default_rng(0)
    histories = [list(rng.choice(30, 5, replace=False)) for _ in range(40)]
    targets = np.array([rng.choice(np.setdiff1d(np.arange(30), h)) for h in histories])
    recs = rec.recommend(histories, k=10)
    assert not any(set(r) & set(h) for r, h in zip(recs.tolist(), histories, strict=True))
    scores = rec.score_all(histories)
    for row, h in enumerate(histories):
        scores[row, h] = -1e9  # what excluding the history means for sklearn
    truth = np.zeros_like(scores)
    truth[np.arange(40), targets] = 1
    ours = recsys.evaluate_recommender(recs, targets, k=10)["ndcg@10"]
    assert abs(ours - ndcg_score(truth, scores, k=10)) < 1e-6


def test_sampled_metrics_rank_the_target_among_the_sampled_items():
    class Fixed(recsys.Recommender):
        num_items = 6

        def score_all(self, histories, users=None):
            return np.tile(np.arange(6, dtype=float), (len(histories), 1))  # item 5 is best

    # history {5}: the negatives are drawn from {0..4} minus the target
    result = recsys.evaluate_sampled({"fixed": Fixed()}, [[5], [5]], [4, 0], n_negatives=3, k=1,
                                     seed=0)["fixed"]
    assert result["recall@1"] == 0.5  # target 4 beats every negative; target 0 beats none
    assert abs(result["ndcg@1"] - 0.5) < 1e-12
    with pytest.raises(CourseArgumentError):
        recsys.evaluate_sampled({"fixed": Fixed()}, [[5]], [4], n_negatives=5)


def test_step_seconds_is_positive_and_leaves_the_model_alone():
    model = sq.SequenceModel(12, SMALL, "sasrec", seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    seconds = sq.step_seconds(model, sq.SequenceWindows(_cycles(), SMALL.max_len),
                              sq.NextItemCollator(SMALL.max_len), batch_size=16, precision="fp32")
    assert seconds > 0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_leave_last_out_splits_are_lesson_04s():
    sequences = [[(u + t) % 40 for t in range(3 + u % 5)] for u in range(60)]
    splits = recsys.leave_last_out_splits(sequences, 40, cold_fraction=0.1, seed=0)
    cold = recsys.split_cold_items(sequences, 40, frac=0.1, seed=0)
    tpv, test_users, test_targets = recsys.leave_last_out(cold.train_sequences)
    train_seqs, valid_users, valid_targets = recsys.leave_last_out(tpv)
    assert splits.train == train_seqs and splits.train_plus_valid == tpv
    assert np.array_equal(splits.test_targets, test_targets)
    assert np.array_equal(splits.valid_users, valid_users)
    assert splits.valid_histories == [train_seqs[u] for u in valid_users]
    assert splits.test_histories == [tpv[u] for u in test_users]


def test_bad_arguments_are_named():
    with pytest.raises(CourseArgumentError, match="kind"):
        sq.SequenceModel(10, SMALL, "gru4rec")
    with pytest.raises(CourseArgumentError, match="mask_prob"):
        sq.ClozeCollator(10, 5, mask_prob=1.0)
    with pytest.raises(CourseDataError):
        sq.SequenceWindows([[1], []], max_len=4)

"""course.search.negatives and course.search.distill: mining, filtering, triples, the hard-negative
softmax and Margin-MSE, each checked by hand or against a plain re-computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course import data
from course.errors import CourseArgumentError, CourseDataError
from course.models import load_encoder, load_tokenizer, resolve_model
from course.search import BiEncoder, distill, negatives
from course.train import TrainConfig, fit

pytestmark = pytest.mark.usefixtures("one_thread")


def test_pools_drop_known_positives_and_keep_the_order():
    pools = negatives.negative_pools([[5, 1, 7, 2], [3, 4]], [{1, 2}, {9}], depth=3)
    assert [p.tolist() for p in pools] == [[5, 7], [3, 4]]
    with pytest.raises(CourseDataError):
        negatives.negative_pools([[1]], [set(), set()])


def test_filter_pools_and_false_negative_share():
    pools = [np.array([5, 7]), np.array([3, 4])]
    kept = negatives.filter_pools(pools, [np.array([0.9, 0.1]), np.array([0.2, 0.7])], 0.6)
    assert [p.tolist() for p in kept] == [[7], [3]]
    gains = np.zeros((2, 10))
    gains[0, 5] = 1.0  # product 5 is Exact for query 0: a false negative
    gains[1, 4] = 0.5  # Partial: a fair hard negative
    assert negatives.false_negative_share(pools, gains) == pytest.approx(1 / 4)
    assert negatives.false_negative_share(kept, gains) == 0.0
    with pytest.raises(CourseDataError, match="scores"):
        negatives.filter_pools(pools, [np.array([0.1]), np.array([0.1, 0.2])], 0.5)


def test_draw_negatives_is_seeded_and_falls_back_outside_the_positives():
    pools = [np.array([5, 7]), np.array([], dtype=np.int64)]
    drawn = negatives.draw_negatives(pools, [0, 0, 1, 1, 1], [{1}, {0, 1, 2}], 4, seed=3)
    assert set(drawn[:2]) <= {5, 7}
    assert all(d == 3 for d in drawn[2:])  # the only product that is not a positive
    again = negatives.draw_negatives(pools, [0, 0, 1, 1, 1], [{1}, {0, 1, 2}], 4, seed=3)
    assert np.array_equal(drawn, again)


def test_hard_negative_softmax_by_hand():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    p = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    n = torch.tensor([[0.8, 0.6], [0.0, 1.0]])
    loss = negatives.hard_negative_softmax(q, p, n, temperature=1.0)
    logits = q @ torch.cat([p, n]).T
    expected = -(torch.log_softmax(logits, dim=1)[[0, 1], [0, 1]]).mean()
    assert loss.item() == pytest.approx(expected.item())
    # row 1's negative is product 0, row 0's positive: only row 0 sees it masked
    ids, neg_ids = torch.tensor([0, 1]), torch.tensor([2, 0])
    masked = negatives.hard_negative_softmax(q, p, n, 1.0, ids, neg_ids)
    row0 = logits[0].clone()
    row0[3] = float("-inf")  # column 3 is product 0 again, for the row whose positive it is
    by_hand = -(torch.log_softmax(row0, 0)[0] + torch.log_softmax(logits[1], 0)[1]) / 2
    assert masked.item() == pytest.approx(by_hand.item())
    with pytest.raises(CourseArgumentError):
        negatives.hard_negative_softmax(q, p, n[:1])


def test_margin_mse_by_hand_and_against_torch():
    sp, sn = torch.tensor([0.9, 0.2]), torch.tensor([0.1, 0.4])
    tp, tn = torch.tensor([1.0, 0.5]), torch.tensor([0.0, 0.5])
    # margins: student 0.8 and -0.2, teacher 1.0 and 0.0 -> ((-0.2)^2 + (-0.2)^2) / 2
    assert distill.margin_mse_loss(sp, sn, tp, tn).item() == pytest.approx(0.04)
    assert distill.margin_mse_loss(sp, sn, tp, tn).item() == pytest.approx(
        F.mse_loss(sp - sn, tp - tn).item())
    with pytest.raises(CourseArgumentError):
        distill.margin_mse_loss(sp, sn[:1], tp, tn)


def test_recovered_share():
    share = distill.recovered_share(student=0.7, baseline=0.6, teacher=0.8)
    assert share["share_of_teacher"] == pytest.approx(0.875)
    assert share["gap_closed"] == pytest.approx(0.5)
    assert np.isnan(distill.recovered_share(0.7, 0.9, 0.8)["gap_closed"])


@pytest.fixture(scope="module")
def tiny():
    resolved = resolve_model("tiny")
    return load_tokenizer(resolved), resolved


def test_triples_train_with_both_losses(tiny):
    tokenizer, resolved = tiny
    shop = data.make_minishop(seed=0, n_products=80, n_queries=20, n_users=5)
    texts = shop.products["text"].tolist()
    triples = negatives.TripletPairs(
        tokenizer, ["red sofa", "oak table", "grey lamp", "blue rug"], texts[:4], texts[4:8],
        [0, 1, 2, 3], [4, 5, 6, 0], teacher_pos=[0.9, 0.8, 0.7, 0.9],
        teacher_neg=[0.1, 0.2, 0.6, 0.3], product_length=32)
    batch = triples.collate([triples[i] for i in range(4)])
    assert batch["negative_input_ids"].shape[0] == 4 and batch["teacher"].shape == (4, 2)
    assert batch["negative_ids"].tolist() == [4, 5, 6, 0]
    for loss_fn in (negatives.hard_negative_loss(0.1), distill.distillation_loss(0.1, 2.0)):
        model = BiEncoder(load_encoder(resolved, seed=0))
        result = fit(model, triples, TrainConfig(max_steps=6, batch_size=4, lr=1e-3, seed=0,
                                                 progress=False),
                     collate_fn=triples.collate, loss_fn=loss_fn)
        losses = result.history["train_loss"].to_numpy()
        assert np.isfinite(losses).all() and losses[-1] < losses[0]
    plain = negatives.TripletPairs(tokenizer, ["a"], ["b"], ["c"], [0], [1])
    with pytest.raises(CourseDataError, match="teacher"):
        distill.distillation_loss()(BiEncoder(load_encoder(resolved, seed=0)),
                                    plain.collate([plain[0]]))
    with pytest.raises(CourseDataError):
        negatives.TripletPairs(tokenizer, ["a"], ["b"], ["c", "d"], [0], [1])

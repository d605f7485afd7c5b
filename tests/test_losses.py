"""Tests for course.losses: values, gradients, and the source material's sign error."""

import math

import pytest
import torch

from course.errors import CourseError
from course.losses import (
    bpr_loss,
    cosine_loss,
    in_batch_softmax_loss,
    pairwise_logistic_loss,
    seed_sort_loss,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def test_cosine_loss_hand_computed():
    u = torch.tensor([[1.0, 0.0], [1.0, 0.0], [3.0, 4.0]])
    v = torch.tensor([[2.0, 0.0], [0.0, 5.0], [3.0, 4.0]])
    # cosines: 1, 0, 1 -> loss = -(2/3)
    assert cosine_loss(u, v).item() == pytest.approx(-2.0 / 3.0)
    assert cosine_loss(u, -u).item() == pytest.approx(1.0)


def test_bpr_loss_hand_computed():
    pos = torch.tensor([2.0, 0.5])
    neg = torch.tensor([1.0, 1.5])
    expected = -(_log_sigmoid(1.0) + _log_sigmoid(-1.0)) / 2
    assert bpr_loss(pos, neg).item() == pytest.approx(expected, rel=1e-6)
    with_margin = -(_log_sigmoid(1.0 - 0.5) + _log_sigmoid(-1.0 - 0.5)) / 2
    assert bpr_loss(pos, neg, margin=0.5).item() == pytest.approx(with_margin, rel=1e-6)
    # hinge: mean(relu(margin - diff)) = (relu(1 - 1) + relu(1 + 1)) / 2 = 1
    assert bpr_loss(pos, neg, margin=1.0, hinge=True).item() == pytest.approx(1.0)
    assert bpr_loss(torch.zeros(3), torch.zeros(3)).item() == pytest.approx(math.log(2))


def test_seed_sort_loss_is_the_negated_bpr():
    a, b = torch.randn(7), torch.randn(7)
    assert seed_sort_loss(a, b).item() == pytest.approx(-bpr_loss(a, b).item(), rel=1e-6)


def test_bpr_gradient_raises_positive_and_lowers_negative():
    pos = torch.tensor([0.3, -1.0, 2.0], requires_grad=True)
    neg = torch.tensor([0.5, 0.0, 1.0], requires_grad=True)
    bpr_loss(pos, neg).backward()
    # gradient descent moves against the gradient: pos goes up, neg goes down
    assert (pos.grad < 0).all()
    assert (neg.grad > 0).all()


def test_seed_sort_gradient_points_the_wrong_way():
    a = torch.tensor([0.3, -1.0, 2.0], requires_grad=True)
    b = torch.tensor([0.5, 0.0, 1.0], requires_grad=True)
    seed_sort_loss(a, b).backward()
    assert (a.grad > 0).all()  # descent lowers the positive
    assert (b.grad < 0).all()  # and raises the negative


def test_in_batch_softmax_hand_computed():
    users = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    items = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    t = 0.5
    # logits row 0: [2, 2] -> -log(1/2); row 1: [0, 0] -> -log(1/2)
    assert in_batch_softmax_loss(users, items, temperature=t).item() == pytest.approx(math.log(2))
    items2 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # row 0 logits [2, 0]; row 1 [0, 2]: loss = -log(e^2/(e^2+1))
    expected = -math.log(math.exp(2) / (math.exp(2) + 1))
    got = in_batch_softmax_loss(users, items2, temperature=t).item()
    assert got == pytest.approx(expected, rel=1e-6)


def test_in_batch_softmax_masks_duplicate_positives():
    torch.manual_seed(0)
    users = torch.nn.functional.normalize(torch.randn(3, 4), dim=1)
    shared = torch.nn.functional.normalize(torch.randn(4), dim=0)
    other = torch.nn.functional.normalize(torch.randn(4), dim=0)
    items = torch.stack([shared, shared, other])
    ids = torch.tensor([5, 5, 9])
    masked = in_batch_softmax_loss(users, items, 0.1, item_ids=ids)
    unmasked = in_batch_softmax_loss(users, items, 0.1)
    # by hand: each of rows 0 and 1 drops the other copy of item 5 from its softmax
    logits = users @ items.T / 0.1
    rows = []
    for i, keep in enumerate([[0, 2], [1, 2], [0, 1, 2]]):
        rows.append(-(logits[i, i] - torch.logsumexp(logits[i, keep], dim=0)))
    assert masked.item() == pytest.approx(torch.stack(rows).mean().item(), rel=1e-5)
    assert masked.item() < unmasked.item()


def test_in_batch_softmax_logq_correction_hand_computed():
    users = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    items = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    log_q = torch.log(torch.tensor([0.8, 0.2]))
    # logits / t = [[2, 0], [0, 2]]; minus log q per column: [[2 - lq0, -lq1], [-lq0, 2 - lq1]]
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]]) - log_q[None, :]
    expected = -(logits.diagonal() - torch.logsumexp(logits, dim=1)).mean()
    got = in_batch_softmax_loss(users, items, temperature=0.5, log_q=log_q)
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)
    # a popular item (large q) is pushed down less as a negative, so its row's loss falls
    plain = in_batch_softmax_loss(users, items, temperature=0.5)
    assert got.item() != pytest.approx(plain.item())
    same_q = torch.full((2,), math.log(0.5))
    assert in_batch_softmax_loss(users, items, 0.5, log_q=same_q).item() == pytest.approx(
        plain.item(), rel=1e-6)  # a uniform q changes nothing
    with pytest.raises(CourseError, match="log_q"):
        in_batch_softmax_loss(users, items, 0.5, log_q=torch.zeros(3))


def test_pairwise_logistic_loss_hand_computed():
    scores = torch.tensor([2.0, 1.0, 0.0])
    relevance = torch.tensor([1.0, 0.0, 0.0])
    expected = -(_log_sigmoid(1.0) + _log_sigmoid(2.0)) / 2  # pairs (0, 1) and (0, 2)
    assert pairwise_logistic_loss(scores, relevance).item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(CourseError, match="same relevance"):
        pairwise_logistic_loss(scores, torch.ones(3))


def test_seed_sort_with_the_sign_fixed_is_still_blind_to_order():
    """The source's a_i is the predicted ranking value of item i and b_i its actual one."""
    actual = torch.tensor([3.0, 2.0, 1.0])
    right = torch.tensor([40.0, 30.0, 20.0])  # same order as the truth
    reversed_ = torch.tensor([20.0, 30.0, 40.0])  # every item far above its target, order reversed
    fixed_right = -seed_sort_loss(right, actual).item()
    fixed_reversed = -seed_sort_loss(reversed_, actual).item()
    assert fixed_right < 1e-3 and fixed_reversed < 1e-3  # both "perfect" by the seed's loss
    assert pairwise_logistic_loss(right, actual).item() < 1e-3
    assert pairwise_logistic_loss(reversed_, actual).item() > 1.0  # a pairwise loss sees the order


def test_losses_reject_mismatched_shapes():
    with pytest.raises(CourseError, match="same shape"):
        bpr_loss(torch.zeros(3), torch.zeros(4))
    with pytest.raises(CourseError, match="same shape"):
        cosine_loss(torch.zeros(3, 2), torch.zeros(2, 2))
    with pytest.raises(CourseError, match="temperature"):
        in_batch_softmax_loss(torch.zeros(2, 2), torch.zeros(2, 2), temperature=0.0)


def _train_pair_scorer(loss_fn, steps: int = 200) -> float:
    """Train a linear scorer on a toy problem; return the share of pairs ranked positive-first.

    Each example has a positive item and a negative item with 4 features; the
    positive's first feature is larger. The scorer is w . x.
    """
    gen = torch.Generator().manual_seed(0)
    pos_x = torch.randn(256, 4, generator=gen)
    neg_x = torch.randn(256, 4, generator=gen)
    pos_x[:, 0] += 1.5
    w = torch.zeros(4, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1)
    for _ in range(steps):
        loss = loss_fn(pos_x @ w, neg_x @ w)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float(((pos_x @ w) > (neg_x @ w)).float().mean())


def test_seed_sort_loss_ranks_the_negative_first_after_training():
    correct = _train_pair_scorer(bpr_loss)
    wrong = _train_pair_scorer(seed_sort_loss)
    assert correct > 0.8, f"BPR should rank positives first, got {correct:.2f}"
    assert wrong < 0.2, f"the seed L_sort should rank negatives first, got {wrong:.2f}"


def test_bpr_loss_matches_independent_formulas():
    """Two references outside the course: torch's softplus (-log sigmoid(x) = softplus(-x)) and
    NumPy's logaddexp in float64 (-log sigmoid(x) = log(1 + e^-x)). Tolerance 1e-6 (float32)."""
    import numpy as np

    gen = torch.Generator().manual_seed(0)
    pos, neg = torch.randn(64, 5, generator=gen) * 4, torch.randn(64, 5, generator=gen) * 4
    ours = bpr_loss(pos, neg).item()
    assert ours == pytest.approx(torch.nn.functional.softplus(neg - pos).mean().item(), abs=1e-6)
    diff = (pos - neg).double().numpy()
    assert ours == pytest.approx(float(np.logaddexp(0.0, -diff).mean()), abs=1e-6)
    # far in the tails the formula must stay finite (log(sigmoid(x)) alone underflows)
    assert bpr_loss(torch.tensor([-200.0]), torch.tensor([200.0])).item() == pytest.approx(400.0)

"""ID-based baselines: popularity, item-kNN on co-purchases, BPR matrix factorisation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from course.errors import CourseArgumentError, CourseDataError
from course.losses import bpr_loss
from course.recsys.data import item_popularity
from course.recsys.recommender import Recommender

__all__ = [
    "BPRMF",
    "ItemKNNRecommender",
    "PopularityRecommender",
    "interaction_matrix",
]


def _num_items(train_sequences, num_items):
    seen = max((max(s) for s in train_sequences if len(s)), default=-1) + 1
    if num_items is None:
        return seen
    if seen > num_items:
        raise CourseArgumentError(
            f"Item index {seen - 1} is out of range for num_items={num_items}."
        )
    return num_items


class PopularityRecommender(Recommender):
    """Recommends the most bought items to everyone."""

    def fit(self, train_sequences, num_items=None):
        self.num_items = _num_items(train_sequences, num_items)
        self.counts = item_popularity(train_sequences, self.num_items).astype(np.float32)
        return self

    def score_all(self, histories, users=None):
        self._check_fitted()
        return np.broadcast_to(self.counts, (len(histories), self.num_items)).copy()


def interaction_matrix(sequences: Sequence[Sequence[int]], num_items: int):
    """Binary user x item matrix (scipy CSR) of who bought what."""
    from scipy import sparse

    rows = np.repeat(np.arange(len(sequences)), [len(s) for s in sequences])
    cols = np.fromiter((i for s in sequences for i in s), dtype=np.int64, count=len(rows))
    matrix = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                               shape=(len(sequences), num_items))
    matrix.data[:] = 1.0  # duplicates were summed; keep "bought or not"
    return matrix


class ItemKNNRecommender(Recommender):
    """Item-kNN on co-purchases: score(item) = sum over the history of cosine(item, history item).

    The cosine is between the items' binary buyer columns. ``neighbors`` keeps
    only each item's most similar items (None keeps all).
    """

    def __init__(self, neighbors: int | None = 100):
        self.neighbors = neighbors

    def fit(self, train_sequences, num_items=None):
        from scipy import sparse

        self.num_items = _num_items(train_sequences, num_items)
        x = interaction_matrix(train_sequences, self.num_items)
        co = (x.T @ x).tocsr().astype(np.float32)
        norms = np.sqrt(co.diagonal()).astype(np.float32)
        inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        sim = sparse.diags(inv) @ co @ sparse.diags(inv)
        sim = sim.tolil()
        sim.setdiag(0)
        sim = sim.tocsr()
        sim.eliminate_zeros()
        if self.neighbors is not None:
            sim = _keep_top_per_row(sim, self.neighbors)
        self.similarity = sim
        return self

    def score_all(self, histories, users=None):
        self._check_fitted()
        h = interaction_matrix(histories, self.num_items)
        # sim is built row-wise per item; score = sum_j sim[j, item] over history items j
        return np.asarray((h @ self.similarity).todense(), dtype=np.float32)


def _keep_top_per_row(matrix, top: int):
    """Keep the ``top`` largest entries of each CSR row."""
    from scipy import sparse

    rows, cols, vals = [], [], []
    for r in range(matrix.shape[0]):
        lo, hi = matrix.indptr[r], matrix.indptr[r + 1]
        data, idx = matrix.data[lo:hi], matrix.indices[lo:hi]
        if len(data) > top:
            keep = np.argpartition(-data, top - 1)[:top]
            data, idx = data[keep], idx[keep]
        rows.append(np.full(len(data), r))
        cols.append(idx)
        vals.append(data)
    return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=matrix.shape)


class BPRMF(Recommender):
    """Matrix factorisation trained with the BPR loss (torch, Adam, uniform negatives).

    User ``u`` scores item ``i`` as ``P[u] . Q[i]``. The users are the rows of
    the training sequences, so :meth:`score_all` needs ``users`` (row numbers)
    unless the histories are the training rows in order. Items never bought in
    training keep zero factors (score 0).
    """

    def __init__(self, factors: int = 64, epochs: int = 30, lr: float = 0.01, reg: float = 1e-4,
                 batch_size: int = 4096, seed: int = 0, progress: bool = True):
        self.factors, self.epochs, self.lr, self.reg = factors, epochs, lr, reg
        self.batch_size, self.seed, self.progress = batch_size, seed, progress

    def fit(self, train_sequences, num_items=None):
        self.num_items = _num_items(train_sequences, num_items)
        x = interaction_matrix(train_sequences, self.num_items).tocoo()
        if x.nnz == 0:
            raise CourseDataError("BPRMF needs at least one purchase to train on.")
        gen = torch.Generator().manual_seed(self.seed)
        n_users = len(train_sequences)
        users_t = torch.as_tensor(x.row, dtype=torch.long)
        items_t = torch.as_tensor(x.col, dtype=torch.long)
        warm = torch.as_tensor(np.unique(x.col), dtype=torch.long)
        user_f = nn.Parameter(torch.randn(n_users, self.factors, generator=gen) * 0.1)
        item_f = nn.Parameter(torch.randn(self.num_items, self.factors, generator=gen) * 0.1)
        opt = torch.optim.Adam([user_f, item_f], lr=self.lr)
        for _ in tqdm(range(self.epochs), desc="BPR-MF", unit="epoch", disable=not self.progress):
            order = torch.randperm(len(users_t), generator=gen)
            for s in range(0, len(order), self.batch_size):
                b = order[s : s + self.batch_size]
                u, i = users_t[b], items_t[b]
                j = warm[torch.randint(len(warm), (len(b),), generator=gen)]
                pu, qi, qj = user_f[u], item_f[i], item_f[j]
                loss = bpr_loss((pu * qi).sum(-1), (pu * qj).sum(-1))
                penalty = pu.pow(2).sum() + qi.pow(2).sum() + qj.pow(2).sum()
                loss = loss + self.reg * penalty / len(b)
                opt.zero_grad()
                loss.backward()
                opt.step()
        cold = torch.ones(self.num_items, dtype=torch.bool)
        cold[warm] = False
        self.user_factors = user_f.detach()
        self.item_factors = item_f.detach().masked_fill(cold[:, None], 0.0)
        return self

    def score_all(self, histories, users=None):
        self._check_fitted()
        if users is None:
            if len(histories) != len(self.user_factors):
                raise CourseArgumentError(
                    "BPRMF scores known users only: pass users= (their row numbers in the "
                    "training sequences) for these histories."
                )
            users = np.arange(len(histories))
        rows = torch.as_tensor(np.asarray(users, dtype=np.int64))
        return (self.user_factors[rows] @ self.item_factors.T).numpy()


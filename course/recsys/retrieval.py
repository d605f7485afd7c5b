"""Exact top-k retrieval by a chunked matrix product, in bounded memory."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from course.errors import CourseArgumentError

__all__ = [
    "local_exclusions",
    "retrieval_block_bytes",
    "topk_retrieval",
]


def _exclusion_pairs(exclude, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) arrays of the (user, item) pairs to leave out of the results."""
    if exclude is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if len(exclude) != n_users:
        raise CourseArgumentError(
            f"exclude has {len(exclude)} entries but there are {n_users} users; "
            "pass one collection of item indices per user (or None)."
        )
    rows = np.repeat(np.arange(n_users), [len(e) for e in exclude])
    cols = np.fromiter((int(i) for e in exclude for i in e), dtype=np.int64, count=len(rows))
    return rows, cols


def local_exclusions(candidates: np.ndarray, exclude, num_items: int):
    """Map per-user exclusion lists of catalog indices into a candidate subset's positions."""
    if exclude is None:
        return None
    local = np.full(num_items, -1, dtype=np.int64)
    local[candidates] = np.arange(len(candidates))
    return [[int(local[i]) for i in e if local[i] >= 0] for e in exclude]


def retrieval_block_bytes(n_users: int, n_items: int, user_chunk: int, chunk_size: int) -> int:
    """Bytes of the largest temporary score block :func:`topk_retrieval` allocates (fp32)."""
    return min(n_users, user_chunk) * min(n_items, chunk_size) * 4


def _check_retrieval_args(user_vecs, item_vecs, k: int, chunk_size: int, user_chunk: int) -> None:
    if user_vecs.ndim != 2 or item_vecs.ndim != 2 or user_vecs.shape[1] != item_vecs.shape[1]:
        raise CourseArgumentError(
            f"user_vecs [n_users, d] and item_vecs [n_items, d] must share d; got "
            f"{tuple(user_vecs.shape)} and {tuple(item_vecs.shape)}."
        )
    if not 1 <= k <= item_vecs.shape[0]:
        raise CourseArgumentError(
            f"k must be between 1 and the catalog size {item_vecs.shape[0]}, got {k}."
        )
    if chunk_size < 1 or user_chunk < 1:
        raise CourseArgumentError("chunk_size and user_chunk must be positive integers.")


def topk_retrieval(
    user_vecs: torch.Tensor,
    item_vecs: torch.Tensor,
    k: int = 10,
    chunk_size: int = 4096,
    user_chunk: int = 1024,
    exclude: Sequence[Iterable[int]] | None = None,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-k items per user by inner product, in bounded memory.

    The items are processed ``chunk_size`` at a time and the users
    ``user_chunk`` at a time, so the largest temporary score block is
    ``user_chunk x chunk_size`` floats, whatever the catalog size. A running
    top-k per user is merged with each block's top-k.

    Args:
        user_vecs: ``[n_users, d]``.
        item_vecs: ``[n_items, d]``.
        k: how many items per user.
        chunk_size: items per block.
        user_chunk: users per block.
        exclude: per user, item indices never to return (e.g. already bought).
        progress: show a tqdm bar over item blocks.

    Returns:
        ``(scores, indices)``, both ``[n_users, k]``, best first. Slots that
        exclusion left empty hold score ``-inf``.
    """
    _check_retrieval_args(user_vecs, item_vecs, k, chunk_size, user_chunk)
    n_users, n_items = user_vecs.shape[0], item_vecs.shape[0]
    rows, cols = _exclusion_pairs(exclude, n_users)
    dtype = torch.promote_types(user_vecs.dtype, item_vecs.dtype)
    users = user_vecs.to(dtype)
    best_scores = torch.full((n_users, k), float("-inf"), dtype=dtype, device=users.device)
    best_index = torch.zeros((n_users, k), dtype=torch.long, device=users.device)
    block = torch.empty(
        min(n_users, user_chunk) * min(n_items, chunk_size), dtype=dtype, device=users.device
    )
    starts = range(0, n_items, chunk_size)
    for i0 in tqdm(starts, desc="top-k retrieval", unit="block", disable=not progress):
        items_t = item_vecs[i0 : i0 + chunk_size].to(dtype).T.contiguous()
        n_block = items_t.shape[1]
        in_block = (cols >= i0) & (cols < i0 + n_block)
        for u0 in range(0, n_users, user_chunk):
            u1 = min(u0 + user_chunk, n_users)
            scores = block[: (u1 - u0) * n_block].view(u1 - u0, n_block)
            torch.mm(users[u0:u1], items_t, out=scores)
            mask = in_block & (rows >= u0) & (rows < u1)
            if mask.any():
                r = torch.from_numpy(rows[mask] - u0).to(scores.device)
                c = torch.from_numpy(cols[mask] - i0).to(scores.device)
                scores[r, c] = float("-inf")
            _merge_block(scores, i0, best_scores[u0:u1], best_index[u0:u1])
    return best_scores, best_index


def _merge_block(
    scores: torch.Tensor, offset: int, best_s: torch.Tensor, best_i: torch.Tensor
) -> None:
    """Merge one ``[users, items]`` score block into the running top-k (in place).

    Only users whose best score in the block beats their current k-th best can
    change. After the first blocks these are few, so one cheap row maximum skips
    the ``topk`` for most users.
    """
    k = best_s.shape[1]
    touched = (scores.amax(dim=1) > best_s[:, -1]).nonzero().squeeze(1)
    if touched.numel() == 0:
        return
    rows = scores if touched.numel() == scores.shape[0] else scores[touched]
    top_s, top_i = rows.topk(min(k, scores.shape[1]), dim=1)
    merged_s = torch.cat([best_s[touched], top_s], dim=1)
    merged_i = torch.cat([best_i[touched], top_i + offset], dim=1)
    keep_s, keep = merged_s.topk(k, dim=1)
    best_s[touched] = keep_s
    best_i[touched] = merged_i.gather(1, keep)

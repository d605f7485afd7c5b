"""Lesson 04 glue: purchase sequences and item texts from Online Retail or mini-shop."""

from __future__ import annotations

import warnings

import pandas as pd

from course import data
from course.errors import CourseArgumentError, CourseDataError

__all__ = [
    "CHOICES",
    "SHOP_PRODUCTS",
    "SHOP_USERS",
    "load_sequences",
]

CHOICES = ("mini-shop", "online_retail")
SHOP_USERS = 3000  # mini-shop shoppers for lesson 04 (the generator's default is 500)
SHOP_PRODUCTS = 1200  # the generator's default catalog


def load_sequences(
    choice: str = "online_retail",
    seed: int = 42,
    max_users: int | None = None,
    shop_users: int = SHOP_USERS,
    shop_products: int = SHOP_PRODUCTS,
) -> tuple[dict, dict, str]:
    """Time-ordered purchases per user and the text of every item.

    ``online_retail`` falls back to mini-shop, with a warning, when the file is
    not found (set ``COURSE_DATA_DIR``). Mini-shop items are described by their
    title and description (``text``), Online Retail items by their description.

    Args:
        choice: ``"online_retail"`` or ``"mini-shop"``.
        seed: seed of the mini-shop and of the user sample.
        max_users: keep a seeded random sample of this many users (all when None).
        shop_users: how many shoppers mini-shop generates.
        shop_products: how many products mini-shop generates (fewer encode faster).

    Returns:
        ``(sequences, item_text, data_used)``: ``{user: [item, ...]}``, ``{item: text}``, a name.
    """
    if choice not in CHOICES:
        raise CourseArgumentError(f"Unknown recommender data {choice!r}; use one of {CHOICES}.")
    if choice == "online_retail":
        try:
            retail = data.load_online_retail()
        except CourseDataError as exc:
            warnings.warn(f"Online Retail not available ({exc}); using mini-shop.", stacklevel=2)
        else:
            sequences = {u: list(items) for u, items in retail.sequences.items()}
            texts = dict(zip(retail.items["product_id"].astype(str), retail.items["text"],
                             strict=True))
            return _limit(sequences, max_users, seed), texts, "online_retail"
    shop = data.make_minishop(seed=seed, n_products=shop_products, n_users=shop_users)
    ordered = shop.purchases.sort_values(["user_id", "timestamp"], kind="stable")
    sequences = {u: list(group["product_id"]) for u, group in ordered.groupby("user_id", sort=True)}
    texts = dict(zip(shop.products["product_id"], shop.products["text"], strict=True))
    return _limit(sequences, max_users, seed), texts, "mini-shop"


def _limit(sequences: dict, max_users: int | None, seed: int) -> dict:
    """A seeded random subset of ``max_users`` users (all when None)."""
    if max_users is None or len(sequences) <= max_users:
        return sequences
    keep = pd.Series(list(sequences)).sample(n=max_users, random_state=seed)
    return {u: sequences[u] for u in keep}

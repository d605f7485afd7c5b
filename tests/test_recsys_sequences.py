import pandas as pd
import pytest

from course import data
from course.errors import CourseArgumentError, CourseDataError
from course.recsys import sequences as recsys_sequences


@pytest.fixture(scope="module")
def shop_sequences():
    return recsys_sequences.load_sequences("mini-shop", seed=0, shop_users=120)


def test_minishop_sequences_are_time_ordered_and_have_texts(shop_sequences):
    sequences, texts, used = shop_sequences
    assert used == "mini-shop" and len(sequences) == 120
    shop = data.make_minishop(seed=0, n_users=120)
    when = shop.purchases.set_index(["user_id", "product_id"])["timestamp"]
    unordered = 0
    for user, items in sequences.items():
        stamps = [when[(user, item)] for item in items]
        assert stamps == sorted(stamps), f"user {user}: purchases out of time order"
        assert sorted(items) == sorted(shop.purchases.loc[shop.purchases["user_id"] == user,
                                                          "product_id"])
        unordered += items != sorted(items)
    assert unordered > 60  # time order is not id order: the check above is not vacuous
    assert set(texts) == set(shop.products["product_id"])
    products = shop.products.set_index("product_id")
    assert all(texts[i] == products.loc[i, "text"] for i in list(texts)[:50])


def test_limit_is_a_seeded_sample_of_the_users(shop_sequences):
    everyone = set(shop_sequences[0])
    a, _, _ = recsys_sequences.load_sequences("mini-shop", seed=0, max_users=20, shop_users=120)
    b, _, _ = recsys_sequences.load_sequences("mini-shop", seed=0, max_users=20, shop_users=120)
    assert list(a) == list(b) and len(a) == 20 and set(a) <= everyone
    assert all(a[u] == shop_sequences[0][u] for u in a)  # whole sequences, not cut
    other = recsys_sequences._limit(shop_sequences[0], 20, seed=1)
    assert set(other) != set(a)  # another seed draws other users
    assert recsys_sequences._limit(shop_sequences[0], 500, seed=0) is shop_sequences[0]


def test_missing_retail_falls_back_with_a_warning(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))

    def missing(*args, **kwargs):
        raise CourseDataError("no file in this test")

    monkeypatch.setattr(recsys_sequences.data, "load_online_retail", missing)
    with pytest.warns(UserWarning, match="no file"):
        _, _, used = recsys_sequences.load_sequences("online_retail", max_users=10, shop_users=50)
    assert used == "mini-shop"


def test_unknown_choice():
    with pytest.raises(CourseArgumentError, match="online_retail"):
        recsys_sequences.load_sequences("movielens")


def test_lesson_04_shop_has_enough_users_and_purchases():
    sequences, _, _ = recsys_sequences.load_sequences("mini-shop", seed=42)
    lengths = pd.Series([len(s) for s in sequences.values()])
    assert len(sequences) == recsys_sequences.SHOP_USERS
    assert lengths.sum() > 25_000 and lengths.min() >= 5

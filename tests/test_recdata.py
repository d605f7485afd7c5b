import pytest

from course import recdata
from course.errors import CourseDataError


def test_minishop_sequences_are_time_ordered_and_have_texts():
    sequences, texts, used = recdata.load_sequences("mini-shop", seed=0, max_users=50)
    assert used == "mini-shop" and len(sequences) == 50
    items = {i for seq in sequences.values() for i in seq}
    assert items <= set(texts)
    assert all(isinstance(t, str) and t for t in texts.values())


def test_limit_is_seeded():
    a, _, _ = recdata.load_sequences("mini-shop", seed=1, max_users=20)
    b, _, _ = recdata.load_sequences("mini-shop", seed=1, max_users=20)
    assert list(a) == list(b)


def test_missing_retail_falls_back_with_a_warning(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))

    def missing(*args, **kwargs):
        raise CourseDataError("no file in this test")

    monkeypatch.setattr(recdata.data, "load_online_retail", missing)
    with pytest.warns(UserWarning, match="no file"):
        _, _, used = recdata.load_sequences("online_retail", max_users=10)
    assert used == "mini-shop"


def test_unknown_choice():
    with pytest.raises(CourseDataError, match="online_retail"):
        recdata.load_sequences("movielens")

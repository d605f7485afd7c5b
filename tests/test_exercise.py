import pytest

from course.exercise import attempt


def unwritten(x):
    raise NotImplementedError()


def broken(x):
    return x / 0


def test_attempt_returns_the_answer():
    assert attempt(lambda x, y=1: x + y, 2, y=3) == 5


def test_attempt_says_when_the_answer_is_not_written(capsys):
    assert attempt(unwritten, 1) is None
    assert "unwritten() is not written yet" in capsys.readouterr().out


def test_attempt_raises_the_trainees_own_errors():
    with pytest.raises(ZeroDivisionError):
        attempt(broken, 1)

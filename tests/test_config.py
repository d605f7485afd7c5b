import pytest

from course import config
from course.errors import CourseError


def test_profile_from_env(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "CPU ")
    assert config.profile() == "cpu"
    assert config.profile("smoke") == "smoke"


def test_profile_default_depends_on_cuda(monkeypatch):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    monkeypatch.setattr(config, "cuda_available", lambda: True)
    assert config.profile() == "full"
    monkeypatch.setattr(config, "cuda_available", lambda: False)
    assert config.profile() == "cpu"


def test_unknown_profile_names_the_choices(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "huge")
    with pytest.raises(CourseError, match="smoke, cpu, full"):
        config.profile()


def test_by_profile_picks_value():
    assert config.by_profile("smoke", smoke=1, cpu=2, full=3) == 1
    assert config.by_profile("full", smoke=1, cpu=2, full=3) == 3


@pytest.mark.parametrize("value,expected", [("1", True), ("true", True), ("0", False), ("", False)])
def test_offline_flag(monkeypatch, value, expected):
    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    assert config.offline() is expected


def test_seed_everything_repeats_random_draws():
    import torch

    config.seed_everything(7)
    first = torch.rand(3)
    config.seed_everything(7)
    assert torch.equal(first, torch.rand(3))


def test_environment_report_has_the_keys_lesson_00_reads():
    report = config.environment_report()
    for key in ("python", "torch", "cuda_available", "bf16", "mps_available", "device", "profile"):
        assert key in report
    assert report["device"] in {"cpu", "cuda", "mps"}

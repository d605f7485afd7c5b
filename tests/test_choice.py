"""Choosing a method over seeds: cheapest within the noise, a clear winner otherwise."""

from __future__ import annotations

import pandas as pd
import pytest

from course.deploy.choice import choose_within_noise, load_seed_runs, save_seed_runs, seed_spread
from course.errors import CourseDataError

COST = {"full": 22_700_000, "lora": 74_000, "head": 150_000}


def runs(scores: dict) -> pd.DataFrame:
    return pd.DataFrame([{"method": m, "lr": lr, "seed": s, "valid_macro_f1": v}
                         for (m, lr), values in scores.items() for s, v in enumerate(values)])


def test_the_spread_is_mean_and_sample_std_over_seeds():
    spread = seed_spread(runs({("lora", 3e-3): [0.4, 0.5, 0.6]}))
    row = spread.loc[("lora", 3e-3)]
    assert row["mean"] == pytest.approx(0.5) and row["std"] == pytest.approx(0.1)
    assert row["seeds"] == 3 and row["min"] == 0.4 and row["max"] == 0.6


def test_within_the_noise_the_cheaper_method_wins():
    scores = {("full", 1e-4): [0.44, 0.50, 0.47], ("lora", 3e-3): [0.40, 0.52, 0.45],
              ("lora", 1e-2): [0.2, 0.2, 0.2], ("head", 3e-3): [0.30, 0.31, 0.32]}
    choice = choose_within_noise(seed_spread(runs(scores)), COST)
    assert choice["leader"] == "full" and set(choice["tied"]) == {"full", "lora"}
    assert choice["method"] == "lora" and choice["lr"] == 3e-3  # its best mean learning rate


def test_a_winner_outside_the_noise_is_kept_even_if_it_costs_more():
    scores = {("full", 1e-4): [0.60, 0.61, 0.62], ("lora", 3e-3): [0.40, 0.45, 0.50]}
    choice = choose_within_noise(seed_spread(runs(scores)), COST)
    assert choice["method"] == "full" and choice["tied"] == ["full"]


def test_recorded_runs_round_trip_with_their_setup(tmp_path):
    table = runs({("lora", 3e-3): [0.4, 0.5, 0.6]})
    path = save_seed_runs(tmp_path / "seeds.json", table, {"steps": 100})
    back, setup = load_seed_runs(path)
    assert setup == {"steps": 100} and back.equals(table)
    with pytest.raises(CourseDataError, match="lesson05_methods"):
        load_seed_runs(tmp_path / "missing.json")
    with pytest.raises(CourseDataError):
        seed_spread(pd.DataFrame({"method": ["x"]}))


def test_the_setup_is_plain_json_and_names_every_setting():
    from course.deploy.choice import SETUP_KEYS, comparison_setup

    params = {k: 1 for k in SETUP_KEYS} | {"LR_GRID": {"lora": (3e-3, 1e-2)}}
    setup = comparison_setup(params)
    assert setup["lr_grid"] == {"lora": [3e-3, 1e-2]} and setup["steps"] == 1
    with pytest.raises(Exception, match="STEPS"):
        comparison_setup({k: v for k, v in params.items() if k != "STEPS"})

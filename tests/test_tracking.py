"""course.train.tracking: the engine leaves TensorBoard files that read back as a table."""

import pandas as pd
import pytest

from course.errors import CourseDataError
from course.train import tracking


def test_write_and_read_a_run(tmp_path):
    history = pd.DataFrame({"step": [1, 2, 3], "train_loss": [1.0, 0.7, 0.5],
                            "lr": [1e-3, 5e-4, 0.0], "macro_f1": [None, None, 0.61]})
    tracking.write_run(tmp_path / "lr-1e-3", history, hparams={"lr": 1e-3, "seed": 1})
    tracking.write_run(tmp_path / "lr-3e-3", history.assign(train_loss=[2.0, 1.0, 0.9]))
    runs = tracking.read_runs(tmp_path)
    loss = runs[(runs.tag == "train_loss") & (runs.run == "lr-3e-3")]
    assert loss["step"].tolist() == [1, 2, 3]
    assert loss["value"].tolist() == pytest.approx([2.0, 1.0, 0.9])
    f1 = runs[(runs.tag == "valid/macro_f1") & (runs.run == "lr-1e-3")]
    assert f1["step"].tolist() == [3] and f1["value"].iloc[0] == pytest.approx(0.61)
    assert "--host 127.0.0.1" in tracking.open_command(tmp_path)


def test_errors_name_what_is_missing(tmp_path):
    with pytest.raises(CourseDataError, match="No TensorBoard event files"):
        tracking.read_runs(tmp_path)
    with pytest.raises(CourseDataError, match="'step' column"):
        tracking.write_run(tmp_path, pd.DataFrame({"loss": [1.0]}))

"""Shared test setup: smoke profile, offline hub, headless plots."""

import os

import pytest
from xdist_groups import pytest_collection_modifyitems  # noqa: F401  (xdist_group on pytest 9)

os.environ.setdefault("COURSE_PROFILE", "smoke")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="module")
def one_thread():
    """Run a module's tiny models on one torch thread: faster, above all on a busy machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def executed_release(tmp_path_factory):
    """``executed_release(lesson)``: the unsolved release run at smoke size, once per session.

    Shared by every xdist worker of the session (tests/release_runs.py).
    """
    from release_runs import executed_release_in

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return lambda lesson: executed_release_in(shared / "build", lesson)


@pytest.fixture(scope="session")
def built_book(executed_release, tmp_path_factory):
    """``built_book()``: the book built from the smoke-executed releases, once per session."""
    from release_runs import built_book_in

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return lambda: built_book_in(shared / "book", shared / "build", executed_release)


@pytest.fixture(scope="module")
def tokenizer():
    """The tiny random BERT's tokenizer (bert-base-uncased vocabulary); modules may override."""
    from course.models import load_tokenizer, resolve_model

    return load_tokenizer(resolve_model("tiny"))


@pytest.fixture(scope="session")
def hub_class():
    """``hub_class(exchange)``: a real class on JupyterHub, once per session (tests/hubclass.py)."""
    from hubclass import hub_classes

    with hub_classes() as start:
        yield start

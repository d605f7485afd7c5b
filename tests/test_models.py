import shutil
import socket
import warnings

import pytest

from course import models
from course.errors import CourseModelError


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test if anything opens a socket."""

    def refuse(*args, **kwargs):
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_packaged_model_checksums_pass():
    path = models.packaged_model_path()
    assert (models.Path(path) / "model.safetensors").is_file()


def test_hub_name_offline_falls_back_with_one_warning(monkeypatch, no_network):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resolved = models.resolve_model("bert-base-uncased")
    assert resolved.source == "packaged"
    assert resolved.name == models.MINILM
    assert len(caught) == 1 and "offline" in str(caught[0].message)
    assert "bert-base-uncased" in resolved.describe()


def test_minilm_alias_needs_no_warning(no_network):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resolved = models.resolve_model("minilm")
    assert resolved.source == "packaged"


def test_default_model_by_profile():
    assert models.default_model_name("full") == "bert-base-uncased"
    assert models.default_model_name("cpu") == models.MINILM


def test_checksum_mismatch_stops_the_load(tmp_path):
    source = models.Path(models.packaged_model_path())
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(source / name, tmp_path / name)
    (tmp_path / "model.safetensors").write_bytes(b"tampered")
    with pytest.raises(CourseModelError, match="Checksum mismatch"):
        models.verify_packaged_model(str(tmp_path))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(CourseModelError, match="model.safetensors"):
        models.verify_packaged_model(str(tmp_path))


def test_tiny_classifier_is_small_and_trainable():
    resolved = models.resolve_model("tiny")
    clf = models.load_classifier(resolved, ["Exact", "Partial", "Irrelevant"])
    n_params = sum(p.numel() for p in clf.parameters())
    assert n_params < 2_000_000
    assert all(p.requires_grad for p in clf.parameters())
    assert clf.config.id2label[0] == "Exact"
    tok = models.load_tokenizer(resolved)
    batch = tok(["red sofa"], ["a crimson couch"], return_tensors="pt")
    assert clf(**batch).logits.shape == (1, 3)


def test_local_folder_is_used_as_is(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    resolved = models.resolve_model(str(tmp_path))
    assert resolved.source == "local" and resolved.path == str(tmp_path)


@pytest.mark.parametrize("name", ["minilm", "tiny"])
def test_describe_names_the_source_but_no_path_of_this_machine(name, no_network):
    resolved = models.resolve_model(name)
    line = resolved.describe()
    assert resolved.source in line
    assert str(resolved.path) not in line and "/" not in line.split(")", 1)[1], line

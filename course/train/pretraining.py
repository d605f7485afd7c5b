"""Domain-adaptive pretraining (DAPT): keep training BERT's masked-word task on a shop's text.

Lesson 08, after Gururangan et al. 2020 ("Don't Stop Pretraining"). The pieces:

* :func:`text_corpus`: the texts of several sources, de-duplicated, with a leak check;
* :func:`encode_corpus` and :class:`CorpusDataset`: texts as token ids (no labels), with the
  special-token mask and, for whole-word masking, each token's character offsets;
* :func:`mlm_collator`: transformers' ``DataCollatorForLanguageModeling`` (15% of the tokens,
  80/10/10), token by token or whole words, behind one call that pads the offsets too;
* :func:`masking_shares`: what a masked batch did, as shares (the lesson checks 15% and 80/10/10);
* :func:`masked_lm_loss`: the MLM cross-entropy, with the vocabulary head run only where a token
  was masked (a ``loss_fn`` for :func:`course.train.fit`);
* :func:`mlm_evaluator`: the loss and accuracy on held-out text under masks drawn once;
* :func:`set_encoder_trainable` and :func:`adapt`: a short head-only warm-up, then every weight,
  both through :func:`course.train.fit`;
* :func:`save_adapted_encoder`: the adapted encoder with the original pooler, loadable by
  ``course.models.resolve_model(path)`` like any checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from course.errors import CourseArgumentError, CourseDataError
from course.text import LengthBucketSampler
from course.train.engine import TrainConfig, TrainResult, fit
from course.train.inference import to_device

__all__ = [
    "AdaptResult",
    "CorpusDataset",
    "adapt",
    "encode_corpus",
    "masked_lm_loss",
    "masking_shares",
    "mlm_collator",
    "mlm_evaluator",
    "new_head_weights",
    "save_adapted_encoder",
    "set_encoder_trainable",
    "text_corpus",
]


def text_corpus(sources: Mapping[str, Iterable[str]], exclude: Iterable[str] = ()) -> pd.DataFrame:
    """One row per distinct text (``source``, ``text``); the first source to bring a text keeps it.

    Texts in ``exclude`` (the validation and test queries) are dropped, so that pretraining
    never reads the text a later score is measured on; empty texts are dropped too.
    """
    drop = {str(t).strip() for t in exclude}
    rows, seen = [], set()
    for source, texts in sources.items():
        for text in texts:
            text = str(text).strip()
            if text and text not in seen and text not in drop:
                seen.add(text)
                rows.append((source, text))
    if not rows:
        raise CourseDataError(f"The sources {list(sources)} hold no text outside `exclude`.")
    return pd.DataFrame(rows, columns=["source", "text"])


class CorpusDataset(torch.utils.data.Dataset):
    """Encoded texts for masked-language-model training: one dict of lists per text."""

    def __init__(self, examples: list[dict[str, list]]):
        if not examples:
            raise CourseDataError("The corpus is empty: give encode_corpus at least one text.")
        self.examples = examples
        self.lengths = [len(e["input_ids"]) for e in examples]

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict[str, list]:
        return self.examples[i]


def encode_corpus(tokenizer, texts: Sequence[str], max_length: int = 64,
                  whole_word: bool = False) -> CorpusDataset:
    """Tokenize ``texts`` (truncated to ``max_length``) with their special-token masks.

    With ``whole_word`` each token also keeps its character offsets, which transformers'
    collator uses to find the word a sub-word piece (``##tee``) belongs to.
    """
    texts = list(texts)
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
    if bad:
        raise CourseDataError(f"Corpus texts {bad[:5]} are empty or not strings; drop them.")
    encoded = tokenizer(texts, truncation=True, max_length=max_length,
                        return_special_tokens_mask=True, return_offsets_mapping=whole_word)
    keys = ["input_ids", "attention_mask", "special_tokens_mask"]
    keys += ["offset_mapping"] if whole_word else []
    return CorpusDataset([{k: list(encoded[k][i]) for k in keys} for i in range(len(texts))])


@dataclass
class _OffsetPadding:
    """Wraps a collator: pads each example's ``offset_mapping``, which ``tokenizer.pad`` skips."""

    collator: Callable

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        longest = max(len(e["input_ids"]) for e in examples)
        padded = []
        for e in examples:
            e = dict(e)
            if "offset_mapping" in e:
                offsets = [tuple(o) for o in e["offset_mapping"]]
                e["offset_mapping"] = offsets + [(0, 0)] * (longest - len(offsets))
            padded.append(e)
        return self.collator(padded)


def mlm_collator(tokenizer, probability: float = 0.15, whole_word: bool = False,
                 seed: int | None = None) -> Callable:
    """transformers' ``DataCollatorForLanguageModeling``: pads a batch, then masks it.

    Token by token: each non-special token is chosen with ``probability``; a chosen token
    becomes ``[MASK]`` 80% of the time, a random token 10%, and stays itself 10%; ``labels``
    hold the original id at chosen positions and -100 elsewhere. ``whole_word``: every piece
    of a chosen word is chosen (transformers then always writes ``[MASK]``).
    ``seed`` gives the collator its own generator, so a run's masks are reproducible.
    """
    from transformers import DataCollatorForLanguageModeling

    if not 0 < probability < 1:
        raise CourseArgumentError(f"probability must be in (0, 1); got {probability}.")
    collator = DataCollatorForLanguageModeling(
        tokenizer, mlm_probability=probability, whole_word_mask=whole_word, seed=seed,
        mask_replace_prob=1.0 if whole_word else 0.8,  # whole words: [MASK] only
        random_replace_prob=0.0 if whole_word else 0.1)
    return _OffsetPadding(collator)


def masking_shares(original: torch.Tensor, masked: torch.Tensor, labels: torch.Tensor,
                   special: torch.Tensor, mask_id: int) -> dict[str, float]:
    """What a masking did, as shares: chosen tokens, and among them [MASK], random, kept.

    ``original`` and ``masked`` are the ids before and after, ``special`` is True on special
    tokens and padding. A random replacement that draws the original token counts as kept.
    """
    chosen = labels != -100
    n_chosen = int(chosen.sum())
    if n_chosen == 0:
        raise CourseDataError("No token was chosen; use more text or a larger probability.")
    return {
        "chosen": n_chosen / int((~special).sum()),
        "mask": int((chosen & (masked == mask_id)).sum()) / n_chosen,
        "random": int((chosen & (masked != mask_id) & (masked != original)).sum()) / n_chosen,
        "kept": int((chosen & (masked == original)).sum()) / n_chosen,
        "special_chosen": int((chosen & special).sum()),
    }


def masked_lm_loss(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Cross-entropy of a ``BertForMaskedLM`` on the masked positions only.

    The vocabulary head (hidden size x 30,522 words) runs on the ~15% of positions that
    have a label, not on every token as ``model(**batch).loss`` does: same loss, less work.
    """
    inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask",
                                                      "token_type_ids")}
    hidden = model.bert(**inputs)[0]
    chosen = batch["labels"] != -100
    if not bool(chosen.any()):
        return hidden.sum() * 0.0  # a batch with nothing masked teaches nothing
    logits = model.cls(hidden[chosen])
    return torch.nn.functional.cross_entropy(logits.float(), batch["labels"][chosen])


def mlm_evaluator(dataset: CorpusDataset, collator: Callable, batch_size: int = 64,
                  seed: int = 0) -> Callable:
    """An ``evaluate(model)`` for :func:`fit`: MLM loss and accuracy on held-out texts.

    The masks are drawn once (``seed``), so every evaluation scores the same masked words.
    """
    order = np.argsort(dataset.lengths, kind="stable")
    with torch.random.fork_rng(devices=[]):  # leaves the caller's random state alone
        torch.manual_seed(seed)
        batches = [collator([dataset[int(i)] for i in order[s:s + batch_size]])
                   for s in range(0, len(order), batch_size)]

    @torch.no_grad()
    def evaluate(model) -> dict[str, float]:
        device = next(model.parameters()).device
        total = correct = count = 0.0
        for batch in batches:
            batch = to_device(batch, device)
            chosen = batch["labels"] != -100
            if not bool(chosen.any()):
                continue
            hidden = model.bert(input_ids=batch["input_ids"],
                                attention_mask=batch["attention_mask"])[0]
            logits = model.cls(hidden[chosen]).float()
            target = batch["labels"][chosen]
            total += float(torch.nn.functional.cross_entropy(logits, target, reduction="sum"))
            correct += float((logits.argmax(-1) == target).sum())
            count += float(chosen.sum())
        if not count:
            raise CourseDataError("The held-out texts got no masked token; give more text.")
        return {"mlm_loss": total / count, "mlm_accuracy": correct / count}

    return evaluate


def new_head_weights(model, checkpoint_path: str | Path) -> list[str]:
    """The MLM head's parameters that the checkpoint does not hold: newly initialised ones.

    A sentence encoder such as all-MiniLM-L6-v2 gives every ``cls.`` parameter; bert-base
    gives none (its head was saved with it).
    """
    from safetensors import safe_open

    files = sorted(Path(checkpoint_path).glob("*.safetensors"))
    if not files:
        raise CourseDataError(f"No .safetensors file in {checkpoint_path}; save the model first.")
    saved: set[str] = set()
    for file in files:
        with safe_open(str(file), "pt") as handle:
            saved |= set(handle.keys())
    return [name for name, _ in model.named_parameters()
            if name.startswith("cls.") and name not in saved]


def set_encoder_trainable(model, trainable: bool) -> int:
    """Freeze or unfreeze the encoder (``model.bert``, word embeddings included); the MLM
    head's own layers always train. Returns the number of trainable parameters."""
    for p in model.bert.parameters():
        p.requires_grad_(trainable)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@dataclass
class AdaptResult:
    """The two phases of :func:`adapt` and what they cost."""

    head: TrainResult | None
    encoder: TrainResult
    cpu_seconds: float  # process CPU time of both phases, evaluation included
    wall_seconds: float


def adapt(model, dataset: CorpusDataset, config: TrainConfig, *, collate_fn: Callable,
          head_steps: int = 0, head_lr: float | None = None,
          evaluate: Callable | None = None) -> AdaptResult:
    """DAPT in two phases, both through :func:`course.train.fit` with :func:`masked_lm_loss`.

    1. ``head_steps`` steps with the encoder frozen: a newly initialised MLM head learns to
       read the encoder (at ``head_lr``), so its first random gradients never reach the encoder;
    2. ``config.max_steps`` steps of every weight at ``config.lr``.

    ``config.log_dir`` (when set) gets one run per phase: ``head`` and ``encoder``.
    """
    if config.max_steps is None or config.max_steps < 1:
        raise CourseArgumentError("adapt() needs config.max_steps >= 1 (the DAPT steps).")
    sampler = LengthBucketSampler(dataset.lengths, config.batch_size, seed=config.seed)
    cpu, wall = time.process_time(), time.perf_counter()
    head = None
    if head_steps:
        set_encoder_trainable(model, False)
        head_config = replace(config, max_steps=head_steps, lr=head_lr or config.lr,
                              log_dir=config.log_dir and f"{config.log_dir}/head")
        head = fit(model, dataset, head_config, collate_fn=collate_fn, loss_fn=masked_lm_loss,
                   evaluate=evaluate, sampler=sampler)
    set_encoder_trainable(model, True)
    body_config = replace(config, log_dir=config.log_dir and f"{config.log_dir}/encoder")
    body = fit(model, dataset, body_config, collate_fn=collate_fn, loss_fn=masked_lm_loss,
               evaluate=evaluate, sampler=sampler)
    return AdaptResult(head, body, time.process_time() - cpu, time.perf_counter() - wall)


def save_adapted_encoder(mlm_model, original_path: str | Path, out_dir: str | Path,
                         tokenizer=None) -> Path:
    """Save the adapted encoder where ``AutoModelForSequenceClassification`` can load it.

    ``BertForMaskedLM`` has no pooler, so the original checkpoint's pooler is kept: a
    classifier fine-tuned from these weights starts like one from the original in
    every weight except the ones DAPT changed.
    """
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(str(original_path))
    missing, unexpected = encoder.load_state_dict(mlm_model.bert.state_dict(), strict=False)
    if unexpected or any(not name.startswith("pooler.") for name in missing):
        raise CourseArgumentError(
            f"The adapted encoder does not match {original_path}: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}. Adapt a model of the same architecture.")
    out_dir = Path(out_dir)
    encoder.save_pretrained(out_dir)
    if tokenizer is not None:
        tokenizer.save_pretrained(out_dir)
    return out_dir

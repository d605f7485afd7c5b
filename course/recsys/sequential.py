"""Purchase histories read as sentences: BERT4Rec and SASRec over an item vocabulary (lesson 08).

Both models are one ``transformers.BertForMaskedLM`` whose words are items; they differ only
in the attention mask and the task, so a comparison between them is about those two things:

* **BERT4Rec** (Sun et al. 2019): bidirectional attention, trained by the *cloze* task: hide a
  share of the items of a history and predict them from both sides
  (:class:`ClozeCollator`); to recommend, append ``[MASK]`` and read that position;
* **SASRec** (Kang & McAuley 2018): causal attention, trained to predict each next item from
  the items before it (:class:`NextItemCollator`); to recommend, read the last position.

Both train with the same loss, a full softmax over the catalogue at every labelled position
(:func:`sequence_loss`), as Klenitskiy & Vasilev (2023) compare them. Tokens: 0 is padding,
item index ``i`` is token ``i + 1``, ``num_items + 1`` is ``[MASK]``. BERT4Rec's sequences are
padded on the left, as in its paper, so the item to predict at serving time (the ``[MASK]``
after the history) always sits at the last position, where training puts a window's latest
item; SASRec's are padded on the right, where causal attention never looks.

:class:`SequenceRecommender` puts a trained model behind the :class:`Recommender` interface
(full ranking over the catalogue, the history excluded); :func:`make_sequence_evaluate_fn`
scores it on validation during :func:`course.train.fit`; :func:`step_seconds` turns a time
budget into a step budget and :func:`fit_within_budget` trains within it, so both models can be
given the same time.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from torch import nn

from course.errors import CourseArgumentError, CourseDataError
from course.recsys.evaluation import evaluate_recommender
from course.recsys.recommender import Recommender

__all__ = [
    "KINDS",
    "PAD",
    "ClozeCollator",
    "NextItemCollator",
    "SequenceConfig",
    "SequenceModel",
    "SequenceRecommender",
    "SequenceWindows",
    "cloze_for_last",
    "fit_within_budget",
    "make_sequence_evaluate_fn",
    "sequence_loss",
    "step_seconds",
]

KINDS = ("bert4rec", "sasrec")
PAD = 0


@dataclass(frozen=True)
class SequenceConfig:
    """The size of a sequence model and its training task."""

    max_len: int = 50  # the latest items of a history the model reads
    hidden: int = 64
    layers: int = 2
    heads: int = 2
    dropout: float = 0.2
    mask_prob: float = 0.2  # BERT4Rec's cloze: share of the items hidden per sequence


class SequenceModel(nn.Module):
    """BERT4Rec (``kind="bert4rec"``) or SASRec (``"sasrec"``): a small ``BertForMaskedLM``.

    ``scores(hidden)`` returns a logit for every item (padding and ``[MASK]`` left out);
    the output layer is tied to the item embeddings, as in both papers.
    """

    def __init__(self, num_items: int, config: SequenceConfig = SequenceConfig(),
                 kind: str = "bert4rec", seed: int = 0):
        super().__init__()
        from transformers import BertConfig, BertForMaskedLM
        from transformers.utils import logging as hf_logging

        if kind not in KINDS:
            raise CourseArgumentError(f"kind must be one of {KINDS}, got {kind!r}.")
        if num_items < 2:
            raise CourseDataError(f"A catalogue of {num_items} item(s) has nothing to rank.")
        self.kind, self.num_items, self.config = kind, num_items, config
        self.mask_id = num_items + 1
        bert = BertConfig(
            vocab_size=num_items + 2, hidden_size=config.hidden,
            num_hidden_layers=config.layers, num_attention_heads=config.heads,
            intermediate_size=4 * config.hidden, max_position_embeddings=config.max_len,
            type_vocab_size=1, pad_token_id=PAD, hidden_dropout_prob=config.dropout,
            attention_probs_dropout_prob=config.dropout,
            is_decoder=kind == "sasrec")  # a decoder attends only to earlier positions
        bert._attn_implementation = "sdpa"
        torch.manual_seed(seed)
        level = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # BertForMaskedLM warns that a decoder is one-way
        try:
            self.net = BertForMaskedLM(bert)
        finally:
            hf_logging.set_verbosity(level)

    def hidden(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The last layer's vectors, ``[B, L, hidden]``."""
        return self.net.bert(input_ids=input_ids, attention_mask=attention_mask)[0]

    def scores(self, hidden: torch.Tensor) -> torch.Tensor:
        """A logit per item for each vector: ``[..., num_items]``."""
        return self.net.cls(hidden)[..., 1 : self.num_items + 1]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                labels: torch.Tensor | None = None):
        """The item logits at every position (the course engine trains with
        :func:`sequence_loss`, which computes them only where a label is)."""
        return self.scores(self.hidden(input_ids, attention_mask))


def sequence_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Full-softmax cross-entropy over the catalogue at every labelled position.

    ``model`` is a :class:`SequenceModel`; ``labels`` hold item tokens (index + 1) where there
    is something to predict, -100 elsewhere.
    """
    model = cast(SequenceModel, model)
    hidden = model.hidden(batch["input_ids"], batch["attention_mask"])
    chosen = batch["labels"] != -100
    if not bool(chosen.any()):
        return hidden.sum() * 0.0
    logits = model.scores(hidden[chosen]).float()
    return nn.functional.cross_entropy(logits, batch["labels"][chosen] - 1)


# ------------------------------------------------------------------------------ batches


class SequenceWindows(torch.utils.data.Dataset):
    """Training sequences cut into windows of at most ``max_len + 1`` items, latest first.

    A history longer than a window gives more windows, ``stride`` items apart, so that
    long histories are not cut to their tail; a window shorter than 2 items is dropped.
    """

    def __init__(self, sequences: Sequence[Sequence[int]], max_len: int, stride: int | None = None,
                 max_windows: int = 4):
        if max_len < 2:
            raise CourseArgumentError(f"max_len must be at least 2, got {max_len}.")
        stride = stride or max_len
        self.windows: list[list[int]] = []
        for seq in sequences:
            seq = list(seq)
            for w in range(max_windows):
                end = len(seq) - w * stride
                window = seq[max(0, end - max_len - 1): end]
                if len(window) < 2:
                    break
                self.windows.append(window)
        if not self.windows:
            raise CourseDataError("No sequence has two items; nothing to train on.")

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> list[int]:
        return self.windows[i]


def _pad(rows: Sequence[Sequence[int]], width: int, fill: int, left: bool) -> torch.Tensor:
    out = torch.full((len(rows), width), fill, dtype=torch.long)
    for r, row in enumerate(rows):
        start = width - len(row) if left else 0
        out[r, start:start + len(row)] = torch.as_tensor(list(row), dtype=torch.long)
    return out


def _batch(inputs: list[list[int]], labels: list[list[int]], left: bool,
           width: int | None = None) -> dict[str, torch.Tensor]:
    width = width or max(len(row) for row in inputs)
    ids = _pad(inputs, width, PAD, left)
    return {"input_ids": ids, "attention_mask": (ids != PAD).long(),
            "labels": _pad(labels, width, -100, left)}


class ClozeCollator:
    """BERT4Rec's training batches: hide each item with ``mask_prob`` (at least one per sequence).

    A window's last ``max_len`` items are kept, padded on the left to ``max_len`` (so the
    latest item is always at the last position); a hidden item becomes ``[MASK]`` and its
    label is its token, every other label is -100.
    """

    def __init__(self, num_items: int, max_len: int, mask_prob: float = 0.2, seed: int = 0):
        if not 0 < mask_prob < 1:
            raise CourseArgumentError(f"mask_prob must be in (0, 1), got {mask_prob}.")
        self.mask_id, self.max_len, self.mask_prob = num_items + 1, max_len, mask_prob
        self.rng = np.random.default_rng(seed)

    def __call__(self, windows: Sequence[Sequence[int]]) -> dict[str, torch.Tensor]:
        inputs, labels = [], []
        for window in windows:
            tokens = [i + 1 for i in list(window)[-self.max_len:]]
            hide = self.rng.random(len(tokens)) < self.mask_prob
            if not hide.any():
                hide[self.rng.integers(len(tokens))] = True
            inputs.append([self.mask_id if h else t for t, h in zip(tokens, hide, strict=True)])
            labels.append([t if h else -100 for t, h in zip(tokens, hide, strict=True)])
        return _batch(inputs, labels, left=True, width=self.max_len)


class NextItemCollator:
    """SASRec's training batches: the input is a window without its last item, the label at
    each position is the item that came next."""

    def __init__(self, max_len: int):
        self.max_len = max_len

    def __call__(self, windows: Sequence[Sequence[int]]) -> dict[str, torch.Tensor]:
        cut = [[i + 1 for i in list(w)[-(self.max_len + 1):]] for w in windows]
        return _batch([w[:-1] for w in cut], [w[1:] for w in cut], left=False)


def cloze_for_last(sequence: Sequence[int], max_len: int, mask_id: int) -> dict[str, list[int]]:
    """The cloze input for a sequence's last item: the items before it, then ``[MASK]``.

    Keeps the latest ``max_len - 1`` items of the history and pads on the left to
    ``max_len``; the label is the last item's token at the ``[MASK]`` position (the last one)
    and -100 everywhere else.
    """
    if len(sequence) < 2:
        raise CourseDataError("A sequence needs a history and a last item (2 items or more).")
    tokens = [i + 1 for i in sequence]
    history = tokens[:-1][-(max_len - 1):] if max_len > 1 else []
    n = len(history) + 1
    pad = max_len - n
    return {"input_ids": [PAD] * pad + history + [mask_id],
            "attention_mask": [0] * pad + [1] * n,
            "labels": [-100] * (max_len - 1) + [tokens[-1]]}


# ------------------------------------------------------------------- recommending, evaluating


class SequenceRecommender(Recommender):
    """A trained :class:`SequenceModel` behind the :class:`Recommender` interface.

    BERT4Rec reads the history plus ``[MASK]`` and scores at the mask; SASRec reads the
    history and scores at its last item. ``recommend`` ranks the whole catalogue and leaves
    out the history (the base class does both).
    """

    def __init__(self, model: SequenceModel, batch_size: int = 512):
        self.model, self.batch_size = model, batch_size
        self.num_items = model.num_items

    def fit(self, train_sequences, num_items=None) -> SequenceRecommender:
        """Check the catalogue size; train the model with ``course.train.fit`` instead."""
        if num_items is not None and num_items != self.num_items:
            raise CourseArgumentError(
                f"The model knows {self.num_items} items but num_items={num_items}.")
        return self

    def _inputs(self, histories: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids of each history as the model reads it, and the position to score."""
        max_len = self.model.config.max_len
        bert = self.model.kind == "bert4rec"
        rows = []
        for h in histories:
            tokens = [i + 1 for i in list(h)][-(max_len - 1 if bert else max_len):]
            rows.append(tokens + [self.model.mask_id] if bert else tokens or [self.model.mask_id])
        width = max_len if bert else max(len(r) for r in rows)
        ids = _pad(rows, width, PAD, left=bert)
        last = torch.as_tensor([width - 1 if bert else len(r) - 1 for r in rows])
        return ids, last

    @torch.no_grad()
    def score_all(self, histories, users=None) -> np.ndarray:
        """Item logits ``[n, num_items]`` for each history."""
        model = self.model
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        out = []
        for s in range(0, len(histories), self.batch_size):
            ids, last = self._inputs(histories[s: s + self.batch_size])
            ids = ids.to(device)
            hidden = model.hidden(ids, (ids != PAD).long())
            picked = hidden[torch.arange(len(ids), device=device), last.to(device)]
            out.append(model.scores(picked).float().cpu().numpy())
        model.train(was_training)
        return np.concatenate(out) if out else np.zeros((0, self.num_items), dtype=np.float32)


def make_sequence_evaluate_fn(histories: Sequence[Sequence[int]], targets, k: int = 10):
    """An ``evaluate(model)`` for :func:`course.train.fit`: full-ranking Recall@k and NDCG@k."""
    if len(histories) != len(targets):
        raise CourseArgumentError(f"{len(histories)} histories but {len(targets)} targets.")

    def evaluate(model: SequenceModel) -> dict[str, float]:
        recs = SequenceRecommender(model).recommend(histories, k=k)
        scores = evaluate_recommender(recs, targets, k=k)
        return {f"recall@{k}": scores[f"recall@{k}"], f"ndcg@{k}": scores[f"ndcg@{k}"]}

    return evaluate


def step_seconds(model: nn.Module, dataset, collate_fn, batch_size: int, lr: float = 1e-3,
                 steps: int = 6, seed: int = 0, precision: str = "auto") -> float:
    """CPU seconds of this process per training step, measured on a copy of ``model``.

    The first step (memory allocation) is not counted. ``precision`` is the training run's
    (``TrainConfig.precision``). Divide a time budget by the result to get the steps a model
    can afford; CPU time, unlike wall-clock time, does not grow when other programs share
    the machine.
    """
    from course.train import autocast_dtype, resolve_precision

    if steps < 2:
        raise CourseArgumentError("step_seconds needs at least 2 steps (the first is not timed).")
    probe = copy.deepcopy(model).train()
    device = next(probe.parameters()).device
    dtype = autocast_dtype(resolve_precision(precision, device))
    optimizer = torch.optim.AdamW(probe.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    spent = 0.0
    for step in range(steps):
        rows = rng.choice(len(dataset), size=min(batch_size, len(dataset)), replace=False)
        batch = collate_fn([dataset[int(i)] for i in rows])
        batch = {k: v.to(device) for k, v in batch.items()}
        start = time.process_time()
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = sequence_loss(probe, batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step:
            spent += time.process_time() - start
    return spent / (steps - 1)


def fit_within_budget(model: SequenceModel, windows: SequenceWindows, collate_fn, config,
                      budget_seconds: float, evaluate=None, evaluations: int = 5):
    """Train for as many steps as ``budget_seconds`` of CPU time buys (:func:`step_seconds`).

    ``config`` is a ``course.train.TrainConfig``; its ``max_steps`` and ``eval_every`` are set
    here (``evaluations`` evaluations, the last one at the end). A budget counts the CPU time
    of every thread: at lesson 08's sizes a second torch thread costs about 1.1-1.5 times the
    CPU per step and takes about 0.55-0.75 times the wall time
    (``benchmarks/sequence_threads.py``). Returns ``(result, seconds_per_step)``;
    ``result.history`` gives the curve, and ``step * seconds_per_step`` its time axis.
    """
    from dataclasses import replace

    from course.train import fit

    per_step = step_seconds(model, windows, collate_fn, config.batch_size, lr=config.lr,
                            seed=config.seed, precision=config.precision)
    steps = max(evaluations, int(budget_seconds / per_step))
    run = replace(config, max_steps=steps, eval_every=max(1, steps // evaluations))
    result = fit(model, windows, run, collate_fn=collate_fn, loss_fn=sequence_loss,
                 evaluate=evaluate)
    return result, per_step

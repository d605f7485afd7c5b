"""course.train.pretraining: masked-word batches, the MLM loss, DAPT in two phases (lesson 08)."""

from __future__ import annotations

import pytest
import torch

from course import models, train
from course.errors import CourseArgumentError, CourseDataError
from course.train import pretraining

pytestmark = pytest.mark.usefixtures("one_thread")

TEXTS = [
    "small crimson velvet settee in a modern style",
    "large oak dining table with turned legs",
    "a hassock in rattan for the lounge",
    "grey linen sofa with deep cushions and a chesterfield back",
    "tallboy chest of drawers in walnut",
    "scandinavian white desk for a home office",
] * 20


@pytest.fixture(scope="module")
def tiny():
    return models.resolve_model("tiny")


def _batch(tokenizer, collator, texts=TEXTS, whole_word=False):
    corpus = pretraining.encode_corpus(tokenizer, texts, max_length=24, whole_word=whole_word)
    original = [list(e["input_ids"]) for e in corpus.examples]
    batch = collator([corpus[i] for i in range(len(corpus))])
    width = batch["input_ids"].shape[1]
    before = torch.tensor([ids + [tokenizer.pad_token_id] * (width - len(ids)) for ids in original])
    special = torch.tensor([e["special_tokens_mask"] + [1] * (width - len(e["input_ids"]))
                            for e in corpus.examples]).bool()
    return before, batch, special


def test_collator_masks_15_percent_with_80_10_10_and_never_a_special_token(tokenizer):
    collator = pretraining.mlm_collator(tokenizer, seed=0)
    before, batch, special = _batch(tokenizer, collator, TEXTS * 10)
    shares = pretraining.masking_shares(before, batch["input_ids"], batch["labels"], special,
                                        tokenizer.mask_token_id)
    assert abs(shares["chosen"] - 0.15) < 0.02
    assert abs(shares["mask"] - 0.8) < 0.04
    assert abs(shares["random"] - 0.1) < 0.03 and abs(shares["kept"] - 0.1) < 0.03
    assert shares["special_chosen"] == 0
    chosen = batch["labels"] != -100
    assert torch.equal(batch["labels"][chosen], before[chosen])  # labels hold the originals
    assert torch.equal(batch["input_ids"][~chosen], before[~chosen])  # the rest is untouched


def test_collator_seed_makes_masks_reproducible(tokenizer):
    corpus = pretraining.encode_corpus(tokenizer, TEXTS[:6], max_length=24)
    a = pretraining.mlm_collator(tokenizer, seed=3)([corpus[i] for i in range(6)])
    b = pretraining.mlm_collator(tokenizer, seed=3)([corpus[i] for i in range(6)])
    c = pretraining.mlm_collator(tokenizer, seed=4)([corpus[i] for i in range(6)])
    assert torch.equal(a["labels"], b["labels"]) and not torch.equal(a["labels"], c["labels"])


def test_whole_word_masking_hides_every_piece_of_a_chosen_word(tokenizer):
    collator = pretraining.mlm_collator(tokenizer, probability=0.3, whole_word=True, seed=0)
    before, batch, special = _batch(tokenizer, collator, ["crimson settee hassock tallboy"] * 40,
                                    whole_word=True)
    tokens = tokenizer.convert_ids_to_tokens(before[0].tolist())
    pieces = [i for i, t in enumerate(tokens) if t.startswith("##")]
    assert pieces, f"the test needs a word split into pieces: {tokens}"
    chosen = batch["labels"] != -100
    for i in pieces:  # a piece is hidden exactly when the piece before it is
        assert torch.equal(chosen[:, i], chosen[:, i - 1])
    assert chosen.any() and not chosen[special].any()
    assert (batch["input_ids"][chosen] == tokenizer.mask_token_id).all()  # no 10/10 here


def test_masked_lm_loss_equals_the_models_own_loss(tiny, tokenizer):
    model = models.load_masked_lm(tiny, seed=0).eval()
    _, batch, _ = _batch(tokenizer, pretraining.mlm_collator(tokenizer, seed=1), TEXTS[:8])
    with torch.no_grad():
        ours = pretraining.masked_lm_loss(model, batch)
        theirs = model(**batch).loss
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)
    empty = dict(batch, labels=torch.full_like(batch["labels"], -100))
    with torch.no_grad():
        assert float(pretraining.masked_lm_loss(model, empty)) == 0.0


def test_the_packaged_minilm_gets_a_new_head_tied_to_its_word_embeddings():
    model = models.load_masked_lm(models.resolve_model("minilm"), seed=0)
    head = model.cls.predictions
    assert head.decoder.weight is model.bert.embeddings.word_embeddings.weight
    new = pretraining.new_head_weights(model, models.resolve_model("minilm").path)
    assert new == [n for n, _ in model.named_parameters() if n.startswith("cls.")] and new
    trainable = pretraining.set_encoder_trainable(model, False)
    head_only = sum(p.numel() for n, p in model.named_parameters() if n.startswith("cls."))
    assert trainable == head_only < 1_000_000  # the tied output matrix stays frozen
    pretraining.set_encoder_trainable(model, True)


def test_adapt_warms_the_head_then_trains_the_encoder(tiny, tokenizer, tmp_path):
    torch.manual_seed(0)
    model = models.load_masked_lm(tiny, seed=0)
    corpus = pretraining.encode_corpus(tokenizer, TEXTS, max_length=24)
    held_out = pretraining.encode_corpus(tokenizer, TEXTS[:12], max_length=24)
    evaluate = pretraining.mlm_evaluator(held_out, pretraining.mlm_collator(tokenizer, seed=9))
    start = evaluate(model)
    encoder_before = model.bert.encoder.layer[0].output.dense.weight.detach().clone()
    config = train.TrainConfig(max_steps=30, batch_size=16, lr=3e-3, warmup_ratio=0.1,
                               progress=False, precision="fp32", metric="mlm_loss",
                               greater_is_better=False, eval_every=15,
                               log_dir=str(tmp_path / "runs"))
    result = pretraining.adapt(model, corpus, config, head_steps=10, head_lr=5e-3,
                               collate_fn=pretraining.mlm_collator(tokenizer, seed=0),
                               evaluate=evaluate)
    assert result.head.steps == 10 and result.encoder.steps == 30
    assert result.cpu_seconds > 0 and result.wall_seconds > 0
    assert evaluate(model)["mlm_loss"] < start["mlm_loss"] - 0.5
    assert not torch.equal(encoder_before, model.bert.encoder.layer[0].output.dense.weight)
    runs = train.tracking.read_runs(tmp_path / "runs")
    assert set(runs["run"]) == {"head", "encoder"}


def test_head_warm_up_leaves_the_encoder_alone(tiny, tokenizer):
    model = models.load_masked_lm(tiny, seed=0)
    before = {n: p.detach().clone() for n, p in model.bert.named_parameters()}
    corpus = pretraining.encode_corpus(tokenizer, TEXTS[:32], max_length=24)
    pretraining.set_encoder_trainable(model, False)
    train.fit(model, corpus, train.TrainConfig(max_steps=4, batch_size=8, progress=False,
                                               precision="fp32"),
              collate_fn=pretraining.mlm_collator(tokenizer, seed=0),
              loss_fn=pretraining.masked_lm_loss)
    assert all(torch.equal(before[n], p) for n, p in model.bert.named_parameters())


def test_saved_encoder_loads_as_a_classifier_with_the_original_pooler(tmp_path, tokenizer):
    from transformers import AutoModel

    original = models.resolve_model("minilm")
    mlm = models.load_masked_lm(original, seed=0)
    with torch.no_grad():
        mlm.bert.encoder.layer[0].output.dense.weight.add_(1.0)  # "adapted"
    path = pretraining.save_adapted_encoder(mlm, original.path, tmp_path / "adapted", tokenizer)
    mlm.save_pretrained(tmp_path / "with-head")
    assert pretraining.new_head_weights(mlm, tmp_path / "with-head") == []  # a saved head
    resolved = models.resolve_model(str(path))
    assert resolved.source == "local"
    classifier = models.load_classifier(resolved, ["a", "b", "c"], seed=0)
    reference = AutoModel.from_pretrained(original.path)
    torch.testing.assert_close(classifier.bert.pooler.dense.weight, reference.pooler.dense.weight)
    torch.testing.assert_close(classifier.bert.encoder.layer[0].output.dense.weight,
                               reference.encoder.layer[0].output.dense.weight + 1.0)


def test_bad_input_gets_a_clear_error(tokenizer, tiny):
    with pytest.raises(CourseDataError, match="empty"):
        pretraining.encode_corpus(tokenizer, ["fine", "  "])
    with pytest.raises(CourseArgumentError, match="probability"):
        pretraining.mlm_collator(tokenizer, probability=1.5)
    model = models.load_masked_lm(tiny, seed=0)
    corpus = pretraining.encode_corpus(tokenizer, TEXTS[:4])
    with pytest.raises(CourseArgumentError, match="max_steps"):
        pretraining.adapt(model, corpus, train.TrainConfig(),
                          collate_fn=pretraining.mlm_collator(tokenizer))

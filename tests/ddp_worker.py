"""Train the tiny BERT with ``course.train.fit``, alone or under torchrun; write the outcome as
JSON.

Used by tests/test_distributed.py::

    python tests/ddp_worker.py --batch-size 16 --out single.json
    torchrun --standalone --nproc_per_node 2 tests/ddp_worker.py --batch-size 8 --out ddp.json

Both see the same global batches (16 examples per optimizer step), so the losses,
the validation metric and the final weights must agree within float tolerance.
"""

from __future__ import annotations

import argparse
import json
import os

import torch
from toydata import LABELS, toy_pairs  # tests/ is sys.path[0] when this runs as a script

from course.models import load_classifier, load_tokenizer, resolve_model
from course.text import DynamicPaddingCollator, LengthBucketSampler, PairDataset
from course.train import TrainConfig, classification_evaluator, fit

# The thresholds in test_distributed were set with these fillers.
WORKER_FILLERS = ("soft", "modern", "oak", "large")



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch-size", type=int, required=True, help="examples per process")
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--out", required=True, help="JSON file written by rank 0")
    parser.add_argument("--output-dir", default=None, help="checkpoint folder (optional)")
    args = parser.parse_args()

    tiny = resolve_model("tiny")
    tokenizer = load_tokenizer(tiny)
    train = PairDataset.from_texts(tokenizer, *toy_pairs(96, 0, WORKER_FILLERS), max_length=32)
    val = PairDataset.from_texts(tokenizer, *toy_pairs(48, 1, WORKER_FILLERS), max_length=32)
    collate = DynamicPaddingCollator(tokenizer)
    model = load_classifier(tiny, LABELS, seed=0)
    for module in model.modules():  # dropout masks differ between 1 and 2 processes
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0

    # world size and rank come from torchrun's environment; the code is the same in both runs
    sampler = LengthBucketSampler(train.lengths, args.batch_size, bucket_size_multiplier=2, seed=1)
    # fp32: the test compares two ways of splitting each batch, which bf16 rounds differently
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=3e-3, eval_every=6,
                         progress=False, output_dir=args.output_dir, seed=5, precision="fp32")
    result = fit(model, train, config, collate_fn=collate, sampler=sampler,
                 evaluate=classification_evaluator(val, collate))

    if int(os.environ.get("RANK", 0)) == 0:
        outcome = {
            "world": int(os.environ.get("WORLD_SIZE", 1)),
            "steps": result.steps,
            "train_loss": result.history["train_loss"].tolist(),
            "macro_f1": result.history["macro_f1"].dropna().tolist(),
            "best_metric": result.best_metric,
            "samples": result.samples,
            "classifier": model.classifier.weight.detach().flatten().tolist(),
            "embedding_norm": float(model.bert.embeddings.word_embeddings.weight.norm()),
        }
        with open(args.out, "w") as handle:
            json.dump(outcome, handle)
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()

"""What labels cost: learning curves, and where a pretrained model saves labels.

A learning curve is a model's validation score against the number of labelled pairs
it was trained on. :func:`learning_curve` trains every model at every size and seed on
nested samples (the 500-pair set is inside the 1,000-pair set, as when annotators keep
labelling), and scores each query family. :func:`labels_needed` reads a curve
backwards: how many labels does a model need to reach a score? :func:`label_savings`
compares two models at the score both reach, family by family.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from course import baselines
from course.data.splits import label_ids
from course.errors import CourseArgumentError
from course.metrics import macro_f1
from course.relevance import macro_f1_by_family

__all__ = [
    "FitPredict",
    "best_on_validation",
    "curve_summary",
    "finetune_cross_encoder",
    "head_fit_predict",
    "label_savings",
    "labels_needed",
    "learning_curve",
    "nested_samples",
    "plot_learning_curves",
    "tfidf_fit_predict",
]

# fit_predict(train_pairs, eval_pairs, seed) -> class probabilities [len(eval_pairs), 3]
FitPredict = Callable[[pd.DataFrame, pd.DataFrame, int], np.ndarray]


def nested_samples(pairs: pd.DataFrame, sizes: Sequence[int], seed: int = 0
                   ) -> dict[int, pd.DataFrame]:
    """The first ``n`` rows of one random order of ``pairs``, for each ``n`` in ``sizes``."""
    sizes = sorted(int(n) for n in sizes)
    if not sizes or sizes[0] < 1 or sizes[-1] > len(pairs):
        raise CourseArgumentError(
            f"sizes must lie in 1..{len(pairs)} (the pairs available); got {sizes}."
        )
    order = pairs.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return {n: order.iloc[:n] for n in sizes}


def learning_curve(
    models: Mapping[str, FitPredict],
    train: pd.DataFrame,
    valid: pd.DataFrame,
    sizes: Sequence[int],
    seeds: Sequence[int] = (0, 1),
    progress: bool = True,
) -> pd.DataFrame:
    """Validation macro-F1, overall and per query family, of every model, size and seed.

    Returns:
        Long format: ``model, size, seed, family`` (``all`` and each family), ``macro_f1``.
    """
    if not models:
        raise CourseArgumentError("learning_curve needs at least one model.")
    runs = [(seed, n, name) for seed in seeds for n in sorted(sizes) for name in models]
    samples = {seed: nested_samples(train, sizes, seed) for seed in seeds}
    rows = []
    for seed, n, name in tqdm(runs, desc="learning curve", disable=not progress):
        probs = models[name](samples[seed][n], valid, seed)
        scores = macro_f1_by_family(valid, np.asarray(probs).argmax(axis=1))
        rows += [{"model": name, "size": n, "seed": seed, "family": family, "macro_f1": value}
                 for family, value in scores.items()]
    return pd.DataFrame(rows)


def curve_summary(curve: pd.DataFrame, family: str = "all") -> pd.DataFrame:
    """Mean, standard deviation, min and max over seeds, per model and size, for one family."""
    part = curve[curve["family"] == family]
    if part.empty:
        raise CourseArgumentError(f"No rows for family {family!r}; it has {curve.family.unique()}.")
    return part.groupby(["model", "size"])["macro_f1"].agg(["mean", "std", "min", "max"])


def labels_needed(curve: pd.DataFrame, model: str, target: float, family: str = "all"
                  ) -> float:
    """Labels ``model`` needs for a mean validation macro-F1 of ``target`` (``inf``: never).

    Linear interpolation on a log scale of size between the last size below the target
    and the first one at or above it.
    """
    summary = curve_summary(curve, family)
    if model not in summary.index.get_level_values("model"):
        raise CourseArgumentError(f"No model {model!r} in the curve.")
    means = summary.loc[model, "mean"]
    reached = np.flatnonzero(means.to_numpy() >= target)
    if len(reached) == 0:
        return float("inf")
    i = reached[0]
    if i == 0:
        return float(means.index[0])
    (x0, y0), (x1, y1) = (means.index[i - 1], means.iloc[i - 1]), (means.index[i], means.iloc[i])
    share = (target - y0) / (y1 - y0)
    return float(np.exp(np.log(x0) + share * (np.log(x1) - np.log(x0))))


def label_savings(curve: pd.DataFrame, pretrained: str, baseline: str, at: int) -> pd.DataFrame:
    """Per family: what ``pretrained`` reaches with ``at`` labels, and what the baseline needs.

    ``saving`` is the baseline's labels for the pretrained model's score divided by ``at``:
    above 1 the pretrained model saves labels, ``inf`` means the baseline never reaches
    that score within the curve. When the baseline already reaches it at the smallest size,
    the saving is at most (smallest size / ``at``). ``reverse_labels`` is the same question
    the other way round: labels the pretrained model needs for the baseline's score at ``at``.
    """
    if at not in set(curve["size"]):
        sizes = sorted(curve["size"].unique())
        raise CourseArgumentError(f"at={at} is not a size of the curve: {sizes}.")
    rows = []
    for family in curve["family"].unique():
        summary = curve_summary(curve, family)["mean"]
        mine, theirs = summary.loc[(pretrained, at)], summary.loc[(baseline, at)]
        need = labels_needed(curve, baseline, mine, family)
        rows.append({
            "family": family, f"{pretrained} @ {at}": mine, f"{baseline} @ {at}": theirs,
            "baseline_labels": need, "saving": need / at,
            "reverse_labels": labels_needed(curve, pretrained, theirs, family),
        })
    return pd.DataFrame(rows).set_index("family")


def plot_learning_curves(curve: pd.DataFrame, families: Sequence[str] = ("all",),
                         anchors: Mapping[str, tuple[int, float]] | None = None):
    """Mean validation macro-F1 against labelled pairs (log scale), seed range shaded.

    ``anchors`` adds single points, e.g. ``{"MiniLM fine-tuned": (2000, 0.68)}``.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(families), figsize=(4.2 * len(families), 3.6), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, family in zip(axes, families, strict=True):
        summary = curve_summary(curve, family)
        for model in summary.index.get_level_values("model").unique():
            part = summary.loc[model]
            ax.plot(part.index, part["mean"], marker="o", label=model)
            ax.fill_between(part.index, part["min"], part["max"], alpha=0.2)
        for name, (size, score) in (anchors or {}).items() if family == "all" else ():
            ax.scatter([size], [score], marker="*", s=160, color="black", label=name, zorder=3)
        ax.set(xscale="log", xlabel="labelled pairs", title=f"family: {family}")
    axes[0].set_ylabel("validation macro-F1")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def tfidf_fit_predict(train: pd.DataFrame, evaluate: pd.DataFrame, seed: int = 0,
                      C: float = 10.0) -> np.ndarray:
    """TF-IDF + logistic regression (``course.baselines``) as a :data:`FitPredict`."""
    return baselines.tfidf_logreg(train, evaluate, C=C)


def head_fit_predict(features: Callable[[pd.DataFrame], np.ndarray], C: float = 0.1
                     ) -> FitPredict:
    """A :data:`FitPredict`: ``course.labels.frozen.logreg_head`` fitted on ``features(pairs)``."""
    from course.labels.frozen import logreg_head

    def fit_predict(train: pd.DataFrame, evaluate: pd.DataFrame, seed: int = 0) -> np.ndarray:
        head = logreg_head(features(train), label_ids(train["label"]), seed=seed, C=C)
        return head(features(evaluate))

    return fit_predict


def best_on_validation(candidates: Mapping[float, FitPredict],
                       choices: list | None = None) -> FitPredict:
    """A :data:`FitPredict` that fits every candidate and keeps the best on the evaluation pairs.

    The evaluation pairs must be the **validation** split: each point of a learning curve
    is then the best of a small grid (a regularisation strength, say) at that budget, the
    way a team would tune at each size. The scores are a little optimistic, alike for every
    size and model. Each choice is appended to ``choices`` when given.
    """
    if not candidates:
        raise CourseArgumentError("best_on_validation needs at least one candidate.")

    def fit_predict(train: pd.DataFrame, evaluate: pd.DataFrame, seed: int = 0) -> np.ndarray:
        truth = label_ids(evaluate["label"])
        best_key, best_probs, best_score = None, None, -1.0
        for key, candidate in candidates.items():
            probs = candidate(train, evaluate, seed)
            score = macro_f1(truth, np.asarray(probs).argmax(axis=1), labels=[0, 1, 2])
            if score > best_score:
                best_key, best_probs, best_score = key, probs, score
        if choices is not None:
            choices.append({"size": len(train), "seed": seed, "choice": best_key})
        assert best_probs is not None  # every score beats -1
        return best_probs

    return fit_predict


def finetune_cross_encoder(
    train_pairs: pd.DataFrame,
    eval_pairs: pd.DataFrame,
    model_name: str | None = None,
    *,
    epochs: float = 1,
    max_steps: int | None = None,
    batch_size: int = 32,
    lr: float = 1e-4,
    head_lr: float | None = 2e-3,
    max_length: int = 64,
    seed: int = 0,
    progress: bool = True,
):
    """Fine-tune lesson 03's cross-encoder on ``train_pairs``; probabilities on ``eval_pairs``.

    The recipe of lesson 03: every weight trained, class-weighted cross-entropy, a larger
    learning rate for the new head, length-bucketed dynamic padding. No early stopping,
    so nothing is chosen on ``eval_pairs``.

    Returns:
        ``(probs, result)``: ``[len(eval_pairs), 3]`` class probabilities and the
        ``course.train.TrainResult``.
    """
    from course import models, text, train
    from course.data.common import LABELS

    resolved = models.resolve_model(model_name)
    tokenizer = models.load_tokenizer(resolved)

    def encode(frame: pd.DataFrame, labelled: bool = True):
        return text.PairDataset.from_texts(
            tokenizer, frame["query"].tolist(), frame["product_text"].tolist(),
            frame["label"].tolist() if labelled else None, label_names=LABELS,
            max_length=max_length)

    train_ds, eval_ds = encode(train_pairs), encode(eval_pairs, labelled=False)
    collator = text.DynamicPaddingCollator(tokenizer)
    model = models.load_classifier(resolved, list(LABELS), seed=seed)
    config = train.TrainConfig(epochs=epochs, max_steps=max_steps, batch_size=batch_size, lr=lr,
                               head_lr=head_lr, warmup_ratio=0.1, seed=seed, progress=progress)
    weights = train.balanced_class_weights(train_ds.labels, len(LABELS))
    sampler = text.LengthBucketSampler(train_ds.lengths, batch_size, seed=seed)
    result = train.fit(model, train_ds, config, collate_fn=collator, sampler=sampler,
                       loss_fn=train.class_weighted_loss(weights))
    probs = train.predict(model, eval_ds, collator, batch_size=64, progress=progress)
    return probs, result

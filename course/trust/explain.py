"""Token attributions for the relevance cross-encoder, and checks that they mean something.

* :func:`attribute` computes, with Captum, how much each token of a (query, product)
  pair pushed the predicted class probability: **integrated gradients** on the word
  embeddings (Sundararajan et al. 2017; baseline: every non-special token replaced by
  ``[PAD]``) or **gradient x input** on the same embeddings.
* Integrated gradients is *complete*: the attributions add up to ``p(input) -
  p(baseline)``, up to the error of the numerical integral. Captum returns that error
  (its *convergence delta*); each :class:`Attribution` keeps it as ``delta``, and
  :func:`choose_ig_steps` picks the fewest integration steps that keep it small.
* :func:`highlight_html` shows the tokens coloured by their attribution.
* :func:`deletion_curves` is the *deletion test*: delete the ``k`` most-attributed tokens
  and, separately, ``k`` random tokens; an explanation that means something moves the
  probability more with the first.
* :func:`randomise_top` and :func:`sanity_check` are the model-randomisation test of
  Adebayo et al. 2018: re-initialise the head and then more and more layers; the
  attributions of a model that knows nothing must differ clearly from the trained one's.
  Each level is re-initialised with several seeds; :func:`sanity_summary` gives the mean
  and the spread.
"""

from __future__ import annotations

import copy
import html
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from course.errors import CourseArgumentError, CourseModelError

METHODS = ("ig", "gxi")


@dataclass
class Attribution:
    """One pair's attributions: a score per token for the probability of ``target``.

    ``segment`` is 0 for the query (and ``[CLS]``), 1 for the product; ``special``
    marks ``[CLS]``/``[SEP]``, which are never deleted or coloured. ``delta`` is the
    completeness gap of integrated gradients, ``sum(scores) - (p(input) - p(baseline))``
    (Captum's convergence delta; NaN for gradient x input, which has no such property).
    """

    input_ids: list[int]
    tokens: list[str]
    scores: np.ndarray
    segment: np.ndarray
    special: np.ndarray
    target: int
    probability: float
    delta: float = float("nan")

    def top_tokens(self, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` ordinary tokens with the highest attribution."""
        order = [i for i in np.argsort(-self.scores, kind="stable") if not self.special[i]]
        return [(self.tokens[i], float(self.scores[i])) for i in order[:k]]


def _encode(tokenizer, queries, products, max_length: int) -> list[dict[str, list[int]]]:
    if len(queries) != len(products):
        raise CourseArgumentError(f"Got {len(queries)} queries but {len(products)} products.")
    enc = tokenizer(list(queries), list(products), truncation="only_second", max_length=max_length)
    return [{k: enc[k][i] for k in ("input_ids", "token_type_ids", "attention_mask")}
            for i in range(len(queries))]


def _pad(rows: list[dict[str, list[int]]], pad_id: int, device) -> dict[str, torch.Tensor]:
    longest = max(len(r["input_ids"]) for r in rows)
    out = {}
    for key in ("input_ids", "token_type_ids", "attention_mask"):
        fill = pad_id if key == "input_ids" else 0
        out[key] = torch.tensor([r[key] + [fill] * (longest - len(r[key])) for r in rows],
                                dtype=torch.long, device=device)
    return out


def _device(model) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def probabilities(model, rows: list[dict[str, list[int]]], pad_id: int,
                  batch_size: int = 64) -> np.ndarray:
    """Class probabilities of already encoded pairs (lists of token ids), in order."""
    model.eval()
    out = []
    for start in range(0, len(rows), batch_size):
        batch = _pad(rows[start: start + batch_size], pad_id, _device(model))
        out.append(torch.softmax(model(**batch).logits.float(), dim=-1).cpu().numpy())
    return np.concatenate(out)


def _embedding_layer(model):
    layer = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    if layer is None:
        raise CourseModelError("The model has no input embeddings (get_input_embeddings()).")
    return layer


def _attribute_batch(model, batch, targets, special, method, n_steps,
                     pad_id) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token attributions ``[batch, tokens]`` and each pair's completeness gap ``[batch]``."""
    from captum.attr import LayerGradientXActivation, LayerIntegratedGradients

    def forward(input_ids, attention_mask, token_type_ids):
        logits = model(input_ids=input_ids, attention_mask=attention_mask,
                       token_type_ids=token_type_ids).logits
        return torch.softmax(logits, dim=-1)

    extra = (batch["attention_mask"], batch["token_type_ids"])
    layer = _embedding_layer(model)
    if method == "ig":
        pads = torch.full_like(batch["input_ids"], pad_id)
        baseline = torch.where(special, batch["input_ids"], pads)
        explainer = LayerIntegratedGradients(forward, layer)
        attr, delta = explainer.attribute(batch["input_ids"], baselines=baseline, target=targets,
                                          additional_forward_args=extra, n_steps=n_steps,
                                          internal_batch_size=len(targets) * n_steps,
                                          return_convergence_delta=True)
    else:
        attr = LayerGradientXActivation(forward, layer).attribute(
            batch["input_ids"], target=targets, additional_forward_args=extra)
        delta = torch.full((len(targets),), float("nan"))
    return attr.sum(dim=-1).detach(), delta.detach().float().cpu()


def attribute(model, tokenizer, queries, products, *, method: str = "ig", targets=None,
              n_steps: int = 16, max_length: int = 64, batch_size: int = 8,
              progress: bool = True) -> list[Attribution]:
    """Token attributions for each (query, product) pair, for the predicted (or given) class.

    Args:
        model: a Hugging Face sequence classifier (the cross-encoder).
        tokenizer: its tokenizer.
        queries, products: the pairs, as two lists of strings.
        method: ``"ig"`` (integrated gradients, ``n_steps`` points on the path from the
            ``[PAD]`` baseline) or ``"gxi"`` (gradient x input, one backward pass).
        targets: the class to explain for each pair; None explains the predicted class.
        n_steps: integration steps of ``ig``.
        max_length: longest encoding (the product text is truncated).
        batch_size: pairs per Captum call (``ig`` runs ``batch_size * n_steps`` at once).
    """
    if method not in METHODS:
        raise CourseArgumentError(f"method must be one of {METHODS}; got {method!r}.")
    model.eval()
    rows = _encode(tokenizer, queries, products, max_length)
    pad_id = tokenizer.pad_token_id
    probs = probabilities(model, rows, pad_id)
    targets = probs.argmax(axis=1) if targets is None else np.asarray(targets, dtype=int)
    special_ids = set(tokenizer.all_special_ids)
    out: list[Attribution] = []
    starts = range(0, len(rows), batch_size)
    for start in tqdm(starts, desc=f"attributions ({method})", disable=not progress):
        chunk = rows[start: start + batch_size]
        batch = _pad(chunk, pad_id, _device(model))
        special = torch.isin(batch["input_ids"],
                             torch.tensor(sorted(special_ids), device=batch["input_ids"].device))
        target = torch.as_tensor(targets[start: start + batch_size], device=_device(model))
        scores, deltas = _attribute_batch(model, batch, target, special, method, n_steps,
                                          pad_id)
        for i, row in enumerate(chunk):
            n, ids = len(row["input_ids"]), row["input_ids"]
            out.append(Attribution(
                ids, tokenizer.convert_ids_to_tokens(ids),
                scores[i, :n].cpu().numpy().astype(float),
                np.asarray(row["token_type_ids"]), np.array([t in special_ids for t in ids]),
                int(targets[start + i]), float(probs[start + i, targets[start + i]]),
                float(deltas[i])))
    return out


def completeness_gaps(attributions: list[Attribution]) -> np.ndarray:
    """``|delta|`` of each integrated-gradients attribution: how far the attributions miss
    adding up to ``p(input) - p(baseline)`` (in units of probability)."""
    gaps = np.abs([a.delta for a in attributions])
    if np.isnan(gaps).any():
        raise CourseArgumentError("Completeness gaps exist for integrated gradients only.")
    return gaps


def choose_ig_steps(model, tokenizer, queries, products, candidates=(4, 8, 16, 32, 64),
                    tolerance: float = 0.01, stop_early: bool = True,
                    **kwargs) -> tuple[int, pd.DataFrame]:
    """The fewest integration steps whose largest completeness gap is at most ``tolerance``.

    Explains the pairs with each step count in ``candidates`` (ascending; with
    ``stop_early``, up to the first within ``tolerance``) and measures Captum's
    convergence delta. Returns the chosen count (the largest candidate when none is
    within ``tolerance``) and a table: ``n_steps, mean_gap, max_gap`` (``|delta|``) and
    ``within`` (``max_gap <= tolerance``).
    """
    candidates = sorted(int(c) for c in candidates)
    if not candidates or candidates[0] < 1:
        raise CourseArgumentError(f"candidates must be step counts >= 1; got {candidates}.")
    rows = []
    for n_steps in candidates:
        gaps = completeness_gaps(attribute(model, tokenizer, queries, products, method="ig",
                                           n_steps=n_steps, progress=False, **kwargs))
        rows.append({"n_steps": n_steps, "mean_gap": float(gaps.mean()),
                     "max_gap": float(gaps.max())})
        if stop_early and rows[-1]["max_gap"] <= tolerance:
            break
    table = pd.DataFrame(rows)
    table["within"] = table["max_gap"] <= tolerance
    within = table[table["within"]]
    chosen = int(within["n_steps"].iloc[0]) if len(within) else candidates[-1]
    return chosen, table


def highlight_html(attribution: Attribution, label_names=None) -> str:
    """The pair's tokens as HTML: green where they support the class, red where they oppose it."""
    peak = max(1e-12, float(np.abs(attribution.scores[~attribution.special]).max(initial=0.0)))
    parts = []
    for token, score, special in zip(attribution.tokens, attribution.scores, attribution.special,
                                     strict=True):
        if special:
            parts.append(f"<span style='color:#888'>{html.escape(token)}</span>")
            continue
        alpha = min(1.0, abs(float(score)) / peak)
        colour = f"rgba(0,150,0,{alpha:.2f})" if score >= 0 else f"rgba(220,0,0,{alpha:.2f})"
        parts.append(f"<span title='{score:+.3f}' style='background:{colour};padding:1px 2px;"
                     f"border-radius:3px'>{html.escape(token)}</span>")
    name = label_names[attribution.target] if label_names else str(attribution.target)
    head = f"<b>{html.escape(name)}</b> p={attribution.probability:.2f}: "
    return "<div style='line-height:1.9;font-family:monospace'>" + head + " ".join(parts) + "</div>"


def _without(attribution: Attribution, drop: np.ndarray) -> dict[str, list[int]]:
    keep = np.ones(len(attribution.input_ids), dtype=bool)
    keep[drop] = False
    ids = np.asarray(attribution.input_ids)[keep].tolist()
    return {"input_ids": ids, "token_type_ids": attribution.segment[keep].tolist(),
            "attention_mask": [1] * len(ids)}


def _same_inputs(sets: dict[str, list[Attribution]]) -> list[Attribution]:
    first = next(iter(sets.values()))
    for name, attrs in sets.items():
        same = len(attrs) == len(first) and all(
            a.input_ids == b.input_ids and a.target == b.target
            for a, b in zip(attrs, first, strict=True))
        if not same:
            raise CourseArgumentError(
                f"Attributions {name!r} are not of the same pairs and targets as the others."
            )
    return first


def deletion_curves(model, tokenizer, attributions, ks=(1, 2, 3, 4, 5), n_random: int = 3,
                    seed: int = 0, batch_size: int = 64) -> pd.DataFrame:
    """The deletion test: the fall of each pair's target probability after deleting tokens.

    For each ``k``: delete the ``k`` ordinary tokens with the highest attribution
    (``top``), or ``k`` tokens drawn at random (``random``, averaged over ``n_random``
    draws). Deleting means removing them from the input, as if they had never been typed.

    Args:
        attributions: one method's list of :class:`Attribution`, or ``{method: list}``
            for several methods over the same pairs (they then share the random deletions).

    Returns:
        One row per pair and ``k`` (and ``method`` when given a dict): ``pair, k, p0,
        drop_top, drop_random``, where ``drop = p0 - p(after)`` (positive when the
        deletion lowered the probability).
    """
    sets = attributions if isinstance(attributions, dict) else {"": attributions}
    base = _same_inputs(sets)
    rng = np.random.default_rng(seed)
    rows, index = [], []
    for i, attr in enumerate(base):
        ordinary = np.flatnonzero(~attr.special)
        for k in ks:
            if k > len(ordinary):
                continue
            for _ in range(n_random):
                rows.append(_without(attr, rng.choice(ordinary, size=k, replace=False)))
                index.append((i, k, "random", ""))
            for name, attrs in sets.items():
                ranked = ordinary[np.argsort(-attrs[i].scores[ordinary], kind="stable")]
                rows.append(_without(attr, ranked[:k]))
                index.append((i, k, "top", name))
    if not rows:
        raise CourseArgumentError("No pair has enough tokens to delete k of them.")
    probs = probabilities(model, rows, tokenizer.pad_token_id, batch_size=batch_size)
    frame = pd.DataFrame(index, columns=["pair", "k", "kind", "method"])
    targets = np.array([base[i].target for i in frame["pair"]])
    frame["drop"] = np.array([base[i].probability for i in frame["pair"]]) - probs[
        np.arange(len(rows)), targets]
    random = frame[frame["kind"] == "random"].groupby(["pair", "k"])["drop"].mean()
    top = frame[frame["kind"] == "top"].set_index(["method", "pair", "k"])["drop"]
    out = top.rename("drop_top").reset_index()
    out["drop_random"] = random.loc[list(zip(out["pair"], out["k"], strict=True))].to_numpy()
    out["p0"] = [base[i].probability for i in out["pair"]]
    columns = ["pair", "k", "p0", "drop_top", "drop_random"]
    if isinstance(attributions, dict):
        return out[["method", *columns]]
    return out[columns]


def deletion_summary(curves: pd.DataFrame) -> pd.DataFrame:
    """Per ``k``: mean drop for top-k and random-k, their difference and its standard error."""
    gap = curves["drop_top"] - curves["drop_random"]
    by = curves.assign(gap=gap).groupby("k")
    table = by[["drop_top", "drop_random", "gap"]].mean()
    table["gap_se"] = by["gap"].std(ddof=1) / np.sqrt(by.size())
    table["pairs"] = by.size()
    return table


# ------------------------------------------------------------------- sanity check


def _blocks(model) -> list[tuple[str, torch.nn.Module]]:
    """The model's parts from the output down: head, pooler, encoder layers (top first)."""
    base = getattr(model, getattr(model, "base_model_prefix", ""), None)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    head = getattr(model, "classifier", None)
    if base is None or layers is None or head is None:
        raise CourseModelError("randomise_top expects a BERT-style classifier "
                               "(model.<base>.encoder.layer and model.classifier).")
    blocks = [("classifier", head)]
    if getattr(base, "pooler", None) is not None:
        blocks.append(("pooler", base.pooler))
    blocks += [(f"layer {i}", layers[i]) for i in reversed(range(len(layers)))]
    return blocks + [("embeddings", base.embeddings)]


def randomise_top(model, n_blocks: int, seed: int = 0):
    """A copy of ``model`` whose top ``n_blocks`` parts are re-initialised at random.

    The parts, from the output down: the classifier head, the pooler (when there is
    one), each encoder layer from the top, then the embeddings. This is the cascading
    randomisation of Adebayo et al. 2018.
    """
    blocks = _blocks(model)
    if not 1 <= n_blocks <= len(blocks):
        raise CourseArgumentError(f"n_blocks must lie in 1..{len(blocks)}; got {n_blocks}.")
    twin = copy.deepcopy(model)
    torch.manual_seed(seed)
    for _, module in _blocks(twin)[:n_blocks]:
        module.apply(twin._init_weights)
    return twin


def block_names(model) -> list[str]:
    """Names of the parts :func:`randomise_top` re-initialises, top first."""
    return [name for name, _ in _blocks(model)]


def rank_correlation(a: Attribution, b: Attribution, absolute: bool = False) -> float:
    """Spearman correlation of two attributions of the same pair, over ordinary tokens."""
    from scipy.stats import spearmanr

    if a.input_ids != b.input_ids:
        raise CourseArgumentError("The two attributions are of different inputs.")
    x, y = a.scores[~a.special], b.scores[~b.special]
    if absolute:
        x, y = np.abs(x), np.abs(y)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(spearmanr(x, y).statistic)


def sanity_check(model, tokenizer, queries, products, levels=(1, 2, 4), *, method: str = "ig",
                 trained: list[Attribution] | None = None, seeds=(0,),
                 **kwargs) -> pd.DataFrame:
    """Model randomisation test: attributions of the trained model against re-initialised ones.

    Each randomised model explains the class the *trained* model predicted. For each
    level (number of re-initialised blocks, see :func:`randomise_top`) and each seed of
    the re-initialisation, it reports the mean Spearman correlation with the trained
    model's attributions, signed and of absolute values. Near 1 would mean the
    explanation ignores what the model learned. ``trained`` reuses attributions already
    computed for the same pairs and method. :func:`sanity_summary` averages the seeds.
    """
    if trained is None:
        trained = attribute(model, tokenizer, queries, products, method=method, **kwargs)
    elif len(trained) != len(queries):
        raise CourseArgumentError(
            f"Got {len(trained)} trained attributions for {len(queries)} pairs."
        )
    targets = [a.target for a in trained]
    names = block_names(model)
    rows = []
    for n_blocks in levels:
        for seed in seeds:
            twin = randomise_top(model, n_blocks, seed=seed)
            random = attribute(twin, tokenizer, queries, products, method=method,
                               targets=targets, **kwargs)
            pairs = list(zip(trained, random, strict=True))
            rows.append({
                "randomised": n_blocks, "top_block": names[n_blocks - 1], "seed": seed,
                "spearman": float(np.mean([rank_correlation(a, b) for a, b in pairs])),
                "spearman_abs": float(np.mean([rank_correlation(a, b, absolute=True)
                                               for a, b in pairs])),
            })
            del twin
    return pd.DataFrame(rows)


def sanity_summary(sanity: pd.DataFrame) -> pd.DataFrame:
    """:func:`sanity_check` rows averaged over the seeds: mean, std and min/max per level
    (and per ``method`` when the table has that column)."""
    keys = [k for k in ("method", "randomised", "top_block") if k in sanity.columns]
    by = sanity.groupby(keys, sort=False)
    out = by[["spearman", "spearman_abs"]].mean()
    out["spearman_std"] = by["spearman"].std(ddof=1)
    out["spearman_min"], out["spearman_max"] = by["spearman"].min(), by["spearman"].max()
    out["seeds"] = by.size()
    return out.reset_index()


__all__ = [
    "METHODS", "Attribution", "attribute", "block_names", "choose_ig_steps", "completeness_gaps",
    "deletion_curves", "deletion_summary", "highlight_html", "probabilities", "randomise_top",
    "rank_correlation", "sanity_check", "sanity_summary",
]

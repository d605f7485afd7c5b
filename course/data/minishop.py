"""mini-shop: a deterministic synthetic furniture and home catalog.

``make_minishop(seed)`` builds products, queries in four families (lexical,
synonym, paraphrase, typo), graded relevance labels from attribute matching,
and users whose latent tastes drive timestamped purchase sequences. Each product
also has the shop's business facts, ``stock`` and ``margin`` (:func:`add_business_columns`).

Synonyms are split so that generalisation can be measured: training queries use
only the *first* synonym of a word; validation and test queries use the others,
which no training query and no product text contains.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd

from course.data import vocab
from course.data.common import FAMILIES, LABELS
from course.errors import CourseArgumentError

ATTRIBUTES = ("size", "colour", "style", "material")  # natural word order before the type
ATTRIBUTE_WEIGHTS = {"colour": 0.4, "material": 0.25, "style": 0.25, "size": 0.1}
TRAIN_FAMILY_MIX = {"lexical": 0.45, "synonym": 0.40, "paraphrase": 0.08, "typo": 0.07}
EVAL_FAMILY_MIX = {"lexical": 0.3, "synonym": 0.3, "paraphrase": 0.2, "typo": 0.2}


@dataclass
class MiniShop:
    """The generated shop: every table is a pandas DataFrame."""

    products: pd.DataFrame
    queries: pd.DataFrame
    labels: pd.DataFrame
    purchases: pd.DataFrame
    users: pd.DataFrame
    seed: int

    def __repr__(self) -> str:
        return (
            f"MiniShop(seed={self.seed}, products={len(self.products)}, "
            f"queries={len(self.queries)}, labels={len(self.labels)}, users={len(self.users)}, "
            f"purchases={len(self.purchases)})"
        )


def make_minishop(
    seed: int = 0,
    n_products: int = 1200,
    n_queries: int = 500,
    n_users: int = 500,
    label_noise: float = 0.03,
    valid_fraction: float = 0.15,
    test_fraction: float = 0.2,
) -> MiniShop:
    """Generate the mini-shop; the same arguments always give the same shop.

    Args:
        seed: random seed.
        n_products: catalog size.
        n_queries: number of queries; each gets 20-50 labelled candidates.
        n_users: number of shoppers; each buys 5-30 distinct products.
        label_noise: probability that a label is replaced by another grade.
        valid_fraction: share of queries in the validation split.
        test_fraction: share of queries in the test split.
    """
    if n_products < 60 or n_queries < 3 or n_users < 1:
        raise CourseArgumentError(
            "make_minishop needs n_products >= 60, n_queries >= 3 and n_users >= 1; "
            f"got {n_products}, {n_queries}, {n_users}. Use larger sizes."
        )
    if not 0.0 <= label_noise < 1.0:
        raise CourseArgumentError(f"label_noise must be in [0, 1); got {label_noise}.")
    rng = np.random.default_rng(seed)
    products = make_products(rng, n_products)
    queries, labels = make_queries(
        rng, products, n_queries, label_noise, valid_fraction, test_fraction
    )
    users = make_users(rng, n_users)
    purchases = make_purchases(rng, products, users)
    products = add_business_columns(products, seed)
    return MiniShop(products, queries, labels, purchases, users, seed)


_T = TypeVar("_T")


def _pick(rng: np.random.Generator, options: Sequence[_T]) -> _T:
    return options[int(rng.integers(len(options)))]


def make_products(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """The catalog: attributes, price, title, description and ``text``."""
    types = list(vocab.PRODUCT_TYPES)
    rows = []
    for product_id in range(n):
        kind = _pick(rng, types)
        category, synonyms, _, base_price, materials = vocab.PRODUCT_TYPES[kind]
        attrs = {
            "type": kind,
            "colour": _pick(rng, list(vocab.COLOURS)),
            "material": _pick(rng, materials),
            "style": _pick(rng, list(vocab.STYLES)),
            "size": _pick(rng, list(vocab.SIZES)),
            "brand": _pick(rng, vocab.BRANDS),
        }
        price = base_price * vocab.MATERIALS[attrs["material"]][1] * vocab.SIZES[attrs["size"]][1]
        price *= float(np.exp(rng.normal(0.0, 0.2)))
        title = _pick(rng, vocab.TITLE_TEMPLATES).format(**attrs)
        title = title[0].upper() + title[1:]
        description = _description(rng, attrs, synonyms[0])
        rows.append({
            "product_id": product_id, "title": title, "description": description,
            "product_type": kind, "category": category, "colour": attrs["colour"],
            "material": attrs["material"], "style": attrs["style"], "size": attrs["size"],
            "brand": attrs["brand"], "price": round(price, 2),
        })
    products = pd.DataFrame(rows)
    products["text"] = products["title"] + ". " + products["description"]
    band = products.groupby("product_type")["price"].rank(pct=True)
    products["price_band"] = np.digitize(band, [1 / 3, 2 / 3]).astype(int)
    products["popularity"] = 1.0 / (rng.permutation(n) + 1.0) ** 0.9
    return products


def _description(rng: np.random.Generator, attrs: dict, first_synonym: str) -> str:
    # Sentences 0, 2, 7 name colour/material; 1, 4, 6 the style; 3, 7 the size.
    groups = [[0, 2], [1, 4, 6], [3, 7], [5, 8, 9]]
    chosen = [int(_pick(rng, g)) for g in groups]
    if 7 in chosen:  # sentence 7 has no colour: make sure colour is named somewhere
        chosen[0] = 0
    order = rng.permutation(len(chosen))
    fields = {**attrs, "type_syn": first_synonym}
    return " ".join(vocab.DESCRIPTION_SENTENCES[chosen[i]].format(**fields) for i in order)


def _columns(products: pd.DataFrame) -> dict[str, np.ndarray]:
    names = ["product_type", "category", *ATTRIBUTES]
    return {name: np.asarray(products[name].to_numpy(), dtype=object) for name in names}


def grade(query_attrs: dict, products: pd.DataFrame | dict[str, np.ndarray]) -> np.ndarray:
    """Exact / Partial / Irrelevant for every product, from attribute matching.

    Exact: same type and every asked attribute matches. Partial: same type with a
    mismatch, or a type of the same category with every asked attribute matching.
    Irrelevant: everything else.
    """
    columns = products if isinstance(products, dict) else _columns(products)
    same_type = columns["product_type"] == query_attrs["type"]
    category = vocab.PRODUCT_TYPES[query_attrs["type"]][0]
    same_category = columns["category"] == category
    all_match = np.ones(len(same_type), dtype=bool)
    for attr in ATTRIBUTES:
        if attr in query_attrs:
            all_match &= columns[attr] == query_attrs[attr]
    labels = np.full(len(same_type), "Irrelevant", dtype=object)
    labels[same_category & all_match] = "Partial"
    labels[same_type] = "Partial"
    labels[same_type & all_match] = "Exact"
    return labels


def _query_attributes(rng: np.random.Generator, anchor: dict) -> dict:
    n_extra = int(rng.choice([0, 1, 2, 3], p=[0.1, 0.5, 0.35, 0.05]))
    names = list(ATTRIBUTE_WEIGHTS)
    weights = np.array([ATTRIBUTE_WEIGHTS[a] for a in names])
    picked = rng.choice(names, size=n_extra, replace=False, p=weights / weights.sum())
    attrs = {"type": anchor["product_type"]}
    attrs.update({a: anchor[a] for a in picked})
    return attrs


def _synonyms(attr: str, value: str) -> list[str]:
    if attr == "type":
        return vocab.PRODUCT_TYPES[value][1]
    if attr == "colour":
        return vocab.COLOURS[value]
    if attr == "style":
        return vocab.STYLES[value]
    if attr == "material":
        return vocab.MATERIALS[value][0]
    return vocab.SIZES[value][0]


def _words(attrs: dict, replace: dict | None = None) -> list[str]:
    replace = replace or {}
    words = [replace.get(a, attrs[a]) for a in ATTRIBUTES if a in attrs]
    return words + [replace.get("type", attrs["type"])]


def render_query(rng: np.random.Generator, attrs: dict, family: str, split: str) -> str:
    """The query text for ``attrs`` in ``family``; train uses only first synonyms."""
    held_out = split != "train"
    if family == "synonym":
        replace = {}
        for attr in attrs:
            if attr == "type" or rng.random() < 0.5:
                options = _synonyms(attr, attrs[attr])
                replace[attr] = _pick(rng, options[1:]) if held_out else options[0]
        return " ".join(_words(attrs, replace))
    if family == "paraphrase":
        paraphrase = vocab.PRODUCT_TYPES[attrs["type"]][2][1 if held_out else 0]
        extra = " ".join(_words(attrs)[:-1])
        if not extra:
            return paraphrase
        template = _pick(rng, ["{p} in {a}", "{a} {p}", "need {a} {p}"])
        return template.format(p=paraphrase, a=extra)
    words = _words(attrs)
    if family == "typo":
        words[-1] = add_typo(rng, words[-1])
    elif len(words) > 1 and rng.random() < 0.2:
        return f"{words[-1]} in {' '.join(words[:-1])}"
    return " ".join(words)


def add_typo(rng: np.random.Generator, phrase: str) -> str:
    """One keyboard slip (drop, swap, double or replace a letter) in the longest word."""
    words = phrase.split(" ")
    index = max(range(len(words)), key=lambda i: len(words[i]))
    word = words[index]
    for _ in range(20):
        pos = int(rng.integers(1, max(2, len(word) - 1)))
        kind = int(rng.integers(4))
        if kind == 0:
            new = word[:pos] + word[pos + 1:]
        elif kind == 1 and pos + 1 < len(word):
            new = word[:pos] + word[pos + 1] + word[pos] + word[pos + 2:]
        elif kind == 2:
            new = word[:pos] + word[pos] + word[pos:]
        else:
            new = word[:pos] + _pick(rng, list("aeioustrnl")) + word[pos + 1:]
        if new != word:
            words[index] = new
            return " ".join(words)
    words[index] = word + word[-1]
    return " ".join(words)


def make_queries(
    rng: np.random.Generator,
    products: pd.DataFrame,
    n_queries: int,
    label_noise: float,
    valid_fraction: float = 0.15,
    test_fraction: float = 0.15,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Queries (with family and split) and their 20-50 labelled candidates each."""
    splits = _split_plan(rng, n_queries, valid_fraction, test_fraction)
    columns = _columns(products)
    records = products[["product_type", *ATTRIBUTES]].to_dict("records")
    product_ids = products["product_id"].to_numpy()
    seen: dict[str, str] = {}
    query_rows, label_frames = [], []
    for query_id, split in enumerate(splits):
        mix = TRAIN_FAMILY_MIX if split == "train" else EVAL_FAMILY_MIX
        for _ in range(50):  # re-draw until the text is new (no text in two queries)
            anchor = records[int(rng.integers(len(records)))]
            attrs = _query_attributes(rng, anchor)
            family = str(rng.choice(list(mix), p=list(mix.values())))
            text = render_query(rng, attrs, family, split)
            if text not in seen:
                break
        else:  # pragma: no cover - only with absurdly many queries
            raise CourseArgumentError(f"Could not make {n_queries} distinct queries; use fewer.")
        seen[text] = split
        query_rows.append({
            "query_id": query_id, "query": text, "family": family, "split": split,
            **{f"q_{k}": attrs.get(k) for k in ("type", *ATTRIBUTES)},
        })
        label_frames.append(_candidates(rng, query_id, attrs, columns, product_ids, label_noise))
    labels = pd.DataFrame({
        key: np.concatenate([frame[key] for frame in label_frames]) for key in label_frames[0]
    })
    return pd.DataFrame(query_rows), labels


def _split_plan(rng: np.random.Generator, n: int, valid: float, test: float) -> list[str]:
    n_test = max(1, round(n * test))
    n_valid = max(1, round(n * valid))
    plan = ["test"] * n_test + ["valid"] * n_valid + ["train"] * (n - n_test - n_valid)
    return [plan[i] for i in rng.permutation(n)]


def _candidates(rng, query_id, attrs, columns, product_ids, noise: float) -> dict[str, np.ndarray]:
    grades = grade(attrs, columns)
    total = int(rng.integers(20, 51))
    exact = np.flatnonzero(grades == "Exact")
    partial = np.flatnonzero(grades == "Partial")
    irrelevant = np.flatnonzero(grades == "Irrelevant")
    n_exact = min(len(exact), int(rng.integers(2, 11)))
    n_partial = min(len(partial), int(round((total - n_exact) * rng.uniform(0.35, 0.6))))
    n_irrelevant = min(len(irrelevant), total - n_exact - n_partial)
    chosen = np.concatenate([
        rng.choice(exact, n_exact, replace=False),
        rng.choice(partial, n_partial, replace=False),
        rng.choice(irrelevant, n_irrelevant, replace=False),
    ])
    chosen = chosen[rng.permutation(len(chosen))]
    clean = grades[chosen]
    noisy = clean.copy()
    flip = rng.random(len(chosen)) < noise
    for i in np.flatnonzero(flip):
        noisy[i] = _pick(rng, [lab for lab in LABELS if lab != clean[i]])
    return {
        "query_id": np.full(len(chosen), query_id),
        "product_id": product_ids[chosen],
        "label": noisy,
        "clean_label": clean,
        "noisy": flip,
    }


# Shoppers (lesson 04's purchases). A shopper furnishes rooms in one style and a
# two-colour palette: every product is weighted by how well it fits their taste
# (multipliers below) times a flattened popularity, and most purchases continue a
# "project": the next product is a complement of the previous one (sofa -> cushion).
# Some styles and colours are more common than others, so best sellers share attributes
# a text model can read; the per-product popularity (hidden from text) is mild.
TASTE_MULTIPLIERS = {"style": 10.0, "colour": 8.0, "colour_2": 4.0, "material": 2.0, "price": 1.5}
POPULARITY_EXPONENT = 0.3  # applied to the products' Zipf-like popularity (exponent 0.9)
COMPLEMENT_PROBABILITY = 0.8  # chance that the next purchase continues the project
STYLE_SHARES = {"modern": 0.28, "scandinavian": 0.22, "minimalist": 0.16, "rustic": 0.14,
                "industrial": 0.11, "vintage": 0.09}
COLOUR_SHARES = {"grey": 0.18, "white": 0.15, "beige": 0.13, "black": 0.11, "blue": 0.1,
                 "green": 0.09, "brown": 0.08, "pink": 0.06, "yellow": 0.05, "red": 0.05}


def make_users(rng: np.random.Generator, n_users: int) -> pd.DataFrame:
    """Shoppers with latent tastes: a style, a two-colour palette, a material, a price band.

    Styles and colours are drawn with :data:`STYLE_SHARES` and :data:`COLOUR_SHARES`;
    ``n_purchases`` (5-30, median about 10) is how many distinct products each one buys.
    """
    colours = np.asarray(list(COLOUR_SHARES), dtype=object)
    shares = np.asarray(list(COLOUR_SHARES.values()))
    palette = np.stack([rng.choice(len(colours), 2, replace=False, p=shares)
                        for _ in range(n_users)]).reshape(n_users, 2)
    return pd.DataFrame({
        "user_id": np.arange(n_users),
        "taste_style": rng.choice(list(STYLE_SHARES), n_users, p=list(STYLE_SHARES.values())),
        "taste_colour": colours[palette[:, 0]],
        "taste_colour_2": colours[palette[:, 1]],
        "taste_material": rng.choice(list(vocab.MATERIALS), n_users),
        "taste_price_band": rng.integers(0, 3, n_users),
        "n_purchases": np.clip(4 + rng.geometric(1 / 9, n_users), 5, 30),
    })


def _taste_weights(products: dict[str, np.ndarray], user, base: np.ndarray) -> np.ndarray:
    """Each product's purchase weight for one shopper: ``base`` times the taste multipliers."""
    m = TASTE_MULTIPLIERS
    weights = base * np.where(products["style"] == user.taste_style, m["style"], 1.0)
    weights *= np.where(products["colour"] == user.taste_colour, m["colour"],
                        np.where(products["colour"] == user.taste_colour_2, m["colour_2"], 1.0))
    weights *= np.where(products["material"] == user.taste_material, m["material"], 1.0)
    return weights * np.where(products["price_band"] == user.taste_price_band, m["price"], 1.0)


def _draw(rng: np.random.Generator, weights: np.ndarray) -> int:
    cumulative = np.cumsum(weights)
    item = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
    return min(item, len(weights) - 1)


def make_purchases(rng: np.random.Generator, products: pd.DataFrame,
                   users: pd.DataFrame) -> pd.DataFrame:
    """Timestamped purchase sequences: tastes, projects of complements, popularity skew.

    A project's purchases are hours to days apart; a new project starts weeks later.
    No shopper buys a product twice.
    """
    columns = {c: np.asarray(products[c].to_numpy(), dtype=object)
               for c in ("product_type", "style", "colour", "material")}
    columns["price_band"] = products["price_band"].to_numpy()
    types = columns["product_type"]
    base = products["popularity"].to_numpy() ** POPULARITY_EXPONENT
    complement_mask = {t: np.isin(types, c) for t, c in vocab.COMPLEMENTS.items()}
    user_ids, items, seconds = [], [], []
    for user in users.itertuples(index=False):
        weights = _taste_weights(columns, user, base)
        when = float(rng.uniform(0, 200 * 86400))
        previous = None
        for _ in range(int(user.n_purchases)):
            current = weights
            continues = previous is not None and rng.random() < COMPLEMENT_PROBABILITY
            if continues:
                current = np.where(complement_mask[str(types[previous])], weights, 0.0)
                if current.sum() <= 0:
                    current, continues = weights, False
            item = _draw(rng, current)
            weights = weights.copy()
            weights[item] = 0.0  # no product is bought twice by one user
            if previous is not None:
                gap = rng.exponential(2 * 86400) if continues else rng.exponential(20 * 86400)
                when += 3600 + float(gap)
            user_ids.append(user.user_id)
            items.append(item)
            seconds.append(int(when))
            previous = item
    purchases = pd.DataFrame({
        "user_id": user_ids,
        "product_id": products["product_id"].to_numpy()[items],
        "timestamp": pd.Timestamp("2025-01-01") + pd.to_timedelta(seconds, unit="s"),
    })
    extra = products[["product_type", "price"]].iloc[items].reset_index(drop=True)
    return pd.concat([purchases, extra], axis=1)


# The shop's business facts (lesson 09). They come from a generator of their own, seeded with
# (seed, BUSINESS_STREAM), and are added after every other table is made: the products, queries,
# labels, users and purchases are exactly what they were before these columns existed.
BUSINESS_STREAM = 9
OUT_OF_STOCK_SHARE = 0.12  # share of products with nothing on the shelf
STOCK_MEAN = 12.0  # mean units on hand of a product in stock (1 + Poisson)
CATEGORY_MARGIN = {  # gross margin added to the brand's rate, by category
    "seating": -0.05, "dining": -0.02, "living": 0.0, "office": -0.03, "bedroom": -0.04,
    "storage": 0.0, "decor": 0.12, "lighting": 0.08, "textile": 0.15,
}
BRAND_MARGIN_RANGE = (0.15, 0.40)  # each brand's base margin rate is drawn uniformly in it
MARGIN_NOISE = 0.04  # per-product spread (SD) around brand + category
MARGIN_BOUNDS = (0.05, 0.65)


def add_business_columns(products: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Add ``stock`` (units on hand) and ``margin`` (gross margin rate) to the catalog.

    * ``stock``: 0 for a share :data:`OUT_OF_STOCK_SHARE` of products drawn at random,
      otherwise ``1 + Poisson(STOCK_MEAN)`` units;
    * ``margin``: the share of the price the shop keeps, ``brand rate + category offset +
      noise``: each brand's rate is uniform in :data:`BRAND_MARGIN_RANGE`, the offset is
      :data:`CATEGORY_MARGIN` (decor and textiles earn more than sofas), the noise is normal
      with SD :data:`MARGIN_NOISE`, and the result is clipped to :data:`MARGIN_BOUNDS` and
      rounded to 3 decimals. The margin in money of one sale is ``price * margin``.

    Both are independent of relevance, so ranking for margin is a real trade-off. The same
    ``seed`` and products always give the same columns; no other column changes.
    """
    missing = [c for c in ("brand", "category", "price") if c not in products.columns]
    if missing:
        raise CourseArgumentError(f"products lack {missing}; pass mini-shop's products table.")
    rng = np.random.default_rng([int(seed), BUSINESS_STREAM])
    n = len(products)
    in_stock = rng.random(n) >= OUT_OF_STOCK_SHARE
    stock = np.where(in_stock, 1 + rng.poisson(STOCK_MEAN, n), 0)
    brand_rate = dict(zip(vocab.BRANDS, rng.uniform(*BRAND_MARGIN_RANGE, len(vocab.BRANDS)),
                          strict=True))
    base = products["brand"].map(brand_rate).to_numpy(float)
    unknown = sorted(set(products["category"]) - set(CATEGORY_MARGIN))
    if unknown:
        raise CourseArgumentError(f"No margin offset for categories {unknown}; add them to "
                                  "CATEGORY_MARGIN.")
    offset = products["category"].map(CATEGORY_MARGIN).to_numpy(float)
    margin = np.clip(base + offset + rng.normal(0.0, MARGIN_NOISE, n), *MARGIN_BOUNDS)
    return products.assign(stock=stock.astype(np.int64), margin=np.round(margin, 3))


__all__ = [
    "FAMILIES", "LABELS", "MiniShop", "add_business_columns", "add_typo", "grade",
    "make_minishop", "render_query",
]

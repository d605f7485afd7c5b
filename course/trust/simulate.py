"""Simulated shoppers on a search page: position bias, clicks, purchases and revenue.

The course's one traffic simulator. It serves two needs:

* **click logs for learning to rank** (lesson 07): :func:`simulate_clicks` takes each
  query's ranked list and returns one row per impression with the click and the *true*
  examination propensity. Its ``intervention`` mode swaps or shuffles results for a share
  of the sessions, so that :func:`estimate_propensities` can recover the position bias
  the standard way (Joachims et al. 2017; Wang et al. 2016).
* **A/B tests** (lesson 06): :class:`Shoppers` are personas with latent tastes (from
  mini-shop's users); :func:`run_experiment` randomises visitors *by user* between a
  control and a treatment ranker and returns one row per visit (clicks, purchases,
  revenue); :func:`run_experiments` repeats that many times, vectorised, and returns
  daily counts; :func:`expected_metrics` gives the exact expected value of every metric,
  so the true uplift of a treatment is known.

The click model is the **position-based model** (PBM). A shopper examines position ``r``
with probability ``theta_r = r ** -eta`` and clicks an examined product with a
probability set by its graded relevance (its *attractiveness*). A click becomes a
purchase with a probability set by the relevance, multiplied by ``taste_boost`` for each
of the shopper's tastes (style, colour, price band) that the product matches. Positions
are independent given the list, so every expectation has a closed form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from course.errors import CourseArgumentError, CourseDataError

GRADES = ("Exact", "Partial", "Irrelevant")
DEFAULT_ATTRACTIVENESS = {"Exact": 0.5, "Partial": 0.2, "Irrelevant": 0.04}
DEFAULT_PURCHASE = {"Exact": 0.06, "Partial": 0.015, "Irrelevant": 0.0}
INTERVENTIONS = ("none", "swap", "shuffle")
ARMS = ("control", "treatment")
COUNTS = ("visits", "clicked", "purchased", "clicks", "revenue", "revenue_sq")


def examination_probabilities(depth: int, eta: float = 1.0) -> np.ndarray:
    """``theta_r = r ** -eta`` for positions ``r = 1 .. depth``: the chance of a look there."""
    if int(depth) < 1:
        raise CourseArgumentError(f"depth must be at least 1; got {depth}.")
    if eta < 0:
        raise CourseArgumentError(f"eta must be >= 0 (0 means no position bias); got {eta}.")
    return np.arange(1, int(depth) + 1, dtype=float) ** -float(eta)


def _check_probabilities(name: str, values: Mapping[str, float]) -> None:
    missing = [g for g in GRADES if g not in values]
    if missing:
        raise CourseArgumentError(
            f"{name} needs a probability for each of {GRADES}; missing {missing}."
        )
    bad = {g: v for g, v in values.items() if not 0.0 <= float(v) <= 1.0}
    if bad:
        raise CourseArgumentError(f"{name} probabilities must lie in [0, 1]; got {bad}.")


@dataclass(frozen=True)
class ShopperModel:
    """How simulated shoppers look, click and buy.

    Attributes:
        depth: results shown per search (the page).
        eta: strength of position bias; ``theta_r = r ** -eta`` (0: every position seen).
        attractiveness: P(click | examined) for each relevance grade.
        purchase: P(purchase | click) for each grade, before the shopper's taste
            (see :class:`Shoppers`) multiplies it; the result is capped at 1.
    """

    depth: int = 10
    eta: float = 1.0
    attractiveness: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_ATTRACTIVENESS)
    )
    purchase: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_PURCHASE))

    def __post_init__(self) -> None:
        examination_probabilities(self.depth, self.eta)  # validates both
        _check_probabilities("attractiveness", self.attractiveness)
        _check_probabilities("purchase", self.purchase)

    def examination(self) -> np.ndarray:
        """``theta`` for positions 1 .. depth."""
        return examination_probabilities(self.depth, self.eta)

    def by_grade(self, which: str) -> np.ndarray:
        """``attractiveness`` or ``purchase`` in :data:`GRADES` order, plus 0 for an empty slot."""
        table = {"attractiveness": self.attractiveness, "purchase": self.purchase}[which]
        return np.array([float(table[g]) for g in GRADES] + [0.0])


@dataclass
class ResultLists:
    """Each query's top results as padded matrices (``-1`` marks an empty slot).

    Attributes:
        query_ids: ``[n_queries]``.
        product_ids: ``[n_queries, depth]``, best first.
        grades: ``[n_queries, depth]`` index into :data:`GRADES`.
        name: the ranker's name, for tables and plots.
    """

    query_ids: np.ndarray
    product_ids: np.ndarray
    grades: np.ndarray
    name: str = ""

    @property
    def depth(self) -> int:
        """Slots per list."""
        return int(self.product_ids.shape[1])

    def to_frame(self) -> pd.DataFrame:
        """One row per filled slot: query_id, rank (1-based), product_id, label."""
        rows, cols = np.nonzero(self.product_ids >= 0)
        return pd.DataFrame({
            "query_id": self.query_ids[rows], "rank": cols + 1,
            "product_id": self.product_ids[rows, cols],
            "label": np.asarray(GRADES, dtype=object)[self.grades[rows, cols]],
        })


def _check_columns(frame: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise CourseDataError(f"{name} lacks columns {missing}; it has {list(frame.columns)}.")
    if len(frame) == 0:
        raise CourseDataError(f"{name} is empty.")


def rank_results(
    candidates: pd.DataFrame, score: str = "score", depth: int = 10, label: str = "label",
    name: str = "",
) -> ResultLists:
    """Sort each query's candidates by ``score`` (highest first) and keep the top ``depth``.

    Ties keep the order of the rows. ``label`` holds each pair's true grade
    (Exact / Partial / Irrelevant): it drives the simulated clicks.
    """
    _check_columns(candidates, ["query_id", "product_id", score, label], "candidates")
    unknown = sorted(set(candidates[label]) - set(GRADES))
    if unknown:
        raise CourseDataError(f"candidates[{label!r}] has grades {unknown}; use {GRADES}.")
    if candidates[score].isna().any():
        rows = candidates.index[candidates[score].isna()][:5].tolist()
        raise CourseDataError(f"candidates[{score!r}] is missing (NaN) in rows {rows}.")
    ordered = candidates.assign(_row=np.arange(len(candidates)))
    ordered = ordered.sort_values(["query_id", score, "_row"], ascending=[True, False, True])
    ordered["_rank"] = ordered.groupby("query_id").cumcount()
    ordered = ordered[ordered["_rank"] < depth]
    query_ids = np.sort(candidates["query_id"].unique())
    row = np.searchsorted(query_ids, ordered["query_id"].to_numpy())
    products = np.full((len(query_ids), depth), -1, dtype=np.int64)
    grades = np.full((len(query_ids), depth), -1, dtype=np.int64)
    products[row, ordered["_rank"]] = ordered["product_id"].to_numpy()
    grades[row, ordered["_rank"]] = ordered[label].map(GRADES.index).to_numpy()
    return ResultLists(query_ids, products, grades, name or score)


# --------------------------------------------------------------------------- click logs


def _sessions(query_ids: np.ndarray, sessions_per_query) -> np.ndarray:
    """Row index of the query each session searches for."""
    if isinstance(sessions_per_query, Mapping):
        counts = np.array([int(sessions_per_query.get(q, 0)) for q in query_ids])
    else:
        counts = np.full(len(query_ids), int(sessions_per_query))
    if (counts < 0).any() or counts.sum() == 0:
        raise CourseArgumentError(
            "sessions_per_query must give at least one session, none negative."
        )
    return np.repeat(np.arange(len(query_ids)), counts)


def _displayed_order(filled: np.ndarray, intervention: str, randomised: np.ndarray,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """For each session, the original rank index shown at each position, and the swap partner."""
    n, depth = filled.shape
    order = np.tile(np.arange(depth), (n, 1))
    partner = np.ones(n, dtype=np.int64)
    shown = filled.sum(axis=1)
    if intervention == "swap":
        can = randomised & (shown >= 2)
        k = (rng.random(n) * np.maximum(shown - 1, 1)).astype(np.int64) + 1  # 1 .. shown-1
        rows = np.flatnonzero(can)
        order[rows, 0], order[rows, k[rows]] = k[rows], 0
        partner[rows] = k[rows] + 1
    elif intervention == "shuffle":
        keys = np.where(filled, rng.random((n, depth)), np.inf)  # empty slots stay last
        shuffled = np.argsort(keys, axis=1, kind="stable")
        order = np.where(randomised[:, None], shuffled, order)
    return order, partner


def simulate_clicks(
    results: ResultLists | pd.DataFrame,
    sessions_per_query: int | Mapping = 100,
    model: ShopperModel | None = None,
    *,
    intervention: str = "none",
    intervention_share: float = 1.0,
    score: str = "score",
    label: str = "label",
    seed: int = 0,
) -> pd.DataFrame:
    """A search click log under position bias: one row per impression.

    Args:
        results: ranked lists (:class:`ResultLists`), or a candidates table that
            :func:`rank_results` ranks by its ``score`` column, with each pair's true
            grade in its ``label`` column.
        sessions_per_query: searches per query (an int, or ``{query_id: count}``).
        model: the shoppers (default :class:`ShopperModel`); only ``depth`` of it
            that ``results`` has is shown.
        intervention: ``"none"``; ``"swap"`` (the result at rank 1 trades places with
            one at a uniformly drawn rank ``k >= 2``); or ``"shuffle"`` (the shown list
            is randomly permuted).
        intervention_share: share of sessions that get the intervention.
        seed: random seed; the same arguments give the same log.

    Returns:
        Columns ``session_id, query_id, position, rank, product_id, label, propensity,
        examined, clicked, intervention, swapped_with``. ``rank`` is the ranker's order,
        ``position`` where the product was shown, ``propensity`` the true
        ``theta_position``; ``swapped_with`` is the position that rank 1 moved to (1 when
        not swapped). ``examined`` is hidden in real logs; it is here for checking.
    """
    model = model or ShopperModel()
    if intervention not in INTERVENTIONS:
        raise CourseArgumentError(
            f"intervention must be one of {INTERVENTIONS}; got {intervention!r}."
        )
    if not 0.0 <= intervention_share <= 1.0:
        raise CourseArgumentError(
            f"intervention_share must lie in [0, 1]; got {intervention_share}."
        )
    if isinstance(results, pd.DataFrame):
        results = rank_results(results, score=score, depth=model.depth, label=label)
    rng = np.random.default_rng(seed)
    depth = min(results.depth, model.depth)
    query_row = _sessions(results.query_ids, sessions_per_query)
    n = len(query_row)
    products, grades = results.product_ids[query_row, :depth], results.grades[query_row, :depth]
    randomised = rng.random(n) < intervention_share if intervention != "none" else np.zeros(n, bool)
    order, partner = _displayed_order(products >= 0, intervention, randomised, rng)
    shown_products = np.take_along_axis(products, order, axis=1)
    shown_grades = np.take_along_axis(grades, order, axis=1)
    theta = model.examination()[:depth]
    examined = rng.random((n, depth)) < theta
    clicked = examined & (rng.random((n, depth)) < model.by_grade("attractiveness")[shown_grades])
    keep = shown_products >= 0
    rows, cols = np.nonzero(keep)
    kind = np.where(randomised, intervention, "none")
    return pd.DataFrame({
        "session_id": rows, "query_id": results.query_ids[query_row[rows]], "position": cols + 1,
        "rank": order[rows, cols] + 1, "product_id": shown_products[rows, cols],
        "label": np.asarray(GRADES, dtype=object)[shown_grades[rows, cols]],
        "propensity": theta[cols], "examined": examined[rows, cols], "clicked": clicked[rows, cols],
        "intervention": kind[rows], "swapped_with": partner[rows],
    })


def estimate_propensities(log: pd.DataFrame) -> pd.DataFrame:
    """Relative examination propensities ``theta_k / theta_1`` from a randomised click log.

    With ``swap`` sessions: the click rate of the product the ranker put first, when it
    was shown at position ``k`` (sessions swapped with ``k``) over the same rate at
    position 1 (sessions not swapped). Random assignment makes its relevance the same in
    both groups, so only the examination differs. With ``shuffle`` sessions: the click
    rate at each position over the rate at position 1 (relevance is the same at every
    position after shuffling). A ``propensity`` column, when present, adds the truth.
    """
    _check_columns(log, ["session_id", "position", "rank", "clicked", "intervention"], "log")
    if (log["intervention"] == "swap").any():
        _check_columns(log, ["swapped_with"], "log")
        by = log[log["rank"] == 1].groupby("swapped_with")
        table = pd.DataFrame({"sessions": by["session_id"].nunique(),
                              "clicks": by["clicked"].sum()})
        table.index.name = "position"
    elif (log["intervention"] == "shuffle").any():
        shuffled = log[log["intervention"] == "shuffle"]
        by = shuffled.groupby("position")
        table = pd.DataFrame({"sessions": by["session_id"].nunique(),
                              "clicks": by["clicked"].sum()})
    else:
        raise CourseDataError(
            "The log has no randomised sessions; simulate it with intervention='swap' or "
            "'shuffle' (a share of the traffic is enough)."
        )
    if 1 not in table.index or table.loc[1, "clicks"] == 0:
        raise CourseDataError("No clicks at position 1 in the randomised log; log more sessions.")
    table["click_rate"] = table["clicks"] / table["sessions"]
    table["propensity"] = table["click_rate"] / table.loc[1, "click_rate"]
    if "propensity" in log.columns:
        truth = log.groupby("position")["propensity"].first()
        table["true_propensity"] = truth.reindex(table.index) / truth.loc[1]
    return table.reset_index()


# ------------------------------------------------------------------------------ shoppers


@dataclass
class Shoppers:
    """The population that visits: personas with latent tastes, and the catalogue's prices.

    Attributes:
        taste: ``[n_personas, n_products]`` factor on each product's purchase probability.
        prices: ``[n_products]``.
        product_ids: ``[n_products]``, the catalogue order of ``taste`` and ``prices``.
        query_weights: how often each query is searched, by query id (None: uniform).
    """

    taste: np.ndarray
    prices: np.ndarray
    product_ids: np.ndarray
    query_weights: Mapping | None = None

    @property
    def n_personas(self) -> int:
        """Number of personas a visitor is drawn from."""
        return int(self.taste.shape[0])

    def columns(self, product_ids: np.ndarray) -> np.ndarray:
        """Catalogue column of each product id (``-1`` stays ``-1``)."""
        order = np.argsort(self.product_ids)
        pos = np.searchsorted(self.product_ids, product_ids, sorter=order)
        pos = order[np.clip(pos, 0, len(order) - 1)]
        found = self.product_ids[pos] == product_ids
        if not found[product_ids >= 0].all():
            missing = np.unique(product_ids[(product_ids >= 0) & ~found])[:5].tolist()
            raise CourseDataError(f"Products {missing} are not in the shoppers' catalogue.")
        return np.where(product_ids >= 0, pos, -1)


def shoppers_from_minishop(users: pd.DataFrame, products: pd.DataFrame,
                           taste_boost: float = 1.5, respect_stock: bool = False) -> Shoppers:
    """Personas from mini-shop's users: each matching taste multiplies the purchase chance.

    A product that matches a user's style, colour and price band is ``taste_boost ** 3``
    times as likely to be bought after a click as one that matches none. With
    ``respect_stock`` (lesson 09), a product whose ``stock`` is 0 can be clicked but never
    bought.
    """
    if taste_boost < 1.0:
        raise CourseArgumentError(f"taste_boost must be >= 1; got {taste_boost}.")
    _check_columns(users, ["taste_style", "taste_colour", "taste_price_band"], "users")
    _check_columns(products, ["product_id", "style", "colour", "price_band", "price"], "products")
    taste = np.ones((len(users), len(products)))
    for user_col, product_col in [("taste_style", "style"), ("taste_colour", "colour"),
                                  ("taste_price_band", "price_band")]:
        match = users[user_col].to_numpy()[:, None] == products[product_col].to_numpy()[None, :]
        taste *= np.where(match, taste_boost, 1.0)
    if respect_stock:
        _check_columns(products, ["stock"], "products")
        taste *= (products["stock"].to_numpy() > 0)[None, :]
    return Shoppers(taste, products["price"].to_numpy(float), products["product_id"].to_numpy())


def _query_probabilities(shoppers: Shoppers, query_ids: np.ndarray) -> np.ndarray:
    if shoppers.query_weights is None:
        return np.full(len(query_ids), 1.0 / len(query_ids))
    weights = np.array([float(shoppers.query_weights.get(q, 0.0)) for q in query_ids])
    if (weights < 0).any() or weights.sum() <= 0:
        raise CourseArgumentError("query_weights must be >= 0 with a positive total.")
    return weights / weights.sum()


def visit_probabilities(shoppers: Shoppers, results: ResultLists,
                        model: ShopperModel | None = None) -> dict[str, np.ndarray]:
    """Per-position chances of every (persona, query) visit under one ranker.

    Returns:
        ``click`` ``[n_queries, depth]`` (P(click) = theta * attractiveness),
        ``buy`` ``[n_personas, n_queries, depth]`` (P(purchase | click)) and
        ``price`` ``[n_queries, depth]`` (0 for empty slots).
    """
    model = model or ShopperModel()
    depth = min(results.depth, model.depth)
    grades = results.grades[:, :depth]
    cols = shoppers.columns(results.product_ids[:, :depth])
    click = model.examination()[:depth] * model.by_grade("attractiveness")[grades]
    base = model.by_grade("purchase")[grades]
    taste = np.where(cols >= 0, shoppers.taste[:, np.maximum(cols, 0)], 0.0)
    buy = np.minimum(1.0, base[None, :, :] * taste)
    price = np.where(cols >= 0, shoppers.prices[np.maximum(cols, 0)], 0.0)
    return {"click": click, "buy": buy, "price": price}


def expected_metrics_per_query(shoppers: Shoppers, results: ResultLists,
                               model: ShopperModel | None = None) -> pd.DataFrame:
    """The exact expected value per visit of every metric, for each query (personas uniform).

    One row per query id: ``ctr`` (P(at least one click)), ``conversion`` (P(at least
    one purchase)), ``clicks`` and ``revenue`` (expected count and amount per visit).
    """
    probs = visit_probabilities(shoppers, results, model)
    click, buy, price = probs["click"], probs["buy"], probs["price"]
    sale = click[None] * buy  # [persona, query, position]
    return pd.DataFrame({
        "ctr": 1.0 - np.prod(1.0 - click, axis=1),
        "conversion": (1.0 - np.prod(1.0 - sale, axis=2)).mean(axis=0),
        "clicks": click.sum(axis=1),
        "revenue": (sale * price[None]).sum(axis=2).mean(axis=0),
    }, index=pd.Index(results.query_ids, name="query_id"))


def expected_metrics(shoppers: Shoppers, results: ResultLists,
                     model: ShopperModel | None = None) -> dict[str, float]:
    """The exact expected value per visit of every metric (personas uniform, queries weighted):
    :func:`expected_metrics_per_query` averaged with the queries' search weights."""
    per_query = expected_metrics_per_query(shoppers, results, model)
    weights = _query_probabilities(shoppers, results.query_ids)
    return {name: float(per_query[name].to_numpy() @ weights) for name in per_query.columns}


# ------------------------------------------------------------------------- experiments


@dataclass(frozen=True)
class Experiment:
    """The design of one A/B test.

    Attributes:
        n_visitors: distinct visitors over the whole test.
        days: length of the test; each visit falls on one day.
        visits_per_visitor: mean visits of a visitor (1.0: exactly one each, which makes
            visits independent; more adds 0-truncated Poisson repeat visits).
        treatment_share: share of visitors assigned to the treatment.
        salt: the experiment's key for the hash that assigns visitors to arms.
    """

    n_visitors: int = 20_000
    days: int = 14
    visits_per_visitor: float = 1.0
    treatment_share: float = 0.5
    salt: int = 0

    def __post_init__(self) -> None:
        if self.n_visitors < 2 or self.days < 1:
            raise CourseArgumentError(f"need n_visitors >= 2 and days >= 1; got {self}.")
        if self.visits_per_visitor < 1.0:
            raise CourseArgumentError(
                f"visits_per_visitor must be >= 1; got {self.visits_per_visitor}."
            )
        if not 0.0 < self.treatment_share < 1.0:
            raise CourseArgumentError(
                f"treatment_share must lie in (0, 1); got {self.treatment_share}."
            )


def assign_arms(visitor_ids: np.ndarray, salt: int = 0, treatment_share: float = 0.5) -> np.ndarray:
    """Randomise by user: a visitor's arm (0 control, 1 treatment) from a hash of id and salt.

    The same visitor always gets the same arm within an experiment (no state to store),
    and a new ``salt`` re-randomises for the next experiment. The hash is SplitMix64.
    """
    with np.errstate(over="ignore"):
        x = np.asarray(visitor_ids, dtype=np.uint64)
        x = x + np.uint64(salt) * np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    unit = (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return (unit < treatment_share).astype(np.int64)


def _draw_visits(experiment: Experiment, n_personas: int, query_p: np.ndarray,
                 rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Who visits when and searches what: one entry per visit."""
    n = experiment.n_visitors
    if experiment.visits_per_visitor > 1.0:  # 1 + Poisson repeat visits
        visits = 1 + rng.poisson(experiment.visits_per_visitor - 1.0, n)
    else:
        visits = np.ones(n, dtype=np.int64)
    visitor = np.repeat(np.arange(n), visits)
    persona = rng.integers(0, n_personas, n)[visitor]
    return {
        "visitor": visitor, "persona": persona,
        "day": rng.integers(0, experiment.days, len(visitor)),
        "query": rng.choice(len(query_p), size=len(visitor), p=query_p),
        "arm": assign_arms(visitor, experiment.salt, experiment.treatment_share),
    }


def _outcomes(visits: dict[str, np.ndarray], arms: list[dict[str, np.ndarray]],
              rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Clicks, purchases and revenue of each visit, position by position."""
    arm, query, persona = visits["arm"], visits["query"], visits["persona"]
    treated = arm[:, None] == 1
    click = np.where(treated, arms[1]["click"][query], arms[0]["click"][query])
    buy = np.where(treated, arms[1]["buy"][persona, query], arms[0]["buy"][persona, query])
    price = np.where(treated, arms[1]["price"][query], arms[0]["price"][query])
    clicked = rng.random(click.shape) < click
    bought = clicked & (rng.random(click.shape) < buy)
    return {
        "clicks": clicked.sum(axis=1), "clicked": clicked.any(axis=1),
        "purchases": bought.sum(axis=1), "purchased": bought.any(axis=1),
        "revenue": (bought * price).sum(axis=1),
    }


def _arm_probabilities(shoppers, control, treatment, model) -> list[dict[str, np.ndarray]]:
    if not np.array_equal(control.query_ids, treatment.query_ids):
        raise CourseDataError(
            "control and treatment must rank the same queries, in the same order."
        )
    arms = [visit_probabilities(shoppers, r, model) for r in (control, treatment)]
    depth = min(a["click"].shape[1] for a in arms)
    return [{k: v[..., :depth] for k, v in a.items()} for a in arms]


def run_experiment(shoppers: Shoppers, control: ResultLists, treatment: ResultLists,
                   model: ShopperModel | None = None, experiment: Experiment | None = None,
                   seed: int = 0) -> pd.DataFrame:
    """One simulated A/B test: one row per visit.

    Returns:
        Columns ``visitor, persona, day, query_id, arm`` (``control``/``treatment``),
        ``clicks, clicked, purchases, purchased, revenue``.
    """
    experiment = experiment or Experiment()
    rng = np.random.default_rng(seed)
    arms = _arm_probabilities(shoppers, control, treatment, model)
    visits = _draw_visits(experiment, shoppers.n_personas,
                          _query_probabilities(shoppers, control.query_ids), rng)
    outcome = _outcomes(visits, arms, rng)
    frame = pd.DataFrame({
        "visitor": visits["visitor"], "persona": visits["persona"], "day": visits["day"],
        "query_id": control.query_ids[visits["query"]],
        "arm": np.asarray(ARMS, dtype=object)[visits["arm"]], **outcome,
    })
    return frame.sort_values(["day", "visitor"], kind="stable").reset_index(drop=True)


def run_experiments(shoppers: Shoppers, control: ResultLists, treatment: ResultLists,
                    model: ShopperModel | None = None, experiment: Experiment | None = None,
                    n_experiments: int = 100, seed: int = 0, progress: bool = False
                    ) -> dict[str, np.ndarray]:
    """Many independent A/B tests (each with its own salt and random draws), as daily counts.

    Returns:
        ``{name: [n_experiments, days, 2]}`` for ``visits, clicked, purchased, clicks,
        revenue, revenue_sq`` (sums over the visits of each day and arm; arm 0 is control).
        Cumulate over days to peek.
    """
    from tqdm.auto import tqdm

    experiment = experiment or Experiment()
    arms = _arm_probabilities(shoppers, control, treatment, model)
    query_p = _query_probabilities(shoppers, control.query_ids)
    out = {name: np.zeros((n_experiments, experiment.days, 2)) for name in COUNTS}
    for i in tqdm(range(n_experiments), disable=not progress, desc="experiments"):
        rng = np.random.default_rng([seed, i])
        design = Experiment(experiment.n_visitors, experiment.days, experiment.visits_per_visitor,
                            experiment.treatment_share, salt=experiment.salt + i)
        visits = _draw_visits(design, shoppers.n_personas, query_p, rng)
        outcome = _outcomes(visits, arms, rng)
        cell = visits["day"] * 2 + visits["arm"]
        size = experiment.days * 2
        values = {"visits": np.ones(len(cell)), "clicked": outcome["clicked"],
                  "purchased": outcome["purchased"], "clicks": outcome["clicks"],
                  "revenue": outcome["revenue"], "revenue_sq": outcome["revenue"] ** 2}
        for name, value in values.items():
            out[name][i] = np.bincount(cell, weights=value, minlength=size).reshape(-1, 2)
    return out


__all__ = [
    "ARMS", "COUNTS", "GRADES", "INTERVENTIONS", "Experiment", "ResultLists", "ShopperModel",
    "Shoppers", "assign_arms", "estimate_propensities", "examination_probabilities",
    "expected_metrics", "expected_metrics_per_query", "rank_results", "run_experiment",
    "run_experiments", "shoppers_from_minishop", "simulate_clicks", "visit_probabilities",
]

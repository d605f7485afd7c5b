"""Tests for course.recsys on small synthetic purchase data and the tiny random BERT."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from course.errors import CourseArgumentError, CourseError
from course.metrics import mean_recall_of_lists
from course.recsys import (
    BPRMF,
    ItemKNNRecommender,
    ItemTower,
    NextItemDataset,
    PopularityRecommender,
    TwoTower,
    TwoTowerCollator,
    TwoTowerRecommender,
    UserTower,
    build_id_maps,
    comparison_table,
    evaluate_baselines,
    evaluate_models,
    evaluate_recommender,
    explain_recommendation,
    fit_baselines,
    interaction_matrix,
    item_log_q,
    item_popularity,
    leave_last_out,
    make_evaluate_fn,
    make_loss_fn,
    pad_histories,
    plot_comparison,
    recency_pool,
    recency_weights,
    sample_negatives,
    split_cold_items,
    topk_retrieval,
    two_tower,
    two_tower_recommend,
)

CLUSTER_WORDS = ["sofa", "lamp", "table", "chair", "rug", "mirror", "shelf", "bed"]
COLOURS = ["red", "blue", "green", "black", "white", "grey"]
N_CLUSTERS, PER_CLUSTER = len(CLUSTER_WORDS), len(COLOURS)
N_ITEMS = N_CLUSTERS * PER_CLUSTER


def cluster_of(item: int) -> int:
    return item // PER_CLUSTER


def item_texts() -> list[str]:
    return [f"{CLUSTER_WORDS[c]} {CLUSTER_WORDS[c]} in {COLOURS[j]}"
            for c in range(N_CLUSTERS) for j in range(PER_CLUSTER)]


def co_purchase_sequences(n_users: int = 300, seed: int = 0, hits: int = 3) -> list[list[int]]:
    """Each user buys 5 items of one cluster, with globally popular 'hit' items mixed in.

    The last purchase is always from the user's cluster, so co-purchase models
    can find it and popularity (which recommends the hits) cannot.
    """
    rng = np.random.default_rng(seed)
    hit_items = [N_ITEMS + h for h in range(hits)]
    sequences = []
    for _ in range(n_users):
        c = rng.integers(N_CLUSTERS)
        own = list(rng.choice(PER_CLUSTER, size=5, replace=False) + c * PER_CLUSTER)
        head = own[:-1] + list(rng.choice(hit_items, size=2, replace=False))
        rng.shuffle(head)
        sequences.append([int(i) for i in head] + [int(own[-1])])
    return sequences


def next_cluster_sequences(n_users: int = 200, length: int = 6, seed: int = 0) -> list[list[int]]:
    """Users walk through the clusters in order: the next item is from the next cluster.

    Text similarity alone predicts the *same* cluster, so a model must learn
    the transition to rank the target.
    """
    rng = np.random.default_rng(seed)
    sequences = []
    for _ in range(n_users):
        c = int(rng.integers(N_CLUSTERS))
        seq = [((c + t) % N_CLUSTERS) * PER_CLUSTER + int(rng.integers(PER_CLUSTER))
               for t in range(length)]
        sequences.append(seq)
    return sequences


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny_parts():
    from course.models import load_tokenizer, resolve_model

    resolved = resolve_model("tiny")
    return resolved, load_tokenizer(resolved)


def make_tower(tiny_parts, **kwargs) -> TwoTower:
    from course.models import load_encoder

    resolved, tokenizer = tiny_parts
    kwargs.setdefault("projection_dim", 16)
    return TwoTower.from_encoder(load_encoder(resolved), tokenizer, item_texts(), progress=False,
                                 **kwargs)


# --- metrics ---------------------------------------------------------------


def test_evaluate_recommender_hand_computed():
    recs = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    targets = np.array([1, 6, 0])
    result = evaluate_recommender(recs, targets, k=3, num_items=18)
    assert result == pytest.approx({"recall@3": 2 / 3, "ndcg@3": (1.0 + 1.0 / np.log2(4)) / 3,
                                    "mrr": (1.0 + 1.0 / 3) / 3, "coverage@3": 9 / 18})
    result = evaluate_recommender(recs, targets, k=2, num_items=9)
    assert result == pytest.approx({"recall@2": 1 / 3, "ndcg@2": 1 / 3, "mrr": (1 + 1 / 3) / 3,
                                    "coverage@2": 6 / 9})


def test_metrics_reject_bad_shapes():
    with pytest.raises(CourseArgumentError, match="one target"):
        evaluate_recommender(np.zeros((3, 2)), np.zeros(2), k=2)
    with pytest.raises(CourseArgumentError, match="recommend at least k"):
        evaluate_recommender(np.zeros((2, 3)), np.zeros(2), k=5)


def test_comparison_table_and_plot():
    table = comparison_table({"popularity": {"recall@10": 0.1, "ndcg@10": 0.05},
                              "two-tower": {"recall@10": 0.3, "ndcg@10": 0.2}})
    assert list(table.index) == ["popularity", "two-tower"]
    assert table.loc["two-tower", "ndcg@10"] == pytest.approx(0.2)
    fig = plot_comparison(table)
    bars = [p for p in fig.axes[0].patches]
    assert len(bars) == 4
    assert sorted(b.get_height() for b in bars) == pytest.approx([0.05, 0.1, 0.2, 0.3])
    with pytest.raises(CourseError, match="not in the table"):
        plot_comparison(table, metrics=["mrr"])


# --- retrieval -------------------------------------------------------------


@pytest.mark.parametrize("chunk_size,user_chunk", [(7, 5), (3, 64), (1000, 1000), (50, 1)])
def test_topk_retrieval_matches_full_topk(chunk_size, user_chunk):
    gen = torch.Generator().manual_seed(1)
    users, items = torch.randn(37, 8, generator=gen), torch.randn(101, 8, generator=gen)
    scores, index = topk_retrieval(users, items, k=5, chunk_size=chunk_size, user_chunk=user_chunk)
    full = (users @ items.T).topk(5, dim=1)
    assert torch.equal(index, full.indices)
    assert torch.allclose(scores, full.values, atol=1e-5)


def test_topk_retrieval_many_blocks_matches_full_topk():
    # Late blocks take the sparse path (only scores above the running k-th best).
    gen = torch.Generator().manual_seed(5)
    users, items = torch.randn(300, 16, generator=gen), torch.randn(6000, 16, generator=gen)
    exclude = [list(range(u % 7)) for u in range(300)]
    scores, index = topk_retrieval(users, items, k=10, chunk_size=256, user_chunk=128,
                                   exclude=exclude)
    full = users @ items.T
    for u, banned in enumerate(exclude):
        full[u, banned] = float("-inf")
    expected = full.topk(10, dim=1)
    assert torch.equal(index, expected.indices)
    assert torch.allclose(scores, expected.values, atol=1e-5)


def test_topk_retrieval_excludes_items():
    gen = torch.Generator().manual_seed(2)
    users, items = torch.randn(6, 4, generator=gen), torch.randn(30, 4, generator=gen)
    full = users @ items.T
    exclude = [full[u].topk(3).indices.tolist() for u in range(6)]  # ban each user's top 3
    _, index = topk_retrieval(users, items, k=4, chunk_size=7, user_chunk=4, exclude=exclude)
    expected = full.topk(7, dim=1).indices[:, 3:]
    assert torch.equal(index, expected)


def test_topk_retrieval_matches_faiss_exact_inner_product():
    """faiss IndexFlatIP (exact search) as the reference: the same items, scores to 1e-5.

    faiss has no per-user exclusion, so it searches k plus the longest exclusion list and
    the test drops the excluded items."""
    import faiss

    gen = torch.Generator().manual_seed(3)
    users, items = torch.randn(200, 32, generator=gen), torch.randn(3000, 32, generator=gen)
    exclude = [list(range(u, u + u % 9)) for u in range(200)]
    scores, index = topk_retrieval(users, items, k=10, chunk_size=512, user_chunk=64,
                                   exclude=exclude)
    flat = faiss.IndexFlatIP(32)
    flat.add(items.numpy())
    ref_scores, ref_index = flat.search(users.numpy(), 10 + max(len(e) for e in exclude))
    for u, banned in enumerate(exclude):
        keep = ~np.isin(ref_index[u], banned)
        assert index[u].tolist() == ref_index[u][keep][:10].tolist()
        np.testing.assert_allclose(scores[u].numpy(), ref_scores[u][keep][:10], atol=1e-5)


def test_item_knn_matches_implicit_cosine_recommender():
    """implicit's CosineRecommender as the reference for the co-purchase cosine.

    Documented difference: implicit keeps each item's similarity to itself (1), the course
    sets it to 0, so implicit's score of an item is the course's plus 1 for every history item
    that is that item. Compared after removing that, to 1e-6 (float32)."""
    from implicit import nearest_neighbours as nn

    rng = np.random.default_rng(0)
    n_items = 60
    sequences = [rng.choice(n_items, size=rng.integers(1, 9), replace=False).tolist()
                 for _ in range(300)]
    ours = ItemKNNRecommender(neighbors=None).fit(sequences, num_items=n_items)
    ref = nn.CosineRecommender(K=n_items, num_threads=1)
    ref.fit(interaction_matrix(sequences, n_items), show_progress=False)
    np.testing.assert_allclose(ref.similarity.diagonal(), 1.0, atol=1e-6)
    histories = sequences[:40]
    bought = interaction_matrix(histories, n_items)
    expected = (bought @ ref.similarity).toarray() - bought.toarray()
    np.testing.assert_allclose(ours.score_all(histories), expected, atol=1e-6)


def test_topk_retrieval_rejects_bad_input():
    with pytest.raises(CourseError, match="share d"):
        topk_retrieval(torch.zeros(2, 3), torch.zeros(4, 5))
    with pytest.raises(CourseError, match="k must be"):
        topk_retrieval(torch.zeros(2, 3), torch.zeros(4, 3), k=5)
    with pytest.raises(CourseError, match="one collection"):
        topk_retrieval(torch.zeros(2, 3), torch.zeros(4, 3), k=1, exclude=[[0]])


# --- data prep -------------------------------------------------------------


def test_build_id_maps_and_leave_last_out():
    raw = {"ann": ["A", "B", "C"], "bob": ["C"], "cy": ["B", "D"]}
    maps = build_id_maps(raw, items=["A", "B", "C", "D", "E"])
    assert maps.num_items == 5 and maps.items[4] == "E"
    encoded = maps.encode(raw)
    assert encoded == [[0, 1, 2], [2], [1, 3]]
    train, users, targets = leave_last_out(encoded)
    assert train == [[0, 1], [2], [1]]
    assert users.tolist() == [0, 2] and targets.tolist() == [2, 3]
    assert build_id_maps(raw).items == ["A", "B", "C", "D"]
    with pytest.raises(CourseError, match="not in the catalog"):
        build_id_maps(raw, items=["A", "B"])
    with pytest.raises(CourseError, match="nothing to evaluate"):
        leave_last_out([[1], [2]])


def test_next_item_dataset_and_collator():
    data = NextItemDataset([[0, 1, 2, 3], [4, 5]], max_history=2)
    assert len(data) == 4
    assert data[2] == {"user": 0, "history": [1, 2], "positive": 3}
    assert data[3] == {"user": 1, "history": [4], "positive": 5}
    collate = TwoTowerCollator(num_items=10, num_negatives=6, seed=0)
    batch = collate([data[2], data[3]])
    assert batch["history_ids"].tolist() == [[1, 2], [4, 0]]
    assert batch["history_mask"].tolist() == [[True, True], [True, False]]
    assert batch["positive"].tolist() == [3, 5]
    assert batch["negatives"].shape == (2, 6)
    assert not set(batch["negatives"][0].tolist()) & {1, 2, 3}
    assert not set(batch["negatives"][1].tolist()) & {4, 5}
    everything = TwoTowerCollator(num_items=8, num_negatives=200, user_items=data.sequences)
    assert not set(everything([data[0]])["negatives"][0].tolist()) & {0, 1, 2, 3}
    later = set(collate([data[0]] * 40)["negatives"].flatten().tolist())
    assert later & {2, 3}  # items bought later are allowed
    with pytest.raises(CourseError, match="No training examples"):
        NextItemDataset([[1], [2]])


def test_sample_negatives_excludes_and_prefers_popular():
    popularity = np.zeros(100)
    popularity[:5] = 100.0
    rng = np.random.default_rng(0)
    draws = sample_negatives(4000, 100, popularity, hard_fraction=0.5, exclude=[0, 50], rng=rng)
    assert len(draws) == 4000 and not np.isin(draws, [0, 50]).any()
    share_popular = np.isin(draws, [1, 2, 3, 4]).mean()
    assert 0.5 < share_popular < 0.56  # half hard (all popular) + ~4% of the uniform half
    uniform = sample_negatives(4000, 100, None, exclude=[0], rng=rng)
    assert np.isin(uniform, [1, 2, 3, 4]).mean() < 0.08
    only = sample_negatives(50, 100, popularity, candidates=np.array([7, 8]), rng=rng)
    assert set(only.tolist()) <= {7, 8}
    with pytest.raises(CourseError, match="excluded"):
        sample_negatives(3, 2, exclude=[0, 1])


def test_pad_histories_keeps_the_latest():
    ids, mask = pad_histories([[1, 2, 3, 4], [], [5]], max_history=3)
    assert ids.tolist() == [[2, 3, 4], [0, 0, 0], [5, 0, 0]]
    assert mask.sum(1).tolist() == [3, 0, 1]


# --- baselines -------------------------------------------------------------


def _warm_eval(sequences):
    train, users, targets = leave_last_out(sequences)
    return train, users, targets, [train[u] for u in users]


def test_popularity_recommends_the_most_bought():
    model = PopularityRecommender().fit([[0, 1, 1], [1, 2], [1, 2]], num_items=4)
    assert item_popularity([[0, 1, 1], [1, 2]], 4).tolist() == [1, 3, 1, 0]
    assert model.recommend([[3]], k=2).tolist() == [[1, 2]]
    assert model.recommend([[1]], k=2, exclude_seen=True).tolist() == [[2, 0]]


def test_knn_and_bprmf_beat_popularity_on_co_purchases():
    sequences = co_purchase_sequences()
    n_items = N_ITEMS + 3
    train, users, targets, histories = _warm_eval(sequences)
    results = {}
    for name, model in {
        "popularity": PopularityRecommender(),
        "item-knn": ItemKNNRecommender(neighbors=20),
        "bpr-mf": BPRMF(factors=16, epochs=60, lr=0.05, progress=False),
    }.items():
        model.fit(train, num_items=n_items)
        recs = model.recommend(histories, k=5, users=users)
        results[name] = mean_recall_of_lists(recs, targets, k=5)
    assert results["popularity"] < 0.3, results
    assert results["item-knn"] > 0.8, results
    assert results["bpr-mf"] > results["popularity"] + 0.3, results
    fitted = {"popularity": PopularityRecommender().fit(train, num_items=n_items),
              "item-knn": ItemKNNRecommender(neighbors=20).fit(train, num_items=n_items)}
    table = evaluate_models(fitted, histories, targets, k=5, users=users, num_items=n_items)
    assert table["popularity"]["recall@5"] == pytest.approx(results["popularity"])
    assert table["item-knn"]["recall@5"] == pytest.approx(results["item-knn"])
    assert set(table["item-knn"]) == {"recall@5", "ndcg@5", "mrr", "coverage@5"}
    defaults = evaluate_baselines(train, users, targets, n_items, k=5)
    assert set(defaults) == {"popularity", "item_knn", "bpr_mf"}
    assert defaults["popularity"]["recall@5"] == pytest.approx(results["popularity"])
    assert set(fit_baselines(train, n_items, progress=False)) == set(defaults)


def test_bprmf_needs_user_rows_for_other_histories():
    model = BPRMF(factors=4, epochs=1, progress=False).fit([[0, 1], [1, 2]], num_items=4)
    assert model.score_all([[0], [1]]).shape == (2, 4)
    assert model.score_all([[0]], users=[1]).shape == (1, 4)
    assert np.all(model.score_all([[0]], users=[1])[:, 3] == 0)  # never bought: no signal
    with pytest.raises(CourseError, match="users="):
        model.score_all([[0]])
    with pytest.raises(CourseError, match="not fitted"):
        PopularityRecommender().recommend([[0]])


# --- two-tower -------------------------------------------------------------


def test_two_tower_shapes_and_normalisation(tiny_parts):
    tower = make_tower(tiny_parts)
    items = tower.item_vectors(torch.tensor([[0, 1], [2, 2]]))
    assert items.shape == (2, 2, 16)
    assert torch.allclose(items.norm(dim=-1), torch.ones(2, 2), atol=1e-5)
    assert torch.allclose(items[1, 0], items[1, 1])
    ids, mask = pad_histories([[0, 1, 2], [5]])
    users = tower.user_vectors(ids, mask)
    assert users.shape == (2, 16)
    assert torch.allclose(users.norm(dim=-1), torch.ones(2), atol=1e-5)
    # untrained user MLP is the identity: a one-item history is that item's vector
    assert torch.allclose(users[1], tower.item_vectors(torch.tensor(5)), atol=1e-5)
    assert tower.score(ids, mask, torch.tensor([3, 4])).shape == (2,)
    assert tower.score(ids, mask, torch.tensor([[3, 4, 5], [1, 2, 3]])).shape == (2, 3)
    assert tower.query_vectors(["red sofa"]).shape == (1, 16)


def test_recency_weights_halve_per_half_life(tiny_parts):
    tower = make_tower(tiny_parts, half_life=2.0, learn_half_life=False)
    weights = tower.user_tower.recency_weights(torch.tensor([[True, True, True, False]]))
    assert weights[0].tolist() == pytest.approx([0.5, 2 ** -0.5, 1.0, 0.0])
    assert [n for n, _ in tower.named_parameters() if "half_life" in n] == []
    assert tower.half_life == pytest.approx(2.0)
    mask = torch.tensor([[True, True, False], [False, False, False]])
    assert recency_weights(mask, 1.0).tolist() == [[0.5, 1.0, 0.0], [0.0, 0.0, 0.0]]


def test_recency_pool_by_hand():
    vecs = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]],
                         [[2.0, 2.0], [9.0, 9.0], [9.0, 9.0]],
                         [[3.0, 3.0], [3.0, 3.0], [3.0, 3.0]]])
    mask = torch.tensor([[True, True, False], [True, False, False], [False, False, False]])
    pooled = recency_pool(vecs, mask, half_life=1.0)
    # user 0: weights 0.5 (older) and 1 (latest): (0.5 * [1, 0] + [0, 1]) / 1.5; padding ignored
    assert pooled[0].tolist() == pytest.approx([1 / 3, 2 / 3])
    assert pooled[1].tolist() == pytest.approx([2.0, 2.0])  # one item: itself
    assert pooled[2].tolist() == [0.0, 0.0]  # nothing bought: zeros, not NaN
    long_memory = recency_pool(vecs, mask, half_life=1e6)
    assert long_memory[0].tolist() == pytest.approx([0.5, 0.5], abs=1e-5)  # plain mean


def test_user_tower_is_the_normalised_pooled_history_until_trained():
    tower = UserTower(dim=2, half_life=1.0)
    vecs = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    mask = torch.tensor([[True, True]])
    expected = torch.nn.functional.normalize(torch.tensor([[1 / 3, 2 / 3]]), dim=-1)
    assert torch.allclose(tower(vecs, mask), expected, atol=1e-6)
    tower(vecs, mask).sum().backward()
    assert tower.log_half_life.grad is not None  # the half-life learns
    with pytest.raises(CourseArgumentError, match="half_life"):
        UserTower(dim=4, half_life=0.0)


def test_item_tower_needs_an_encoder_with_a_hidden_size():
    with pytest.raises(CourseArgumentError, match=r"Linear\) has no config.hidden_size"):
        ItemTower(torch.nn.Linear(2, 2), tokenizer=None, item_texts=["a sofa"])


def test_two_tower_checks_that_the_towers_fit(tiny_parts):
    from course.models import load_encoder

    resolved, tokenizer = tiny_parts
    items = ItemTower(load_encoder(resolved), tokenizer, item_texts(), projection_dim=8,
                      progress=False)
    assert TwoTower(items).dim == 8 and TwoTower(items).user_tower.mlp[0].in_features == 8
    with pytest.raises(CourseArgumentError, match="UserTower"):
        TwoTower(items, UserTower(dim=16))
    with pytest.raises(CourseArgumentError, match="from_encoder"):  # the old signature
        TwoTower(items.encoder, tokenizer, item_texts(), projection_dim=8)
    built = TwoTower(items)
    assert built.encoder is items.encoder and built.item_cache is items.item_cache
    with pytest.raises(CourseArgumentError, match="empty"):
        ItemTower(load_encoder(resolved), tokenizer, [])


def test_two_tower_recommender_evaluates_like_the_baselines(tiny_parts):
    sequences = next_cluster_sequences(60)
    train, users, targets, histories = _warm_eval(sequences)
    tower = make_tower(tiny_parts)
    adapter = TwoTowerRecommender(tower, max_history=20).fit(train, num_items=N_ITEMS)
    direct = two_tower_recommend(tower, histories, k=10)
    assert np.array_equal(adapter.recommend(histories, k=10), direct)
    scores = adapter.score_all(histories)
    assert scores.shape == (len(histories), N_ITEMS)
    seen = scores.copy()
    for row, h in enumerate(histories):
        seen[row, h] = -np.inf
    assert np.array_equal(np.argsort(-seen, axis=1, kind="stable")[:, :3], direct[:, :3])
    pop = PopularityRecommender().fit(train, num_items=N_ITEMS)
    table = evaluate_models({"popularity": pop, "two_tower": adapter}, histories, targets,
                            k=10, users=users, num_items=N_ITEMS)
    direct_recall = mean_recall_of_lists(direct, targets, 10)
    assert table["two_tower"]["recall@10"] == pytest.approx(direct_recall)
    cold = np.arange(0, N_ITEMS, 2)
    among = adapter.recommend(histories, k=5, candidates=cold)
    assert np.isin(among, cold).all()
    with pytest.raises(CourseArgumentError, match="same catalog"):
        adapter.fit(train, num_items=N_ITEMS + 1)


def test_frozen_tower_trains_only_the_small_parts(tiny_parts):
    tower = make_tower(tiny_parts, freeze_encoder=True)
    trainable = {".".join(n.split(".")[:2]) for n, p in tower.named_parameters() if p.requires_grad}
    assert trainable == {"item_tower.projection", "user_tower.log_half_life", "user_tower.mlp"}
    tower.train()
    assert not tower.item_tower.encoder.training
    fresh = make_tower(tiny_parts, freeze_encoder=False).eval()  # eval: no dropout
    # the cache equals the live encoder
    assert torch.allclose(tower.item_vectors(), fresh.item_vectors(), atol=1e-5)
    cache = tower.item_tower.item_cache
    reused = make_tower(tiny_parts, item_embeddings=cache.clone())
    assert torch.equal(reused.item_tower.item_cache, cache)
    with pytest.raises(CourseError, match="item_embeddings must be"):
        make_tower(tiny_parts, item_embeddings=torch.zeros(3, 32))


def test_fine_tuned_tower_updates_the_encoder(tiny_parts):
    tower = make_tower(tiny_parts, freeze_encoder=False)
    encoder = tower.item_tower.encoder
    before = encoder.embeddings.word_embeddings.weight.detach().clone()
    collate = TwoTowerCollator(N_ITEMS, num_negatives=2)
    batch = collate([NextItemDataset(next_cluster_sequences(4))[i] for i in range(8)])
    loss = make_loss_fn("bpr")(tower, batch)
    loss.backward()
    torch.optim.SGD(tower.parameters(), lr=1.0).step()
    assert not torch.equal(before, encoder.embeddings.word_embeddings.weight)


def test_forward_matches_the_tower_methods(tiny_parts):
    tower = make_tower(tiny_parts)
    ids, mask = pad_histories([[0, 1, 2], [7, 9]])
    positive, negatives = torch.tensor([3, 10]), torch.tensor([[4, 5], [1, 30]])
    users, pos, neg = tower(ids, mask, positive, negatives)
    assert torch.allclose(users, tower.user_vectors(ids, mask), atol=1e-6)
    assert torch.allclose(pos, tower.item_vectors(positive), atol=1e-6)
    assert torch.allclose(neg, tower.item_vectors(negatives), atol=1e-6)
    assert tower(ids, mask, positive)[2] is None


def test_forward_and_losses_without_sampled_negatives(tiny_parts):
    tower = make_tower(tiny_parts)
    data = NextItemDataset(next_cluster_sequences(6))
    batch = TwoTowerCollator(N_ITEMS, num_negatives=0)([data[i] for i in range(10)])
    users, pos, neg = tower(batch["history_ids"], batch["history_mask"], batch["positive"],
                            batch["negatives"])
    assert neg.shape == (10, 0, tower.dim) and users.shape == pos.shape == (10, tower.dim)
    for kind in ("cosine", "softmax"):
        assert torch.isfinite(make_loss_fn(kind)(tower, batch))
    with pytest.raises(CourseError, match="needs sampled negatives"):
        make_loss_fn("bpr")(tower, batch)


def test_collator_draws_different_negatives_in_each_worker():
    data = [{"user": 0, "history": [1, 2], "positive": 3}] * 40  # every batch the same examples
    collate = TwoTowerCollator(num_items=500, num_negatives=8, seed=0)
    torch.manual_seed(0)
    loader = torch.utils.data.DataLoader(data, batch_size=4, collate_fn=collate, num_workers=2)
    batches = [b["negatives"] for b in loader]
    first_worker, second_worker = batches[0::2], batches[1::2]  # workers take batches in turn
    assert not all(torch.equal(a, b) for a, b in zip(first_worker, second_worker, strict=True))
    torch.manual_seed(0)
    loader = torch.utils.data.DataLoader(data, batch_size=4, collate_fn=collate, num_workers=2)
    again = [b["negatives"] for b in loader]
    # seeded: the same run repeats
    assert all(torch.equal(a, b) for a, b in zip(batches, again, strict=True))


def test_two_tower_builder_and_query_tower(tiny_parts):
    tower = two_tower("tiny", item_texts(), projection_dim=8, freeze_encoder=False, progress=False)
    assert isinstance(tower, TwoTower) and tower.num_items == N_ITEMS and tower.dim == 8
    queries = tower.query_vectors(["red sofa", "lamp"])
    # fine-tuned: gradients reach the encoder
    assert queries.shape == (2, 8) and queries.requires_grad
    frozen = make_tower(tiny_parts)
    assert not frozen.item_tower.encoder.embeddings.word_embeddings.weight.requires_grad
    with pytest.raises(CourseError, match="item_texts is empty"):
        two_tower("tiny", [])


@pytest.mark.parametrize("kind", ["bpr", "cosine", "softmax", "softmax_logq", "sort"])
def test_loss_fns_give_finite_scalars_with_gradients(tiny_parts, kind):
    tower = make_tower(tiny_parts)
    sequences = next_cluster_sequences(6)
    data = NextItemDataset(sequences)
    batch = TwoTowerCollator(N_ITEMS, num_negatives=3)([data[i] for i in range(10)])
    loss = make_loss_fn(kind, log_q=item_log_q(sequences, N_ITEMS))(tower, batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    last = tower.user_tower.mlp[2].weight.grad
    assert last is not None and last.abs().sum() > 0


def test_make_loss_fn_rejects_unknown_kind_and_missing_log_q():
    with pytest.raises(CourseArgumentError, match="Unknown loss kind"):
        make_loss_fn("hinge-ish")
    with pytest.raises(CourseArgumentError, match="log_q"):
        make_loss_fn("softmax_logq")


def test_item_log_q_is_the_log_share_of_training_positives():
    log_q = item_log_q([[0, 1, 1], [2, 1], [3]], num_items=5)
    # positives (every item after the first of a sequence): 1, 1, 1 -> item 1 has 3 of 3
    assert torch.exp(log_q).tolist()[1] == pytest.approx(1.0)
    log_q = item_log_q([[0, 1, 2], [0, 2]], num_items=4)
    assert torch.exp(log_q).tolist() == pytest.approx([1 / 3, 1 / 3, 2 / 3, 1 / 3])  # unseen: min
    with pytest.raises(CourseArgumentError, match="positives"):
        item_log_q([[0], [1]], num_items=2)


def test_softmax_logq_loss_matches_the_corrected_formula(tiny_parts):
    tower = make_tower(tiny_parts)
    sequences = next_cluster_sequences(6)
    data = NextItemDataset(sequences)
    batch = TwoTowerCollator(N_ITEMS, num_negatives=0)([data[i] for i in range(12)])
    log_q = item_log_q(sequences, N_ITEMS)
    with torch.no_grad():
        users, pos, _ = tower(batch["history_ids"], batch["history_mask"], batch["positive"])
        logits = users @ pos.T / 0.1 - log_q[batch["positive"]][None, :]
        ids = batch["positive"]
        logits = logits.masked_fill((ids[:, None] == ids[None, :]) & ~torch.eye(12, dtype=bool),
                                    float("-inf"))
        expected = torch.nn.functional.cross_entropy(logits, torch.arange(12))
        got = make_loss_fn("softmax_logq", temperature=0.1, log_q=log_q)(tower, batch)
        plain = make_loss_fn("softmax", temperature=0.1)(tower, batch)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    assert got.item() != pytest.approx(plain.item(), rel=1e-5)


def _train_tower(tower, sequences, kind="bpr", steps=100, seed=0):
    """A plain training loop (the course engine is not needed here)."""
    torch.manual_seed(seed)
    data = NextItemDataset(sequences, max_history=5)
    loader = torch.utils.data.DataLoader(
        data, batch_size=32, shuffle=True,
        collate_fn=TwoTowerCollator(N_ITEMS, num_negatives=4, seed=seed),
    )
    loss_fn = make_loss_fn(kind, temperature=0.1)
    opt = torch.optim.Adam([p for p in tower.parameters() if p.requires_grad], lr=0.01)
    losses, step = [], 0
    while step < steps:
        for batch in loader:
            loss = loss_fn(tower, batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            step += 1
            if step == steps:
                break
    return losses


def test_bpr_trained_two_tower_learns_the_next_cluster(tiny_parts):
    sequences = next_cluster_sequences()
    train, users, targets, histories = _warm_eval(sequences)
    tower = make_tower(tiny_parts)
    before = mean_recall_of_lists(two_tower_recommend(tower, histories, k=10), targets, 10)
    losses = _train_tower(tower, [train[u] for u in range(len(train))])
    after = mean_recall_of_lists(two_tower_recommend(tower, histories, k=10), targets, 10)
    chance = 10 / (N_ITEMS - 5)
    print(f"recall@10 before {before:.3f}, after {after:.3f}, chance {chance:.3f}")
    assert np.mean(losses[-20:]) < np.mean(losses[:20])
    assert after > 2 * chance and after > before + 0.2
    metrics = make_evaluate_fn(histories, targets, k=10)(tower)
    assert metrics["recall@10"] == pytest.approx(after)
    assert 0 < metrics["ndcg@10"] <= metrics["recall@10"]


def test_seed_sort_loss_trains_the_tower_backwards(tiny_parts):
    sequences = next_cluster_sequences()
    train, users, targets, histories = _warm_eval(sequences)
    tower = make_tower(tiny_parts)
    _train_tower(tower, train, kind="sort")
    after = mean_recall_of_lists(two_tower_recommend(tower, histories, k=10), targets, 10)
    print(f"recall@10 after training with the seed L_sort: {after:.3f}")
    assert after < 10 / (N_ITEMS - 5)  # below chance: it learned to rank the next cluster last


def test_explain_recommendation_finds_nearest_history_items():
    vecs = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7], [-1.0, 0.0], [0.9, 0.1]])
    explained = explain_recommendation(vecs, [1, 2, 3, 2], item_id=4, top=2)
    assert [i for i, _ in explained] == [2, 1]
    cosine = np.dot([0.7, 0.7], [0.9, 0.1]) / (0.7 * 2**0.5) / np.hypot(0.9, 0.1)
    assert explained[0][1] == pytest.approx(float(cosine))
    with pytest.raises(CourseError, match="empty"):
        explain_recommendation(vecs, [], item_id=0)


def test_split_cold_items_holds_items_out_of_training():
    sequences = co_purchase_sequences(n_users=100)
    split = split_cold_items(sequences, N_ITEMS + 3, frac=0.2, seed=1)
    cold = set(split.cold_items.tolist())
    assert len(cold) == round(0.2 * (N_ITEMS + 3))
    assert not cold & {i for s in split.train_sequences for i in s}
    assert set(split.targets.tolist()) <= cold
    for u, history, target in zip(split.users, split.histories, split.targets, strict=True):
        seq = sequences[u]
        first = seq.index(target)
        assert history == [i for i in seq[:first] if i not in cold]
    # ID baselines score cold items with no signal
    pop = PopularityRecommender().fit(split.train_sequences, num_items=N_ITEMS + 3)
    knn = ItemKNNRecommender().fit(split.train_sequences, num_items=N_ITEMS + 3)
    for model in (pop, knn):
        assert np.all(model.score_all(split.histories)[:, split.cold_items] == 0)


def test_text_tower_ranks_cold_items_that_id_baselines_cannot(tiny_parts):
    sequences = [[c * PER_CLUSTER + j for j in np.random.default_rng(u).permutation(PER_CLUSTER)]
                 for u, c in enumerate(np.arange(240) % N_CLUSTERS)]
    split = split_cold_items(sequences, N_ITEMS, frac=0.25, seed=0)
    tower = make_tower(tiny_parts)  # untrained: text similarity alone
    tower_recs = two_tower_recommend(tower, split.histories, k=3, candidates=split.cold_items)
    pop = PopularityRecommender().fit(split.train_sequences, num_items=N_ITEMS)
    pop_recs = pop.recommend(split.histories, k=3, candidates=split.cold_items)
    tower_recall = mean_recall_of_lists(tower_recs, split.targets, 3)
    pop_recall = mean_recall_of_lists(pop_recs, split.targets, 3)
    print(f"cold recall@3 among {len(split.cold_items)} cold items: tower {tower_recall:.3f}, "
          f"popularity {pop_recall:.3f}")
    assert tower_recall > pop_recall + 0.3

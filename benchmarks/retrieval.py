"""Top-k retrieval cost curve: exact top-10 by chunked matrix product; and, with ``--ann``,
exact search against faiss's HNSW and IVF-PQ at catalogue scale (lesson 09).

For each catalog size it draws random L2-normalised fp32 vectors for the
users and the items, runs :func:`course.recsys.topk_retrieval`, and prints
queries/s, wall time and peak memory. Each size runs in its own subprocess, so
the peak RSS belongs to that size alone.

    python benchmarks/retrieval.py                       # 10k users; 4k, 100k, 1M items
    python benchmarks/retrieval.py --items 4000 100000 --users 2000 --dim 128

``--ann`` (lesson 09) compares faiss's exact ``IndexFlatIP`` with HNSW and IVF-PQ over a
synthetic catalogue of ``--ann-items`` vectors (default 1,000,000) in MiniLM's dimension
(384), drawn from the encoder's own output distribution: the packaged MiniLM encodes
mini-shop's 1,200 products and its training queries, a Gaussian mixture is fitted to each
(``course.search.ann.fit_mixture``: 300 k-means clusters of the products, 150 of the queries,
their shares, one pooled full covariance), and the catalogue and the queries are drawn from
them and L2-normalised.
Each index is swept over ``efSearch`` / ``nprobe`` on half of the queries (validation); the
fastest setting with recall@10 >= ``--recall-target`` against exact search is chosen there,
and measured once on the other half (test), beside exact search, in the same run. IVF-PQ
stores 192 sub-quantizers of 4 bits (96 bytes) in faiss's fast-scan layout and re-scores the
best ``--k-factor`` x 10 candidates from 8-bit scalar-quantized copies (``--pq-bits 8 --pq-m 48
--k-factor 8`` is the lesson's own layout, which stops near recall 0.87 at this size).

    python benchmarks/retrieval.py --ann --threads 2 --json benchmarks/results/lesson09-ann-1m.json

The machine is often shared: the script prints the load average with each row.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def _peak_rss_mib() -> float:
    """Peak resident set size of this process, in MiB (Linux: ru_maxrss is KiB)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20


def run_one(n_users: int, n_items: int, dim: int, k: int, chunk_size: int, user_chunk: int,
            seed: int) -> dict:
    """Time one retrieval and return its figures."""
    import torch

    from course.recsys import retrieval_block_bytes, topk_retrieval

    torch.manual_seed(seed)
    rss_before_data = _peak_rss_mib()
    users = torch.nn.functional.normalize(torch.randn(n_users, dim), dim=1)
    items = torch.empty(n_items, dim)
    for start in range(0, n_items, 65536):  # fill in blocks: no temporary copy of the catalog
        block = items[start : start + 65536]
        block.normal_()
        block.div_(block.norm(dim=1, keepdim=True))
    rss_data = _peak_rss_mib()
    started = time.perf_counter()
    topk_retrieval(users, items, k=k, chunk_size=chunk_size, user_chunk=user_chunk)
    wall = time.perf_counter() - started
    return {
        "users": n_users,
        "items": n_items,
        "dim": dim,
        "wall_s": wall,
        "queries_per_s": n_users / wall,
        "gflops": 2 * n_users * n_items * dim / wall / 1e9,
        "peak_rss_mib": _peak_rss_mib(),
        "data_mib": (users.numel() + items.numel()) * 4 / 2**20,
        "rss_before_data_mib": rss_before_data,
        "rss_after_data_mib": rss_data,
        "score_block_mib": retrieval_block_bytes(n_users, n_items, user_chunk, chunk_size) / 2**20,
        "threads": torch.get_num_threads(),
        "load_avg_1m": os.getloadavg()[0],
    }


def encoder_vectors(products: int = 1200, queries: int = 2000, seed: int = 42):
    """The packaged MiniLM's vectors of mini-shop's catalogue and its training queries."""
    from course import data, models, search

    resolved = models.resolve_model("minilm", quiet=True)
    tokenizer = models.load_tokenizer(resolved)
    encoder = search.BiEncoder(models.load_encoder(resolved, seed=0)).eval()
    shop = data.make_minishop(seed=seed, n_products=products, n_queries=queries)
    texts = shop.products["text"].tolist()
    asked = shop.queries.loc[shop.queries.split == "train", "query"].tolist()
    items = search.encode_texts(encoder, tokenizer, texts, max_length=64).numpy()
    return items, search.encode_texts(encoder, tokenizer, asked, max_length=24).numpy()


def _best_of(index, queries, k: int, repeats: int = 3):
    best, ids = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        ids = index.search(queries, k)[1]
        best = min(best, time.perf_counter() - started)
    return ids, best


def run_ann(n_items: int, n_queries: int, threads: int, recall_target: float, seed: int,
            pq_bits: int, hnsw_m: int, pq_m: int = 48, k_factor: int = 8) -> dict:
    """Exact, HNSW and IVF-PQ over a synthetic catalogue; every figure of one run."""
    import faiss

    from course.search import ann

    faiss.omp_set_num_threads(threads)
    started = time.perf_counter()
    items, asked = encoder_vectors()
    # 300 clusters of the 1,200 products keep their local structure: a synthetic product's
    # nearest neighbour is about as close as a real one's (a few clusters blur it; see the lesson)
    item_mix = ann.fit_mixture(items, 300, seed=seed)
    query_mix = ann.fit_mixture(asked, 150, seed=seed)
    catalogue = ann.sample_vectors(item_mix, n_items, seed=seed)
    queries = ann.sample_vectors(query_mix, n_queries, seed=seed + 1)
    valid, test = queries[: n_queries // 2], queries[n_queries // 2:]
    out: dict = {"items": n_items, "dim": catalogue.shape[1], "threads": threads,
                 "valid_queries": len(valid), "test_queries": len(test),
                 "recall_target": recall_target, "data_s": time.perf_counter() - started}
    flat = faiss.IndexFlatIP(catalogue.shape[1])
    flat.add(catalogue)
    exact_valid = flat.search(valid, 10)[1]
    exact_test, seconds = _best_of(flat, test, 10)
    out["exact"] = {"qps": len(test) / seconds, "bytes_per_vector": ann.index_bytes(flat) / n_items}
    print(f"exact: {out['exact']['qps']:.0f} queries/s ({len(test)} queries in one batch)",
          flush=True)
    del flat
    grids = {"hnsw": [16, 32, 64, 96, 128, 192, 256, 384, 512, 768, 1024],
             "ivfpq": [1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256]}
    for kind, grid in grids.items():
        t0 = time.perf_counter()
        index = ann.build_index(catalogue, kind, m=hnsw_m, pq_m=pq_m, nbits=pq_bits,
                                fast_scan=pq_bits == 4, k_factor=k_factor, seed=seed)
        build_s = time.perf_counter() - t0
        curve = ann.sweep(index, kind, valid, exact_valid, grid, k=10, latency_queries=200)
        try:
            setting = ann.choose_operating_point(curve, recall_target)
        except ValueError as exc:
            print(f"{kind}: {exc}", flush=True)
            setting = curve["recall"].idxmax()
        ann.set_search_parameter(index, kind, setting)
        ids, seconds = _best_of(index, test, 10)
        single = ann.sweep(index, kind, test, exact_test, [setting], k=10, latency_queries=200)
        out[kind] = {
            "structure": ann.factory_string(kind, n_items, m=hnsw_m, pq_m=pq_m, nbits=pq_bits,
                                            fast_scan=pq_bits == 4)
            + (f" (k_factor {k_factor})" if kind == "ivfpq" else ""),
            "build_s": build_s, "bytes_per_vector": ann.index_bytes(index) / n_items,
            "setting": float(setting), "valid_curve": curve.reset_index().to_dict("records"),
            "test_recall10": ann.recall_at_k(ids, exact_test, 10), "qps": len(test) / seconds,
            "p95_ms": float(single["p95_ms"].iloc[0]),
        }
        out[kind]["speedup"] = out[kind]["qps"] / out["exact"]["qps"]
        print(f"{kind}: built in {build_s:.0f} s; setting {setting:g} chosen on validation; test "
              f"recall@10 {out[kind]['test_recall10']:.3f} at {out[kind]['qps']:.0f} queries/s "
              f"({out[kind]['speedup']:.1f}x exact)", flush=True)
        del index
    out["peak_rss_mib"] = _peak_rss_mib()
    out["load_avg_1m"] = os.getloadavg()[0]
    out["wall_s"] = time.perf_counter() - started
    out["target_met_by"] = [k for k in grids
                            if out[k]["test_recall10"] >= recall_target and out[k]["speedup"] >= 20]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--items", type=int, nargs="+", default=[4_000, 100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=128, help="lesson 04 projects to 128")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--chunk-size", type=int, default=4096, help="items per score block")
    parser.add_argument("--user-chunk", type=int, default=1024, help="users per score block")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--one", action="store_true",
                        help="run the first size in-process (internal)")
    parser.add_argument("--ann", action="store_true",
                        help="lesson 09: exact vs HNSW vs IVF-PQ on a synthetic MiniLM catalogue")
    parser.add_argument("--ann-items", type=int, default=1_000_000)
    parser.add_argument("--ann-queries", type=int, default=2000, help="half valid, half test")
    parser.add_argument("--threads", type=int, default=2, help="faiss threads (--ann)")
    parser.add_argument("--recall-target", type=float, default=0.95)
    parser.add_argument("--pq-bits", type=int, default=4,
                        help="bits per PQ code; 4 stores them in faiss's fast-scan layout")
    parser.add_argument("--pq-m", type=int, default=192, help="PQ sub-quantizers (divides 384)")
    parser.add_argument("--k-factor", type=int, default=32,
                        help="IVF-PQ: the best k_factor * k PQ candidates are re-scored (SQ8)")
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument("--json", default=None, help="write the --ann figures here")
    args = parser.parse_args(argv)

    if args.ann:
        figures = run_ann(args.ann_items, args.ann_queries, args.threads, args.recall_target,
                          args.seed, args.pq_bits, args.hnsw_m, args.pq_m, args.k_factor)
        rows = {k: {c: figures[k].get(c, "") for c in ("structure", "build_s", "bytes_per_vector",
                                                        "setting", "test_recall10", "qps",
                                                        "speedup", "p95_ms")}
                for k in ("exact", "hnsw", "ivfpq")}
        import pandas as pd

        print(pd.DataFrame(rows).T.to_string())
        print(f"target (recall@10 >= {args.recall_target} at >= 20x exact's queries/s) met by: "
              f"{figures['target_met_by'] or 'none'}; peak RSS {figures['peak_rss_mib']:.0f} MiB, "
              f"wall {figures['wall_s']:.0f} s, load {figures['load_avg_1m']:.1f}")
        if args.json:
            with open(args.json, "w") as handle:
                json.dump(figures, handle, indent=1, default=float)
        return 0

    if args.one:
        print(json.dumps(run_one(args.users, args.items[0], args.dim, args.k, args.chunk_size,
                                 args.user_chunk, args.seed)))
        return 0

    header = (f"{'items':>9} {'users':>6} {'dim':>4} {'wall s':>8} {'queries/s':>10} "
              f"{'GFLOP/s':>8} {'peak RSS MiB':>12} {'vectors MiB':>11} {'score block MiB':>15} "
              f"{'load 1m':>7}")
    print(f"top-{args.k} retrieval, fp32, exact, chunk {args.user_chunk} users x "
          f"{args.chunk_size} items")
    print(header)
    for n_items in args.items:
        cmd = [sys.executable, __file__, "--one", "--users", str(args.users),
               "--items", str(n_items), "--dim", str(args.dim), "--k", str(args.k),
               "--chunk-size", str(args.chunk_size),
               "--user-chunk", str(args.user_chunk), "--seed", str(args.seed)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{n_items:>9} failed:\n{done.stderr}", file=sys.stderr)
            return done.returncode
        row = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{row['items']:>9} {row['users']:>6} {row['dim']:>4} {row['wall_s']:>8.2f} "
              f"{row['queries_per_s']:>10.0f} {row['gflops']:>8.1f} "
              f"{row['peak_rss_mib']:>12.0f} {row['data_mib']:>11.0f} "
              f"{row['score_block_mib']:>15.0f} {row['load_avg_1m']:>7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

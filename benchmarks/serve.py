"""Load test of the search service (``course serve``): latency percentiles and throughput.

Starts the service on 127.0.0.1 in a child process, checks that every bad input of
``course.deploy.serve.BAD_REQUESTS`` gets a 422 naming its field and that the server stays healthy,
then sends a fixed number of ``POST /search`` requests at each concurrency (async ``httpx``)
and prints p50/p95/p99 latency, requests per second, failures, and the server's CPU seconds
per request (less sensitive than wall time to other jobs on the machine).

``--folder`` serves a pipeline saved by lesson 05 (``build/05-efficient-deployment/service``).
Without it, a pipeline with the packaged MiniLM as both bi-encoder and cross-encoder (head
untrained) is built over the mini-shop catalogue: the latency does not depend on the weights.

``--ltr`` serves lesson 09's ranked search (``course serve --ltr --ann``): a faiss HNSW index
retrieves ``--depth`` candidates, BM25 and the int8 cross-encoder score them, LambdaMART
orders them over the shop's facts. With ``--folder``, lesson 09's saved service
(``build/09-catalogue-scale-ranking/service``); without it, one built over a mini-shop
catalogue of ``--products`` products (texts for BM25 and the cross-encoder), whose vectors
are drawn from a Gaussian mixture fitted to MiniLM's vectors of the first 1,200 products
(``course.search.ann``), with a LightGBM ranker fitted to random features: the latency does
not depend on the weights, and 100,000 products need not be encoded one by one.

Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/serve.py --requests 1000 --concurrency 1 8
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/serve.py --ltr --products 100000 --depth 20
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def build_untrained_pipeline(folder: Path, products: int) -> Path:
    """A servable pipeline from the packaged MiniLM, over the mini-shop catalogue."""
    from course import data, models, search

    resolved = models.resolve_model("minilm", quiet=True)
    tokenizer = models.load_tokenizer(resolved)
    bi = search.BiEncoder(models.load_encoder(resolved))
    cross = models.load_classifier(resolved, list(data.LABELS))
    catalog = data.make_minishop(seed=42, n_products=products, n_queries=50).products
    vectors = search.encode_texts(bi, tokenizer, catalog["text"].tolist(), max_length=64)
    scorer = search.CrossEncoderScorer(cross, tokenizer, max_length=64)
    pipeline = search.TwoStageSearch(
        catalog[["product_id", "title", "text"]], bi, tokenizer, vectors, scorer
    )
    return pipeline.save(folder)


def build_ranked_pipeline(folder: Path, products: int, ef_search: int = 64) -> Path:
    """Lesson 09's RankedSearch over a mini-shop catalogue of ``products`` products."""
    import numpy as np
    import pandas as pd
    import torch

    from course import data, models, search
    from course.search import ann, ltr

    resolved = models.resolve_model("minilm", quiet=True)
    tokenizer = models.load_tokenizer(resolved)
    bi = search.BiEncoder(models.load_encoder(resolved))
    cross = models.load_classifier(resolved, list(data.LABELS))
    shop = data.make_minishop(seed=42, n_products=products, n_queries=50, n_users=20)
    catalog = shop.products[["product_id", "title", "text"]]
    real = search.encode_texts(bi, tokenizer, catalog["text"].tolist()[:1200], max_length=64)
    vectors = real.numpy()
    if products > len(vectors):
        mixture = ann.fit_mixture(vectors, 24, seed=0)
        vectors = np.concatenate([vectors, ann.sample_vectors(mixture, products - len(vectors))])
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.random((2000, len(ltr.FEATURES))), columns=list(ltr.FEATURES))
    frame["query_id"] = np.repeat(np.arange(100), 20)
    frame["label"] = rng.integers(0, 3, 2000)
    ranker = ltr.fit_lambdamart(frame[frame.query_id < 80], frame[frame.query_id >= 80],
                                rounds=200, early_stopping=200)  # a full-size forest to time
    base = search.TwoStageSearch(catalog, bi, tokenizer, torch.from_numpy(vectors),
                                 search.CrossEncoderScorer(cross, tokenizer, max_length=64),
                                 lexical_weight=0.3)  # the fused score is a feature
    index = ann.build_index(vectors, "hnsw", m=32)
    business = shop.products[list(ltr.BUSINESS_FEATURES)].to_numpy()
    ranked = search.RankedSearch(base, ranker, business, index, "hnsw", ef_search)
    return ranked.save(folder)


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--folder", default=None, help="a saved pipeline (default: build an untrained one)"
    )
    parser.add_argument("--requests", type=int, default=1000, help="requests per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument(
        "--depth", type=int, default=20, help="candidates the cross-encoder re-ranks"
    )
    parser.add_argument(
        "--fp32", action="store_true", help="serve the fp32 re-ranker (default: int8)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads of the server")
    parser.add_argument("--products", type=int, default=1200)
    parser.add_argument("--ltr", action="store_true",
                        help="lesson 09's ranked search: faiss index + LambdaMART (--ltr --ann)")
    parser.add_argument("--plot", default=None, help="write a latency histogram PNG here")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    from course import data
    from course.deploy import latency, serve

    tmp = tempfile.TemporaryDirectory()
    build = build_ranked_pipeline if args.ltr else build_untrained_pipeline
    folder = Path(args.folder) if args.folder else build(Path(tmp.name) / "p", args.products)
    shop = data.make_minishop(seed=42, n_queries=500)
    queries = shop.queries[shop.queries.split == "test"]["query"].tolist()
    payloads = [{"query": queries[i % len(queries)], "k": 10} for i in range(args.requests)]
    rows, latencies = {}, {}
    with serve.ServerProcess(
        folder, int8=not args.fp32, depth=args.depth, threads=args.threads,
        ltr=args.ltr, ann=args.ltr,
    ) as server:
        bad = serve.check_bad_requests(server.url)
        import httpx

        health = httpx.get(f"{server.url}/health").json()
        too_big = httpx.post(f"{server.url}/search", content=b" " * (serve.MAX_BODY_BYTES + 1),
                             headers={"content-type": "application/json"}, timeout=60)
        print(f"a body over the {serve.MAX_BODY_BYTES}-byte cap: {too_big.status_code}")
        print(
            f"bad inputs: {sum(r['status'] == 422 and r['names_field'] for r in bad)}/{len(bad)} "
            "answered "
            f"422 naming the field; health afterwards: {health['status']}"
        )
        for concurrency in args.concurrency:
            cpu0 = server_cpu_seconds(server.process.pid)
            out = serve.run_load(f"{server.url}/search", payloads, concurrency=concurrency)
            cpu = server_cpu_seconds(server.process.pid) - cpu0
            report = latency.latency_report(
                out["latencies_ms"], out["wall_s"], failed=len(out["failures"])
            )
            report["server_cpu_ms_per_request"] = 1000 * cpu / max(1, len(out["latencies_ms"]))
            report["load_average"] = os.getloadavg()[0]
            rows[f"concurrency {concurrency}"] = report
            latencies[f"concurrency {concurrency}"] = out["latencies_ms"]
            for failure in out["failures"][:5]:
                print("failure:", failure, file=sys.stderr)
        health = httpx.get(f"{server.url}/health").json()
    table = pd.DataFrame(rows).T
    print(
        f"{args.requests} requests per level, int8={not args.fp32}, depth {args.depth}, "
        f"ltr={args.ltr}, "
        f"catalogue {health['products']} products, health after the load: {health['status']}"
    )
    print(table.round(1).to_string())
    if args.plot:
        latency.plot_latency(latencies, title="/search").savefig(args.plot, dpi=100)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"rows": rows, "bad": bad, "body_over_cap": too_big.status_code,
                        "ltr": args.ltr, "products": health["products"], "time": time.time()},
                       indent=1)
        )
    tmp.cleanup()


if __name__ == "__main__":
    main()

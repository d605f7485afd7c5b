"""Load test of the search service (``course serve``): latency percentiles and throughput.

Starts the service on 127.0.0.1 in a child process, checks that every bad input of
``course.deploy.serve.BAD_REQUESTS`` gets a 422 naming its field and that the server stays healthy,
then sends a fixed number of ``POST /search`` requests at each concurrency (async ``httpx``)
and prints p50/p95/p99 latency, requests per second, failures, and the server's CPU seconds
per request (less sensitive than wall time to other jobs on the machine).

``--folder`` serves a pipeline saved by lesson 05 (``build/05-efficient-deployment/service``).
Without it, a pipeline with the packaged MiniLM as both bi-encoder and cross-encoder (head
untrained) is built over the mini-shop catalogue: the latency does not depend on the weights.

Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/serve.py --requests 1000 --concurrency 1 8
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
    parser.add_argument("--plot", default=None, help="write a latency histogram PNG here")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    from course import data
    from course.deploy import latency, serve

    tmp = tempfile.TemporaryDirectory()
    folder = (
        Path(args.folder)
        if args.folder
        else build_untrained_pipeline(Path(tmp.name) / "p", args.products)
    )
    shop = data.make_minishop(seed=42, n_queries=500)
    queries = shop.queries[shop.queries.split == "test"]["query"].tolist()
    payloads = [{"query": queries[i % len(queries)], "k": 10} for i in range(args.requests)]
    rows, latencies = {}, {}
    with serve.ServerProcess(
        folder, int8=not args.fp32, depth=args.depth, threads=args.threads
    ) as server:
        bad = serve.check_bad_requests(server.url)
        import httpx

        health = httpx.get(f"{server.url}/health").json()
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
        f"catalogue {health['products']} products, health after the load: {health['status']}"
    )
    print(table.round(1).to_string())
    if args.plot:
        latency.plot_latency(latencies, title="/search").savefig(args.plot, dpi=100)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"rows": rows, "bad": bad, "time": time.time()}, indent=1)
        )
    tmp.cleanup()


if __name__ == "__main__":
    main()

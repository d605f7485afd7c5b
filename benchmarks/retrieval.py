"""Top-k retrieval cost curve: exact top-10 by chunked matrix product.

For each catalog size it draws random L2-normalised fp32 vectors for the
users and the items, runs :func:`course.recsys.topk_retrieval`, and prints
queries/s, wall time and peak memory. Each size runs in its own subprocess, so
the peak RSS belongs to that size alone.

    python benchmarks/retrieval.py                       # 10k users; 4k, 100k, 1M items
    python benchmarks/retrieval.py --items 4000 100000 --users 2000 --dim 128

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
    args = parser.parse_args(argv)

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

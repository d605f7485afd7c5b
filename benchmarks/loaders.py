"""Real-data loaders, two versions of the code: same output? how much slower?

Runs every loader on the real files in ``COURSE_DATA_DIR`` with two versions of
``course/``: a base revision (exported with ``git archive`` into a temporary
folder; default: the merge base of ``main`` and ``HEAD``) and this working tree.
Each measurement is a fresh child process (imports are not timed); the versions
alternate within every repetition (base first on even repetitions, head first on
odd ones), so a busy machine slows both alike.

For each loader it prints the median wall and CPU seconds of each version, the
head/base ratio of the medians, and whether the output frames are identical
(a sha256 over ``pandas.util.hash_pandas_object`` of every output frame, with its
columns and dtypes). Cleaning-report rules of the base must be in the head's
report with the same counts; rules that only the head has are listed as new.

    COURSE_DATA_DIR=path/to/data .venv/bin/python benchmarks/loaders.py --repeats 5

Loaders: ``wands`` (query.csv + label.csv, products=False), ``esci`` (the
200-row sample), ``retail_parse`` (Online Retail csv.gz, parsed, cache=False) and
``retail_cached`` (the same through the parsed parquet cache, warmed first).

Last, in one process and interleaved, it times the record scan that the head adds
(``course.data.records.scan_records``) against the pandas parse it cross-checks, on
each real text file: a ratio that a busy machine disturbs less than two processes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOADERS = ("wands", "esci", "retail_parse", "retail_cached")


def _frame_digest(frame) -> str:
    import pandas as pd

    digest = hashlib.sha256()
    digest.update(repr(list(frame.columns)).encode())
    digest.update(repr([str(t) for t in frame.dtypes]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def _outputs(name: str, data) -> dict[str, str]:
    if name == "wands":
        frames = {"queries": data.queries, "labels": data.labels, "pairs": data.pairs}
    elif name == "esci":
        frames = {"examples": data.examples, "pairs": data.pairs}
    else:
        sequences = data.sequences.map(" ".join).to_frame()
        frames = {"transactions": data.transactions, "interactions": data.interactions,
                  "items": data.items, "sequences": sequences}
    return {key: _frame_digest(frame) for key, frame in frames.items()}


def child(name: str) -> None:
    """Run one loader once; print JSON with times, output digests and report rules."""
    import course
    from course import data

    calls = {
        "wands": lambda: data.load_wands(download=False, products=False),
        "esci": lambda: data.load_esci(download=False),
        "retail_parse": lambda: data.load_online_retail(cache=False),
        "retail_cached": lambda: data.load_online_retail(cache=True),
    }
    wall, cpu = time.perf_counter(), time.process_time()
    result = calls[name]()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rules = {rule: count for rule, _, count, _ in result.report.rules}
    print(json.dumps({"wall": wall, "cpu": cpu, "digests": _outputs(name, result),
                      "rules": rules, "module": course.__file__}))


SCANNED = {  # file, delimiter, read_csv arguments of its loader
    "wands/label.csv": ("\t", {"dtype": {"label": str}}),
    "wands/query.csv": ("\t", {"dtype": {"query": str, "query_class": str}}),
    "esci_sample/esci_sample.csv": (",", {"dtype": {"product_id": str, "query": str,
                                                    "esci_label": str}}),
    "online_retail/online_retail.csv.gz": (",", {"dtype": {c: str for c in (
        "InvoiceNo", "StockCode", "Description", "CustomerID", "Country", "InvoiceDate")}}),
}


def scan_overhead(repeats: int) -> list[dict]:
    """CPU seconds of the record scan vs the pandas parse it checks, same process, interleaved."""
    import io

    import pandas as pd

    from course.data.common import decode_utf8, open_bytes
    from course.data.records import scan_records

    rows = []
    for name, (sep, kwargs) in SCANNED.items():
        path = Path(os.environ["COURSE_DATA_DIR"]) / name
        raw = open_bytes(path)
        text = decode_utf8(raw, path)
        scan, parse = [], []
        for _ in range(repeats):
            start = time.process_time()
            pd.read_csv(io.StringIO(text), sep=sep, index_col=False, **kwargs)
            parse.append(time.process_time() - start)
            start = time.process_time()
            scan_records(raw, sep, path)
            scan.append(time.process_time() - start)
        rows.append({"file": name, "parse_cpu": statistics.median(parse),
                     "scan_cpu": statistics.median(scan)})
    return rows


def _run(name: str, tree: Path, cache: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), COURSE_CACHE_DIR=str(cache),
               OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    out = subprocess.run([sys.executable, __file__, "--child", name], env=env, cwd=tree,
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{name} failed in {tree}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _export(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "course"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _compare(name: str, base: list[dict], head: list[dict]) -> dict:
    b_wall = statistics.median(r["wall"] for r in base)
    h_wall = statistics.median(r["wall"] for r in head)
    b_cpu = statistics.median(r["cpu"] for r in base)
    h_cpu = statistics.median(r["cpu"] for r in head)
    same = base[0]["digests"] == head[0]["digests"]
    changed_rules = {k: (v, head[0]["rules"].get(k)) for k, v in base[0]["rules"].items()
                     if head[0]["rules"].get(k) != v}
    new_rules = {k: v for k, v in head[0]["rules"].items() if k not in base[0]["rules"]}
    return {"loader": name, "base_wall": b_wall, "head_wall": h_wall,
            "wall_ratio": h_wall / b_wall,
            "base_cpu": b_cpu, "head_cpu": h_cpu, "cpu_ratio": h_cpu / b_cpu,
            "same_output": same, "changed_rules": changed_rules, "new_rules": new_rules,
            "base_digests": base[0]["digests"], "head_digests": head[0]["digests"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", choices=LOADERS, help=argparse.SUPPRESS)
    parser.add_argument("--base", default=None,
                        help="base revision (default: merge-base main HEAD)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--loaders", nargs="+", choices=LOADERS, default=list(LOADERS))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.child:
        child(args.child)
        return 0
    if not os.environ.get("COURSE_DATA_DIR"):
        raise SystemExit("Set COURSE_DATA_DIR to the folder with wands/, esci_sample/ and "
                         "online_retail/.")
    base_rev = args.base or subprocess.run(
        ["git", "-C", str(ROOT), "merge-base", "main", "HEAD"],
        capture_output=True, text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"base": _export(base_rev, Path(tmp)), "head": ROOT}
        caches = {v: Path(tmp) / f"cache-{v}" for v in trees}
        print(f"base {base_rev[:12]} vs head (working tree); load {os.getloadavg()}")
        runs: dict[tuple[str, str], list[dict]] = {}
        for name in args.loaders:
            if name == "retail_cached":  # fill each version's parsed cache first
                for version in trees:
                    _run(name, trees[version], caches[version])
            for rep in range(args.repeats):
                order = ("base", "head") if rep % 2 == 0 else ("head", "base")
                for version in order:
                    runs.setdefault((name, version), []).append(
                        _run(name, trees[version], caches[version]))
        results = [_compare(n, runs[(n, "base")], runs[(n, "head")]) for n in args.loaders]
        modules = {v: runs[(args.loaders[0], v)][0]["module"] for v in trees}
    print(f"modules: {modules}; load {os.getloadavg()}")
    print(f"{'loader':<14} {'base wall':>9} {'head wall':>9} {'ratio':>6} "
          f"{'base cpu':>8} {'head cpu':>8} {'ratio':>6}  same output")
    for r in results:
        print(f"{r['loader']:<14} {r['base_wall']:>9.3f} {r['head_wall']:>9.3f} "
              f"{r['wall_ratio']:>6.3f} {r['base_cpu']:>8.3f} {r['head_cpu']:>8.3f} "
              f"{r['cpu_ratio']:>6.3f}  {r['same_output']}")
        if r["changed_rules"]:
            print(f"  CHANGED report counts (base, head): {r['changed_rules']}")
        if r["new_rules"]:
            print(f"  new report rules: {r['new_rules']}")
    overhead = scan_overhead(args.repeats)
    print(f"record scan vs pandas parse, same process, median CPU s of {args.repeats}; "
          f"load {os.getloadavg()}")
    for r in overhead:
        print(f"  {r['file']:<36} parse {r['parse_cpu']:.4f}  scan {r['scan_cpu']:.4f}  "
              f"scan/parse {r['scan_cpu'] / r['parse_cpu']:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"base": base_rev, "results": results,
                                         "scan_overhead": overhead}, indent=1))
    ok = all(r["same_output"] and not r["changed_rules"] for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

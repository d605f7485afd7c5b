"""A pytest plugin: CPU seconds per test, which a busy machine inflates far less than wall time.

For each test it adds up setup, call and teardown: the CPU time of the test process (all its
threads) plus that of the child processes it waited for (kernels, ``subprocess.run``). At the
end it prints the tests that used the most CPU, each worker process's CPU seconds (collection
included), and an estimate of the wall time on an idle machine with a core per worker: the
busiest worker's CPU seconds plus the controller's own. Waiting (sleeps, timeouts, I/O) adds
wall time that CPU seconds miss, so the estimate is a lower bound; on a busy machine it is a
steadier figure than the wall time.

    make test-fast PYTEST_ARGS="-p pytest_cpu_time --cpu-durations 30"

The Makefile's test targets put ``benchmarks/`` on ``PYTHONPATH`` for this. It works with
pytest-xdist: each worker sends its numbers to the controller.
"""

from __future__ import annotations

import os
import resource
import time

import pytest

_KEY = "cpu_time_rows"
_rows_key = pytest.StashKey[list]()
_workers_key = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--cpu-durations", type=int, default=20, metavar="N",
                     help="show the N tests that used the most CPU seconds (pytest_cpu_time)")


def _children_cpu() -> float:
    """CPU seconds of the child processes waited for so far (xdist workers included)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_rows_key] = []
    config.stash[_workers_key] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    wall, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
    yield
    used = time.process_time() - cpu + _children_cpu() - children
    item.config.stash[_rows_key].append((item.nodeid, used, time.perf_counter() - wall))


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    worker = getattr(config, "workeroutput", None)
    summary = {"worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
               "cpu": _self_cpu() + _children_cpu(), "rows": config.stash[_rows_key]}
    if worker is not None:
        worker[_KEY] = summary
    else:  # the controller (or the only process): its own CPU, without the xdist workers'
        config.stash[_workers_key].append({**summary, "self_cpu": _self_cpu()})


def pytest_testnodedown(node, error) -> None:
    summary = getattr(node, "workeroutput", {}).get(_KEY)
    if summary:
        node.config.stash[_workers_key].append(summary)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    workers = config.stash[_workers_key]
    if not workers:
        return
    rows = sorted((r for w in workers for r in w["rows"]), key=lambda r: -r[1])
    write = terminalreporter.write_line
    terminalreporter.section("CPU seconds per test (setup + call + teardown, children included)")
    for nodeid, cpu, wall in rows[:config.getoption("--cpu-durations")]:
        write(f"{cpu:8.2f} cpu {wall:8.2f} wall  {nodeid}")
    main = next(w for w in workers if w["worker"] == "main")
    xdist = [w for w in workers if w["worker"] != "main"]
    for w in sorted(xdist, key=lambda w: w["worker"]):
        write(f"worker {w['worker']}: {w['cpu']:.1f} CPU s (collection included), "
              f"{len(w['rows'])} tests using {sum(r[1] for r in w['rows']):.1f} CPU s")
    own = main["self_cpu"] if xdist else main["cpu"]
    total = own + sum(w["cpu"] for w in xdist)
    write(f"controller: {own:.1f} CPU s of its own; in all {total:.1f} CPU s, "
          f"{sum(r[1] for r in rows):.1f} of them in {len(rows)} tests; "
          f"load average now {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    busiest = max((w["cpu"] for w in xdist), default=0.0)
    what = "the controller's CPU seconds plus the busiest worker's" if xdist else "its CPU seconds"
    write(f"idle-machine wall estimate: about {own + busiest:.0f} s ({what}), more where tests "
          "wait rather than compute")

"""A search service: the two-stage pipeline behind FastAPI, and a load generator to measure it.

* :func:`create_app`: ``GET /health``, ``POST /search`` ``{query, k}`` and ``POST /score``
  ``{pairs: [{query, product}, ...]}``. The models are loaded once, before the first request.
  Inference runs on one worker thread, one request at a time, so that concurrent requests
  queue instead of fighting over the CPU cores; the event loop stays free for ``/health``.
* Bad input never reaches the model: every request is validated (strict types, bounded
  sizes) and answered with **422** and a message that names the field.
* Request bodies over :data:`MAX_BODY_BYTES` are answered with **413** before they are read
  further (:class:`BodySizeLimit`).
* :func:`serve_main` is ``course serve FOLDER [--int8] [--port N]``; with ``--ltr`` it serves
  lesson 09's :class:`course.search.RankedSearch` (LambdaMART over the cross-encoder and the
  shop's facts), with ``--ann`` retrieving through its saved faiss index.
* :class:`ServerProcess` starts the service in a child process on 127.0.0.1 and stops it;
  :func:`run_load` sends a fixed number of requests at a fixed concurrency with ``httpx``
  and returns every latency (see ``course.deploy.latency`` for the report).
"""

import argparse
import asyncio
import concurrent.futures
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from course.config import HelpFormatter
from course.errors import CourseArgumentError, CourseError

__all__ = [
    "BAD_REQUESTS",
    "BodySizeLimit",
    "MAX_BODY_BYTES",
    "MAX_K",
    "MAX_PAIRS",
    "MAX_PRODUCT_CHARS",
    "MAX_QUERY_CHARS",
    "Pair",
    "ScoreRequest",
    "SearchRequest",
    "ServerProcess",
    "check_bad_requests",
    "create_app",
    "free_port",
    "load_pipeline",
    "run_load",
    "serve_main",
]

MAX_QUERY_CHARS = 512
MAX_PRODUCT_CHARS = 4000
MAX_K = 100
MAX_PAIRS = 64
# Above the largest legal request in compact JSON even with every character written as a
# 12-byte escaped surrogate pair (64 pairs x 4,512 characters x 12 bytes = 3.3 MiB).
MAX_BODY_BYTES = 4 * 2**20


# ------------------------------------------------------------------- requests


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must contain a non-space character")
    return value


class SearchRequest(_Strict):
    """``POST /search``: a query and how many products to return."""

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    k: int = Field(default=10, ge=1, le=MAX_K)
    _blank = field_validator("query")(_not_blank)


class Pair(_Strict):
    """One (query, product text) pair to score."""

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    product: str = Field(min_length=1, max_length=MAX_PRODUCT_CHARS)
    _blank = field_validator("query", "product")(_not_blank)


class ScoreRequest(_Strict):
    """``POST /score``: up to ``MAX_PAIRS`` pairs."""

    pairs: list[Pair] = Field(min_length=1, max_length=MAX_PAIRS)


def _field_errors(exc) -> list[dict[str, str]]:
    """pydantic errors as ``{"field": "pairs.3.query", "message": ...}`` (body prefix dropped)."""
    out = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ()) if part != "body"]
        if error.get("type") == "json_invalid":  # the loc is a character offset, not a field
            loc = []
        out.append({"field": ".".join(loc) or "body", "message": error.get("msg", "invalid")})
    return out


class BodySizeLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets 413 before the app sees it.

    A declared ``Content-Length`` over the cap is refused at once; a chunked body is read
    only up to the cap. The body is then handed to the app unchanged.
    """

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES):
        self.app, self.max_bytes = app, int(max_bytes)

    async def _refuse(self, send, size: str) -> None:
        import json

        message = f"body: the request body ({size}) is over the cap of {self.max_bytes} bytes"
        body = json.dumps({"error": message, "detail": [{"field": "body", "message": message}]})
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body.encode()})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await self._refuse(send, f"{declared.decode(errors='replace')} bytes")
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return None
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                return await self._refuse(send, f"at least {size} bytes")
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        return await self.app(scope, replay, send)


# ------------------------------------------------------------------------ app


def _records(products) -> list[dict[str, Any]]:
    """Result rows as JSON objects; a score that is not a number (a result past the
    re-ranking depth keeps its first-stage place and has no re-ranker score) becomes null."""
    rows = products.to_dict(orient="records")
    for row in rows:
        score = row.get("score")
        if isinstance(score, float) and not math.isfinite(score):
            row["score"] = None
    return rows


def _answer_errors(app, counts: dict[str, int]) -> None:
    """Every error as JSON naming its field: 422 for a bad field, 400 for a body that does not
    parse, 500 (counted) for a bug, which never takes the server down."""
    from fastapi import Request
    from fastapi.exception_handlers import http_exception_handler
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        errors = _field_errors(exc)
        message = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return JSONResponse(status_code=422, content={"error": message, "detail": errors})

    @app.exception_handler(HTTPException)
    async def unparsable(request: Request, exc: HTTPException):
        if exc.status_code != 400:  # 404, 405, ...: FastAPI's own answer
            return await http_exception_handler(request, exc)
        # FastAPI could not parse the body at all (e.g. JSON nested too deeply to read)
        detail = [{"field": "body", "message": str(exc.detail)}]
        return JSONResponse(status_code=400, content={"error": f"body: {exc.detail}",
                                                      "detail": detail})

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception):  # a bug must not take the server down
        counts["errors"] += 1
        return JSONResponse(status_code=500, content={"error": f"{type(exc).__name__}: {exc}"})


def create_app(pipeline, *, depth: int = 20, int8: bool = False, model_card: str | None = None,
               max_body_bytes: int | None = MAX_BODY_BYTES):
    """The FastAPI app around a loaded :class:`course.search.TwoStageSearch` (or lesson 09's
    :class:`course.search.RankedSearch`, which answers ``search`` and has a ``reranker``).

    Args:
        pipeline: the search pipeline (loaded once, shared by every request).
        depth: how many first-stage candidates the cross-encoder re-ranks.
        int8: whether the re-ranker is quantized (reported by ``/health`` with its scheme).
        model_card: the path of the served model's card (``/health`` names it), if any.
        max_body_bytes: bodies over it get 413 (:class:`BodySizeLimit`); None: no cap.
    """
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
    counts = {"requests": 0, "errors": 0}
    app = FastAPI(title="mini-shop search", version="1")
    if max_body_bytes is not None:
        app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)

    _answer_errors(app, counts)

    async def in_worker(fn, *args):
        counts["requests"] += 1
        return await asyncio.get_running_loop().run_in_executor(worker, fn, *args)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "products": len(pipeline.catalog),
            "int8": int8,
            "int8_scheme": getattr(pipeline, "int8_scheme", None) if int8 else None,
            "model_card": model_card,
            "reranker": pipeline.reranker is not None,
            "depth": depth,
            **counts,
        }

    @app.post("/search")
    async def search(body: SearchRequest) -> dict[str, Any]:
        result = await in_worker(lambda: pipeline.search(body.query, k=body.k, depth=depth))
        return {
            "query": body.query,
            "k": body.k,
            "results": _records(result.products),
            "timings_ms": result.timings_ms,
        }

    @app.post("/score")
    async def score(body: ScoreRequest):
        if pipeline.reranker is None:
            return JSONResponse(status_code=503, content={"error": "this service has no re-ranker"})
        queries = [p.query for p in body.pairs]
        products = [p.product for p in body.pairs]
        scores = await in_worker(pipeline.reranker.score, queries, products)
        return {"scores": [float(s) for s in scores]}

    return app


# ------------------------------------------------------------------------ CLI


def load_pipeline(folder: str | Path, *, int8: bool = False, ltr: bool = False,
                  ann: bool = False):
    """Lesson 05's :class:`TwoStageSearch`, or with ``ltr`` lesson 09's :class:`RankedSearch`
    (``ann``: through its saved faiss index)."""
    from course.search import RankedSearch, TwoStageSearch

    if ltr:
        return RankedSearch.load(folder, int8=int8, use_index=ann)
    return TwoStageSearch.load(folder, int8=int8)


def serve_main(argv: Sequence[str] | None = None) -> int:
    """``course serve FOLDER``: load the pipeline once and serve it with uvicorn."""
    parser = argparse.ArgumentParser(
        prog="course serve", formatter_class=HelpFormatter,
        description=("Serve a saved two-stage search pipeline (TwoStageSearch.save) over HTTP."),
    )
    parser.add_argument("folder", help="folder written by TwoStageSearch.save()")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port to listen on")
    parser.add_argument("--int8", action="store_true", help="quantize the re-ranker to int8")
    parser.add_argument("--depth", type=int, default=20,
                        help=f"candidates the re-ranker scores, 0 to {MAX_K}")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: all cores)")
    parser.add_argument("--ltr", action="store_true",
                        help="rank with the folder's LambdaMART ranker (lesson 09's RankedSearch)")
    parser.add_argument("--ann", action="store_true",
                        help="with --ltr: retrieve with the folder's faiss index (else exact)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if not 0 <= args.depth <= MAX_K:
        raise CourseArgumentError(f"--depth must be between 0 and {MAX_K}, got {args.depth}.")
    if args.ann and not args.ltr:
        raise CourseArgumentError("--ann serves lesson 09's ranked search: add --ltr.")
    import torch
    import uvicorn

    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    pipeline = load_pipeline(args.folder, int8=args.int8, ltr=args.ltr, ann=args.ann)
    pipeline.search("warm up", k=5, depth=args.depth)  # the first call pays one-off costs
    print(
        f"loaded {args.folder} in {time.perf_counter() - started:.1f} s "
        f"(int8={args.int8}, depth={args.depth}, ltr={args.ltr}, ann={args.ann}, "
        f"threads={torch.get_num_threads()})",
        flush=True,
    )
    from course.deploy.card import CARD_FILE

    card = Path(args.folder) / CARD_FILE
    app = create_app(pipeline, depth=args.depth, int8=args.int8,
                     model_card=str(card) if card.is_file() else None)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


# ------------------------------------------------------------ child process


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host``."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ServerProcess:
    """``course serve`` in a child process on 127.0.0.1; a context manager that stops it.

    Args:
        folder: the saved pipeline.
        int8: serve the quantized re-ranker.
        depth: re-ranking depth.
        threads: torch threads of the server.
        startup_timeout: seconds to wait for ``/health``.
        ltr, ann: serve lesson 09's ranked search (``course serve --ltr [--ann]``).
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        int8: bool = False,
        depth: int = 20,
        threads: int | None = None,
        startup_timeout: float = 180.0,
        ltr: bool = False,
        ann: bool = False,
    ):
        self.folder, self.int8, self.depth = Path(folder), int8, depth
        self.ltr, self.ann = ltr, ann
        self.threads, self.startup_timeout = threads, startup_timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.folder / "server.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> "ServerProcess":
        """Start the server and wait until ``/health`` answers."""
        import httpx

        command = [
            sys.executable,
            "-m",
            "course.deploy.serve",
            str(self.folder),
            "--port",
            str(self.port),
            "--depth",
            str(self.depth),
        ]
        command += ["--int8"] if self.int8 else []
        command += ["--threads", str(self.threads)] if self.threads else []
        command += ["--ltr"] if self.ltr else []
        command += ["--ann"] if self.ann else []
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CourseError(
                    f"The server exited with code {self.process.returncode}:\n"
                    + self.log.read_text()[-3000:]
                )
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise CourseError(
            f"The server did not answer within {self.startup_timeout:.0f} s; see {self.log}."
        )

    def stop(self) -> int | None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s); returns its exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.terminate()
        try:
            return self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# ------------------------------------------------------------------------ load


async def _load(url: str, payloads: Sequence[dict], concurrency: int, timeout: float):
    import httpx

    latencies: list[float] = []
    failures: list[str] = []
    queue = iter(payloads)

    async def user(client):
        for payload in queue:  # each simulated user takes the next request when free
            start = time.perf_counter()
            try:
                response = await client.post(url, json=payload)
                if response.status_code == 200:
                    latencies.append((time.perf_counter() - start) * 1000)
                else:
                    failures.append(f"{response.status_code}: {response.text[:200]}")
            except httpx.HTTPError as exc:
                failures.append(f"{type(exc).__name__}: {exc}")

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(user(client) for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return latencies, failures, wall


def run_load(
    url: str, payloads: Sequence[dict], concurrency: int = 1, timeout: float = 30.0
) -> dict[str, Any]:
    """POST every payload to ``url``, ``concurrency`` at a time; time each request.

    Returns:
        ``{"latencies_ms": [...], "failures": [...], "wall_s": ...}`` (successful requests
        are timed; failed ones are listed with their status or error).
    """
    if concurrency < 1 or not payloads:
        raise CourseArgumentError("run_load needs concurrency >= 1 and at least one payload.")
    coroutine = _load(url, list(payloads), concurrency, timeout)
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no loop here (a script): run one
        latencies, failures, wall = asyncio.run(coroutine)
    else:  # inside Jupyter's loop: run it on a thread with its own loop
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            latencies, failures, wall = pool.submit(asyncio.run, coroutine).result()
    return {"latencies_ms": latencies, "failures": failures, "wall_s": wall}


BAD_REQUESTS: dict[str, tuple[str, Any, str]] = {
    # name: (endpoint, JSON body, the field the 422 must name)
    "empty query": ("/search", {"query": "", "k": 5}, "query"),
    "blank query": ("/search", {"query": "   ", "k": 5}, "query"),
    "2,000-character query": ("/search", {"query": "sofa " * 400, "k": 5}, "query"),
    "k = 0": ("/search", {"query": "red sofa", "k": 0}, "k"),
    "k < 0": ("/search", {"query": "red sofa", "k": -3}, "k"),
    "k = 101": ("/search", {"query": "red sofa", "k": 101}, "k"),
    "k as a string": ("/search", {"query": "red sofa", "k": "ten"}, "k"),
    "k as a numeric string": ("/search", {"query": "red sofa", "k": "10"}, "k"),
    "k as a float": ("/search", {"query": "red sofa", "k": 2.5}, "k"),
    "k as a boolean": ("/search", {"query": "red sofa", "k": True}, "k"),
    "query as a number": ("/search", {"query": 42, "k": 5}, "query"),
    "query missing": ("/search", {"k": 5}, "query"),
    "unknown field": ("/search", {"query": "red sofa", "k": 5, "filters": {}}, "filters"),
    "body not an object": ("/search", ["red sofa"], "body"),
    "batch over the cap": (
        "/score",
        {"pairs": [{"query": "sofa", "product": "red sofa"}] * (MAX_PAIRS + 1)},
        "pairs",
    ),
    "empty batch": ("/score", {"pairs": []}, "pairs"),
    "pair without product": ("/score", {"pairs": [{"query": "sofa"}]}, "pairs.0.product"),
    "pairs as a string": ("/score", {"pairs": "sofa"}, "pairs"),
}


def check_bad_requests(base_url: str, client=None) -> list[dict[str, Any]]:
    """Send every case of :data:`BAD_REQUESTS`; one row per case with status and message."""
    import httpx

    own = client is None
    client = client or httpx.Client(base_url=base_url, timeout=30)
    rows = []
    try:
        for name, (path, body, field) in BAD_REQUESTS.items():
            response = client.post(path, json=body)
            message = response.json().get("error", "") if response.status_code == 422 else ""
            rows.append(
                {
                    "case": name,
                    "status": response.status_code,
                    "field": field,
                    "names_field": field in message,
                    "message": message[:90],
                }
            )
    finally:
        if own:
            client.close()
    return rows


if __name__ == "__main__":  # pragma: no cover - started by ServerProcess
    sys.exit(serve_main())

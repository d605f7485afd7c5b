"""download_file against a real HTTP server on 127.0.0.1 serving generated files."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from course.data import download_file, load_wands
from course.data.wands import WANDS_FILES
from course.errors import CourseDataError

PAYLOAD = b"query_id\tquery\tquery_class\n" + b"".join(
    f"{i}\tquery number {i}\tclass {i % 7}\n".encode() for i in range(5000)
)


class Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    hits: list[str] = []
    truncate: set[str] = set()

    def do_GET(self):  # noqa: N802 - http.server API
        self.hits.append(self.path)
        body = self.files.get(self.path.lstrip("/"))
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path.lstrip("/") in self.truncate:
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    Handler.files = {"data.tsv": PAYLOAD, "broken.tsv": PAYLOAD}
    Handler.hits = []
    Handler.truncate = {"broken.tsv"}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll interval: shutdown() waits for it (0.5 s by default, after every test).
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", Handler
    httpd.shutdown()
    httpd.server_close()


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_correct_checksum_saves_the_file_and_second_call_makes_no_request(server, tmp_path):
    base, handler = server
    dest = tmp_path / "cache" / "data.tsv"
    good = hashlib.sha256(PAYLOAD).hexdigest()
    assert download_file(base + "data.tsv", dest, good, progress=False) == dest
    assert dest.read_bytes() == PAYLOAD
    assert _files(dest.parent) == ["data.tsv"]
    assert handler.hits == ["/data.tsv"]
    download_file(base + "data.tsv", dest, good, progress=False)
    assert handler.hits == ["/data.tsv"]


def test_wrong_checksum_raises_and_leaves_nothing(server, tmp_path):
    base, _ = server
    dest = tmp_path / "cache" / "data.tsv"
    with pytest.raises(CourseDataError, match="Checksum mismatch.*data.tsv"):
        download_file(base + "data.tsv", dest, "0" * 64, progress=False)
    assert _files(dest.parent) == []


def test_interrupted_transfer_leaves_no_partial_file(server, tmp_path):
    base, _ = server
    dest = tmp_path / "cache" / "broken.tsv"
    with pytest.raises(CourseDataError, match="broken.tsv"):
        download_file(base + "broken.tsv", dest, hashlib.sha256(PAYLOAD).hexdigest(),
                      progress=False)
    assert _files(dest.parent) == []


def test_missing_remote_file_and_unreachable_server(server, tmp_path):
    base, _ = server
    with pytest.raises(CourseDataError, match="Could not download .*nothing.tsv"):
        download_file(base + "nothing.tsv", tmp_path / "x.tsv", None, progress=False)
    with pytest.raises(CourseDataError, match="Could not download"):
        download_file("http://127.0.0.1:9/x.tsv", tmp_path / "y.tsv", None, progress=False,
                      timeout=2)
    assert _files(tmp_path) == []


def test_without_a_pinned_hash_the_first_hash_is_recorded_and_checked(server, tmp_path):
    base, handler = server
    dest = tmp_path / "data.tsv"
    download_file(base + "data.tsv", dest, None, size=len(PAYLOAD), progress=False)
    record = tmp_path / "data.tsv.sha256"
    assert record.read_text().strip() == hashlib.sha256(PAYLOAD).hexdigest()
    dest.write_bytes(PAYLOAD + b"tampered")
    with pytest.raises(CourseDataError, match="wrong sha256"):
        download_file(base + "data.tsv", dest, None, progress=False)
    assert handler.hits == ["/data.tsv"]


def test_size_mismatch_is_refused(server, tmp_path):
    base, _ = server
    with pytest.raises(CourseDataError, match="stopped early"):
        download_file(base + "data.tsv", tmp_path / "d.tsv", None, size=len(PAYLOAD) + 1,
                      progress=False)
    assert _files(tmp_path) == []


def test_load_wands_downloads_into_the_cache_once(server, tmp_path, monkeypatch, wands_files):
    base, handler = server
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    for name, body in wands_files.items():
        handler.files[name] = body
    pins = {n: (hashlib.sha256(b).hexdigest(), len(b)) for n, b in wands_files.items()}
    monkeypatch.setattr("course.data.wands.WANDS_FILES", pins)
    data = load_wands(base_url=base)
    assert sorted(handler.hits) == ["/label.csv", "/product.csv", "/query.csv"]
    assert _files(tmp_path / "cache" / "wands") == ["label.csv", "product.csv", "query.csv"]
    assert len(data.pairs) == 3 and data.pairs["product_text"].notna().all()
    load_wands(base_url=base)
    assert len(handler.hits) == 3
    assert set(WANDS_FILES) == set(pins)


@pytest.fixture()
def wands_files() -> dict[str, bytes]:
    query = "query_id\tquery\tquery_class\n0\tred sofa\tSofas\n1\toak desk\tDesks\n"
    label = ("id\tquery_id\tproduct_id\tlabel\n"
             "0\t0\t10\tExact\n1\t0\t11\tIrrelevant\n2\t1\t11\tPartial\n")
    product = (
        "product_id\tproduct_name\tproduct_class\tcategory hierarchy\tproduct_description\t"
        "product_features\trating_count\taverage_rating\treview_count\n"
        "10\tred velvet sofa\tSofas\tFurniture / Sofas\tsoft and red\tcolor:red\t3\t4.5\t2\n"
        "11\toak writing desk\tDesks\tFurniture / Desks\t\tmaterial:oak\t\t\t\n"
    )
    files = {"query.csv": query, "label.csv": label, "product.csv": product}
    return {name: text.encode() for name, text in files.items()}

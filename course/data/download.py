"""Downloading data files: sha256-verified, atomic (temp file + rename), with a progress bar."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from course.checksums import sha256_of
from course.errors import CourseDataError

__all__ = [
    "download_file",
]


def download_file(
    url: str,
    dest: str | Path,
    sha256: str | None = None,
    *,
    size: int | None = None,
    timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest`` unless a verified copy is already there.

    The bytes go to a temporary file next to ``dest`` and are renamed into place
    only after the transfer is complete and the checksum (``sha256``) and, when
    given, the ``size`` match. A failed or interrupted transfer leaves nothing behind.
    When ``sha256`` is None (no pinned value is known), the computed hash is written
    next to the file as ``<name>.sha256`` and checked on later calls.

    Raises:
        CourseDataError: the server is unreachable, the transfer stopped early, or
            the checksum or size differ.
    """
    dest = Path(dest)
    if dest.is_file():
        expected = sha256 or _recorded_hash(dest)
        if expected is None or sha256_of(dest) == expected:
            return dest
        raise CourseDataError(
            f"Cached file {dest} has the wrong sha256 (expected {expected}). Delete it and "
            "run again to download a fresh copy."
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            digest, received = _fetch(url, out, timeout, progress, dest.name)
        total = size
        if total is not None and received != total:
            raise CourseDataError(
                f"Download of {url} stopped early or is not the expected file: got {received:,} "
                f"bytes, expected {total:,}. Nothing was saved; check the network and run again."
            )
        actual = digest.hexdigest()
        if sha256 is not None and actual != sha256:
            raise CourseDataError(
                f"Checksum mismatch for {url}: expected sha256 {sha256}, got {actual}. The file "
                "was not saved. Run again; if it persists, the remote file changed: tell the "
                "course maintainers."
            )
        os.replace(tmp, dest)
        if sha256 is None:
            dest.with_name(dest.name + ".sha256").write_text(actual + "\n")
        return dest
    finally:
        tmp.unlink(missing_ok=True)


def _recorded_hash(dest: Path) -> str | None:
    record = dest.with_name(dest.name + ".sha256")
    return record.read_text().strip() if record.is_file() else None


def _fetch(url: str, out, timeout: float, progress: bool, label: str):
    digest = hashlib.sha256()
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - fixed URLs
            length = response.headers.get("Content-Length")
            expected = int(length) if length else None
            with tqdm(total=expected, unit="B", unit_scale=True, desc=label,
                      disable=not progress) as bar:
                while block := response.read(1 << 16):
                    out.write(block)
                    digest.update(block)
                    received += len(block)
                    bar.update(len(block))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise CourseDataError(
            f"Could not download {url}: {exc}. Check the network (or proxy), or copy the file "
            "by hand and set COURSE_DATA_DIR to its folder."
        ) from exc
    except Exception as exc:  # http.client.IncompleteRead and friends
        raise CourseDataError(
            f"Download of {url} was interrupted ({exc!r}). Nothing was saved; run again."
        ) from exc
    if expected is not None and received != expected:
        raise CourseDataError(
            f"Download of {url} stopped early: got {received:,} of {expected:,} bytes. "
            "Nothing was saved; check the network and run again."
        )
    return digest, received

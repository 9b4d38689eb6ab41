"""Parallel gzip of large cached bodies: one valid gzip stream, whatever reads it."""

from __future__ import annotations

import gzip
import json
import random
import shutil
import subprocess
import zlib

import pytest

from socialmetrics import compression
from socialmetrics.compression import PARALLEL_FROM, gzip_bytes


def body_of(size: int) -> bytes:
    rng = random.Random(size)
    rows, length = [], 0
    while length < size:
        row = json.dumps({"handle": f"account{rng.randrange(10**6)}", "followers": rng.randrange(10**7)})
        rows.append(row)
        length += len(row) + 1
    return ("[" + ",".join(rows) + "]").encode()


@pytest.mark.parametrize("size", [10, PARALLEL_FROM - 1, PARALLEL_FROM, 3 * PARALLEL_FROM + 7, 2_000_000])
@pytest.mark.parametrize("pieces", [1, 2, 3, 4])
def test_it_decompresses_to_the_body(monkeypatch, size, pieces):
    monkeypatch.setattr(compression, "_PIECES", pieces)
    body = body_of(size)
    packed = gzip_bytes(body, level=1)
    assert gzip.decompress(packed) == body
    assert zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(packed) == body  # a streaming reader
    if size > 1000:
        assert len(packed) < len(body) / 3


def test_large_bodies_are_cut_into_pieces_yet_stay_one_member(monkeypatch):
    monkeypatch.setattr(compression, "_PIECES", 4)
    body = body_of(2_000_000)
    packed = gzip_bytes(body, level=1)
    reader = zlib.decompressobj(16 + zlib.MAX_WBITS)
    assert reader.decompress(packed) == body
    assert reader.eof  # one gzip member, not four glued together
    assert reader.unused_data == b""
    assert packed != gzip.compress(body, compresslevel=1, mtime=0)  # the pieces were deflated apart


@pytest.mark.skipif(shutil.which("gzip") is None, reason="the gzip program is not installed")
def test_the_gzip_program_reads_it(tmp_path):
    body = body_of(1_000_000)
    path = tmp_path / "body.gz"
    path.write_bytes(gzip_bytes(body, level=1))
    assert subprocess.run(["gzip", "-dc", str(path)], capture_output=True, check=True).stdout == body

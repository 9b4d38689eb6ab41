"""socialmetrics.compression: ordinary gzip, the same bytes back, the same output for the same body."""

import gzip
import json

from socialmetrics.compression import FAST_GZIP_FROM, gzip_body


def test_small_and_large_bodies_come_back_as_they_were():
    small = json.dumps([{"handle": f"a{i}", "followers": i} for i in range(100)]).encode()
    large = json.dumps([{"handle": f"ü{i}\u2028", "followers": i} for i in range(40_000)]).encode()
    assert len(small) < FAST_GZIP_FROM <= len(large)
    for body in (small, large, b"", b"x" * FAST_GZIP_FROM):
        packed = gzip_body(body)
        assert packed[:2] == b"\x1f\x8b"
        assert gzip.decompress(packed) == body
        assert gzip_body(body) == packed  # no timestamp: a stored entry is reproducible

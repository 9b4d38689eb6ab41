"""gzip for the response cache: large bodies compressed on every core at once.

A 10,000-account summary is 1.5 MB of JSON; compressing it takes about as long as reading it from
the database. zlib releases the GIL while it works, so the body is cut into one piece per core and
the pieces are deflated in parallel, as pigz does: every piece but the last ends with a sync flush
(a byte-aligned, non-final block), so the raw streams joined end to end form one valid deflate
stream, wrapped in a single gzip header and trailer (CRC-32 and length of the whole body). Any
gzip reader decompresses it; it is a few percent larger than one stream, as each piece starts
without the previous one's history.
"""

from __future__ import annotations

import gzip
import os
import struct
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor

#: Bodies shorter than this are compressed in one piece (the threads would cost more than they save).
PARALLEL_FROM = 256 * 1024
_PIECES = max(1, min(os.cpu_count() or 1, 4))
# A gzip header: magic, deflate, no flags, mtime 0 (reproducible bytes), no extra flags, unknown OS.
_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_PIECES, thread_name_prefix="gzip")
        return _pool


def _deflate(piece: memoryview, *, level: int, last: bool) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(piece) + compressor.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


def gzip_bytes(body: bytes, *, level: int) -> bytes:
    """`body` gzipped at `level` (mtime 0), its pieces deflated in parallel when it is large."""
    if len(body) < PARALLEL_FROM or _PIECES == 1:
        return gzip.compress(body, compresslevel=level, mtime=0)
    view = memoryview(body)
    size = -(-len(body) // _PIECES)
    pieces = [view[start : start + size] for start in range(0, len(body), size)]
    futures = [
        _executor().submit(_deflate, piece, level=level, last=index == len(pieces) - 1)
        for index, piece in enumerate(pieces)
    ]
    trailer = struct.pack("<II", zlib.crc32(body), len(body) & 0xFFFFFFFF)
    return b"".join([_HEADER, *(future.result() for future in futures), trailer])

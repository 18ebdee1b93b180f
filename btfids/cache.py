"""The on-disk cache directory shared by the speed features (docs/performance.md).

``$BTFIDS_CACHE_DIR`` (default ``~/.cache/btfids``); ``BTFIDS_CACHE=0`` switches every
cache off. Entries are content-keyed and written atomically (temporary file + rename,
no locks), so concurrent ``make -j`` runs never see a partial file; a failure to write
only costs the work again next time.

Every entry is *sealed*: its bytes end in a trailer holding their length and crc32, and
a reader takes an entry only when both match (:func:`unseal`). A truncated, bit-flipped,
foreign or unreadable file is a miss, rebuilt and replaced by the caller: a cache can
cost time, never change an output.
"""

from __future__ import annotations

import os
import struct
import zlib

ENV_CACHE = "BTFIDS_CACHE"
ENV_CACHE_DIR = "BTFIDS_CACHE_DIR"

#: the trailer of a sealed entry: magic, content length (u64), crc32 of the content
_TRAILER = struct.Struct("<4sQI")
_MAGIC = b"BTFc"


def cache_enabled() -> bool:
    return os.environ.get(ENV_CACHE, "1") not in ("0", "", "no", "off", "false")


def cache_dir() -> str:
    return os.environ.get(ENV_CACHE_DIR) or os.path.join(
        os.path.expanduser("~"), ".cache", "btfids"
    )


def seal(data: bytes) -> bytes:
    """``data`` with its trailer (what :func:`write_atomically` stores)."""
    return data + _TRAILER.pack(_MAGIC, len(data), zlib.crc32(data))


def unseal(blob: bytes | memoryview) -> memoryview | None:
    """The content of a sealed entry (a view of ``blob``, no copy), or None when the
    trailer is missing or does not match the bytes (truncated or corrupt)."""
    view = memoryview(blob)
    n = len(view) - _TRAILER.size
    if n < 0:
        return None
    magic, length, crc = _TRAILER.unpack_from(view, n)
    if magic != _MAGIC or length != n:
        return None
    content = view[:n]
    return content if zlib.crc32(content) == crc else None


def read_sealed(path: str) -> bytes | None:
    """The content of the sealed entry at ``path``; None when it is missing, unreadable
    or fails its check."""
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError:
        return None
    content = unseal(blob)
    return None if content is None else bytes(content)


def write_atomically(path: str, data: bytes) -> None:
    """Seal ``data`` and write it through a temporary file + rename: readers see the
    old file, the new one or none. Any failure is ignored (the cache is optional).
    The temporary name ``<entry>.<pid>.<random>.tmp`` says whose it is (a run killed
    by SIGKILL between the two steps leaves it; see docs/performance.md)."""
    from .interrupts import held

    tmp = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    with held():   # SIGINT/SIGTERM wait: no temporary file is left behind
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(seal(data))
            os.replace(tmp, path)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass

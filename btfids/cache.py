"""The on-disk cache directory shared by the speed features (docs/performance.md).

``$BTFIDS_CACHE_DIR`` (default ``~/.cache/btfids``); ``BTFIDS_CACHE=0`` switches every
cache off. Entries are content-keyed and written atomically (temporary file + rename,
no locks), so concurrent ``make -j`` runs never see a partial file; a failure to write
only costs the work again next time.
"""

from __future__ import annotations

import os

ENV_CACHE = "BTFIDS_CACHE"
ENV_CACHE_DIR = "BTFIDS_CACHE_DIR"


def cache_enabled() -> bool:
    return os.environ.get(ENV_CACHE, "1") not in ("0", "", "no", "off", "false")


def cache_dir() -> str:
    return os.environ.get(ENV_CACHE_DIR) or os.path.join(
        os.path.expanduser("~"), ".cache", "btfids"
    )


def write_atomically(path: str, data: bytes) -> None:
    """Temporary file + rename: readers see the old file, the new one or none. Any
    failure is ignored (the cache is optional)."""
    tmp = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass

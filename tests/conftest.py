"""Shared fixtures: the real Debian kernel corpus and the golden data."""

from __future__ import annotations

import csv
import functools
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("BTFIDS_SHARED", ROOT.parent / "shared"))
GOLDEN = SHARED / "golden"


def pytest_configure(config: pytest.Config) -> None:
    """The tests (and the tools they start) keep their caches out of the user's
    ``~/.cache/btfids``: one fresh cache directory per test session."""
    if "BTFIDS_CACHE_DIR" not in os.environ:
        import tempfile

        os.environ["BTFIDS_CACHE_DIR"] = tempfile.mkdtemp(prefix="btfids-test-cache-")
        config.add_cleanup(_remove_test_cache)


def _remove_test_cache() -> None:
    import shutil

    shutil.rmtree(os.environ.pop("BTFIDS_CACHE_DIR"), ignore_errors=True)


@pytest.fixture(scope="session")
def corpus() -> Iterator[Path]:
    """Path of the Debian kernel corpus (vmlinux, modules/, btf-vmlinux), fetched once.

    The corpus is shared (by every test session, bench and the golden comparisons): at
    the end of the session no file of it may have changed. A test that writes through a
    link or lets a tool rewrite its input in place fails the session here, naming the
    files, instead of silently damaging the oracle for later runs."""
    fetch = SHARED / "corpus" / "fetch"
    out = subprocess.run([str(fetch)], check=True, capture_output=True, text=True)
    path = Path(out.stdout.strip().splitlines()[-1])
    assert (path / "vmlinux").is_file(), f"corpus at {path} has no vmlinux"
    before = _stat_tree(path)
    yield path
    changed = sorted(k for k, v in _stat_tree(path).items() if before.get(k) != v)
    changed += sorted(set(before) - set(_stat_tree(path)))
    assert not changed, f"the tests changed the shared corpus at {path}: {changed[:10]}"


def _stat_tree(root: Path) -> dict[str, tuple[int, int]]:
    """relative path -> (size, mtime in ns) of every file below ``root``."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            st = os.stat(os.path.join(dirpath, name))
            out[os.path.relpath(os.path.join(dirpath, name), root)] = (st.st_size,
                                                                       st.st_mtime_ns)
    return out


@pytest.fixture(scope="session")
def golden() -> Path:
    """The reference C tool's outputs and digests (shared/golden)."""
    assert GOLDEN.is_dir(), f"golden data missing at {GOLDEN}"
    return GOLDEN


@functools.cache
def golden_digests() -> dict[tuple[str, str, str], str]:
    """(module, mode, output suffix) → sha256 (``-`` = not written) of the C tool's
    outputs, from ``golden/newest/SHA256SUMS.tsv``."""
    with (GOLDEN / "newest" / "SHA256SUMS.tsv").open() as f:
        return {(r["module"], r["mode"], r["output"]): r["sha256"]
                for r in csv.DictReader(f, delimiter="\t")}

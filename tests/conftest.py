"""Shared fixtures: the real Debian kernel corpus and the golden data."""

from __future__ import annotations

import csv
import functools
import os
import subprocess
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
def corpus() -> Path:
    """Path of the Debian kernel corpus (vmlinux, modules/, btf-vmlinux), fetched once."""
    fetch = SHARED / "corpus" / "fetch"
    out = subprocess.run([str(fetch)], check=True, capture_output=True, text=True)
    path = Path(out.stdout.strip().splitlines()[-1])
    assert (path / "vmlinux").is_file(), f"corpus at {path} has no vmlinux"
    return path


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

"""btfids (``--config linux-6.12``) against the C Linux 6.12 ``resolve_btfids`` on the
same damaged modules, in place (tests/differential.py says how a case is made and
compared). Every case must end alike: the same exit status and the same file bytes
afterwards, or a difference docs/differences.md explains (the C tool crashing, or
writing past ``.BTF_ids``). The default run does 200 cases; ``-m sweep`` 10,000 over two
processes (``BTFIDS_FUZZ_SEED`` picks the seed; a case replays with
``python tests/differential.py SEED N``). Counts by outcome are printed.

The C tool is built on first use from Debian's linux-source-6.12 (``make reftool``,
~40 s once, as root with apt); without it these tests skip and say why.
"""

from __future__ import annotations

import collections
import multiprocessing
import os
from pathlib import Path

import pytest
from differential import classify, reftool, run_case, sweep

pytestmark = pytest.mark.corpus
SEED = int(os.environ.get("BTFIDS_FUZZ_SEED", "23"))
#: outcomes that are differences docs/differences.md explains
EXPLAINED = ("C tool crashes", "C sorts a set past .BTF_ids", "libbpf 6.12 BTF checks",
             ".BTF_ids over the ELF header")


@pytest.fixture(scope="module")
def ref() -> str:
    path = reftool()
    if path is None:
        pytest.skip("the C 6.12 resolve_btfids cannot be built here (make reftool: needs "
                    "linux-source-6.12, or root and apt to install it)")
    return path


def _label(n: int, label: str, r: dict[str, object]) -> str:
    """``label``, or the explained difference it is."""
    if (label == "exit status differs" and r["c_code"] == 0
            and any("malformed data for set" in line for line in r["py_err"])):  # type: ignore[attr-defined]
        return "C sorts a set past .BTF_ids"
    if label != "same" and not label.startswith("same") and r["ids_over_ehdr"]:
        return ".BTF_ids over the ELF header"
    loads = [line for line in (*r["c_err"], *r["py_err"])  # type: ignore[misc]
             if line.startswith("FAILED: load BTF from ")]
    if label == "exit status differs" and loads:
        return "libbpf 6.12 BTF checks"   # btfids checks BTF as the newest libbpf does
    return label


def _check(results: list[tuple[int, str, dict[str, object]]], what: str) -> None:
    counts: collections.Counter[str] = collections.Counter()
    bad = []
    for n, label, r in results:
        label = _label(n, label, r)
        counts[label] += 1
        if r["leftovers"]:
            bad.append((n, "files left behind", r["leftovers"]))
        if not label.startswith(("same", *EXPLAINED)):
            bad.append((n, label, {k: r[k] for k in ("module", "notes", "with_base",
                                                       "c_code", "c_err", "py_code",
                                                       "py_err", "first_diff")}))
    print(f"\ndifferential vs C 6.12 ({what}, seed {SEED}): {len(results)} cases")
    for label, k in sorted(counts.items(), key=lambda x: -x[1]):
        print(f"  {k:6d}  {label}")
    for case in bad:
        print("  unexplained:", case)
    assert not bad, bad[:10]


def test_differential_short(ref: str, corpus: Path) -> None:
    _check(sweep(ref, corpus, SEED, range(200)), "short run")


def _chunk(args: tuple[str, str, int, int, int]) -> list[tuple[int, str, dict[str, object]]]:
    ref, corpus, seed, lo, hi = args
    return sweep(ref, Path(corpus), seed, range(lo, hi))


@pytest.mark.sweep
def test_differential_sweep(ref: str, corpus: Path) -> None:
    total, step = 10_000, 250
    jobs = [(ref, str(corpus), SEED, lo, min(lo + step, total)) for lo in range(0, total, step)]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = [x for part in pool.imap(_chunk, jobs) for x in part]
    _check(results, "sweep")


SYMTAB_ENTSIZES = (1, 8, 16, 23, 25, 48, 1 << 40)


@pytest.mark.parametrize("entsize", SYMTAB_ENTSIZES)
def test_symtab_entsize_like_the_c_tool(ref: str, corpus: Path, tmp_path: Path,
                                        entsize: int) -> None:
    """Issue 23: a ``.symtab`` whose ``sh_entsize`` is not 24 (1 gave an internal
    error): libelf reads 24-byte symbols, ``sh_size / sh_entsize`` of them; past the
    real ones the C tool fails (exit 255), with fewer it resolves only those."""
    import struct

    from differential import sections

    rel = "net/ipv4/tcp_dctcp.ko"
    data = bytearray((corpus / "modules" / rel).read_bytes())
    (hoff,) = [h for name, h, _, _ in sections(bytes(data)) if name == b".symtab"]
    struct.pack_into("<Q", data, hoff + 56, entsize)
    r = run_case(ref, str(corpus / "btf-vmlinux"), rel, bytes(data), True, tmp_path)
    assert classify(r).startswith("same"), r
    assert not r["internal"]
    if entsize < 24:
        assert r["py_code"] == 255 and "symbol table sh_entsize" in r["py_err"][0]  # type: ignore[index]

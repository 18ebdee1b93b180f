"""Speed features must never change output bytes (docs/performance.md).

- the base-BTF index cache: cached (index built now / index loaded from its file, lazy
  base) vs uncached runs on real modules, plain and ``--distill_base``, also against the
  C tool's digests; a corrupt cache file is rebuilt silently; ``BTFIDS_CACHE=0`` writes
  nothing;
- batch mode (one process, and forked workers) gives the bytes of single runs;
- the lazily decoded base answers like the parsed one;
- the start-up shims (dataclasses, entry points) behave like what they replace.
"""

from __future__ import annotations

import dataclasses
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_host_corpus import golden_table, preresolve, sha

from btfids import _dc, host, plugins
from btfids.btf import Btf, baseindex
from btfids.btf.dedup import dedup
from btfids.btf.sort import sort_by_name
from btfids.cache import ENV_CACHE, ENV_CACHE_DIR, read_sealed
from btfids.context import Log

SUFFIXES = ("BTF_ids", "BTF", "BTF.base")
# .BTF_ids modules, kfunc modules, a tiny and a huge one
MODULES = ("net/netfilter/nf_conntrack.ko", "net/ipv4/fou.ko", "lib/crc7.ko",
           "fs/xfs/xfs.ko", "net/sched/act_ct.ko", "drivers/md/dm-mod.ko")


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv(ENV_CACHE_DIR, str(d))
    monkeypatch.delenv(ENV_CACHE, raising=False)
    return d


def _stamp_digest(stamp: Path) -> str:
    """The digest a stat stamp file names (a sealed cache entry)."""
    content = read_sealed(str(stamp))
    assert content is not None, stamp
    return content.decode("ascii")


def _module(corpus: Path, golden: Path, rel: str, work: Path) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    src = corpus / "modules" / rel
    blob = golden / "classic" / "modules" / (rel + ".BTF_ids.pre")
    elf = work / Path(rel).name
    if blob.exists():
        return preresolve(src, blob, elf)
    os.symlink(src, elf)
    return elf


def _outputs(elf: Path) -> dict[str, str]:
    return {s: sha(Path(f"{elf}.{s}")) for s in SUFFIXES}


def _run(elf: Path, base: Path, distill: bool, cache: bool) -> dict[str, str]:
    pipe = host.prepare("bpf-next")
    opts = host.RunOptions(str(elf), btf_base=str(base), distill_base=distill, cache=cache)
    assert host.run(pipe, opts, log=Log(0, io.StringIO())).exit_code == 0
    return _outputs(elf)


@pytest.mark.corpus
def test_cached_equals_uncached(corpus: Path, golden: Path, tmp_path: Path,
                                cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(baseindex, "SETTLE_NS", 0)  # however fresh the corpus copy is
    table = golden_table(golden)
    base = corpus / "btf-vmlinux"
    present = [m for m in MODULES if (corpus / "modules" / m).exists()]
    assert len(present) >= 4
    for n, rel in enumerate(present):
        for mode in ("plain", "distill"):
            want = {s: table[(rel, mode)].get(s, "-") for s in SUFFIXES}
            got = []
            for k, cache in enumerate((False, True, True)):  # off, build+store, load
                elf = _module(corpus, golden, rel, tmp_path / f"{n}{mode}{k}")
                got.append(_run(elf, base, mode == "distill", cache))
            assert got[0] == got[1] == got[2] == want, (rel, mode)
    # one index, and the settled base file's stat stamp naming its digest
    (idx,) = cache_dir.glob("base-*.idx")
    (stamp,) = cache_dir.glob("stat-*")
    assert idx.name == f"base-{_stamp_digest(stamp)}.idx"


@pytest.mark.corpus
def test_corrupt_or_disabled_cache(corpus: Path, golden: Path, tmp_path: Path,
                                   cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = corpus / "btf-vmlinux"
    rel = "net/netfilter/nf_conntrack.ko"
    want = _run(_module(corpus, golden, rel, tmp_path / "ref"), base, False, False)
    assert not list(cache_dir.glob("base-*"))  # RunOptions(cache=False): no base index
    monkeypatch.setenv(ENV_CACHE, "0")
    for p in cache_dir.glob("*"):
        p.unlink()
    assert _run(_module(corpus, golden, rel, tmp_path / "off"), base, False, True) == want
    assert not list(cache_dir.iterdir())  # BTFIDS_CACHE=0: nothing at all
    monkeypatch.delenv(ENV_CACHE)
    assert _run(_module(corpus, golden, rel, tmp_path / "a"), base, False, True) == want
    (idx,) = cache_dir.glob("base-*.idx")
    good = idx.read_bytes()
    for k, bad in enumerate((good[: len(good) // 2], b"junk", good[:40] + bytes(200))):
        idx.write_bytes(bad)
        assert _run(_module(corpus, golden, rel, tmp_path / f"c{k}"), base, False, True) == want
        assert idx.read_bytes() == good  # rebuilt, atomically replaced
    assert not list(cache_dir.glob("*.tmp"))  # no temporary files left


@pytest.mark.corpus
def test_lazy_base_answers_like_parsed(corpus: Path, cache_dir: Path) -> None:
    data = (corpus / "btf-vmlinux").read_bytes()
    full = Btf.parse(data)
    idx = baseindex.BaseIndex.build(full)
    assert idx is not None
    digest = "x" * 64
    loaded = baseindex.BaseIndex.loads(idx.dumps(digest), digest)
    assert loaded is not None and baseindex.BaseIndex.loads(idx.dumps(digest), "y") is None
    lazy = Btf.parse(data, index=loaded)
    assert lazy.type_cnt == full.type_cnt and lazy.raw_data() == data
    n = full.type_cnt
    for tid in (1, 2, n // 3, n // 2, n - 1):
        assert lazy.type(tid) == full.type(tid) and lazy.name(tid) == full.name(tid)
    for tid in range(1, n, 997):
        t = full.type(tid)
        name = full.str_at(t[0])
        assert lazy.find_str(name) == full._own_str_index()[name]
        kind = (t[1] >> 24) & 0x7F
        if kind in (12, 4, 5, 8) and name:
            assert loaded.ids_named(kind, name) == [
                i for i in range(1, n) if full.kind(i) == kind and full.name(i) == name]
    assert lazy.find_str(b"no such string, surely") == -1
    assert list(loaded.decl_tags) == [i for i in range(1, n) if full.kind(i) == 17]


@pytest.mark.corpus
def test_batch_equals_single_runs(corpus: Path, golden: Path, tmp_path: Path,
                                  cache_dir: Path) -> None:
    base = corpus / "btf-vmlinux"
    mods = [m for m in MODULES[:4] if (corpus / "modules" / m).exists()]
    single = {}
    for n, rel in enumerate(mods):
        single[rel] = _run(_module(corpus, golden, rel, tmp_path / f"s{n}"), base, True, False)
    pipe = host.prepare("bpf-next")
    for jobs in (1, 2):
        elfs = [str(_module(corpus, golden, rel, tmp_path / f"b{jobs}-{n}"))
                for n, rel in enumerate(mods)]
        missing = str(tmp_path / "missing.ko")
        opts = host.RunOptions(elfs[0], btf_base=str(base), distill_base=True)
        items = host.run_batch(pipe, opts, [*elfs, missing], jobs=jobs)
        assert [i.elf for i in items] == [*elfs, missing]
        assert [i.exit_code for i in items] == [0] * len(elfs) + [255]
        for rel, elf in zip(mods, elfs, strict=True):
            assert _outputs(Path(elf)) == single[rel], (jobs, rel)


@pytest.mark.corpus
def test_batch_cli(corpus: Path, golden: Path, tmp_path: Path, cache_dir: Path) -> None:
    base = corpus / "btf-vmlinux"
    rels = ["lib/crc7.ko", "net/ipv4/fou.ko"]
    ref = [_run(_module(corpus, golden, r, tmp_path / f"r{n}"), base, False, False)
           for n, r in enumerate(rels)]
    elfs = [_module(corpus, golden, r, tmp_path / f"c{n}") for n, r in enumerate(rels)]
    btfids = Path(sys.executable).parent / "btfids"
    proc = subprocess.run([str(btfids), "run", "-b", str(base), str(elfs[0]), "-T", "-"],
                          input=f"{elfs[1]}\n", capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert [_outputs(e) for e in elfs] == ref


def test_dc_shim_matches_dataclasses() -> None:
    for mod in (dataclasses, _dc):
        @mod.dataclass
        class A:
            x: int
            y: list[int] = mod.field(default_factory=list)
            z: str = "z"

        @mod.dataclass(frozen=True)
        class F:
            a: int
            b: int = 2

        a = A(1)
        assert (a.x, a.y, a.z) == (1, [], "z") and A(1, [2], z="q").y == [2]
        assert a == A(1) and a != A(2) and A(1).y is not A(1).y
        assert repr(A(1)).endswith("A(x=1, y=[], z='z')")
        assert A.__hash__ is None
        f = F(1)
        assert hash(f) == hash(F(1)) and {f, F(1)} == {f}
        with pytest.raises(AttributeError):
            f.a = 3  # type: ignore[misc]
        assert mod.replace(f, b=5) == F(1, 5)
        with pytest.raises(TypeError):
            A()  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            A(1, w=2)  # type: ignore[call-arg]
        # every field positionally (the shim's fast path), and __post_init__ after it
        assert A(1, [2], "q") == A(x=1, y=[2], z="q") and F(3, 4).b == 4
        with pytest.raises(TypeError):
            A(1, [2], "q", 4)  # type: ignore[call-arg]

        @mod.dataclass
        class P:
            n: int
            m: int

            def __post_init__(self) -> None:
                self.total = self.n + self.m

        assert P(1, 2).total == P(n=1, m=2).total == 3


def test_entry_point_scan_matches_importlib() -> None:
    from importlib.metadata import entry_points

    scanned = plugins._scan_entry_points(plugins.ENTRY_POINT_GROUP)
    assert scanned is not None
    real = entry_points(group=plugins.ENTRY_POINT_GROUP)
    assert [(e.name, e.value) for e in scanned] == [(e.name, e.value) for e in real]
    assert all(e.meta("Name").lower() == plugins.SELF_DIST for e in scanned)


def test_dedup_on_lazy_base_matches_small(tmp_path: Path, cache_dir: Path) -> None:
    """Split dedup over an indexed (lazy) base equals the plain path on a built base,
    including a base enum that the split redirects (the enum-forward rule)."""
    base = Btf(hdr_len=24)
    i32 = base.add_type_words([base.add_str(b"int"), 1 << 24, 4, 0x20])
    fwd = base.add_type_words([base.add_str(b"e"), 6 << 24, 4])  # enum forward, no values
    base.add_type_words([base.add_str(b"s"), (4 << 24) | 1, 4, base.add_str(b"m"), i32, 0])
    base.add_ptr(fwd)
    data = base.raw_data()
    idx = baseindex.BaseIndex.build(Btf.parse(data))
    assert idx is not None
    outs = []
    for lazy in (False, True):
        b = Btf.parse(data, index=idx) if lazy else Btf.parse(data)
        split = Btf(base=b, hdr_len=24)
        e = split.add_type_words([split.add_str(b"e"), (6 << 24) | 1, 4,
                                  split.add_str(b"A"), 1])
        split.add_type_words([0, 2 << 24, e])
        split.add_type_words([split.add_str(b"s"), (4 << 24) | 1, 4, split.add_str(b"m"), 1, 0])
        split.add_type_words([0, 2 << 24, 2])
        dedup(split)
        outs.append(split.raw_data())
        fresh = Btf.parse(outs[-1], Btf.parse(data))
        assert split.strings_by_offset() == fresh.strings_by_offset()  # split offsets
        # the sort's ID map starts from the index's identity array on the lazy base
        assert sort_by_name(split) == split.own_names()
        outs.append(split.raw_data())
    assert outs[0] == outs[2] and outs[1] == outs[3]


def _small_base(name: bytes) -> bytes:
    base = Btf(hdr_len=24)
    i32 = base.add_type_words([base.add_str(b"int"), 1 << 24, 4, 0x20])
    base.add_type_words([base.add_str(name), (4 << 24) | 1, 4, base.add_str(b"m"), i32, 0])
    return base.raw_data()


def _load_base(path: Path) -> Btf:
    from btfids.btfio import load_base_btf

    return load_base_btf(str(path))


def test_stat_stamp_skips_reading_and_sees_changes(
        tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A settled base is found by its stat stamp (its bytes are mapped, not read or
    hashed); an in-place rewrite of the same size moves the ctime and is seen."""
    import time

    path = tmp_path / "base.btf"
    path.write_bytes(_small_base(b"s1"))
    monkeypatch.setattr(baseindex, "SETTLE_NS", 0)
    first = _load_base(path)
    assert first.index is not None and len(list(cache_dir.glob("stat-*"))) == 1

    def no_hashing(data: object) -> None:
        raise AssertionError("the stamp hit must not hash the base")

    with monkeypatch.context() as m:
        m.setattr(baseindex, "load_cached", no_hashing)
        hit = _load_base(path)
    assert hit.index is not None and hit.str_at(hit.type(2)[0]) == b"s1"
    assert list(hit.types) == list(Btf.parse(path.read_bytes()).types)

    time.sleep(0.05)  # past the file system's timestamp tick
    with path.open("r+b") as f:  # same size, same inode, new content
        f.write(_small_base(b"s2"))
    changed = _load_base(path)
    assert changed.str_at(changed.type(2)[0]) == b"s2"
    assert len(list(cache_dir.glob("base-*.idx"))) == 2


@pytest.mark.corpus
def test_elf_base_is_stamped_by_its_btf_section(
        corpus: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kbuild passes ``--btf_base vmlinux`` (the ELF): its ``.BTF`` section is indexed
    once, stamped by the file's stat and the section's place, and then mapped from the
    ELF without reading or hashing it; the records are those of the raw BTF file."""
    monkeypatch.setattr(baseindex, "SETTLE_NS", 0)  # however fresh the corpus copy is
    first = _load_base(corpus / "vmlinux")
    (stamp,) = cache_dir.glob("stat-*")
    with monkeypatch.context() as m:
        m.setattr(baseindex, "load_cached", lambda data: pytest.fail("hashed"))
        hit = _load_base(corpus / "vmlinux")
    raw = Btf.parse((corpus / "btf-vmlinux").read_bytes())
    assert first.index is not None and hit.index is not None
    assert hit.type_cnt == raw.type_cnt
    for tid in (1, 2, raw.type_cnt // 2, raw.type_cnt - 1):
        assert hit.type(tid) == raw.type(tid)
    assert (cache_dir / f"base-{_stamp_digest(stamp)}.idx").is_file()


def test_unsettled_base_gets_no_stamp(tmp_path: Path, cache_dir: Path) -> None:
    """A file written just now may still change within its timestamp tick: its digest
    is used, but no stamp is recorded for it."""
    path = tmp_path / "base.btf"
    path.write_bytes(_small_base(b"s1"))
    assert _load_base(path).index is not None
    assert _load_base(path).index is not None  # found by digest
    assert list(cache_dir.glob("stat-*")) == []
    assert len(list(cache_dir.glob("base-*.idx"))) == 1


@pytest.mark.corpus
@pytest.mark.sweep
def test_batch_sweep_all_modules(corpus: Path, golden: Path, tmp_path: Path) -> None:
    """Every module, batch mode with 2 workers, plain and distill, vs the C tool."""
    table = golden_table(golden)
    mods = sorted({m for m, _ in table})
    pipe = host.prepare("bpf-next")
    bad: list[str] = []
    for mode in ("plain", "distill"):
        elfs = [_module(corpus, golden, rel, tmp_path / mode / str(n))
                for n, rel in enumerate(mods)]
        opts = host.RunOptions(str(elfs[0]), btf_base=str(corpus / "btf-vmlinux"),
                               distill_base=mode == "distill")
        items = host.run_batch(pipe, opts, [str(e) for e in elfs], jobs=2)
        assert all(i.exit_code == 0 for i in items)
        for rel, elf in zip(mods, elfs, strict=True):
            want = {s: table[(rel, mode)].get(s, "-") for s in SUFFIXES}
            if _outputs(elf) != want:
                bad.append(f"{rel} {mode}")
    assert bad == [], f"{len(bad)} differ, e.g. {bad[:5]}"


def _old_parse(data: bytes) -> str:
    """Outcome of parsing with the separate split + validate passes (pre-merge path)."""
    orig = Btf._split_and_check

    def split_only(self: Btf, section: bytes, order: str, records: bool = True,
                   keep: bool = True) -> tuple[list[list[int]], bool]:
        return self._split_types(section, order), False

    Btf._split_and_check = split_only  # type: ignore[method-assign]
    try:
        return _outcome(data)
    finally:
        Btf._split_and_check = orig  # type: ignore[method-assign]


def _outcome(data: bytes, records: bool = True) -> str:
    try:
        return repr(list(Btf.parse(data, records=records).types))
    except ValueError as exc:
        return f"error: {exc}"


def _sample_btf() -> bytes:
    b = Btf(hdr_len=24)
    i32 = b.add_type_words([b.add_str(b"int"), 1 << 24, 4, 0x20])
    p = b.add_ptr(i32)
    s = b.add_type_words([b.add_str(b"s"), (4 << 24) | 2, 8, b.add_str(b"a"), i32, 0,
                          b.add_str(b"b"), p, 32])
    b.add_type_words([b.add_str(b"e"), (6 << 24) | 1, 4, b.add_str(b"A"), 1])
    b.add_type_words([b.add_str(b"e64"), (19 << 24) | 1, 8, b.add_str(b"B"), 1, 0])
    arr = b.add_type_words([0, 3 << 24, 0, i32, i32, 4])
    proto = b.add_type_words([0, (13 << 24) | 1, i32, b.add_str(b"x"), arr])
    b.add_func(b"f", 1, proto)
    v = b.add_type_words([b.add_str(b"v"), 14 << 24, s, 1])
    b.add_type_words([b.add_str(b".data"), (15 << 24) | 1, 8, v, 0, 8])
    return b.raw_data()


def test_merged_split_and_check_agrees_with_separate_passes() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    data = _sample_btf()
    nwords = (len(data) - 24) // 4

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.tuples(st.integers(0, nwords - 1),
                              st.sampled_from([0, 1, 2, 7, 13, 40, 0xFFFF, 0x0D000000,
                                               0x04000001, 0x0C000000, 0xFFFFFFFF])),
                    min_size=1, max_size=3))
    def check(edits: list[tuple[int, int]]) -> None:
        buf = bytearray(data)
        for word, value in edits:
            buf[24 + 4 * word : 28 + 4 * word] = value.to_bytes(4, "little")
        assert _outcome(bytes(buf)) == _old_parse(bytes(buf)) == _outcome(bytes(buf), False)

    check()
    assert not _outcome(data).startswith("error")
    values = (0, 1, 2, 7, 9, 10, 11, 12, 13, 40, 0xFFFF, 0x0D000000, 0x04000001, 0xFFFFFFFF)
    for word in range(nwords):  # every single-word edit, exhaustively
        for value in values:
            buf = bytearray(data)
            buf[24 + 4 * word : 28 + 4 * word] = value.to_bytes(4, "little")
            old = _old_parse(bytes(buf))
            assert _outcome(bytes(buf)) == old == _outcome(bytes(buf), False), (word, value)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(1 << 63), (1 << 63) - 1), max_size=300),
       st.integers(-(1 << 63), (1 << 63) - 1))
def test_radix_bucket_bisect_equals_whole_bisect(keys: list[int], probe: int) -> None:
    """A lookup that bisects only its radix bucket lands where a bisect of the whole
    sorted array lands (signed 64-bit dedup hashes and unsigned 32-bit CRCs)."""
    from array import array
    from bisect import bisect_left

    keys.sort()
    d = array("I")
    d.frombytes(baseindex._radix(keys, baseindex._HASH_SHIFT, baseindex._HASH_BIAS))
    for x in [probe, *keys[:20]]:
        b = (x + baseindex._HASH_BIAS) >> baseindex._HASH_SHIFT
        assert bisect_left(keys, x, d[b], d[b + 1]) == bisect_left(keys, x)
    crcs = sorted(k & 0xFFFFFFFF for k in keys)
    d = array("I")
    d.frombytes(baseindex._radix(crcs, baseindex._RADIX_SHIFT))
    for x in [probe & 0xFFFFFFFF, *crcs[:20]]:
        b = x >> baseindex._RADIX_SHIFT
        assert bisect_left(crcs, x, d[b], d[b + 1]) == bisect_left(crcs, x)

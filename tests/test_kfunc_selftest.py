"""The kfunc passes on real compiler output: a mini version of the upstream selftest
(edge-cases.md §1) plus implicit-args, arena and split-BTF (module) cases.

C sources in ``tests/selftest/`` are compiled with gcc, their BTF encoded by pahole, and
the ``.BTF_ids`` sets written with the tests' own assembler macros. Needs ``gcc`` and
``pahole`` (Debian packages ``gcc`` and ``dwarves``); skipped only when one is absent.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection
from selftest import build as B

from btfids.btf import Btf
from btfids.btf import kinds as K

pytestmark = pytest.mark.skipif(
    bool(B.missing_tools()), reason=f"needs {', '.join(B.missing_tools())}"
)

ATTR = b"address_space(1)"
KF_FASTCALL, KF_ARENA_RET, KF_ARENA_ARG1, KF_ARENA_ARG2, KF_IMPLICIT_ARGS = (
    1 << 12, 1 << 13, 1 << 14, 1 << 15, 1 << 16,
)
#: the upstream selftest's kfuncs and flags
UPSTREAM_KFUNCS = {
    b"kfunc_a": 0,
    b"kfunc_b": KF_FASTCALL,
    b"kfunc_c": KF_ARENA_RET | KF_ARENA_ARG1 | KF_ARENA_ARG2,
    b"kfunc_d": KF_ARENA_ARG2,
    b"kfunc_e": 0,
    b"kfunc_f": 0,
    b"kfunc_g": KF_ARENA_RET,
}
#: the project's extra kfuncs (set test_kfunc_more / test_kfunc_again)
MORE_KFUNCS = {
    b"kfunc_impl_tail": KF_IMPLICIT_ARGS | KF_FASTCALL,
    b"kfunc_impl_mid": KF_IMPLICIT_ARGS,
    b"kfunc_impl_legacy": KF_IMPLICIT_ARGS,
    b"kfunc_impl_typedef": KF_IMPLICIT_ARGS,
    b"kfunc_impl_arena": KF_IMPLICIT_ARGS | KF_ARENA_RET,
    b"kfunc_arena_missing": KF_ARENA_ARG2,
    b"kfunc_twice": 0,
}
ALL_KFUNCS = {**UPSTREAM_KFUNCS, **MORE_KFUNCS}


@pytest.fixture(scope="module")
def objs(tmp_path_factory: pytest.TempPathFactory) -> B.Objects:
    return B.build(tmp_path_factory.mktemp("selftest"))


def fresh(objs: B.Objects, tmp: Path) -> B.Objects:
    """Copies of the objects in ``tmp`` (each test writes its own side files)."""
    out = {}
    for field in ("data", "ids", "mod_data", "mod_ids"):
        src = getattr(objs, field)
        dst = tmp / src.name
        dst.write_bytes(src.read_bytes())
        out[field] = dst
    return B.Objects(**out)


# ------------------------------------------------------------------ BTF queries
def first(btf: Btf, kind: int, name: bytes) -> int:
    """First ID (ascending, base included) of ``kind`` named ``name`` (the test's rule)."""
    for tid in range(1, btf.type_cnt):
        if btf.kind(tid) == kind and btf.name(tid) == name:
            return tid
    return 0


def all_of(btf: Btf, kind: int, name: bytes) -> list[int]:
    return [t for t in range(1, btf.type_cnt) if btf.kind(t) == kind and btf.name(t) == name]


def tags_on(btf: Btf, target: int) -> list[tuple[bytes, int, int]]:
    """(name, component_idx, kflag) of every DECL_TAG targeting ``target``."""
    out = []
    for tid in range(1, btf.type_cnt):
        t = btf.type(tid)
        if btf.kind(tid) == K.DECL_TAG and t[2] == target:
            out.append((btf.name(tid), K.to_signed32(t[3]), t[1] >> 31))
    return out


def is_arena_ptr(btf: Btf, tid: int) -> bool:
    """``PTR → TYPE_TAG(kflag 1, "address_space(1)")``."""
    if btf.kind(tid) != K.PTR:
        return False
    tag = btf.type(tid)[2]
    return (
        btf.kind(tag) == K.TYPE_TAG and btf.type(tag)[1] >> 31 == 1 and btf.name(tag) == ATTR
    )


def proto(btf: Btf, func: int) -> tuple[int, list[tuple[bytes, int]]]:
    p = btf.type(btf.type(func)[2])
    assert K.kind_of(p[1]) == K.FUNC_PROTO
    return p[2], [(btf.str_at(p[i]) if p[i] else b"", p[i + 1]) for i in range(3, len(p), 2)]


def pointee_name(btf: Btf, tid: int) -> bytes:
    """Name of what a (possibly attribute-tagged) pointer points to."""
    assert btf.kind(tid) == K.PTR
    t = btf.type(tid)[2]
    while btf.kind(t) in (K.TYPE_TAG, K.CONST):
        t = btf.type(t)[2]
    return btf.name(t)


def symbols(elf: Path) -> dict[str, int]:
    with open(elf, "rb") as f:
        tab = ELFFile(f).get_section_by_name(".symtab")
        assert isinstance(tab, SymbolTableSection)
        return {s.name: s["st_value"] for s in tab.iter_symbols()}


def words(blob: bytes, off: int, n: int) -> list[int]:
    return list(struct.unpack_from(f"<{n}I", blob, off))


# ------------------------------------------------------------------ upstream assertions
def test_upstream_selftest_assertions(objs: B.Objects, tmp_path: Path) -> None:
    """edge-cases.md §1.3, one assertion group after the other, on the full pipeline."""
    o = fresh(objs, tmp_path)
    res = B.run(o.ids, btf=o.data)
    assert res.run.exit_code == 0
    assert res.stderr == ""
    btf = Btf.parse(Path(str(o.ids) + ".BTF").read_bytes())
    blob = Path(str(o.ids) + ".BTF_ids").read_bytes()
    syms = symbols(o.ids)

    expected = [
        0,
        first(btf, K.TYPEDEF, b"S"), first(btf, K.TYPEDEF, b"T"), first(btf, K.TYPEDEF, b"U"),
        first(btf, K.STRUCT, b"S"), first(btf, K.UNION, b"U"), first(btf, K.FUNC, b"func"),
    ]
    assert all(expected[1:])
    # 1. both lists
    for label in ("test_list_local", "test_list_global"):
        assert words(blob, syms[label], 7) == expected, label
    # 2. test_set: IDs from the expected ones, ascending
    off = syms["__BTF_ID__set__test_set"]
    cnt, *ids = words(blob, off, 7)
    assert cnt == 6 and set(ids) <= set(expected[1:]) and ids == sorted(ids)
    # 3. kfunc sets: flags, count, (id, flags) pairs ascending, flags as declared
    kfunc_ids = {first(btf, K.FUNC, n): n for n in UPSTREAM_KFUNCS}
    for set_name in ("test_kfunc_set", "test_kfunc_set_rev"):
        off = syms[f"__BTF_ID__set8__{set_name}"]
        cnt, flags = words(blob, off, 2)
        assert (cnt, flags) == (7, 1), set_name
        pairs = [tuple(words(blob, off + 8 + 8 * i, 2)) for i in range(cnt)]
        assert [p[0] for p in pairs] == sorted(p[0] for p in pairs)
        for fid, fflags in pairs:
            assert fid in kfunc_ids
            assert fflags == UPSTREAM_KFUNCS[kfunc_ids[fid]]
    # 4./5. decl tags
    for fid, name in kfunc_ids.items():
        tags = tags_on(btf, fid)
        assert (b"bpf_kfunc", -1, 0) in tags, name
        assert ((b"bpf_fastcall", -1, 0) in tags) == (name == b"kfunc_b"), name
    # 6. arena pointers: return and params
    arena = {
        b"kfunc_a": ([], False), b"kfunc_b": ([], False), b"kfunc_c": ([0, 1], True),
        b"kfunc_d": ([1], False), b"kfunc_e": ([0, 1, 2, 3, 4], False),
        b"kfunc_f": ([1], False), b"kfunc_g": ([0, 1], True),
    }
    for fid, name in kfunc_ids.items():
        tagged, ret_tagged = arena[name]
        ret, params = proto(btf, fid)
        assert is_arena_ptr(btf, ret) == ret_tagged, name
        assert [i for i, (_, t) in enumerate(params) if is_arena_ptr(btf, t)] == tagged, name
        for _, t in params:
            if btf.kind(t) == K.PTR:
                assert pointee_name(btf, t) == b"root_struct"


def test_project_cases_full_pipeline(objs: B.Objects, tmp_path: Path) -> None:
    """What the upstream test leaves out: no duplicate tags, implicit args, arena edges."""
    o = fresh(objs, tmp_path)
    res = B.run(o.ids, btf=o.data)
    btf = Btf.parse(Path(str(o.ids) + ".BTF").read_bytes())
    stats = res.run.ctx.stats  # type: ignore[union-attr]
    assert stats["kfunc-discovery"] == {
        "decl_tags_in_input": 0, "kfunc_sets": 4, "entries": 22, "kfuncs": 14,
    }
    assert stats["bpf-kfunc-tag"] == {"tags_added": 14}
    assert stats["fastcall-tag"] == {"tags_added": 2}

    # exactly one bpf_kfunc per kfunc, and no tag on anything else
    tagged: dict[bytes, list[bytes]] = {}
    for tid in range(1, btf.type_cnt):
        if btf.kind(tid) == K.DECL_TAG:
            tagged.setdefault(btf.name(btf.type(tid)[2]), []).append(btf.name(tid))
    expect = {n: [b"bpf_kfunc"] for n in ALL_KFUNCS}
    for n in (b"kfunc_b", b"kfunc_impl_tail"):
        expect[n] = [b"bpf_fastcall", b"bpf_kfunc"]
    expect[b"kfunc_impl_tail_impl"] = [b"bpf_fastcall"]  # copied, bpf_kfunc is not
    assert {k: sorted(v) for k, v in tagged.items()} == expect
    # every kfunc FUNC is unique, and the set8 without the kfuncs flag was ignored
    for n in ALL_KFUNCS:
        assert len(all_of(btf, K.FUNC, n)) == 1, n
    assert tags_on(btf, first(btf, K.FUNC, b"func")) == []

    def params(name: bytes) -> list[bytes]:
        return [p for p, _ in proto(btf, first(btf, K.FUNC, name))[1]]

    # KF_IMPLICIT_ARGS
    assert params(b"kfunc_impl_tail") == [b"root", b"x"]
    assert params(b"kfunc_impl_tail_impl") == [b"root", b"x", b"aux"]
    assert params(b"kfunc_impl_mid") == [b"a"]  # implicit in the middle: b dropped too
    assert params(b"kfunc_impl_mid_impl") == [b"a", b"meta", b"b"]
    assert params(b"kfunc_impl_legacy") == [b"a"]
    assert len(all_of(btf, K.FUNC, b"kfunc_impl_legacy_impl")) == 1  # legacy: no new one
    assert params(b"kfunc_impl_legacy_impl") == [b"a", b"aux"]
    assert params(b"kfunc_impl_typedef") == [b"a", b"aux"]  # typedef'd pointer kept
    assert params(b"kfunc_impl_typedef_impl") == [b"a", b"aux"]
    # implicit args + arena: K tagged, _impl keeps the untagged original
    ret, ps = proto(btf, first(btf, K.FUNC, b"kfunc_impl_arena"))
    assert is_arena_ptr(btf, ret) and [p for p, _ in ps] == [b"p__arena"]
    assert is_arena_ptr(btf, ps[0][1])
    ret, ps = proto(btf, first(btf, K.FUNC, b"kfunc_impl_arena_impl"))
    assert not is_arena_ptr(btf, ret) and [p for p, _ in ps] == [b"p__arena", b"aux"]
    assert not any(is_arena_ptr(btf, t) for _, t in ps)
    # KF_ARENA_ARG2 on a 1-param kfunc: ignored; suffix without flags: tagged
    ret, ps = proto(btf, first(btf, K.FUNC, b"kfunc_arena_missing"))
    assert not is_arena_ptr(btf, ret) and not is_arena_ptr(btf, ps[0][1])
    _, ps = proto(btf, first(btf, K.FUNC, b"kfunc_twice"))
    assert [is_arena_ptr(btf, t) for _, t in ps] == [False, True]


# ------------------------------------------------------------------ exact append sequence
class Expect:
    """Hand-written expectations of passes.md §3, as symbolic records."""

    def __init__(self, btf: Btf) -> None:
        self.btf = btf
        self.next = btf.type_cnt
        self.recs: list[Any] = []

    def add(self, rec: Any) -> int:
        self.recs.append(rec)
        self.next += 1
        return self.next - 1

    def tag(self, name: bytes, target: int) -> int:
        return self.add(("DECL_TAG", name, target, -1, 0))

    def func(self, name: bytes, like: int) -> int:
        t = self.btf.type(like)
        return self.add(("FUNC", name, K.vlen_of(t[1]), t[2]))

    def proto(self, ret: int, params: list[tuple[bytes, int]]) -> int:
        return self.add(["FUNC_PROTO", ret, list(params)])

    def attr_ptr(self, ptr: int) -> int:
        tag = self.add(("TYPE_TAG", ATTR, self.btf.type(ptr)[2], 1))
        return self.add(("PTR", tag))

    def retag(self, proto_id: int, i: int) -> None:
        rec = self.recs[proto_id - (self.next - len(self.recs))]
        name, ptr = rec[2][i]
        rec[2][i] = (name, self.attr_ptr(ptr))


def decode(btf: Btf, tid: int) -> Any:
    t = btf.type(tid)
    kind = K.kind_of(t[1])
    if kind == K.DECL_TAG:
        return ("DECL_TAG", btf.name(tid), t[2], K.to_signed32(t[3]), t[1] >> 31)
    if kind == K.FUNC:
        return ("FUNC", btf.name(tid), K.vlen_of(t[1]), t[2])
    if kind == K.FUNC_PROTO:
        return ["FUNC_PROTO", t[2],
                [(btf.str_at(t[i]) if t[i] else b"", t[i + 1]) for i in range(3, len(t), 2)]]
    if kind == K.TYPE_TAG:
        return ("TYPE_TAG", btf.name(tid), t[2], t[1] >> 31)
    if kind == K.PTR:
        return ("PTR", t[2])
    raise AssertionError(f"unexpected kind {kind} appended at [{tid}]")


def expected_sequence(inp: Btf) -> tuple[list[Any], dict[bytes, int]]:
    """Every record the kfunc passes must append to the selftest BTF, and each kfunc's
    final prototype; kfuncs in ascending FUNC ID, steps per kfunc as in passes.md §3."""
    e = Expect(inp)
    fid = {n: first(inp, K.FUNC, n) for n in ALL_KFUNCS}
    final: dict[bytes, int] = {}

    def p0(name: bytes) -> tuple[int, list[tuple[bytes, int]]]:
        return proto(inp, fid[name])

    for name in sorted(ALL_KFUNCS, key=fid.__getitem__):
        k = fid[name]
        e.tag(b"bpf_kfunc", k)
        ret, params = p0(name)
        cur = inp.type(k)[2]
        if name == b"kfunc_b":
            e.tag(b"bpf_fastcall", k)
        elif name == b"kfunc_impl_tail":
            e.tag(b"bpf_fastcall", k)
            impl = e.func(b"kfunc_impl_tail_impl", k)
            e.add(("DECL_TAG", b"bpf_fastcall", impl, -1, 0))
            cur = e.proto(ret, params[:2])
        elif name == b"kfunc_impl_mid":
            e.func(b"kfunc_impl_mid_impl", k)
            cur = e.proto(ret, params[:1])
        elif name == b"kfunc_impl_legacy":
            cur = e.proto(ret, params[:1])  # _impl exists: no FUNC, no tag copies
        elif name == b"kfunc_impl_typedef":
            e.func(b"kfunc_impl_typedef_impl", k)
            cur = e.proto(ret, params)  # nothing recognised: a plain copy
        elif name == b"kfunc_impl_arena":
            e.func(b"kfunc_impl_arena_impl", k)
            e.proto(ret, params[:1])  # P1, orphaned by the arena proto below
            cur = e.proto(e.attr_ptr(ret), params[:1])
            e.retag(cur, 0)
        elif name in (b"kfunc_c", b"kfunc_g"):
            cur = e.proto(e.attr_ptr(ret), params)
            e.retag(cur, 0)
            e.retag(cur, 1)
        elif name in (b"kfunc_d", b"kfunc_f", b"kfunc_twice"):
            cur = e.proto(ret, params)
            e.retag(cur, 1)
        elif name == b"kfunc_e":
            cur = e.proto(ret, params)
            for i in range(5):
                e.retag(cur, i)
        final[name] = cur
    return e.recs, final


def test_exact_append_sequence(objs: B.Objects, tmp_path: Path) -> None:
    """Kfunc passes only (no dedup/sort): the output is the input plus exactly the
    records of passes.md §3, in order, and every kfunc points at its last proto."""
    o = fresh(objs, tmp_path)
    inp = Btf.parse(_btf_section(o.data))
    res = B.run(o.ids, btf=o.data, passes=B.KFUNC_PASSES)
    assert res.run.exit_code == 0 and res.stderr == ""
    out = Btf.parse(Path(str(o.ids) + ".BTF").read_bytes())
    recs, final = expected_sequence(inp)
    assert [decode(out, t) for t in range(inp.type_cnt, out.type_cnt)] == recs
    # input types unchanged except the kfuncs' type field
    kf = {first(inp, K.FUNC, n): n for n in ALL_KFUNCS}
    for tid in range(1, inp.type_cnt):
        if tid in kf:
            assert out.type(tid)[2] == final[kf[tid]]
            assert out.type(tid)[:2] == inp.type(tid)[:2]
        else:
            assert out.type(tid) == inp.type(tid)
    # new strings: only names the passes add, appended in first-use order
    added = bytes(out.strs[len(inp.strs):]).split(b"\0")[:-1]
    want: list[bytes] = []
    for rec in recs:
        named = rec[0] in ("DECL_TAG", "FUNC", "TYPE_TAG")
        if named and inp.find_str(rec[1]) < 0 and rec[1] not in want:
            want.append(rec[1])
    assert added == want
    assert set(want) == {
        b"bpf_kfunc", b"bpf_fastcall", ATTR, b"kfunc_impl_arena_impl",
        b"kfunc_impl_typedef_impl", b"kfunc_impl_mid_impl", b"kfunc_impl_tail_impl",
    }


def _btf_section(elf: Path) -> bytes:
    with open(elf, "rb") as f:
        sec = ELFFile(f).get_section_by_name(".BTF")
        assert sec is not None
        return bytes(sec.data())


# ------------------------------------------------------------------ split BTF (module)
def test_module_split_btf(objs: B.Objects, tmp_path: Path) -> None:
    o = fresh(objs, tmp_path)
    base = Btf.parse(_btf_section(o.data))
    inp = Btf.parse(_btf_section(o.mod_data), base)
    res = B.run(o.mod_ids, btf=o.mod_data, base=o.data, passes=B.KFUNC_PASSES)
    assert res.run.exit_code == 0
    assert "WARN: resolve_btfids: no BTF func for kfunc kfunc_a in mod_kfunc_set\n" in res.stderr
    out = Btf.parse(Path(str(o.mod_ids) + ".BTF").read_bytes(), base)
    stats = res.run.ctx.stats  # type: ignore[union-attr]
    assert stats["kfunc-discovery"]["entries"] == 5
    assert stats["kfunc-discovery"]["kfuncs"] == 4
    # every appended type is the module's own; the base is untouched
    assert out.start_id == base.type_cnt and out.type_cnt > inp.type_cnt

    def own(name: bytes) -> int:
        tid = out.find_by_name_kind_own(name, K.FUNC)
        assert tid >= out.start_id, name
        return tid

    # the module's own "func" is the kfunc, not the base one of the same name
    assert tags_on(out, own(b"func")) == [(b"bpf_kfunc", -1, 0)]
    assert tags_on(out, first(out, K.FUNC, b"func")) == []
    assert sorted(tags_on(out, own(b"mod_kfunc_fast"))) == [
        (b"bpf_fastcall", -1, 0), (b"bpf_kfunc", -1, 0),
    ]
    # kfunc_a is only in the base: no tag anywhere
    assert tags_on(out, first(out, K.FUNC, b"kfunc_a")) == []
    # implicit args over a base struct; the _impl is an own FUNC with the old proto
    impl = own(b"mod_kfunc_impl_impl")
    assert [p for p, _ in proto(out, impl)[1]] == [b"root", b"aux"]
    assert out.type(impl)[2] == inp.type(own(b"mod_kfunc_impl"))[2]
    assert [p for p, _ in proto(out, own(b"mod_kfunc_impl"))[1]] == [b"root"]
    # arena on a base PTR: new TYPE_TAG + PTR pairs in the module
    ret, ps = proto(out, own(b"mod_kfunc_arena"))
    assert is_arena_ptr(out, ret) and ret >= out.start_id
    assert [is_arena_ptr(out, t) for _, t in ps] == [False, True]
    # new strings are the module's own (split string section continues the base's)
    assert base.find_str(b"bpf_kfunc") < 0
    assert out.find_str(b"bpf_kfunc") >= out.start_str_off


def test_module_full_pipeline(objs: B.Objects, tmp_path: Path) -> None:
    """The module through every available pass, plain and distilled."""
    o = fresh(objs, tmp_path)
    base = Btf.parse(_btf_section(o.data))
    for distill in (False, True):
        res = B.run(o.mod_ids, btf=o.mod_data, base=o.data, distill_base=distill)
        assert res.run.exit_code == 0
        path = Path(str(o.mod_ids) + ".BTF")
        if distill and "base-btf" in B.finalize_passes():
            dbase = Btf.parse(Path(str(o.mod_ids) + ".BTF.base").read_bytes())
            out = Btf.parse(path.read_bytes(), dbase)
        else:
            out = Btf.parse(path.read_bytes(), base)
        names = {out.name(out.type(t)[2]) for t in range(out.start_id, out.type_cnt)
                 if out.kind(t) == K.DECL_TAG and out.name(t) == b"bpf_kfunc"}
        assert names == {b"func", b"mod_kfunc_fast", b"mod_kfunc_arena", b"mod_kfunc_impl"}


# ------------------------------------------------------------------ running twice
IDEMPOTENT = {n: {"idempotent": True} for n in B.KFUNC_PASSES[1:]}


@pytest.mark.parametrize("idempotent", [False, True])
def test_rerun_on_own_output(objs: B.Objects, tmp_path: Path, idempotent: bool) -> None:
    """passes.md §4: the first run's .BTF fed back with the (unpatched) ELF."""
    o = fresh(objs, tmp_path)
    options = IDEMPOTENT if idempotent else None
    B.run(o.ids, btf=o.data, options=options)
    first_path = tmp_path / "first.BTF"
    Path(str(o.ids) + ".BTF").rename(first_path)
    one = Btf.parse(first_path.read_bytes())
    res = B.run(o.ids, btf=first_path, options=options)
    assert res.run.exit_code == 0 and res.stderr == ""
    second = Btf.parse(Path(str(o.ids) + ".BTF").read_bytes())
    stats = res.run.ctx.stats  # type: ignore[union-attr]
    assert stats["kfunc-discovery"]["kfuncs"] == 14
    # implicit args take the legacy path: no second _impl
    assert stats["implicit-args"].get("impl_funcs_added", 0) == 0
    for n in ALL_KFUNCS:
        assert len(all_of(second, K.FUNC, n)) == 1
    deduped = "dedup" in B.finalize_passes()
    ret, _ = proto(second, first(second, K.FUNC, b"kfunc_c"))
    depth = _attr_depth(second, ret)
    if idempotent:
        # nothing appended by the kfunc passes
        assert "tags_added" not in stats.get("bpf-kfunc-tag", {})
        assert "protos_added" not in stats.get("arena", {})
        assert "protos_added" not in stats.get("implicit-args", {})
        assert depth == 1
        if deduped:  # same types and sizes; the order of types and strings may differ
            assert second.type_cnt == one.type_cnt
            assert len(second.raw_data()) == len(first_path.read_bytes())
    else:
        assert stats["bpf-kfunc-tag"]["tags_added"] == 14
        assert depth == 2  # arena attributes nest: not idempotent
    if deduped:  # duplicate decl tags folded
        for n in ALL_KFUNCS:
            tags = tags_on(second, first(second, K.FUNC, n))
            assert tags.count((b"bpf_kfunc", -1, 0)) == 1, n


def _attr_depth(btf: Btf, ptr: int) -> int:
    """How many address_space(1) attributes sit directly under pointer ``ptr``."""
    n = 0
    t = btf.type(ptr)[2]
    while btf.kind(t) == K.TYPE_TAG and btf.name(t) == ATTR:
        n += 1
        t = btf.type(t)[2]
    return n


def test_rerun_on_patched_elf_fails(objs: B.Objects, tmp_path: Path) -> None:
    """Once .BTF_ids is patched into the ELF (--patch_btfids), set sorting has moved the
    flags words away from their symbols: discovery misreads them and fails (§4)."""
    from btfids.elf import open_elf
    from btfids.errors import BtfidsError

    o = fresh(objs, tmp_path)
    B.run(o.ids, btf=o.data)
    blob = Path(str(o.ids) + ".BTF_ids").read_bytes()
    with open_elf(str(o.ids)) as elf:
        sec = elf.last_section(b".BTF_ids")
        assert sec is not None
        off = sec.offset
    with open(o.ids, "r+b") as f:
        f.seek(off)
        f.write(blob)
    with pytest.raises(BtfidsError, match="failed to collect kfuncs from BTF"):
        B.run(o.ids, btf=o.data)

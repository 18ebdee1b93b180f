"""Unit tests of the kfunc passes on BTF and ELF files the tests build themselves:
discovery rules and messages, exact bytes, error paths, edge cases (edge-cases.md §2),
options and the idempotent mode."""

from __future__ import annotations

import io
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import btfids_passes.kfunc as kf
import pytest
from elfbuilder import BtfIdsBuilder, ElfBuilder

from btfids.btf import Btf
from btfids.btf import kinds as K
from btfids.context import Context, Kfunc, Log
from btfids.elf import open_elf
from btfids.errors import BtfidsError
from btfids.symbols import BtfIdSymbols, collect_symbols

FAST, ARET, ARG1, ARG2, IMPL = 1 << 12, 1 << 13, 1 << 14, 1 << 15, 1 << 16
DEFAULTS = {
    kf.DISCOVERY: kf.DISCOVERY_OPTIONS, kf.KFUNC_TAG: kf.KFUNC_TAG_OPTIONS,
    kf.FASTCALL_TAG: kf.FASTCALL_OPTIONS, kf.IMPLICIT_ARGS: kf.IMPLICIT_OPTIONS,
    kf.ARENA: kf.ARENA_OPTIONS,
}
KFUNC_RUNS = [
    (kf.KFUNC_TAG, kf.run_kfunc_tag), (kf.FASTCALL_TAG, kf.run_fastcall_tag),
    (kf.IMPLICIT_ARGS, kf.run_implicit_args), (kf.ARENA, kf.run_arena),
]


# ------------------------------------------------------------------ builders
class Types:
    """A small BTF: int [1], struct root [2], PTR root [3], plus what tests add."""

    def __init__(self, base: Btf | None = None) -> None:
        self.b = Btf(hdr_len=24, base=base)
        if base is None:
            self.int = self.b.add_type_words(
                [self.b.add_str(b"int"), K.make_info(K.INT), 4, (1 << 24) | 32]
            )
            self.root = self.b.add_type_words([self.b.add_str(b"root"), K.make_info(K.STRUCT), 4])
            self.ptr = self.b.add_ptr(self.root)

    def proto(self, ret: int, params: Sequence[tuple[bytes, int]]) -> int:
        p = self.b.add_func_proto(ret)
        for name, t in params:
            self.b.add_func_param(name, t)
        return p

    def func(self, name: bytes, ret: int, params: Sequence[tuple[bytes, int]] = (),
             linkage: int = 1) -> int:
        return self.b.add_func(name, linkage, self.proto(ret, params))

    def named(self, kind: int, name: bytes, size: int = 4) -> int:
        return self.b.add_type_words([self.b.add_str(name), K.make_info(kind), size])


def symbols_for(
    tmp: Path, sets: Sequence[tuple[str, int, Sequence[tuple[str | None, int]]]],
    order: str = "<",
) -> BtfIdSymbols:
    """An ELF whose .BTF_ids holds ``sets`` = [(set name, header flags, [(func or None
    for an entry without symbol, entry flags)])]; returns its collected symbols."""
    ids = BtfIdsBuilder(order)
    for name, flags, entries in sets:
        with ids.set8(name, flags=flags):
            for func, eflags in entries:
                if func is None:
                    ids.raw(0, eflags)
                else:
                    ids.btf_id("func", func, flags=eflags)
    elf = ElfBuilder(order=order)
    ids.add_to(elf, addr=0x1000)
    path = tmp / "t.o"
    path.write_bytes(elf.build())
    with open_elf(str(path)) as img:
        syms = collect_symbols(img, Log(0, io.StringIO()))
    assert syms is not None
    return syms


def context(btf: Btf, ids: BtfIdSymbols | None = None, verbose: int = 0,
            base: Btf | None = None) -> Context:
    return Context(elf_path="t.o", log=Log(verbose, io.StringIO()), btf=btf, base=base, ids=ids)


def stderr(ctx: Context) -> str:
    return cast(io.StringIO, ctx.log.stream).getvalue()


def opts(name: str, **over: Any) -> dict[str, Any]:
    return {**DEFAULTS[name], **over}


def run_kfuncs(ctx: Context, options: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """What the host does: every kfunc pass per kfunc, ascending FUNC ID."""
    options = options or {}
    for k in sorted(ctx.kfuncs, key=lambda k: k.func_id):
        for name, fn in KFUNC_RUNS:
            fn(ctx, opts(name, **options.get(name, {})), k)


def run_all(ctx: Context, options: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    kf.run_discovery(ctx, opts(kf.DISCOVERY, **(options or {}).get(kf.DISCOVERY, {})))
    run_kfuncs(ctx, options)


def with_kfuncs(ctx: Context, *kfuncs: Kfunc) -> Context:
    ctx.decl_tags = kf.collect_decl_tags(ctx.btf)
    ctx.kfuncs = list(kfuncs)
    return ctx


def new_types(btf: Btf, since: int) -> list[list[int]]:
    return [btf.type(t) for t in range(since, btf.type_cnt)]


# ------------------------------------------------------------------ registration
def test_registered_passes() -> None:
    specs = {s.name: s for s in kf.btfids_register_passes()}
    assert list(specs) == [
        "kfunc-discovery", "bpf-kfunc-tag", "fastcall-tag", "implicit-args", "arena",
    ]
    assert specs["kfunc-discovery"].scope == "btf"
    for name in list(specs)[1:]:
        assert specs[name].scope == "kfunc"
        assert specs[name].needs == ("kfunc-discovery",)
    # upstream constants are the defaults (passes.md §7)
    assert specs["fastcall-tag"].defaults()["fastcall_bit"] == 12
    assert specs["arena"].defaults()["arena_ret_bit"] == 13
    assert specs["arena"].defaults()["arena_arg1_bit"] == 14
    assert specs["arena"].defaults()["arena_arg2_bit"] == 15
    assert specs["implicit-args"].defaults()["implicit_args_bit"] == 16
    assert specs["kfunc-discovery"].defaults()["set8_kfuncs_flag"] == 1


# ------------------------------------------------------------------ discovery
def test_discovery_order_dedup_and_warnings(tmp_path: Path) -> None:
    t = Types()
    a = t.func(b"a", t.int)
    b = t.func(b"b", t.int)
    dup = t.func(b"a", t.int)  # same name, higher ID: never the kfunc
    syms = symbols_for(tmp_path, [
        ("zz_set", 1, [("b", FAST), ("a", 0), (None, 7), ("gone", 0)]),
        ("aa_set", 1, [("a", 0), ("b", FAST)]),  # again, identical flags: ignored
        ("mm_plain", 0, [("a", 0xFFFF)]),  # not a kfunc set (header flag 0)
    ])
    ctx = context(t.b, syms, verbose=1)
    kf.run_discovery(ctx, opts(kf.DISCOVERY))
    assert ctx.kfuncs == [Kfunc(b"a", a, 0), Kfunc(b"b", b, FAST)]
    assert dup not in [k.func_id for k in ctx.kfuncs]
    # descending set names; entry index counts entries without symbol too
    assert stderr(ctx).splitlines() == [
        "found kfunc b in zz_set",
        "found kfunc a in zz_set",
        "WARN: resolve_btfids: no BTF ID symbol for zz_set entry 2",
        "WARN: resolve_btfids: no BTF func for kfunc gone in zz_set",
        "found kfunc a in aa_set",
        "found kfunc b in aa_set",
    ]
    assert ctx.log.warnings == 2
    assert ctx.stats[kf.DISCOVERY] == {
        "decl_tags_in_input": 0, "kfunc_sets": 2, "entries": 6, "kfuncs": 2,
    }


def test_discovery_other_set_flag(tmp_path: Path) -> None:
    t = Types()
    t.func(b"a", t.int)
    syms = symbols_for(tmp_path, [("s", 2, [("a", 0)])])
    ctx = context(t.b, syms)
    kf.run_discovery(ctx, opts(kf.DISCOVERY))
    assert ctx.kfuncs == []
    kf.run_discovery(ctx, opts(kf.DISCOVERY, set8_kfuncs_flag=2))
    assert [k.name for k in ctx.kfuncs] == [b"a"]


def test_inconsistent_flags_error(tmp_path: Path) -> None:
    t = Types()
    a = t.func(b"a", t.int)
    syms = symbols_for(tmp_path, [("s2", 1, [("a", 0x20)]), ("s1", 1, [("a", 0x21)])])
    ctx = context(t.b, syms)
    with pytest.raises(BtfidsError) as err:
        kf.run_discovery(ctx, opts(kf.DISCOVERY))
    assert str(err.value) == "ERROR: resolve_btfids: failed to collect kfuncs from BTF"
    assert stderr(ctx) == (
        "ERROR: resolve_btfids: kfunc a has inconsistent flags across BTF ID sets:"
        " 0x20 != 0x21\n"
    )
    # v1 behaviour on request: warn and OR the flags
    ctx = context(t.b, syms)
    kf.run_discovery(ctx, opts(kf.DISCOVERY, flag_mismatch="warn-or"))
    assert ctx.kfuncs == [Kfunc(b"a", a, 0x21)]
    assert ctx.log.warnings == 1 and stderr(ctx).startswith("WARN: resolve_btfids: kfunc a has")
    with pytest.raises(BtfidsError, match="flag_mismatch"):
        kf.run_discovery(ctx, opts(kf.DISCOVERY, flag_mismatch="or"))


def test_discovery_big_endian_elf(tmp_path: Path) -> None:
    """Cross-endian ELF (edge case 18): flags read in host terms."""
    t = Types()
    a = t.func(b"a", t.int)
    syms = symbols_for(tmp_path, [("s", 1, [("a", FAST | ARET)])], order=">")
    ctx = context(t.b, syms)
    kf.run_discovery(ctx, opts(kf.DISCOVERY))
    assert ctx.kfuncs == [Kfunc(b"a", a, FAST | ARET)]


def test_no_btf_ids_still_collects_decl_tags() -> None:
    t = Types()
    f = t.func(b"a", t.int)
    tag = t.b.add_decl_tag(b"src", f, -1)
    ctx = context(t.b, None)
    kf.run_discovery(ctx, opts(kf.DISCOVERY))
    assert ctx.kfuncs == [] and ctx.decl_tags == [tag]


def test_split_btf_own_lookup_and_base_decl_tags(tmp_path: Path) -> None:
    base = Types()
    bf = base.func(b"a", base.int)
    btag = base.b.add_decl_tag(b"base_tag", bf, -1)
    base.func(b"only_base", base.int)
    mod = Types(base.b)
    mf = mod.func(b"a", base.int, [(b"x", base.ptr)])
    mtag = mod.b.add_decl_tag(b"mod_tag", mf, 0)
    syms = symbols_for(tmp_path, [("s", 1, [("a", 0), ("only_base", 0)])])
    ctx = context(mod.b, syms, base=base.b)
    kf.run_discovery(ctx, opts(kf.DISCOVERY))
    assert ctx.kfuncs == [Kfunc(b"a", mf, 0)]  # the own FUNC, not base's lower ID
    assert ctx.decl_tags == [btag, mtag]  # base IDs included (passes.md §0)
    assert "no BTF func for kfunc only_base in s" in stderr(ctx)


def test_malformed_set_address(tmp_path: Path) -> None:
    t = Types()
    syms = symbols_for(tmp_path, [("s", 1, [])])
    syms.sets[b"s"].cnt = 5  # entries beyond the section
    with pytest.raises(BtfidsError, match="malformed data for set 's'"):
        kf.run_discovery(context(t.b, syms), opts(kf.DISCOVERY))


# ------------------------------------------------------------------ exact bytes
def test_exact_bytes_fastcall_and_arena_ret() -> None:
    t = Types()
    f = t.func(b"k", t.ptr, [(b"p", t.ptr), (b"", t.int)])
    before = t.b.raw_data()
    n_types, n_strs = t.b.type_cnt, len(t.b.strs)
    ctx = with_kfuncs(context(t.b), Kfunc(b"k", f, FAST | ARET | ARG1))
    run_kfuncs(ctx)
    p = t.b.find_str(b"p")
    s = n_strs  # string offsets of the new names, in order of first use
    kfunc_off, fast_off, attr_off = s, s + 10, s + 23
    i = n_types
    expect = [
        kfunc_off, K.make_info(K.DECL_TAG), f, 0xFFFFFFFF,              # i: bpf_kfunc
        fast_off, K.make_info(K.DECL_TAG), f, 0xFFFFFFFF,               # i+1: bpf_fastcall
        attr_off, K.make_info(K.TYPE_TAG, 0, 1), t.root,                # i+2: attr → root
        0, K.make_info(K.PTR), i + 2,                                   # i+3: new return
        0, K.make_info(K.FUNC_PROTO, 2), i + 3, p, i + 6, 0, t.int,     # i+4: P2, p patched
        attr_off, K.make_info(K.TYPE_TAG, 0, 1), t.root,                # i+5
        0, K.make_info(K.PTR), i + 5,                                   # i+6
    ]
    raw = t.b.raw_data()
    hdr = 24
    old_tlen = struct.unpack_from("<I", before, 12)[0]
    tlen, soff, _ = struct.unpack_from("<III", raw, 12)
    assert tlen == old_tlen + 4 * len(expect)
    assert raw[hdr + old_tlen : hdr + tlen] == struct.pack(f"<{len(expect)}I", *expect)
    assert raw[hdr + soff + n_strs :] == b"bpf_kfunc\0bpf_fastcall\0address_space(1)\0"
    assert t.b.type(f)[2] == i + 4
    assert ctx.decl_tags == [i, i + 1]  # tags pushed onto the list, in order


def test_shared_proto_is_never_modified() -> None:
    t = Types()
    f = t.func(b"k", t.int, [(b"x__arena", t.ptr)])
    p = t.b.type(f)[2]
    other = t.b.add_func(b"other", 1, p)
    saved = list(t.b.type(p))
    ctx = with_kfuncs(context(t.b), Kfunc(b"k", f, 0))
    run_kfuncs(ctx)
    assert t.b.type(p) == saved and t.b.type(other)[2] == p
    assert t.b.type(f)[2] != p


# ------------------------------------------------------------------ arena edge cases
@pytest.mark.parametrize(
    "case", ["ret-int", "ret-void", "typedef-param", "const-ptr-param", "int-suffix"]
)
def test_arena_not_a_pointer(case: str) -> None:
    t = Types()
    td = t.b.add_ref(K.TYPEDEF, t.ptr, b"rp_t")
    cp = t.b.add_ref(K.CONST, t.ptr)
    ret, params, flags = {
        "ret-int": (t.int, [], ARET),
        "ret-void": (0, [], ARET),
        "typedef-param": (t.int, [(b"a", td)], ARG1),
        "const-ptr-param": (t.int, [(b"a", t.int), (b"b", cp)], ARG2),
        "int-suffix": (t.int, [(b"n__arena", t.int)], 0),
    }[case]
    f = t.func(b"kk", ret, params)
    ctx = with_kfuncs(context(t.b), Kfunc(b"kk", f, flags))
    with pytest.raises(BtfidsError) as err:
        run_kfuncs(ctx)
    assert str(err.value) == "ERROR: resolve_btfids: kfunc kk: arena type is not a pointer"


def test_arena_rules() -> None:
    t = Types()
    cases = {
        # name: (params, flags, expected tagged params, ret tagged)
        b"missing_arg2": ([(b"a", t.ptr)], ARG2, [], False),
        b"unnamed": ([(b"", t.ptr), (b"", t.ptr)], 0, [], False),
        b"suffixes": ([(b"x__arena", t.ptr), (b"y__arena__nullable", t.ptr),
                       (b"z__arenas", t.ptr), (b"__arena", t.ptr)], 0, [0, 1, 3], False),
        b"flags": ([(b"a", t.ptr), (b"b", t.ptr), (b"c", t.ptr)], ARG1 | ARG2 | ARET,
                   [0, 1], True),
    }
    fids = {n: t.func(n, t.ptr, c[0]) for n, c in cases.items()}
    ctx = with_kfuncs(context(t.b), *(Kfunc(n, fids[n], c[1]) for n, c in cases.items()))
    run_kfuncs(ctx)
    for name, (_, _, tagged, ret_tagged) in cases.items():
        p = t.b.type(t.b.type(fids[name])[2])
        got = [i for i in range(K.vlen_of(p[1])) if t.b.kind(p[4 + 2 * i]) == K.PTR
               and t.b.kind(t.b.type(p[4 + 2 * i])[2]) == K.TYPE_TAG]
        assert got == tagged, name
        assert (t.b.kind(t.b.type(p[2])[2]) == K.TYPE_TAG) == ret_tagged, name
    # nothing at all appended for the two kfuncs without arena work (beside bpf_kfunc)
    assert ctx.stats[kf.ARENA]["protos_added"] == 2


def test_arena_wraps_existing_tags() -> None:
    """The attribute goes directly under the pointer; pointee tags stay below it."""
    t = Types()
    old = t.b.add_type_attr(b"address_space(1)", t.root)
    optr = t.b.add_ptr(old)
    f = t.func(b"k", t.int, [(b"a", optr)])
    ctx = with_kfuncs(context(t.b), Kfunc(b"k", f, ARG1))
    run_kfuncs(ctx)
    p = t.b.type(t.b.type(f)[2])
    new_ptr = p[4]
    tag = t.b.type(new_ptr)[2]
    assert t.b.type(tag)[2] == old  # double-wrapped, as upstream (passes.md §4)


# ------------------------------------------------------------------ implicit args
def test_implicit_arg_recognition() -> None:
    t = Types()
    aux = t.named(K.STRUCT, b"bpf_prog_aux")
    meta = t.named(K.STRUCT, b"btf_struct_meta")
    uaux = t.named(K.UNION, b"bpf_prog_aux")
    faux = t.b.add_type_words([t.b.add_str(b"bpf_prog_aux"), K.make_info(K.FWD), 0])
    p_aux = t.b.add_ptr(aux)
    tt_aux = t.b.add_ptr(t.b.add_ref(K.TYPE_TAG, t.b.add_ref(K.VOLATILE, aux), b"user"))
    cv_ptr = t.b.add_ref(K.CONST, t.b.add_ref(K.RESTRICT, t.b.add_ptr(meta)))
    td_ptr = t.b.add_ref(K.TYPEDEF, p_aux, b"aux_t")
    td_struct = t.b.add_ptr(t.b.add_ref(K.TYPEDEF, aux, b"aux_s"))
    cases = {
        b"last": ([(b"a", t.int), (b"aux", p_aux)], [b"a"]),
        b"first": ([(b"aux", p_aux), (b"a", t.int)], []),
        b"mods": ([(b"a", t.int), (b"x", tt_aux)], [b"a"]),
        b"meta": ([(b"a", t.int), (b"m", cv_ptr), (b"b", t.int)], [b"a"]),
        b"union": ([(b"a", t.int), (b"u", t.b.add_ptr(uaux))], [b"a", b"u"]),
        b"fwd": ([(b"a", t.int), (b"f", t.b.add_ptr(faux))], [b"a", b"f"]),
        b"typedef": ([(b"a", t.int), (b"t", td_ptr)], [b"a", b"t"]),
        b"typedef2": ([(b"a", t.int), (b"t", td_struct)], [b"a", b"t"]),
        b"struct_val": ([(b"a", t.int), (b"s", aux)], [b"a", b"s"]),
    }
    fids = {n: t.func(n, t.int, c[0]) for n, c in cases.items()}
    p0 = {n: t.b.type(f)[2] for n, f in fids.items()}
    ctx = with_kfuncs(context(t.b), *(Kfunc(n, fids[n], IMPL) for n in cases))
    run_kfuncs(ctx)
    for name, (params, kept) in cases.items():
        p = t.b.type(t.b.type(fids[name])[2])
        assert [t.b.str_at(p[i]) for i in range(3, len(p), 2)] == kept, name
        impl = t.b.find_by_name_kind_own(name + b"_impl", K.FUNC)
        assert impl > fids[name] and t.b.type(impl)[2] == p0[name], name
        assert t.b.type(p0[name])[3:] == [w for n, ty in params for w in (t.b.find_str(n), ty)]


def test_implicit_tag_copies_and_linkage() -> None:
    t = Types()
    aux = t.b.add_ptr(t.named(K.STRUCT, b"bpf_prog_aux"))
    f = t.func(b"k", t.int, [(b"a", t.int), (b"aux", aux)], linkage=2)
    g = t.func(b"g", t.int)
    src1 = t.b.add_decl_tag(b"src_tag", f, 0)
    t.b.add_decl_tag(b"not_mine", g, -1)
    src2 = t.b.add_decl_tag(b"attr_like", f, -1, kflag=1)
    old_kfunc = t.b.add_decl_tag(b"bpf_kfunc", f, -1)  # old pahole flow: not copied
    p0 = t.b.type(f)[2]
    start = t.b.type_cnt
    ctx = with_kfuncs(context(t.b), Kfunc(b"k", f, IMPL | FAST))
    run_kfuncs(ctx)
    assert ctx.decl_tags[:4] == [src1, src1 + 1, src2, old_kfunc]
    got = [(K.kind_of(r[1]), r) for r in new_types(t.b, start)]
    names = t.b.str_at
    impl = start + 2
    assert [(k, names(r[0]) if k != K.FUNC_PROTO else b"") for k, r in got] == [
        (K.DECL_TAG, b"bpf_kfunc"), (K.DECL_TAG, b"bpf_fastcall"),
        (K.FUNC, b"k_impl"),
        (K.DECL_TAG, b"src_tag"), (K.DECL_TAG, b"attr_like"), (K.DECL_TAG, b"bpf_fastcall"),
        (K.FUNC_PROTO, b""),
    ]
    assert t.b.type(impl) == [t.b.find_str(b"k_impl"), K.make_info(K.FUNC, 2), p0]
    copies = [t.b.type(i) for i in range(impl + 1, impl + 4)]
    assert [(c[2], K.to_signed32(c[3]), c[1] >> 31) for c in copies] == [
        (impl, 0, 0), (impl, -1, 1), (impl, -1, 0),
    ]
    assert ctx.decl_tags[-2:] == [start, start + 1]  # copies are not pushed
    assert t.b.type(f)[2] == start + 6
    assert t.b.type(start + 6) == [0, K.make_info(K.FUNC_PROTO, 1), t.int,
                                   t.b.find_str(b"a"), t.int]


def test_implicit_legacy_and_split_impl_in_base() -> None:
    base = Types()
    aux = base.b.add_ptr(base.named(K.STRUCT, b"bpf_prog_aux"))
    base.func(b"m_impl", base.int, [(b"aux", aux)])  # only in base: not "own"
    mod = Types(base.b)
    m = mod.func(b"m", base.int, [(b"aux", aux)])
    legacy = mod.func(b"l", base.int, [(b"aux", aux)])
    mod.func(b"l_impl", base.int, [(b"aux", aux)])
    start = mod.b.type_cnt
    ctx = with_kfuncs(context(mod.b, base=base.b), Kfunc(b"m", m, IMPL), Kfunc(b"l", legacy, IMPL))
    ctx.log.verbose = 1
    run_kfuncs(ctx)
    kinds = [K.kind_of(r[1]) for r in new_types(mod.b, start)]
    assert kinds == [
        K.DECL_TAG, K.FUNC, K.FUNC_PROTO,  # m: new own m_impl
        K.DECL_TAG, K.FUNC_PROTO,  # l: legacy path, proto only
    ]
    assert mod.b.type(legacy)[2] == mod.b.type_cnt - 1
    assert "resolve_btfids: function l_impl already exists in BTF" in stderr(ctx)


def test_implicit_errors() -> None:
    t = Types()
    f = t.func(b"x" * 507, t.int)
    with pytest.raises(BtfidsError) as err:
        run_kfuncs(with_kfuncs(context(t.b), Kfunc(b"x" * 507, f, IMPL)))
    assert str(err.value) == "ERROR: function name is too long: " + "x" * 507 + "_impl"
    # 506 + 5 = 511 < 512: fine
    g = t.func(b"y" * 506, t.int)
    run_kfuncs(with_kfuncs(context(t.b), Kfunc(b"y" * 506, g, IMPL)))
    with pytest.raises(BtfidsError, match=r"btf id 2 is not a function$"):
        run_kfuncs(with_kfuncs(context(t.b), Kfunc(b"root", t.root, IMPL)))


# ------------------------------------------------------------------ options
def test_flag_bits_from_options() -> None:
    t = Types()
    f = t.func(b"k", t.ptr, [(b"a", t.ptr)])
    ctx = with_kfuncs(context(t.b), Kfunc(b"k", f, 1 << 3))
    run_kfuncs(ctx, {
        kf.FASTCALL_TAG: {"fastcall_bit": 3, "tag": "my_fast"},
        kf.KFUNC_TAG: {"tag": "my_kfunc"},
        kf.ARENA: {"arena_ret_bit": 3, "arena_attr": "address_space(7)",
                   "arena_param_suffixes": []},
    })
    tags = [t.b.name(i) for i in range(1, t.b.type_cnt) if t.b.kind(i) == K.DECL_TAG]
    assert tags == [b"my_kfunc", b"my_fast"]
    p = t.b.type(t.b.type(f)[2])
    assert t.b.name(t.b.type(p[2])[2]) == b"address_space(7)"
    assert t.b.kind(t.b.type(p[4])[2]) == K.STRUCT  # no suffix rule, no ARG1 bit
    with pytest.raises(BtfidsError, match="fastcall_bit = 40"):
        run_kfuncs(ctx, {kf.FASTCALL_TAG: {"fastcall_bit": 40}})


# ------------------------------------------------------------------ idempotent mode
IDEM = {n: {"idempotent": True} for n in (kf.KFUNC_TAG, kf.FASTCALL_TAG, kf.IMPLICIT_ARGS,
                                          kf.ARENA)}


def _annotated() -> tuple[Types, list[Kfunc]]:
    t = Types()
    aux = t.b.add_ptr(t.named(K.STRUCT, b"bpf_prog_aux"))
    ks = [
        Kfunc(b"a", t.func(b"a", t.ptr, [(b"p__arena", t.ptr)]), FAST | ARET),
        Kfunc(b"i", t.func(b"i", t.int, [(b"n", t.int), (b"aux", aux)]), IMPL | FAST),
        Kfunc(b"plain", t.func(b"plain", t.int), 0),
    ]
    return t, ks


def test_idempotent_second_run_appends_nothing() -> None:
    t, ks = _annotated()
    run_kfuncs(with_kfuncs(context(t.b), *ks), IDEM)
    first = t.b.type_cnt
    snapshot = [list(r) for r in t.b.types]
    ctx = with_kfuncs(context(t.b), *ks)
    run_kfuncs(ctx, IDEM)
    assert t.b.type_cnt == first and [list(r) for r in t.b.types] == snapshot
    assert ctx.stats == {
        kf.KFUNC_TAG: {"tags_present": 3}, kf.FASTCALL_TAG: {"tags_present": 2},
        kf.IMPLICIT_ARGS: {"protos_present": 1}, kf.ARENA: {"protos_present": 1},
    }


def test_idempotent_first_run_equals_default() -> None:
    """On input without annotations, the idempotent mode appends the same bytes."""
    t1, ks1 = _annotated()
    t2, ks2 = _annotated()
    run_kfuncs(with_kfuncs(context(t1.b), *ks1))
    run_kfuncs(with_kfuncs(context(t2.b), *ks2), IDEM)
    assert t1.b.raw_data() == t2.b.raw_data()


def test_default_second_run_appends_again() -> None:
    """Upstream semantics (passes.md §4): tags appended again (dedup folds them),
    implicit args take the legacy path, arena attributes nest."""
    t, ks = _annotated()
    run_kfuncs(with_kfuncs(context(t.b), *ks))
    start = t.b.type_cnt
    ctx = with_kfuncs(context(t.b), *ks)
    run_kfuncs(ctx)
    assert ctx.stats[kf.KFUNC_TAG] == {"tags_added": 3}
    assert "impl_funcs_added" not in ctx.stats[kf.IMPLICIT_ARGS]  # legacy path
    # return and param: PTR → TYPE_TAG(attr) → TYPE_TAG(attr) → root
    p = t.b.type(t.b.type(ks[0].func_id)[2])
    for slot in (p[2], p[4]):
        assert t.b.kind(slot) == K.PTR and slot >= start
        chain = []
        tid = t.b.type(slot)[2]
        while t.b.kind(tid) == K.TYPE_TAG:
            chain.append(t.b.name(tid))
            tid = t.b.type(tid)[2]
        assert chain == [b"address_space(1)"] * 2 and tid == t.root



def test_func_index_is_dropped_after_the_kfunc_passes() -> None:
    """The FUNC-name index lives through the kfunc passes and is dropped when another
    whole-BTF pass starts; asking again rebuilds it with the same answers."""
    from btfids.hookspecs import PassSpec

    btf = Btf()
    proto = btf.add_type_words([0, 13 << 24, 0])
    f = btf.add_type_words([btf.add_str(b"f"), 12 << 24, proto])
    ctx = context(btf)
    first = kf.func_index(btf)
    assert first.find(b"f") == f
    for name, scope in ((kf.DISCOVERY, "btf"), (kf.KFUNC_TAG, "kfunc")):
        kf.btfids_before_pass(ctx, PassSpec(name, "", lambda *a: None, scope=scope))
        assert kf.func_index(btf) is first
    kf.btfids_before_pass(ctx, PassSpec("dedup", "", lambda *a: None))
    again = kf.func_index(btf)
    assert again is not first and again.find(b"f") == f

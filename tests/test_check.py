"""Output checker: each kernel load rule fires on a hand-built bad type and stays quiet
on good ones; the golden outputs of the C tool pass; a broken distilled module fails."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from distill_helpers import Builder, reparse

from btfids.btf import Btf
from btfids.btf import kinds as K
from btfids.btf.check import check_btf, check_module_outputs, sort_problems


def _one(build: Callable[[Builder], object], sort: bool = False) -> list[str]:
    btf = Btf()
    b = Builder(btf)
    b.int_("int")  # ID 1, a valid target for everything below
    build(b)
    return check_btf(btf, require_sorted=sort)


def test_good_types_pass() -> None:
    def build(b: Builder) -> None:
        i = 1
        p = b.ptr(i)
        b.ref(K.CONST, p)
        b.ref(K.TYPEDEF, i, "int_t")
        b.rec(K.TYPE_TAG, "address_space(1)", i, kflag=1)
        b.array(i, i, 4)
        b.comp("s", 8, [("a", i, 0), ("", i, 32)])
        b.comp("u", 4, [("a", i, 0), ("b", i, 0)], union=True)
        b.rec(K.STRUCT, "bf", 4, b.s("x"), i, (3 << 24) | 5, vlen=1, kflag=1)
        b.enum("e", 4, [("A", 0), ("B", -1)])
        b.enum64("e64", 8, [("C", 1 << 40)])
        b.fwd("opaque")
        f = b.func("fn", b.proto(i, [("x", p)]))
        b.float_("double", 8)
        b.decl_tag("bpf_kfunc", f)
        v = b.var("counter", i)
        b.rec(K.DATASEC, ".data", 8, v, 0, 4, vlen=1)
    assert _one(build) == []


@pytest.mark.parametrize("build, problem", [
    (lambda b: b.rec(K.INT, "big", 4, 40), "int bits exceed the type size"),
    (lambda b: b.rec(K.INT, "i", 4, (3 << 24) | 32), "unsupported int encoding 3"),
    (lambda b: b.rec(K.INT, "i", 4, 0x10000020), "invalid int data"),
    (lambda b: b.rec(K.PTR, "named", 1), "name_off != 0"),
    (lambda b: b.rec(K.PTR, "", 1, kflag=1), "kind_flag set"),
    (lambda b: b.rec(K.TYPEDEF, "1bad", 1), "invalid name"),
    (lambda b: b.rec(K.TYPE_TAG, "", 1), "empty tag value"),
    (lambda b: b.array(0, 1, 2), "element type ID is 0"),
    (lambda b: b.array(1, 0x100000, 2), "index type ID 1048576 out of range"),
    (lambda b: b.comp("s", 8, [("a", 1, 32), ("b", 1, 0)]), "offset goes backwards"),
    (lambda b: b.comp("s", 2, [("a", 1, 32)]), "offset beyond the struct size"),
    (lambda b: b.comp("s", 4, [("a", 0, 0)]), "member 0 type ID is 0"),
    (lambda b: b.comp("s", 4, [("a-b", 1, 0)]), "member 0: invalid name"),
    (lambda b: b.comp("u", 4, [("a", 1, 8)], union=True), "union member offset != 0"),
    (lambda b: b.enum("e", 3, [("A", 0)]), "invalid enum size 3"),
    (lambda b: b.enum("e", 4, [("", 0)]), "value 0: invalid name"),
    (lambda b: b.rec(K.FWD, "f", 1), "type != 0"),
    (lambda b: b.func("f", b.proto(0, []), linkage=2), "invalid linkage 2"),
    (lambda b: b.func("f", 1), "not a FUNC_PROTO"),
    (lambda b: b.rec(K.FUNC_PROTO, "p", 0), "name_off != 0"),
    (lambda b: b.var("v", 0), "variable type ID is 0"),
    (lambda b: b.var("v", 1, linkage=2), "invalid linkage 2"),
    (lambda b: b.rec(K.DATASEC, ".d", 4, 1, 0, 8, vlen=1), "beyond the section size"),
    (lambda b: b.rec(K.DATASEC, "", 0), "size == 0"),
    (lambda b: b.float_("f", 3), "invalid float size 3"),
    (lambda b: b.decl_tag("t", 1, -2), "invalid component_idx -2"),
    (lambda b: b.rec(K.UNKN, "", 0), "invalid kind 0"),
    (lambda b: b.btf.add_type_words([0, (2 << 24) | (1 << 16), 1]), "sets bits"),
    (lambda b: b.rec(K.PTR, "", 7), "referenced type ID 7 out of range"),
])
def test_each_rule_fires(build: Callable[[Builder], object], problem: str) -> None:
    problems = _one(build)
    assert problems, "no problem reported"
    assert any(problem in p for p in problems), problems


def test_modifier_loops_and_long_chains() -> None:
    def loop(b: Builder) -> None:
        b.ref(K.CONST, 3)      # 2 → 3
        b.ref(K.VOLATILE, 2)   # 3 → 2
    assert any("loops" in p for p in _one(loop))

    def chain(b: Builder, n: int) -> None:
        prev = 1
        for _ in range(n):
            prev = b.ref(K.CONST, prev)
    assert _one(lambda b: chain(b, 32)) == []
    assert any("longer than 32" in p for p in _one(lambda b: chain(b, 33)))


def test_header_and_string_rules() -> None:
    btf = Btf(order=">")
    Builder(btf).int_("int")
    assert any("byte order" in p for p in check_btf(btf))
    btf = Btf()
    btf.flags = 1
    assert any("flags" in p for p in check_btf(btf))
    assert any("no types" in p for p in check_btf(btf))
    btf = Btf()
    btf.strs = bytearray(b"x\0")
    assert any("start with NUL" in p for p in check_btf(btf))


def test_sortedness() -> None:
    btf = Btf()
    b = Builder(btf)
    b.ptr(0)
    b.int_("b")
    b.int_("a")
    assert sort_problems(btf) == ["not sorted by name: [3] 'a' after [2] 'b'"]
    assert any("not sorted" in p for p in check_btf(btf))
    assert check_btf(btf, require_sorted=False) == []
    ok = Btf()
    b = Builder(ok)
    b.ptr(0)
    b.int_("a")
    b.int_("a")     # equal names may follow each other
    b.int_("ab")
    assert sort_problems(ok) == []
    split = Btf(base=reparse(btf))
    Builder(split).int_("z")
    assert sort_problems(split) == []  # only own types count for split BTF


# ---------------------------------------------------------------- golden outputs
GOLDEN_MODULES = ["lib/crc7.ko", "net/ipv4/fou.ko", "net/netfilter/nf_conntrack.ko",
                  "fs/nfs/nfsv4.ko"]


@pytest.fixture(scope="module")
def vmlinux_btf(corpus: Path) -> Btf:
    return Btf.parse((corpus / "btf-vmlinux").read_bytes())


@pytest.mark.corpus
def test_golden_vmlinux_passes_and_input_is_unsorted(golden: Path, vmlinux_btf: Btf) -> None:
    out = Btf.parse((golden / "newest" / "vmlinux" / "vmlinux.BTF").read_bytes())
    assert check_btf(out) == []
    assert check_btf(vmlinux_btf, require_sorted=False) == []
    assert sort_problems(vmlinux_btf)  # pahole's order is not sorted


@pytest.mark.corpus
@pytest.mark.parametrize("module", GOLDEN_MODULES)
def test_golden_module_outputs_pass(golden: Path, vmlinux_btf: Btf, module: str) -> None:
    mods = golden / "newest" / "modules"
    plain = (mods / "plain" / f"{module}.BTF").read_bytes()
    assert check_module_outputs(plain, vmlinux_btf) == []
    d = mods / "distill" / module
    assert check_module_outputs(
        Path(f"{d}.BTF").read_bytes(), vmlinux_btf, Path(f"{d}.BTF.base").read_bytes()
    ) == []


@pytest.mark.corpus
def test_broken_distilled_module_is_reported(golden: Path, vmlinux_btf: Btf) -> None:
    d = golden / "newest" / "modules" / "distill" / "net/ipv4/fou.ko"
    base = Btf.parse(Path(f"{d}.BTF.base").read_bytes())
    split_raw = Path(f"{d}.BTF").read_bytes()
    # Rename one distilled struct in place (same length, so split offsets stay valid)
    # to a name vmlinux does not have.
    idx = next(i for i, t in enumerate(base.types) if K.kind_of(t[1]) == K.STRUCT)
    off = base.types[idx][0]
    name = b"Q" + base.str_at(off)[1:]
    assert vmlinux_btf.find_str(name) < 0
    base.make_modifiable()
    base.strs[off : off + len(name)] = name
    problems = check_module_outputs(split_raw, vmlinux_btf, base.raw_data())
    assert problems == [
        f"distilled base BTF type '{name.decode()}' [{idx + 1}] is not mapped to base BTF id"
    ]
    # Unsorted split: swap two differently named own types.
    split = Btf.parse(split_raw, base=Btf.parse(Path(f"{d}.BTF.base").read_bytes()))
    names = [split.str_at(t[0]) for t in split.types]
    kinds = [K.kind_of(t[1]) for t in split.types]
    i = next(k for k in range(len(names) - 1) if names[k] < names[k + 1]
             and K.FUNC_PROTO not in kinds[k : k + 2])  # FUNCs must keep their protos
    split.make_modifiable()
    split.types[i], split.types[i + 1] = split.types[i + 1], split.types[i]
    assert any("not sorted" in p for p in check_module_outputs(
        split.raw_data(), vmlinux_btf, Path(f"{d}.BTF.base").read_bytes()))


@pytest.mark.corpus
def test_golden_distilled_modules_load_on_the_sorted_vmlinux(golden: Path) -> None:
    """At run time the kernel relocates a module onto the *written* (sorted) vmlinux BTF,
    whose IDs differ from the btf-vmlinux the module was built against."""
    vm = Btf.parse((golden / "newest" / "vmlinux" / "vmlinux.BTF").read_bytes())
    mods = sorted((golden / "newest" / "modules" / "distill").glob("**/*.ko.BTF"))
    assert len(mods) == 10
    for path in mods:
        base = Path(f"{path}.base").read_bytes()
        assert check_module_outputs(path.read_bytes(), vm, base) == [], path.name

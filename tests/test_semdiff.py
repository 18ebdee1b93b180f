"""Semantic BTF diff (btfids/btf/semdiff.py) on BTFs built by the tests, and
``btfids diff`` (exit status, text, JSON)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from click.testing import CliRunner
from dedup_helpers import (
    decl_tag,
    enum,
    func,
    fwd,
    int_,
    proto,
    ptr,
    reparse,
    struct,
    typedef,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from test_dedup import _random_btf

from btfids.btf import kinds as K
from btfids.btf.model import Btf
from btfids.btf.semdiff import diff
from btfids.btf.sort import permute
from btfids.cli import app


def sample(*, tag: bool = False, long_member: bool = False, twice: bool = False,
           params: int = 2) -> Btf:
    """A small kernel-like BTF: a self-referencing struct, an anonymous struct member,
    a function with a prototype, a typedef, an enum."""
    b = Btf()
    i = int_(b, "int")
    lng = int_(b, "long", 8)
    node = struct(b, "node", [])          # members added below (self reference)
    p_node = ptr(b, node)
    anon = struct(b, "", [("a", i), ("b", lng if long_member else i)])
    b.types[node - 1] = [b.add_str(b"node"), K.make_info(K.STRUCT, 3), 16,
                         b.add_str(b"next"), p_node, 0,
                         b.add_str(b"val"), i, 64,
                         0, anon, 96]
    pr = proto(b, i, [("n", p_node), ("x", i), ("y", i)][:params])
    f = func(b, "walk", pr)
    typedef(b, "node_t", node)
    enum(b, "colour", [("RED", 0), ("BLUE", 1)])
    if twice:
        struct(b, "pair", [("a", i)])
        struct(b, "pair", [("a", i)])
    else:
        struct(b, "pair", [("a", i)])
    if tag:
        decl_tag(b, "bpf_kfunc", f)
    return reparse(b)


def shuffled(b: Btf, seed: int) -> tuple[Btf, int]:
    """``b`` with its own types in another order (every ID field rewritten), and how
    many types moved."""
    start, n = b.start_id, b.type_cnt - b.start_id
    order = list(range(n))
    random.Random(seed).shuffle(order)
    id_map = [0] * n
    for new, old in enumerate(order):
        id_map[old] = start + new
    c = Btf.parse(b.raw_data(), b.base)
    permute(c, id_map if b.base is not None else [0, *id_map])
    return reparse(c, b.base), sum(1 for i, new in enumerate(id_map) if new != start + i)


def renumbered(b: Btf, seed: int) -> Btf:
    return shuffled(b, seed)[0]


def test_same_btf_no_change() -> None:
    b = sample()
    d = diff(b, sample())
    assert not d and d.renumbered == 0
    assert d.summary() == "0 added, 0 removed, 0 changed; renumbered: 0"


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_pure_renumbering_is_only_counted(seed: int) -> None:
    b = sample(tag=True)
    c, moved = shuffled(b, seed)
    d = diff(b, c)
    assert not d, d.as_json()
    assert d.renumbered == moved     # every form of sample() is held by one type


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_random_btfs_renumbered_have_no_change(seed: int, order: int) -> None:
    """Twins, conflicting structs, FWDs, cycles through named structs (test_dedup's
    random BTFs): a renumbering never shows as a change."""
    b = reparse(_random_btf(random.Random(seed)))
    c, moved = shuffled(b, order)
    d = diff(b, c)
    assert not d, d.as_json()
    assert moved or not d.renumbered


def test_added_decl_tag_names_its_target() -> None:
    d = diff(sample(), sample(tag=True))
    assert [(e["kind"], e["name"], e["target"], e["component_idx"]) for e in d.added] == [
        ("DECL_TAG", "bpf_kfunc", "walk", -1)]
    assert not d.removed and not d.changed
    back = diff(sample(tag=True), sample())
    assert [e["target"] for e in back.removed] == ["walk"] and not back.added


def test_anonymous_member_change_shows_in_its_referrer() -> None:
    d = diff(sample(), sample(long_member=True))
    assert not d.added and not d.removed
    assert [(e["kind"], e["name"]) for e in d.changed] == [("STRUCT", "node")]
    assert d.changed[0]["changes"] == ["member (anon) type struct {2 members} -> "
                                       "struct {2 members}"]


def test_dropped_param_shows_as_a_change_of_the_function() -> None:
    d = diff(sample(params=3), sample(params=2))
    assert [(e["kind"], e["name"]) for e in d.changed] == [("FUNC", "walk")]
    assert d.changed[0]["changes"] == ["param 2 y removed (int)"]


def test_collapsed_copies_are_counted() -> None:
    d = diff(sample(twice=True), sample())
    assert [(e["kind"], e["name"], e["changes"]) for e in d.changed] == [
        ("STRUCT", "pair", ["copies 2 -> 1"])]
    assert not d.added and not d.removed


def test_two_changed_namesakes_pair_by_likeness() -> None:
    """Two different ``struct s`` both change; after a renumbering their ID order is
    reversed: each is still compared with its own new form."""
    def two(extra: bool) -> Btf:
        b = Btf()
        i = int_(b, "int")
        lng = int_(b, "long", 8)
        small = [("a", i), ("b", i), ("c", i)] + ([("x", i)] if extra else [])
        big = [("p", lng), ("q", lng), ("r", lng)] + ([("y", lng)] if extra else [])
        struct(b, "s", small)
        struct(b, "s", big)
        return reparse(b)

    d = diff(two(False), renumbered(two(True), 1))    # seed 1: the two swap places
    assert sorted(c for e in d.changed for c in e["changes"]) == [
        "member x added (int at bit 96)", "member y added (long at bit 96)",
        "size 12 -> 16", "size 12 -> 16"]


def test_member_type_and_kind_changes() -> None:
    def one(member_long: bool, as_fwd: bool) -> Btf:
        b = Btf()
        i = int_(b, "int")
        lng = int_(b, "long", 8)
        if as_fwd:
            fwd(b, "s")
        else:
            struct(b, "s", [("m", lng if member_long else i)])
        return reparse(b)

    d = diff(one(False, False), one(True, False))
    assert d.changed[0]["changes"] == ["member m type int -> long"]
    d = diff(one(False, False), one(False, True))
    assert {(e["kind"], e["name"]) for e in d.removed} == {("STRUCT", "s")}
    assert {(e["kind"], e["name"]) for e in d.added} == {("FWD", "s")}


def test_anonymous_cycle_terminates() -> None:
    b = Btf()
    p = ptr(b, 2)
    ptr(b, p)                           # PTR -> PTR -> PTR ... (malformed, no name)
    c = reparse(b)
    assert not diff(c, renumbered(c, 1))


def test_very_long_anonymous_chain() -> None:
    """20000 PTRs in a row: deeper than the interpreter's stack, numbered bottom up."""
    b = Btf()
    i = int_(b, "int")
    last = i
    head = b.type_cnt
    for n in range(20000):              # PTR k -> PTR k + 1 -> ... -> int
        ptr(b, head + n + 1 if n < 19999 else i)
    last = head
    deep = typedef(b, "deep", last)
    old = reparse(b)
    c = Btf.parse(old.raw_data())
    ptr(c, deep)                        # one more, referenced by nothing
    d = diff(old, reparse(c))
    assert [(e["kind"], e["name"]) for e in d.added] == [("PTR", "")]


def test_unreferenced_anonymous_type_added() -> None:
    b = sample()
    c = Btf.parse(b.raw_data())
    ptr(c, 2)                           # long * nobody uses
    d = diff(b, reparse(c))
    assert [(e["kind"], e["name"]) for e in d.added] == [("PTR", "")]


def test_split_btf_on_two_bases() -> None:
    """A module on its base against the same module, tagged, on a renumbered base."""

    def module(base: Btf, tag: bool) -> Btf:
        m = Btf(base=base)
        i = _int_id(base)
        f = func(m, "mod_fn", proto(m, i, [("x", i)]))
        if tag:
            decl_tag(m, "bpf_kfunc", f)
        return reparse(m, base)

    base = sample()
    other = renumbered(base, 7)
    d = diff(module(base, False), module(other, True))
    assert [(e["kind"], e["target"]) for e in d.added] == [("DECL_TAG", "mod_fn")]
    assert not d.removed and not d.changed
    mod, moved = shuffled(module(base, True), 2)
    d = diff(module(base, True), mod)
    assert not d and d.renumbered == moved


def test_removed_type_the_base_has() -> None:
    base = sample()
    own = Btf(base=base)
    struct(own, "pair", [("a", _int_id(base))])     # a copy of the base's struct pair
    d = diff(reparse(own, base), reparse(Btf(base=base), base))
    assert [(e["kind"], e["name"], e.get("in_base")) for e in d.removed] == [
        ("STRUCT", "pair", True)]
    back = diff(reparse(Btf(base=base), base), reparse(own, base))
    assert [(e["name"], e.get("from_base")) for e in back.added] == [("pair", True)]


def _int_id(b: Btf) -> int:
    return next(i for i in range(1, b.type_cnt)
                if b.kind(i) == K.INT and b.name(i) == b"int")


# ------------------------------------------------------------------ command line
def _write(tmp_path: Path, name: str, b: Btf) -> str:
    path = tmp_path / name
    path.write_bytes(b.raw_data())
    return str(path)


def test_cli_exit_status_text_and_json(tmp_path: Path) -> None:
    old = _write(tmp_path, "old.btf", sample())
    new = _write(tmp_path, "new.btf", renumbered(sample(tag=True), 3))
    same = _write(tmp_path, "same.btf", renumbered(sample(), 5))
    runner = CliRunner()
    r = runner.invoke(app.cli, ["diff", old, same])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[-1].startswith("0 added, 0 removed, 0 changed; renumbered: ")
    r = runner.invoke(app.cli, ["diff", old, new])
    assert r.exit_code == 1
    assert "DECL_TAG: 1 added" in r.output and "  + bpf_kfunc -> walk" in r.output
    r = runner.invoke(app.cli, ["diff", "--json", old, new])
    data = json.loads(r.output)
    assert set(data) == {"added", "removed", "changed", "renumbered"}
    assert data["added"][0]["target"] == "walk" and data["renumbered"] > 0
    r = runner.invoke(app.cli, ["diff", old, str(tmp_path / "missing")])
    assert r.exit_code == 2
    bad = tmp_path / "bad.btf"
    bad.write_bytes(b"\x9f\xeb\x01\x00garbage")
    r = runner.invoke(app.cli, ["diff", old, str(bad)])
    assert r.exit_code == 2 and "bad.btf" in r.output and "Traceback" not in r.output

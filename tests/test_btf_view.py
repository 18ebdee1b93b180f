"""btfids.btf.view: the typed accessors plugin authors read BTF with (issue 22 item 6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from btfids.btf import Btf
from btfids.btf import kinds as K
from btfids.btf.view import find, kind_number, types, view
from btfids.btfio import load_btf


def sample() -> Btf:
    b = Btf(hdr_len=24)
    i = b.add_type_words([b.add_str("int"), K.make_info(K.INT), 4, (1 << 24) | 32])  # 1
    s = b.add_type_words([b.add_str("s"), K.make_info(K.STRUCT, 2, 1), 8,  # 2, kflag 1
                          b.add_str("a"), i, 0, b.add_str("b"), i, (3 << 24) | 32])
    e = b.add_type_words([b.add_str("e"), K.make_info(K.ENUM, 2, 1), 4,  # 3, signed
                          b.add_str("NEG"), 0xFFFFFFFF, b.add_str("POS"), 7])
    e64 = b.add_type_words([b.add_str("e64"), K.make_info(K.ENUM64, 1), 8,  # 4
                            b.add_str("BIG"), 1, 2])
    proto = b.add_func_proto(i)  # 5
    b.add_func_param("x", i)
    b.add_func_param(b"", s)
    f = b.add_func("f", 0, proto)  # 6, static; str names accepted
    b.add_decl_tag("tag", f, 1)  # 7
    b.add_ptr(s)  # 8
    assert (e, e64) == (3, 4)
    return b


def test_every_accessor() -> None:
    b = sample()
    assert view(b, 1).int_encoding() == ("SIGNED", 0, 32) and view(b, 1).size == 4
    s = view(b, 2)
    assert (s.kind_name, s.name, s.vlen, s.kflag, s.size) == ("STRUCT", "s", 2, 1, 8)
    assert [tuple(m) for m in s.members()] == [("a", 1, 0, 0), ("b", 1, 32, 3)]
    assert [tuple(v) for v in view(b, 3).enum_values()] == [("NEG", -1), ("POS", 7)]
    assert [tuple(v) for v in view(b, 4).enum_values()] == [("BIG", 1 | 2 << 32)]
    assert [tuple(p) for p in view(b, 5).params()] == [("x", 1), ("", 2)]
    assert view(b, 5).type_id == 1
    f = view(b, 6)
    assert (f.linkage, f.type_id, f.name_bytes) == ("static", 5, b"f")
    assert (view(b, 7).component_idx, view(b, 7).type_id) == (1, 6)
    assert view(b, 8).type_id == 2 and view(b, 8).name == ""
    with pytest.raises(TypeError, match=r"\[8\] is a PTR, not STRUCT/UNION"):
        view(b, 8).members()
    with pytest.raises(ValueError, match="no type ID 9"):
        view(b, 9)
    assert [t.id for t in types(b, "func")] == [6]
    assert find(b, "s", "STRUCT") is not None and find(b, b"s", K.UNION) is None
    assert kind_number("decl_tag") == K.DECL_TAG
    with pytest.raises(ValueError, match="unknown BTF kind 'nope'"):
        kind_number("nope")


@pytest.mark.corpus
def test_view_on_vmlinux(corpus: Path) -> None:
    btf = load_btf(str(corpus / "btf-vmlinux"))
    skb = find(btf, "sk_buff", "STRUCT")
    assert skb is not None and skb.size > 100
    assert "len" in {m.name for m in skb.members()}
    func = find(btf, "bpf_map_lookup_elem", "FUNC")
    assert func is not None
    assert [p.name for p in view(btf, func.type_id).params()] == [  # as bpftool shows
        "map", "key", "__ur_1", "__ur_2", "__ur_3"]
    assert func.linkage == "static"

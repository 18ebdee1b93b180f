"""The running kernel's BTF (``/sys/kernel/btf/vmlinux``, a different kernel and pahole
than the corpus) as extra real input: it round-trips, dedup of an already deduplicated
BTF changes no type, sort orders by name and is stable (sorting again changes nothing),
and the result passes the kernel load checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from btfids.btf import Btf
from btfids.btf import kinds as K
from btfids.btf.check import check_btf
from btfids.btf.dedup import dedup
from btfids.btf.sort import sort_by_name

SYS_BTF = Path("/sys/kernel/btf/vmlinux")

pytestmark = pytest.mark.skipif(not SYS_BTF.is_file(), reason="no /sys/kernel/btf/vmlinux")


def _normalised(btf: Btf) -> list[tuple[object, ...]]:
    """Every type with its string fields replaced by the strings themselves."""
    out = []
    for _, t in btf.iter_own():
        words: list[object] = list(t)
        for s in K.str_slots(t):
            words[s] = btf.str_at(t[s])
        out.append(tuple(words))
    return out


@pytest.fixture(scope="module")
def running() -> bytes:
    return SYS_BTF.read_bytes()


def test_round_trip(running: bytes) -> None:
    btf = Btf.parse(running)
    btf.make_modifiable()
    assert btf.raw_data() == running


def test_dedup_of_deduplicated_btf_changes_no_type(running: bytes) -> None:
    before = Btf.parse(running)
    after = Btf.parse(running)
    dedup(after)
    assert _normalised(after) == _normalised(before)


def test_sort_is_ordered_stable_and_loadable(running: bytes) -> None:
    btf = Btf.parse(running)
    dedup(btf)
    names_before = sorted(btf.name(i) for i in range(1, btf.type_cnt))
    sort_by_name(btf)
    names = [btf.name(i) for i in range(1, btf.type_cnt)]
    assert names == names_before  # a permutation, in byte order
    once = btf.raw_data()
    again = Btf.parse(once)
    sort_by_name(again)
    assert again.raw_data() == once
    assert check_btf(again) == []

"""Each pass's semantic changes (btfids/passchanges.py) on the kfunc selftest (gcc +
pahole): the interleaved kfunc group is split per pass, and the passes' changes add up
to the diff of input and output."""

from __future__ import annotations

import io
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from selftest import build as B

from btfids import host
from btfids.btf.semdiff import diff
from btfids.btfio import load_btf
from btfids.context import Log
from btfids.report import Report

pytestmark = pytest.mark.skipif(
    bool(B.missing_tools()), reason=f"needs {', '.join(B.missing_tools())}")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[B.Objects, Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("passchanges")
    objs = B.build(out)
    elf = out / "run.o"
    shutil.copyfile(objs.ids, elf)
    pipe, pm = B.pipeline(B.KFUNC_PASSES + B.finalize_passes())
    rep = Report(changes=True)
    host.run(pipe, host.RunOptions(str(elf), btf=str(objs.data)), pm=pm,
             log=Log(0, io.StringIO()), report=rep)
    return objs, elf, {p["name"]: p["changes"] for p in rep.data["passes"]}


def test_kfunc_group_split_per_pass(run: Any) -> None:
    _, _, ch = run
    assert ch["bpf-kfunc-tag"]["added"]["by_kind"] == {"DECL_TAG": 14}
    assert ch["fastcall-tag"]["added"]["by_kind"] == {"DECL_TAG": 2}
    impl = ch["implicit-args"]
    assert impl["added"]["by_kind"] == {"DECL_TAG": 1, "FUNC": 4, "FUNC_PROTO": 1}
    assert impl["changed"]["first"] == ["FUNC kfunc_impl_arena", "FUNC kfunc_impl_legacy",
                                        "FUNC kfunc_impl_mid", "FUNC kfunc_impl_tail"]
    arena = ch["arena"]
    assert arena["added"]["count"] == 0 and arena["changed"]["by_kind"] == {"FUNC": 7}
    for name in ("kfunc-discovery", "bpf-kfunc-tag", "fastcall-tag", "implicit-args",
                 "arena"):
        assert ch[name]["renumbered"] == 0 and ch[name]["removed"]["count"] == 0
    assert ch["sort"]["renumbered"] > 0
    assert [ch["sort"][k]["count"] for k in ("added", "removed", "changed")] == [0, 0, 0]


def test_passes_add_up_to_the_whole_diff(run: Any) -> None:
    objs, elf, ch = run
    whole = diff(load_btf(str(objs.data)), load_btf(f"{elf}.BTF"))
    assert Counter(e["kind"] for e in whole.added) == sum(
        (Counter(c["added"]["by_kind"]) for c in ch.values()), Counter())
    # a FUNC both implicit-args and arena changed counts once in the whole diff
    assert {e["name"] for e in whole.changed} == {
        "kfunc_impl_arena", "kfunc_impl_legacy", "kfunc_impl_mid", "kfunc_impl_tail",
        "kfunc_c", "kfunc_d", "kfunc_e", "kfunc_f", "kfunc_g", "kfunc_twice"}
    assert not whole.removed

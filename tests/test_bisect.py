"""Bisect: find the pass that breaks a check, in O(log n) runs."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import hostplugins as hp
import pytest

from btfids import config as C
from btfids import host, plugins
from btfids.errors import BtfidsError

# good = the written .BTF parses (libbpf's checks) and {dir} holds the expected files
CHECK = [
    sys.executable, "-c",
    "import sys; from btfids.btf import Btf; Btf.parse(open(sys.argv[1], 'rb').read())",
    "{btf}",
]


@pytest.fixture()
def pm():  # type: ignore[no-untyped-def]
    hp.EVENTS.clear()
    return plugins.make_manager(entry_points=False, env=False, extra=[("hostplugins", hp)])


def make(tmp: Path, pm, order: list[str]):  # type: ignore[no-untyped-def]
    f = tmp / "cfg.toml"
    f.write_text(f"pipeline = {order!r}\n".replace("'", '"'))
    return C.build_pipeline(C.load(str(f)), plugins.collect_passes(pm))


ORDER = ["t-discover", "t-tag", "t-mid", "t-typedef", "t-corrupt", "t-note", "t-warn"]


def test_bisect_finds_broken_pass(tmp_path: Path, pm) -> None:  # type: ignore[no-untyped-def]
    elf = hp.elf_with_btf(tmp_path)
    lines: list[str] = []
    res = host.bisect(make(tmp_path, pm, ORDER), host.RunOptions(str(elf)), CHECK, pm=pm,
                      echo=lines.append)
    assert res.culprit == "t-corrupt"
    assert len(res.steps) <= 2 + math.ceil(math.log2(len(ORDER)))
    # each step printed, with its verdict; the prefix runs are consistent
    assert len([x for x in lines if "passes enabled" in x]) == len(res.steps)
    for step in res.steps:
        assert step.good == ("t-corrupt" not in step.passes)
    assert res.confirmed is True and res.disabled_for_confirm == ["t-corrupt"]
    assert "first bad pass: t-corrupt" in lines[-2]
    assert lines[-1].startswith("bisect: confirm: all but t-corrupt: good")
    # what the culprit did, as a semantic diff of its own run
    entry = res.culprit_entry
    assert entry is not None and entry["name"] == "t-corrupt"
    assert entry["changes"]["added"] == {"count": 1, "by_kind": {"FUNC": 1},
                                         "first": ["FUNC broken"]}
    # the ELF's directory is untouched: trials ran in scratch directories
    assert hp.listing(tmp_path) == ["cfg.toml", "mod.ko"]


@pytest.mark.parametrize("position", range(len(ORDER) - 1))
def test_bisect_every_position(tmp_path: Path, pm, position: int) -> None:  # type: ignore[no-untyped-def]
    order = [n for n in ORDER if n not in ("t-corrupt", "t-discover", "t-tag")]
    order = ["t-discover", "t-tag", *order]
    order.insert(min(position, len(order)), "t-corrupt")
    # t-tag needs t-discover: keep it valid by only placing t-corrupt around them
    elf = hp.elf_with_btf(tmp_path)
    res = host.bisect(make(tmp_path, pm, order), host.RunOptions(str(elf)), CHECK, pm=pm,
                      confirm=False)
    assert res.culprit == "t-corrupt"
    assert len(res.steps) <= 2 + math.ceil(math.log2(len(order)))


def test_confirm_disables_dependants(tmp_path: Path, pm) -> None:  # type: ignore[no-untyped-def]
    """t-after needs t-corrupt: blaming t-corrupt also switches t-after off to confirm."""
    elf = hp.elf_with_btf(tmp_path)
    order = ["t-mid", "t-corrupt", "t-typedef", "t-after"]
    res = host.bisect(make(tmp_path, pm, order), host.RunOptions(str(elf)), CHECK, pm=pm)
    assert res.culprit == "t-corrupt"
    assert res.disabled_for_confirm == ["t-corrupt", "t-after"] and res.confirmed is True


def test_good_with_all_passes(tmp_path: Path, pm) -> None:  # type: ignore[no-untyped-def]
    elf = hp.elf_with_btf(tmp_path)
    env_check = [sys.executable, "-c",
                 "import os, sys; sys.exit(0 if os.path.isfile(os.environ['BTFIDS_BTF']) "
                 "and os.environ['BTFIDS_ELF'].endswith('mod.ko') else 1)"]
    res = host.bisect(make(tmp_path, pm, ["t-discover", "t-tag", "t-mid"]),
                      host.RunOptions(str(elf)), env_check, pm=pm)
    assert res.culprit is None and "nothing to find" in res.message
    assert [s.good for s in res.steps] == [True, True]


def test_run_failure_counts_as_bad(tmp_path: Path, pm) -> None:  # type: ignore[no-untyped-def]
    elf = hp.elf_with_btf(tmp_path)
    lines: list[str] = []
    res = host.bisect(make(tmp_path, pm, ["t-mid", "t-boom", "t-typedef"]),
                      host.RunOptions(str(elf)), [sys.executable, "-c", "pass"], pm=pm,
                      echo=lines.append)
    assert res.culprit == "t-boom"
    assert any("run failed: FAILED: plugin 'hostplugins' raised in pass 't-boom'" in x
               for x in lines)
    assert res.culprit_entry is None    # the culprit raised: nothing it changed to show


def test_bad_without_passes(tmp_path: Path, pm) -> None:  # type: ignore[no-untyped-def]
    elf = hp.elf_with_btf(tmp_path)
    res = host.bisect(make(tmp_path, pm, ["t-mid"]), host.RunOptions(str(elf)),
                      [sys.executable, "-c", "raise SystemExit(3)"], pm=pm)
    assert res.culprit is None and "not caused by a pass" in res.message
    assert len(res.steps) == 1


def test_bisect_refuses_legacy_and_empty_check(tmp_path: Path, pm) -> None:  # type: ignore[no-untyped-def]
    pipe = host.prepare("linux-6.12")
    with pytest.raises(BtfidsError, match="runs no passes"):
        host.bisect(pipe, host.RunOptions("x"), CHECK, pm=pm)
    with pytest.raises(BtfidsError, match="no check command"):
        host.bisect(make(tmp_path, pm, ["t-mid"]), host.RunOptions("x"), [], pm=pm)

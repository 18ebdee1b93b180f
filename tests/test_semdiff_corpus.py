"""The semantic diff and each pass's changes on the real Debian kernel.

Debian's vmlinux ``.BTF`` against btfids' newest output differs by exactly the 132
``bpf_kfunc`` decl tags (one per kfunc) and a renumbering; for a module with kfunc sets,
``btfids diff`` of input and output agrees with the changes the passes report.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_host_corpus import preresolve

from btfids import host
from btfids.cli import app
from btfids.context import Log
from btfids.report import Report

pytestmark = pytest.mark.corpus
MODULE = "net/netfilter/nf_conntrack.ko"


def run_with_changes(elf: Path, base: Path | None = None,
                     distill: bool = False) -> tuple[Any, dict[str, Any]]:
    rep = Report(changes=True)
    res = host.run(host.prepare("bpf-next"),
                   host.RunOptions(str(elf), btf_base=str(base) if base else None,
                                   distill_base=distill),
                   log=Log(0, io.StringIO()), report=rep)
    assert res.exit_code == 0
    return res, rep.data


@pytest.fixture(scope="module")
def vmlinux_run(corpus: Path, golden: Path, tmp_path_factory: pytest.TempPathFactory,
                ) -> tuple[Path, Any, dict[str, Any]]:
    elf = preresolve(corpus / "vmlinux", golden / "classic" / "vmlinux.BTF_ids.pre",
                     tmp_path_factory.mktemp("semdiff") / "vmlinux")
    res, data = run_with_changes(elf)
    return elf, res, data


def diff_json(*argv: str) -> tuple[int, dict[str, Any]]:
    r = CliRunner().invoke(app.cli, ["diff", "--json", *argv])
    assert r.exit_code in (0, 1), r.output
    return r.exit_code, json.loads(r.output)


def test_vmlinux_diff_is_the_kfunc_tags(corpus: Path, vmlinux_run: Any) -> None:
    elf, res, _ = vmlinux_run
    code, d = diff_json(str(corpus / "vmlinux"), f"{elf}.BTF")
    assert code == 1
    assert d["removed"] == [] and d["changed"] == []
    assert len(d["added"]) == 132
    assert {(e["kind"], e["name"], e["component_idx"]) for e in d["added"]} == {
        ("DECL_TAG", "bpf_kfunc", -1)}
    kfuncs = sorted(k.name.decode() for k in res.ctx.kfuncs)
    assert sorted(e["target"] for e in d["added"]) == kfuncs
    assert d["renumbered"] > 100_000       # the sort moved nearly every type


def test_vmlinux_pass_changes(vmlinux_run: Any) -> None:
    _, _, data = vmlinux_run
    changes = {p["name"]: p["changes"] for p in data["passes"]}
    tag = changes.pop("bpf-kfunc-tag")
    assert tag["added"]["count"] == 132 and tag["added"]["by_kind"] == {"DECL_TAG": 132}
    assert tag["added"]["first"][0].startswith("DECL_TAG bpf_kfunc -> ")
    assert tag["removed"]["count"] == tag["changed"]["count"] == tag["renumbered"] == 0
    for name, ch in changes.items():
        assert [ch[k]["count"] for k in ("added", "removed", "changed")] == [0, 0, 0], name
    assert changes["sort"]["renumbered"] > 100_000
    assert changes["dedup"]["renumbered"] == 0


def test_module_diff_agrees_with_the_passes(corpus: Path, golden: Path,
                                            tmp_path: Path) -> None:
    base = corpus / "btf-vmlinux"
    elf = preresolve(corpus / "modules" / MODULE,
                     golden / "classic" / "modules" / (MODULE + ".BTF_ids.pre"),
                     tmp_path / "nf_conntrack.ko")
    _, data = run_with_changes(elf, base)
    code, d = diff_json("-b", str(base), str(elf), f"{elf}.BTF")
    assert code == 1
    for label in ("added", "removed", "changed"):
        by_passes: Counter[str] = Counter()
        for p in data["passes"]:
            by_passes.update(p["changes"][label]["by_kind"])
        assert Counter(e["kind"] for e in d[label]) == by_passes, label
    stats = {p["name"]: p.get("stats", {}) for p in data["passes"]}
    assert len(d["added"]) == stats["bpf-kfunc-tag"]["tags_added"] == 10
    # dedup moved the module's own copy of a base struct to the base
    assert [(e["kind"], e["name"]) for e in d["removed"]] == [("STRUCT", "rcuwait")]


def test_distilled_module_on_two_bases(corpus: Path, golden: Path, tmp_path: Path) -> None:
    """OLD on vmlinux, NEW on its distilled base: the typedefs distilling moved into
    the module are added and say they come from the old base."""
    base = corpus / "btf-vmlinux"
    elf = preresolve(corpus / "modules" / MODULE,
                     golden / "classic" / "modules" / (MODULE + ".BTF_ids.pre"),
                     tmp_path / "nf_conntrack.ko")
    _, data = run_with_changes(elf, base, distill=True)
    code, d = diff_json("-b", str(base), "-b", f"{elf}.BTF.base", str(elf), f"{elf}.BTF")
    assert code == 1 and d["changed"] == []
    kinds = Counter(e["kind"] for e in d["added"])
    moved = data["passes"][[p["name"] for p in data["passes"]].index("base-btf")]
    assert kinds == {"DECL_TAG": 10, "TYPEDEF": moved["changes"]["added"]["count"]}
    assert all(e.get("from_base") for e in d["added"] if e["kind"] == "TYPEDEF")
    assert [(e["kind"], e["name"]) for e in d["removed"]] == [("STRUCT", "rcuwait")]


def test_bisect_prints_the_culprits_changes(corpus: Path, tmp_path: Path) -> None:
    mod = tmp_path / "fou.ko"
    mod.write_bytes((corpus / "modules" / "net" / "ipv4" / "fou.ko").read_bytes())
    check = ["sh", "-c", "! grep -q bpf_kfunc {btf}"]
    r = CliRunner().invoke(app.cli, ["bisect", "-b", str(corpus / "btf-vmlinux"),
                                     str(mod), "--", *check])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    at = lines.index("bisect: what the culprit changed:")
    assert "first bad pass: bpf-kfunc-tag" in r.output
    assert lines[at + 1] == "  bpf-kfunc-tag: +2 (2 DECL_TAG)"
    assert sorted(lines[at + 2:at + 4]) == [
        "      + DECL_TAG bpf_kfunc -> bpf_skb_get_fou_encap",
        "      + DECL_TAG bpf_kfunc -> bpf_skb_set_fou_encap"]

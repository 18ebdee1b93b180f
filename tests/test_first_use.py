"""Issue 22: first use as a kernel developer would, through the command lines: config
semantics, early validation of option values, errors that name the user's input, batch
output, the --report JSON, bisect and CLI consistency. Real corpus modules where it
matters; every check runs the installed entry points in a subprocess."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import hostplugins as hp
import jsonschema
import pytest
from test_kbuild import make_tree

from btfids.btf import kinds as K
from btfids.btfio import load_btf

TESTS = str(Path(__file__).resolve().parent)
MODS = {"fou": "net/ipv4/fou.ko", "bbr": "net/ipv4/tcp_bbr.ko", "crc7": "lib/crc7.ko"}


def btfids(*args: str, cwd: Path, env: dict[str, str] | None = None,
           stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("BTFIDS_CONFIG", "BTFIDS_PLUGINS")}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "btfids.cli.app", *args], cwd=cwd, env=full,
                          capture_output=True, text=True, input=stdin)


def resolve_btfids(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BTFIDS_CONFIG", "BTFIDS_PLUGINS")}
    return subprocess.run([sys.executable, "-m", "btfids.cli.resolve_btfids", *args], cwd=cwd,
                          env=env, capture_output=True, text=True)


def module(corpus: Path, tmp: Path, key: str) -> Path:
    dst = tmp / Path(MODS[key]).name
    shutil.copyfile(corpus / "modules" / MODS[key], dst)
    return dst


def tags(path: Path, base: Path, name: bytes = b"bpf_kfunc") -> int:
    btf = load_btf(str(path), load_btf(str(base)))
    return sum(1 for _, t in btf.iter_own()
               if K.kind_of(t[1]) == K.DECL_TAG and btf.str_at(t[0]) == name)


# ------------------------------------------------------------------ item 1
@pytest.mark.corpus
@pytest.mark.parametrize("text", ["", "[passes.fastcall-tag]\nenabled = false\n"])
def test_btfids_toml_without_extends_runs_the_default_pipeline(
    corpus: Path, tmp_path: Path, text: str
) -> None:
    """An empty btfids.toml (or one that only switches a pass off) used to run no pass:
    no bpf_kfunc tags, no dedup, no sort, exit 0."""
    ko = module(corpus, tmp_path, "fou")
    base = corpus / "btf-vmlinux"
    r = btfids("run", "-b", str(base), ko.name, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    default = (tmp_path / "fou.ko.BTF").read_bytes()
    (tmp_path / "btfids.toml").write_text(text)
    r = btfids("run", "-b", str(base), ko.name, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert tags(tmp_path / "fou.ko.BTF", base) == 2
    assert (tmp_path / "fou.ko.BTF").read_bytes() == default  # fastcall-tag adds none here
    r = btfids("check", cwd=tmp_path)
    assert "extends preset bpf-next implicitly" in r.stdout
    assert ("8/8" if not text else "7/8") + " passes enabled" in r.stdout


def test_explicit_empty_pipeline_is_said_by_check(tmp_path: Path) -> None:
    (tmp_path / "btfids.toml").write_text("pipeline = []\n")
    r = btfids("check", cwd=tmp_path)
    assert r.returncode == 0
    assert f"0/0 passes enabled; empty pipeline, set in {tmp_path / 'btfids.toml'}" in r.stdout


# ------------------------------------------------------------------ item 2
BAD_OPTIONS = [
    ("[passes.fastcall-tag]\nfastcall_bit = 40\n", "passes.fastcall-tag.fastcall_bit",
     "40 is too large: allowed is an integer 0..31"),
    ('[passes.kfunc-discovery]\nflag_mismatch = "warn"\n', "passes.kfunc-discovery.flag_mismatch",
     '"warn" is not allowed: allowed is one of "error", "warn-or"'),
    ("[passes.base-btf]\nhdr_len = 28\n", "passes.base-btf.hdr_len",
     "allowed is one of 24, 32"),
]


@pytest.mark.corpus
@pytest.mark.parametrize(("text", "key", "allowed"), BAD_OPTIONS)
def test_option_values_are_refused_before_any_run(
    corpus: Path, tmp_path: Path, text: str, key: str, allowed: str
) -> None:
    """Each command that reads the config refuses the value, naming file and key, before
    it reads an ELF — also on a module without .BTF_ids, where the pass has no work."""
    toml = tmp_path / "btfids.toml"
    toml.write_text(text)
    want = f"config error: {toml}: {key}: "
    ko = module(corpus, tmp_path, "crc7")
    for args in (["passes"], ["check"], ["run", "-b", str(corpus / "btf-vmlinux"), ko.name]):
        r = btfids(*args, cwd=tmp_path)
        assert r.returncode == 255, (args, r.stdout, r.stderr)
        assert r.stderr.startswith("btfids: " + want) and allowed in r.stderr, r.stderr
        assert r.stderr.count("\n") == 1
    assert not list(tmp_path.glob("crc7.ko.*"))
    r = resolve_btfids("-b", str(corpus / "btf-vmlinux"), ko.name, cwd=tmp_path)
    assert r.returncode == 255 and r.stderr.startswith(want), r.stderr
    tree = make_tree(tmp_path / "linux", "newest")
    shutil.copyfile(toml, tree / "btfids.toml")
    r = btfids("kbuild", str(tree), cwd=tmp_path)
    assert r.returncode == 1
    assert f"error: config error: {tree.resolve() / 'btfids.toml'}: {key}: " in r.stdout


# ------------------------------------------------------------------ item 3
def test_errors_name_the_flag_and_the_variable(tmp_path: Path) -> None:
    r = btfids("passes", "--disable", "kfunc-discovery", cwd=tmp_path)
    assert r.returncode == 255
    line = r.stderr.strip()
    assert line.startswith("btfids: config error: command line: --disable kfunc-discovery: ")
    for dep in ("bpf-kfunc-tag", "fastcall-tag", "implicit-args", "arena"):
        assert f"'{dep}' (plugin kfunc)" in line and f"--disable {dep}" in line
    (tmp_path / "btfids.toml").write_text("[passes.kfunc-discovery]\nenabled = false\n")
    r = btfids("check", cwd=tmp_path)
    assert r.stderr.startswith(
        f"btfids: config error: {tmp_path / 'btfids.toml'}: passes.kfunc-discovery.enabled: ")
    assert "[passes.bpf-kfunc-tag], [passes.fastcall-tag], [passes.implicit-args], " \
        "[passes.arena]" in r.stderr
    r = btfids("passes", cwd=tmp_path, env={"BTFIDS_CONFIG": "nope.toml"})
    assert r.stderr.startswith("btfids: config error: $BTFIDS_CONFIG=nope.toml: no such file")
    assert "unset BTFIDS_CONFIG" in r.stderr


# ------------------------------------------------------------------ items 4 and 5
SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "docs"
                     / "report.schema.json").read_text())


def valid(doc: dict[str, Any]) -> dict[str, Any]:
    jsonschema.validate(doc, SCHEMA)
    return doc


def with_plugins(tmp: Path) -> dict[str, str]:
    return {"BTFIDS_PLUGINS": "hostplugins", "PYTHONPATH": TESTS}


def test_batch_warnings_name_their_elf_and_summary(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = hp.elf_with_btf(tmp_path / "a"), hp.elf_with_btf(tmp_path / "b")
    c = tmp_path / "c.toml"
    c.write_text('pipeline = ["t-discover", "t-tag", "t-warn"]\n')
    r = btfids("run", "--config", str(c), "--report", "r.json", str(a), str(b), "nope.ko",
               cwd=tmp_path, env=with_plugins(tmp_path))
    assert r.returncode == 255
    lines = r.stderr.splitlines()
    assert lines[:2] == [f"btfids: {a}: WARN: resolve_btfids: test warning",
                         f"btfids: {b}: WARN: resolve_btfids: test warning"]
    assert lines[2].startswith("btfids: nope.ko: FAILED cannot open nope.ko")
    assert re.fullmatch(r"btfids: 3 ELF files, 0 with \.BTF_ids, 4 kfuncs, 2 warnings, "
                        r"1 failed, \d+\.\d\d s", lines[3]), lines[3]
    doc = valid(json.loads((tmp_path / "r.json").read_text()))
    assert [f["input"].get("elf") for f in doc["files"]] == [str(a), str(b), "nope.ko"]
    assert [f["exit_code"] for f in doc["files"]] == [0, 0, 255]
    assert doc["files"][0]["warnings"] == ["WARN: resolve_btfids: test warning"]
    assert doc["summary"]["warnings"] == 2 and doc["exit_code"] == 255


@pytest.mark.corpus
def test_report_is_right_and_matches_the_schema(corpus: Path, tmp_path: Path) -> None:
    bbr = module(corpus, tmp_path, "bbr")
    base = corpus / "btf-vmlinux"
    vmlinux = load_btf(str(base))
    before = load_btf(str(bbr), vmlinux)
    r = btfids("run", "-b", str(base), "--report", "r.json", bbr.name, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rep = valid(json.loads((tmp_path / "r.json").read_text()))
    after = load_btf(str(tmp_path / "tcp_bbr.ko.BTF"), vmlinux)
    # kfunc IDs: both, each in its own BTF
    assert rep["kfuncs"]["count"] == 8
    for k in rep["kfuncs"]["list"]:
        assert before.name(k["input_id"]) == k["name"].encode() == after.name(k["output_id"])
        assert before.kind(k["input_id"]) == K.FUNC == after.kind(k["output_id"])
        assert re.fullmatch("0x[0-9a-f]+", k["flags"])
    assert any(k["input_id"] != k["output_id"] for k in rep["kfuncs"]["list"])  # sorted
    # every pass entry has the same keys; kfunc-scope figures are each pass's own
    passes = {p["name"]: p for p in rep["passes"]}
    assert len({tuple(p) for p in rep["passes"]}) == 1
    tag, fast = passes["bpf-kfunc-tag"], passes["fastcall-tag"]
    assert tag["group"] == ["bpf-kfunc-tag", "fastcall-tag", "implicit-args", "arena"]
    assert (tag["types_added"], tag["decl_tags_added"], tag["stats"]) == (
        8, {"bpf_kfunc": 8}, {"tags_added": 8})
    assert tag["types_after"] - tag["types_before"] == 8
    assert (fast["types_added"], fast["stats"], fast["types_before"]) == (
        0, {}, tag["types_after"])
    assert passes["kfunc-discovery"]["group"] is None
    # the legacy flow and a failing run validate too
    r = btfids("run", "--config", "linux-6.12", "--report", "l.json", "-b", str(base),
               module(corpus, tmp_path, "fou").name, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    valid(json.loads((tmp_path / "l.json").read_text()))
    r = btfids("run", "--report", "f.json", "missing.ko", cwd=tmp_path)
    assert r.returncode == 255
    assert valid(json.loads((tmp_path / "f.json").read_text()))["error"].startswith("FAILED")


@pytest.mark.corpus
def test_batch_report_with_workers(corpus: Path, tmp_path: Path) -> None:
    kos = [module(corpus, tmp_path, k).name for k in ("fou", "bbr", "crc7")]
    r = btfids("run", "-j", "2", "-b", str(corpus / "btf-vmlinux"), "--report", "r.json",
               *kos, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = valid(json.loads((tmp_path / "r.json").read_text()))
    assert doc["summary"] | {"seconds": 0} == {"files": 3, "with_btf_ids": 2, "kfuncs": 10,
                                               "warnings": 0, "failed": 0, "seconds": 0}
    assert [f["kfuncs"]["count"] for f in doc["files"]] == [2, 8, 0]


# ------------------------------------------------------------------ item 7
BISECT_CFG = 'pipeline = ["t-discover", "t-tag", "t-corrupt", "t-note"]\n'


def test_bisect_check_runs_in_the_callers_directory(tmp_path: Path) -> None:
    """CHECK runs where the user started bisect (a relative script path works), and
    {btf_base} is the -b base, not the distilled output."""
    elf = hp.elf_with_btf(tmp_path)
    base = hp.elf_with_btf(tmp_path, "base.btf")
    (tmp_path / "c.toml").write_text(BISECT_CFG)
    (tmp_path / "check.sh").write_text(
        'test "$1" = "$BTFIDS_BTF_BASE" || exit 3\n'
        'echo "$PWD $1 $2" >> seen.txt\n'
        'exec "$3" -c "import sys; from btfids.btfio import load_btf; '
        'load_btf(sys.argv[1], load_btf(sys.argv[2]))" "$2" "$1"\n')
    r = btfids("bisect", "--config", "c.toml", "-b", str(base), str(elf), "--", "sh",
               "./check.sh", "{btf_base}", "{btf}", sys.executable,
               cwd=tmp_path, env=with_plugins(tmp_path))
    assert r.returncode == 0, r.stderr + r.stdout
    assert "first bad pass: t-corrupt" in r.stdout
    cwds = {line.split()[0] for line in (tmp_path / "seen.txt").read_text().splitlines()}
    bases = {line.split()[1] for line in (tmp_path / "seen.txt").read_text().splitlines()}
    assert cwds == {str(tmp_path)} and bases == {str(base)}


def test_bisect_missing_check_program_is_one_line(tmp_path: Path) -> None:
    elf = hp.elf_with_btf(tmp_path)
    (tmp_path / "c.toml").write_text(BISECT_CFG)
    r = btfids("bisect", "--config", "c.toml", str(elf), "--", "no-such-check-program",
               cwd=tmp_path, env=with_plugins(tmp_path))
    assert r.returncode == 255
    assert r.stderr == ("btfids: bisect: cannot run CHECK 'no-such-check-program': "
                        "No such file or directory\n")


def test_bisect_help_documents_exit_codes_and_placeholders(tmp_path: Path) -> None:
    out = btfids("bisect", "--help", cwd=tmp_path).stdout
    for word in ("Exit status", "0 culprit found", "2 no culprit", "255", "{btf_base}",
                 "{distilled_base}", "current directory"):
        assert word in " ".join(out.split()), word


# ------------------------------------------------------------------ item 9
ROOT = Path(__file__).resolve().parent.parent


def test_kbuild_help_is_in_the_front_ends_style(tmp_path: Path) -> None:
    out = btfids("kbuild", "--help", cwd=tmp_path).stdout
    assert "Usage: btfids kbuild [OPTIONS] [SRCTREE]" in out and "╭─ Options" in out
    for opt in ("--objtree", "--tool", "--json", "--write"):
        assert opt in out


def test_every_option_has_help() -> None:
    import click

    from btfids.cli import app

    def walk(cmd: click.Command, path: str) -> Any:
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                yield from walk(sub, f"{path} {name}")
        else:
            yield path, cmd

    missing = [(path, p.opts) for path, cmd in walk(app.cli, "btfids") for p in cmd.params
               if isinstance(p, click.Option) and not p.help]
    assert missing == []


def test_verbose_is_a_count_and_takes_no_value(tmp_path: Path) -> None:
    elf = hp.elf_with_btf(tmp_path)
    c = tmp_path / "c.toml"
    c.write_text('pipeline = ["t-discover", "t-tag"]\n')
    env = with_plugins(tmp_path)
    quiet = btfids("run", "--config", str(c), "-v", str(elf), cwd=tmp_path, env=env)
    loud = btfids("run", "--config", str(c), "-vv", str(elf), cwd=tmp_path, env=env)
    assert quiet.returncode == loud.returncode == 0, quiet.stderr + loud.stderr
    assert "Dumped" in quiet.stderr and "btfids: pass t-tag" not in quiet.stderr
    assert "btfids: pass t-tag" in loud.stderr
    r = btfids("inspect", "ids", "-v", str(elf), cwd=tmp_path)
    assert r.returncode == 0 and "no .BTF_ids section" in r.stdout


def test_readme_shows_pip_install_beside_make_demo() -> None:
    quick = (ROOT / "README.md").read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "make demo" in quick and "pip install ." in quick


def test_run_output_dir(tmp_path: Path) -> None:
    src, out = tmp_path / "ro", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    elf = hp.elf_with_btf(src)
    c = tmp_path / "c.toml"
    c.write_text('pipeline = ["t-discover", "t-tag"]\n')
    env = with_plugins(tmp_path)
    r = btfids("run", "--config", str(c), str(elf), cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    beside = (src / "mod.ko.BTF").read_bytes()
    (src / "mod.ko.BTF").unlink()
    src.chmod(0o555)
    try:
        r = btfids("run", "--config", str(c), "--output-dir", str(out), str(elf),
                   cwd=tmp_path, env=env)
    finally:
        src.chmod(0o755)
    assert r.returncode == 0, r.stderr
    assert hp.listing(src) == ["mod.ko"] and hp.listing(out) == ["mod.ko.BTF"]
    assert (out / "mod.ko.BTF").read_bytes() == beside
    r = btfids("run", "--config", "linux-6.12", "-o", str(out), str(elf), cwd=tmp_path)
    assert r.returncode == 255 and "--output-dir" in r.stderr
    r = btfids("run", "-o", str(out), str(elf), str(elf), cwd=tmp_path)
    assert r.returncode == 2 and "two ELFs are named 'mod.ko'" in r.stderr


# ------------------------------------------------------------------ item 6
def doc_blocks(lang: str) -> list[str]:
    text = (ROOT / "docs" / "plugins.md").read_text()
    section = text.split("## A complete pass, from nothing", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{lang}\n(.*?)```", section, re.S)


@pytest.mark.corpus
def test_the_plugin_docs_example_runs_as_a_local_file(corpus: Path, tmp_path: Path) -> None:
    """docs/plugins.md's complete pass, saved as a file and loaded by path through
    $BTFIDS_PLUGINS, runs where its btfids.toml puts it on a real module."""
    (code,), (toml,) = doc_blocks("python"), doc_blocks("toml")
    (tmp_path / "tag_static.py").write_text(code)
    env = {"BTFIDS_PLUGINS": "./tag_static.py"}
    r = btfids("passes", "--json", cwd=tmp_path, env=env)
    listed = json.loads(r.stdout)
    assert "tag-static" in listed["not_in_pipeline"], r.stderr
    (tmp_path / "btfids.toml").write_text(toml)
    ko = module(corpus, tmp_path, "fou")
    base = corpus / "btf-vmlinux"
    r = btfids("run", "-b", str(base), "--report", "r.json", ko.name, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    rep = valid(json.loads((tmp_path / "r.json").read_text()))
    names = [p["name"] for p in rep["passes"]]
    assert names[:3] == ["kfunc-discovery", "bpf-kfunc-tag", "tag-static"]
    assert rep["passes"][2]["stats"] == {"tagged": 2}
    assert tags(tmp_path / "fou.ko.BTF", base, b"static_kfunc") == 2
    assert tags(tmp_path / "fou.ko.BTF", base) == 2


def test_passes_lists_every_option(tmp_path: Path) -> None:
    data = json.loads(btfids("passes", "--json", cwd=tmp_path).stdout)
    opts = {p["name"]: p["options"] for p in data["pipeline"]}
    assert opts["base-btf"]["hdr_len"] == {"value": 32, "default": 32,
                                           "allowed": "one of 24, 32",
                                           "help": opts["base-btf"]["hdr_len"]["help"]}
    assert opts["fastcall-tag"]["fastcall_bit"]["allowed"] == "an integer 0..31"
    assert opts["kfunc-discovery"]["flag_mismatch"]["allowed"] == 'one of "error", "warn-or"'
    assert all(o["help"] for p in opts.values() for o in p.values())
    text = btfids("passes", "--options", cwd=tmp_path).stdout
    passes_md = (ROOT / "docs" / "passes.md").read_text()
    for name, table in opts.items():
        assert f"\n{name}:" in text and f"`{name}`" in passes_md
        for option in table:
            assert f"  {option} = " in text
            assert f"`{option}`" in passes_md, (name, option)


# ------------------------------------------------------------------ item 8
needs_bpftool = pytest.mark.skipif(shutil.which("bpftool") is None, reason="no bpftool")


def bpftool_dump(path: Path, base: Path | None = None) -> bytes:
    args = ["bpftool", "btf", "dump", "file", str(path)] + (["-B", str(base)] if base else [])
    return subprocess.run(args, capture_output=True, check=True).stdout


def every_kind_btf() -> bytes:
    """A BTF with every kind bpftool prints, and the variants it prints differently."""
    from btfids.btf import Btf

    b = Btf(hdr_len=24)
    i = b.add_type_words([b.add_str("int"), K.make_info(K.INT), 4, (1 << 24) | 32])  # 1
    b.add_type_words([b.add_str("_Bool"), K.make_info(K.INT), 1, (4 << 24) | 8])  # 2
    b.add_type_words([b.add_str("char"), K.make_info(K.INT), 1, (2 << 24) | 8])  # 3
    b.add_type_words([b.add_str("bits"), K.make_info(K.STRUCT, 2, 1), 4,  # 4: bitfields
                      b.add_str("lo"), i, (3 << 24) | 0, 0, i, (5 << 24) | 3])
    b.add_type_words([0, K.make_info(K.UNION, 1), 4, b.add_str("u"), i, 0])  # 5 anon
    b.add_type_words([b.add_str("se"), K.make_info(K.ENUM, 2, 1), 4,  # 6 signed
                      b.add_str("M1"), 0xFFFFFFFF, b.add_str("P1"), 1])
    b.add_type_words([b.add_str("ue"), K.make_info(K.ENUM, 1), 4, b.add_str("U"), 0xFFFFFFFF])
    b.add_type_words([b.add_str("e64"), K.make_info(K.ENUM64, 2, 1), 8,  # 8
                      b.add_str("N"), 0xFFFFFFFE, 0xFFFFFFFF, b.add_str("B"), 5, 1])
    b.add_type_words([b.add_str("fs"), K.make_info(K.FWD), 0])  # 9
    b.add_type_words([b.add_str("fu"), K.make_info(K.FWD, 0, 1), 0])  # 10
    b.add_ref(K.TYPEDEF, i, "myint")  # 11
    b.add_ref(K.VOLATILE, i)  # 12
    b.add_ref(K.CONST, 12)  # 13
    b.add_ref(K.RESTRICT, b.add_ptr(i))  # 14, 15
    proto = b.add_func_proto(i)  # 16
    b.add_func_param("a", i)
    b.add_func_param("", 0)
    for link in (0, 1, 2):
        b.add_func(f"f{link}", link, proto)  # 17..19
    b.add_type_words([b.add_str("v"), K.make_info(K.VAR), i, 1])  # 20
    b.add_type_words([b.add_str("w"), K.make_info(K.VAR), i, 0])  # 21
    b.add_type_words([b.add_str(".data"), K.make_info(K.DATASEC, 2), 8, 20, 0, 4, 21, 4, 4])
    b.add_type_words([b.add_str("double"), K.make_info(K.FLOAT), 8])  # 23
    b.add_type_words([b.add_str("arr"), K.make_info(K.ARRAY), 0, i, i, 7])  # 24
    b.add_decl_tag("tag", 17, -1)  # 25
    b.add_decl_tag("ptag", 16, 0)  # 26
    b.add_ref(K.TYPE_TAG, i, "ttag")  # 27
    return b.raw_data()


@needs_bpftool
def test_inspect_btf_is_bpftools_dump_for_every_kind(tmp_path: Path) -> None:
    raw = tmp_path / "all.btf"
    raw.write_bytes(every_kind_btf())
    r = subprocess.run([sys.executable, "-m", "btfids.cli.app", "inspect", "btf", str(raw)],
                       capture_output=True, check=True)
    assert r.stdout == bpftool_dump(raw)
    assert b"bitfield_size=3" in r.stdout and b"val=-2LL" in r.stdout


@needs_bpftool
@pytest.mark.corpus
def test_inspect_btf_matches_bpftool_on_the_corpus(corpus: Path, tmp_path: Path) -> None:
    """vmlinux byte for byte, a module as split BTF, and a run's output (with the new
    bpf_kfunc DECL_TAGs); the filters select lines of the same text."""
    base = corpus / "btf-vmlinux"
    ours = btfids("inspect", "btf", str(base), cwd=tmp_path).stdout.encode("latin-1")
    assert ours == bpftool_dump(base)
    ko = module(corpus, tmp_path, "fou")
    r = btfids("run", "-b", str(base), ko.name, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for path in (ko, tmp_path / "fou.ko.BTF"):
        ours = btfids("inspect", "btf", "-b", str(base), str(path), cwd=tmp_path).stdout
        assert ours.encode("latin-1") == bpftool_dump(path, base)
    assert "DECL_TAG 'bpf_kfunc'" in ours
    one = btfids("inspect", "btf", "--kind", "decl_tag", "--limit", "1", "-b", str(base),
                 str(tmp_path / "fou.ko.BTF"), cwd=tmp_path).stdout
    assert one.count("\n") == 1 and one in ours
    # streamed: a closed pipe ends the dump quietly
    p = subprocess.run(f"{sys.executable} -m btfids.cli.app inspect btf {base} | head -2",
                       shell=True, capture_output=True, text=True, cwd=tmp_path)
    assert p.stdout.splitlines()[0].startswith("[1] INT ") and p.stderr == ""


@pytest.mark.corpus
def test_inspect_ids_shows_resolved_ids(corpus: Path, tmp_path: Path) -> None:
    import struct

    ko = module(corpus, tmp_path, "fou")
    base = corpus / "btf-vmlinux"
    assert btfids("run", "-b", str(base), ko.name, cwd=tmp_path).returncode == 0
    out = btfids("inspect", "ids", "-b", str(base), "--btf", "fou.ko.BTF", ko.name,
                 cwd=tmp_path).stdout
    assert "IDs: resolved against fou.ko.BTF" in out and "0 name(s) unresolved" in out
    blob = (tmp_path / "fou.ko.BTF_ids").read_bytes()
    found = re.findall(r"^  (\w+)  @ (\d+)  -> id (\d+)$", out, re.M)
    assert len(found) == 2
    # the IDs the run wrote into .BTF_ids (a set8's entries are sorted by ID, so
    # compare the words at the symbols' offsets as a set)
    assert {struct.unpack_from("<I", blob, int(off))[0] for _n, off, _t in found} == {
        int(tid) for _n, _o, tid in found}
    out = btfids("inspect", "ids", ko.name, cwd=tmp_path).stdout
    assert "IDs: not resolved (FAILED: load BTF from fou.ko" in out
    assert out.count("-> unresolved") == 2

"""Both command lines: resolve_btfids (upstream argv, exit codes, lean start-up) and the
btfids front end (run, passes, bisect, check, inspect, presets)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import hostplugins as hp
import pytest
from click.testing import CliRunner

from btfids import plugins
from btfids.cli import app

ROOT = Path(__file__).resolve().parent.parent
TESTS = str(ROOT / "tests")
NEWEST_USAGE_LEN = 567
LEGACY_USAGE_LEN = 231


LAUNCH = "import sys; from btfids.cli.resolve_btfids import main; sys.exit(main())"


def resolve(*args: str, cwd: Path | None = None, plugins_env: bool = True,
            importtime: bool = False) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=TESTS)
    env.pop("BTFIDS_CONFIG", None)
    if plugins_env:
        env["BTFIDS_PLUGINS"] = "hostplugins"
    # With importtime, start the way the console script does (``-m`` imports runpy's
    # modules, which would hide what the run itself imports).
    launch = (["-X", "importtime", "-c", LAUNCH] if importtime
              else ["-m", "btfids.cli.resolve_btfids"])
    return subprocess.run(
        [sys.executable, *launch, *args],
        cwd=cwd, env=env, capture_output=True, text=True,
    )


def cfg(tmp: Path, text: str) -> str:
    p = tmp / "cfg.toml"
    p.write_text(text)
    return str(p)


# ------------------------------------------------------------------ resolve_btfids
def test_usage_texts_and_129(tmp_path: Path) -> None:
    p = resolve(cwd=tmp_path)
    assert p.returncode == 129 and len(p.stderr) == NEWEST_USAGE_LEN and p.stdout == ""
    assert p.stderr.startswith("\n Usage: resolve_btfids [<options>] <ELF object>\n")
    p = resolve("--help", cwd=tmp_path)
    assert p.returncode == 129 and len(p.stderr) == NEWEST_USAGE_LEN
    p = resolve("a.ko", "-v", cwd=tmp_path)  # options after the ELF are positionals
    assert p.returncode == 129 and len(p.stderr) == NEWEST_USAGE_LEN
    # the 6.12 preset has the 6.12 tool's command line and texts
    p = resolve("--config", "linux-6.12", "-h", cwd=tmp_path)
    assert p.returncode == 129 and len(p.stderr) == LEGACY_USAGE_LEN
    p = resolve("--config", "linux-6.12", "--distill_base", "a.ko", cwd=tmp_path)
    assert p.returncode == 129
    assert p.stderr.startswith("  Error: unknown option `distill_base'\n")
    (tmp_path / "btfids.toml").write_text('extends = "linux-6.12"\n')  # found in the cwd
    p = resolve(cwd=tmp_path)
    assert p.returncode == 129 and len(p.stderr) == LEGACY_USAGE_LEN


def test_one_line_errors(tmp_path: Path) -> None:
    p = resolve("nope.ko", cwd=tmp_path)
    assert (p.returncode, p.stderr) == (
        255, "FAILED cannot open nope.ko: No such file or directory\n")
    (tmp_path / "junk").write_text("junk")
    p = resolve("junk", cwd=tmp_path)
    assert (p.returncode, p.stderr) == (255, "FAILED cannot get shdr str ndx\n")
    elf = hp.elf_with_btf(tmp_path)
    p = resolve("--config", cfg(tmp_path, "pipeline = [\n"), str(elf), cwd=tmp_path)
    assert p.returncode == 255 and p.stderr.count("\n") == 1
    assert p.stderr.startswith(f"config error: {tmp_path}/cfg.toml: invalid TOML")
    p = resolve("--enable", "no-such-pass", str(elf), cwd=tmp_path)
    assert p.returncode == 255 and p.stderr.count("\n") == 1
    assert "command line: --enable no-such-pass: unknown pass" in p.stderr
    p = resolve("--config", "no-such-preset", str(elf), cwd=tmp_path)
    assert p.returncode == 255
    assert p.stderr == ("config error: no-such-preset: no such file or preset (fix: give an "
                        "existing TOML file or a preset (bpf-next, linux-6.12))\n")
    p = resolve("--config", cfg(tmp_path, 'pipeline = ["t-mid", "t-boom"]\n'), str(elf),
                cwd=tmp_path)
    assert (p.returncode, p.stderr) == (
        255, "FAILED: plugin 'hostplugins' raised in pass 't-boom': deliberate failure\n")
    assert "Traceback" not in p.stderr
    assert hp.listing(tmp_path) == ["cfg.toml", "junk", "mod.ko"]


def test_run_verbose_report_and_fatal_warnings(tmp_path: Path) -> None:
    elf = hp.elf_with_btf(tmp_path)
    c = cfg(tmp_path, 'pipeline = ["t-discover", "t-tag", "t-warn"]\n')
    p = resolve("--config", c, "-v", "--report", str(tmp_path / "r.json"), str(elf),
                cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    out = tmp_path / "mod.ko.BTF"
    assert p.stderr.splitlines() == [
        "Cannot find .BTF_ids or symbols sections, skip symbols resolution",
        "WARN: resolve_btfids: test warning",
        f"Dumped {out.stat().st_size} bytes of data to {out}",
    ]
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["exit_code"] == 0 and rep["decl_tags_added"] == {"t1": 2}
    p = resolve("--config", c, "--fatal_warnings", str(elf), cwd=tmp_path)
    assert p.returncode == 255 and p.stderr == "WARN: resolve_btfids: test warning\n"
    # abbreviations work as upstream
    p = resolve("--config", c, "--fatal", str(elf), cwd=tmp_path)
    assert p.returncode == 255


def test_output_path_too_long(tmp_path: Path) -> None:
    """An ELF path that fits but whose ``.BTF`` name does not: exit 249, nothing written."""
    d = tmp_path
    budget = 4096 - 4 - len(str(d)) - len("/mod.ko")  # ".BTF" must reach 4096
    while budget > 0:
        step = min(200, budget)
        d = d / ("d" * max(step - 1, 1))
        budget -= len(d.name) + 1
    d.mkdir(parents=True)
    elf = hp.elf_with_btf(d)
    assert len(str(elf)) + 4 >= 4096 > len(str(elf))
    p = resolve("--config", cfg(tmp_path, "pipeline = []\n"), str(elf), cwd=tmp_path)
    assert p.returncode == 249
    assert p.stderr == f"Output path is too long: {elf}.BTF\n"
    assert os.listdir(d) == ["mod.ko"]


def test_startup_is_lean(tmp_path: Path) -> None:
    def imported(p: subprocess.CompletedProcess[str]) -> set[str]:
        return {line.rsplit("|", 1)[1].strip() for line in p.stderr.splitlines()
                if line.startswith("import time:")}

    heavy = {"pluggy", "elftools", "rich", "click", "rich_click"}
    # Paths without pluggy also skip the stdlib modules pluggy would bring in anyway
    # (together ~7 ms of a classic vmlinux run; docs/performance.md), once the config's
    # parsed tables are cached (tomllib imports typing and re).
    stdlib = {"typing", "re", "enum", "inspect", "contextlib", "importlib.util",
              "dataclasses", "pathlib"}
    resolve(cwd=tmp_path)  # parses the default preset once: later runs take the cached tables
    assert not imported(resolve(cwd=tmp_path, importtime=True)) & (heavy | stdlib)  # usage
    blob = tmp_path / "blob"
    blob.write_bytes(b"")
    mods = imported(resolve("--patch_btfids", str(blob), str(hp.elf_with_btf(tmp_path)),
                            cwd=tmp_path, importtime=True))
    assert not mods & ({"pluggy", "rich", "click", "rich_click"} | stdlib)
    resolve("--config", "linux-6.12", cwd=tmp_path)  # the preset's tables into the cache
    mods = imported(resolve("--config", "linux-6.12", str(hp.elf_with_btf(tmp_path)),
                            cwd=tmp_path, importtime=True, plugins_env=False))
    assert not mods & ({"pluggy", "rich", "click", "rich_click"} | stdlib)
    mods = imported(resolve("--config", cfg(tmp_path, "pipeline = []\n"),
                            str(hp.elf_with_btf(tmp_path)), cwd=tmp_path, importtime=True))
    assert "pluggy" in mods and not mods & {"rich", "click", "rich_click"}


# ------------------------------------------------------------------ btfids
@pytest.fixture()
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("BTFIDS_PLUGINS", "hostplugins")
    monkeypatch.delenv("BTFIDS_CONFIG", raising=False)
    monkeypatch.setattr(plugins, "_MANAGER", None)
    return CliRunner()


def test_app_passes(runner: CliRunner, tmp_path: Path) -> None:
    r = runner.invoke(app.cli, ["passes", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["config"] == "preset bpf-next" and data["found_by"] == "default"
    assert [(p["name"], p["enabled"], p["origin"]) for p in data["pipeline"]] == [
        (n, True, "built-in") for n in (
            "kfunc-discovery", "bpf-kfunc-tag", "fastcall-tag", "implicit-args", "arena",
            "dedup", "base-btf", "sort")]
    assert "t-mid" in data["not_in_pipeline"]
    r = runner.invoke(app.cli, ["passes", "--disable", "sort"])
    assert r.exit_code == 0
    assert "sort" in r.output and "no" in r.output and "built-in" in r.output
    r = runner.invoke(app.cli, ["passes", "--json", "--config", "linux-6.12"])
    assert json.loads(r.output)["pipeline"] == []
    r = runner.invoke(app.cli, ["passes", "--disable", "kfunc-discovery"])
    assert r.exit_code == 255
    # one line naming the flag and all four dependants (issue 22 item 3)
    assert ("config error: command line: --disable kfunc-discovery: passes 'bpf-kfunc-tag'"
            in r.output), r.output
    assert ("--disable bpf-kfunc-tag --disable fastcall-tag --disable implicit-args "
            "--disable arena") in r.output


def test_app_run_check_inspect(runner: CliRunner, tmp_path: Path) -> None:
    elf = hp.elf_with_btf(tmp_path)
    c = cfg(tmp_path, 'pipeline = ["t-discover", "t-tag"]\n')
    r = runner.invoke(app.cli, ["run", "--config", c, "--report", str(tmp_path / "r.json"),
                                str(elf)])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "r.json").read_text())["kfuncs"]["count"] == 2
    out = str(elf) + ".BTF"
    r = runner.invoke(app.cli, ["check", "--config", c, out])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == [
        "config ok: " + c + " (mode newest, 2/2 passes enabled)", f"{out}: ok (7 types)"]
    r = runner.invoke(app.cli, ["inspect", "btf", out])
    assert r.output.splitlines()[3:] == [  # bpftool btf dump's text
        "[3] FUNC 'foo' type_id=2 linkage=global",
        "[4] FUNC 'bar' type_id=2 linkage=global",
        "[5] FUNC 'baz' type_id=2 linkage=global",
        "[6] DECL_TAG 't1' type_id=3 component_idx=-1",
        "[7] DECL_TAG 't1' type_id=4 component_idx=-1",
    ]
    r = runner.invoke(app.cli, ["inspect", "btf", "--kind", "func_proto", out])
    assert r.output == "[2] FUNC_PROTO '(anon)' ret_type_id=1 vlen=1\n\t'a' type_id=1\n"
    # a broken BTF fails the check with one stderr line
    c2 = cfg(tmp_path, 'pipeline = ["t-corrupt"]\n')
    assert runner.invoke(app.cli, ["run", "--config", c2, str(elf)]).exit_code == 0
    r = runner.invoke(app.cli, ["check", "--config", c2, out])
    assert r.exit_code == 255 and r.output.splitlines()[-1] == (
        f"btfids: FAILED: load BTF from {out}: BTF type [6]: referenced type [1] is not "
        "FUNC_PROTO")
    r = runner.invoke(app.cli, ["run", str(tmp_path / "gone.ko")])
    assert r.exit_code == 255
    assert r.output == f"btfids: FAILED cannot open {tmp_path}/gone.ko: No such file or directory\n"


def test_app_bisect(runner: CliRunner, tmp_path: Path) -> None:
    elf = hp.elf_with_btf(tmp_path)
    c = cfg(tmp_path, 'pipeline = ["t-mid", "t-typedef", "t-corrupt", "t-warn"]\n')
    check = [sys.executable, "-c",
             "import sys; from btfids.btf import Btf; Btf.parse(open(sys.argv[1], 'rb').read())",
             "{btf}"]
    r = runner.invoke(app.cli, ["bisect", "--config", c, str(elf), "--", *check])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[-4:] == ["bisect: first bad pass: t-corrupt",
                          "bisect: what the culprit changed:",
                          "  t-corrupt: +1 (1 FUNC)",
                          "      + FUNC broken"]
    assert "bisect: with t-corrupt disabled: good" in lines
    assert sum("passes enabled" in x for x in lines) <= 4
    assert hp.listing(tmp_path) == ["cfg.toml", "mod.ko"]


def test_app_presets_and_version(runner: CliRunner) -> None:
    r = runner.invoke(app.cli, ["presets"])
    assert r.output.splitlines()[0].startswith("bpf-next (default): newest upstream")
    assert "linux-6.12: Linux 6.12 LTS" in r.output
    assert runner.invoke(app.cli, ["--version"]).exit_code == 0


@pytest.mark.corpus
def test_app_inspect_ids_on_corpus(runner: CliRunner, corpus: Path, golden: Path,
                                   tmp_path: Path) -> None:
    rel = "net/netfilter/nf_conntrack.ko"
    mod = tmp_path / "nf_conntrack.ko"
    mod.write_bytes((corpus / "modules" / rel).read_bytes())
    pre = (golden / "classic" / "modules" / (rel + ".BTF_ids.pre")).read_bytes()
    from elftools.elf.elffile import ELFFile

    with mod.open("r+b") as f:
        off = ELFFile(f).get_section_by_name(".BTF_ids")["sh_offset"]
        f.seek(off)
        f.write(pre)
    r = runner.invoke(app.cli, ["inspect", "ids", str(mod)])
    assert r.exit_code == 0, r.output
    assert r.output.startswith(".BTF_ids: section ")
    assert "set8 " in r.output and "flags 0x1" in r.output  # a BTF_KFUNCS set


def test_app_run_rejects_a_job_count_below_one(runner: CliRunner, tmp_path: Path) -> None:
    elf = hp.elf_with_btf(tmp_path)
    for jobs in ("0", "-3"):
        r = runner.invoke(app.cli, ["run", "-j", jobs, str(elf)])
        assert r.exit_code == 2 and f"{jobs} is not in the range x>=1" in r.output, r.output
    assert not Path(str(elf) + ".BTF").exists()


# ------------------------------------------------------------------ internal errors
def _break_symbols(monkeypatch: pytest.MonkeyPatch, only: str | None = None) -> None:
    """Make the host's symbol collection raise a ValueError (for the ELF named ``only``,
    if given): a stand-in for a bug."""
    from btfids import loader

    real = loader.load_symbols

    def broken(elf_path, log, elf=None):  # type: ignore[no-untyped-def]
        if only is None or os.path.basename(elf_path) == only:
            raise ValueError("deliberate bug")
        return real(elf_path, log, elf)

    monkeypatch.setattr(loader, "load_symbols", broken)


def _ids_elf(tmp_path: Path, name: str) -> Path:
    from elfbuilder import BtfIdsBuilder, btfids_elf, simple_btf

    ids = BtfIdsBuilder()
    ids.btf_id("func", "f")
    path = tmp_path / name
    path.write_bytes(btfids_elf(ids, simple_btf([("func", "f")]))[0])
    return path


def test_resolve_btfids_internal_error_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from btfids.cli.resolve_btfids import run

    elf = _ids_elf(tmp_path, "a.o")
    _break_symbols(monkeypatch)
    monkeypatch.delenv("BTFIDS_DEBUG", raising=False)
    assert run([str(elf)]) == 255
    assert capsys.readouterr().err == (
        "FAILED: internal error: ValueError: deliberate bug"
        " (set BTFIDS_DEBUG=1 for a traceback)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.o"]   # nothing written
    monkeypatch.setenv("BTFIDS_DEBUG", "1")
    with pytest.raises(ValueError, match="deliberate bug"):
        run([str(elf)])


@pytest.mark.parametrize("jobs", [1, 2])
def test_batch_goes_on_after_an_internal_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capfd: pytest.CaptureFixture[str],
                                               jobs: int) -> None:
    from btfids import host

    elfs = [_ids_elf(tmp_path, n) for n in ("a.o", "bad.o", "c.o")]
    _break_symbols(monkeypatch, only="bad.o")
    monkeypatch.delenv("BTFIDS_DEBUG", raising=False)
    items = host.run_batch(host.prepare(None), host.RunOptions(str(elfs[0])),
                           [str(e) for e in elfs], jobs=jobs)
    assert [(os.path.basename(i.elf), i.exit_code) for i in items] == [
        ("a.o", 0), ("bad.o", 255), ("c.o", 0)]
    assert capfd.readouterr().err == (
        f"btfids: {elfs[1]}: FAILED: internal error: ValueError: deliberate bug"
        " (set BTFIDS_DEBUG=1 for a traceback)\n")
    assert (tmp_path / "c.o.BTF_ids").exists() and not (tmp_path / "bad.o.BTF_ids").exists()


def test_app_internal_error_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    elf = _ids_elf(tmp_path, "a.o")
    _break_symbols(monkeypatch)
    monkeypatch.delenv("BTFIDS_DEBUG", raising=False)
    monkeypatch.setattr(sys, "argv", ["btfids", "run", str(elf)])
    with pytest.raises(SystemExit) as exc:
        app.main()
    assert exc.value.code == 255
    assert capsys.readouterr().err == (
        "btfids: FAILED: internal error: ValueError: deliberate bug"
        " (set BTFIDS_DEBUG=1 for a traceback)\n")


def test_run_hands_its_result_to_keep(tmp_path: Path) -> None:
    """The console script keeps the run's data alive until os._exit (freeing vmlinux's
    object by object costs ~24 ms); ``run`` hands it over only when asked."""
    from btfids.cli.resolve_btfids import run
    from btfids.host import RunResult

    elf = _ids_elf(tmp_path, "a.o")
    keep: list[object] = []
    assert run([str(elf)], keep) == 0
    (result,) = keep
    assert isinstance(result, RunResult) and result.ctx is not None
    assert result.ctx.btf.type_cnt == 4      # void, int, proto, f: the whole BTF
    assert run([str(elf)]) == 0

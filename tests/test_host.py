"""Host: hook order, kfunc groups, dependency checks, outputs, failures, report, tracing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import hostplugins as hp
import pytest

from btfids import config as C
from btfids import host, plugins
from btfids.btf import Btf
from btfids.btf import kinds as K
from btfids.context import Log
from btfids.errors import BtfidsError, ConfigError, PathTooLongError, PluginError
from btfids.hookspecs import hookimpl
from btfids.report import Report


@pytest.fixture()
def pm():  # type: ignore[no-untyped-def]
    hp.EVENTS.clear()
    return plugins.make_manager(
        entry_points=False, env=False, extra=[("hostplugins", hp), ("recorder", hp.Recorder())]
    )


def pipeline(tmp: Path, pm, text: str, **kw):  # type: ignore[no-untyped-def]
    f = tmp / "cfg.toml"
    f.write_text(text)
    return C.build_pipeline(C.load(str(f)), plugins.collect_passes(pm), **kw)


def quiet() -> Log:
    import io

    return Log(0, io.StringIO())


def test_hook_order_and_kfunc_groups(tmp_path: Path, pm) -> None:  # type: ignore[no-untyped-def]
    elf = hp.elf_with_btf(tmp_path)
    pipe = pipeline(tmp_path, pm, 'pipeline = ["t-discover", "t-tag", "t-note", "t-mid"]\n')
    res = host.run(pipe, host.RunOptions(str(elf)), pm=pm, log=quiet())
    assert res.exit_code == 0
    assert hp.EVENTS == [
        ("loaded",),
        ("before", "t-discover"), ("run", "t-discover"), ("after", "t-discover"),
        # consecutive kfunc passes form one group: per kfunc, ascending FUNC ID
        ("before", "t-tag"), ("before", "t-note"),
        ("run", "t-tag", "foo"), ("run", "t-note", "foo"),
        ("run", "t-tag", "bar"), ("run", "t-note", "bar"),
        ("after", "t-tag"), ("after", "t-note"),
        ("before", "t-mid"), ("run", "t-mid"), ("after", "t-mid"),
        ("finalized",),
        ("written", "mod.ko.BTF"),
    ]
    # the tags were appended foo (3) first, then bar (4)
    out = Btf.parse((tmp_path / "mod.ko.BTF").read_bytes())
    assert [(out.name(t), out.type(t)[2]) for t in (6, 7)] == [(b"t1", 3), (b"t1", 4)]
    assert out.kind(6) == K.DECL_TAG
    assert hp.listing(tmp_path) == ["cfg.toml", "mod.ko", "mod.ko.BTF"]


def test_separate_kfunc_groups(tmp_path: Path, pm) -> None:  # type: ignore[no-untyped-def]
    elf = hp.elf_with_btf(tmp_path)
    pipe = pipeline(tmp_path, pm, 'pipeline = ["t-discover", "t-tag", "t-mid", "t-note"]\n')
    host.run(pipe, host.RunOptions(str(elf)), pm=pm, log=quiet())
    runs = [e for e in hp.EVENTS if e[0] == "run"]
    assert runs == [
        ("run", "t-discover"), ("run", "t-tag", "foo"), ("run", "t-tag", "bar"),
        ("run", "t-mid"), ("run", "t-note", "foo"), ("run", "t-note", "bar"),
    ]


def test_disabled_passes_do_not_run(tmp_path: Path, pm) -> None:  # type: ignore[no-untyped-def]
    elf = hp.elf_with_btf(tmp_path)
    pipe = pipeline(tmp_path, pm, 'pipeline = ["t-discover", "t-tag", "t-mid"]\n',
                    disable=["t-tag"])
    host.run(pipe, host.RunOptions(str(elf)), pm=pm, log=quiet())
    assert [e for e in hp.EVENTS if e[0] == "run"] == [("run", "t-discover"), ("run", "t-mid")]
    # the output is the input BTF, unchanged
    assert (tmp_path / "mod.ko.BTF").read_bytes() == hp.make_btf().raw_data()


def test_dependency_checked_before_any_file(tmp_path: Path, pm) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="needs 't-discover', which runs after it"):
        pipeline(tmp_path, pm, 'pipeline = ["t-tag", "t-discover"]\n')
    with pytest.raises(ConfigError,
                       match=r"--disable t-discover: .* \(fix: also give --disable t-tag, or"):
        pipeline(tmp_path, pm, 'pipeline = ["t-discover", "t-tag"]\n', disable=["t-discover"])


def test_pass_that_raises_names_plugin_and_writes_nothing(tmp_path: Path, pm) -> None:  # type: ignore[no-untyped-def]
    elf = hp.elf_with_btf(tmp_path)
    (tmp_path / "mod.ko.BTF_ids").write_bytes(b"stale")
    pipe = pipeline(tmp_path, pm, 'pipeline = ["t-mid", "t-boom"]\n')
    with pytest.raises(PluginError) as ei:
        host.run(pipe, host.RunOptions(str(elf)), pm=pm, log=quiet())
    msg = str(ei.value)
    assert msg == ("FAILED: plugin 'hostplugins' raised in pass 't-boom': deliberate failure")
    assert ei.value.exit_code == 255
    # nothing new written; the stale file stays (as upstream)
    assert hp.listing(tmp_path) == ["cfg.toml", "mod.ko", "mod.ko.BTF_ids"]
    assert ("finalized",) not in hp.EVENTS


def test_upstream_style_error_passes_through(tmp_path: Path, pm) -> None:  # type: ignore[no-untyped-def]
    elf = hp.elf_with_btf(tmp_path)
    pipe = pipeline(tmp_path, pm, 'pipeline = ["t-refuse"]\n')
    with pytest.raises(BtfidsError) as ei:
        host.run(pipe, host.RunOptions(str(elf)), pm=pm, log=quiet())
    assert not isinstance(ei.value, PluginError)
    assert str(ei.value) == "ERROR: resolve_btfids: deliberate upstream-style error"
    assert hp.listing(tmp_path) == ["cfg.toml", "mod.ko"]


def test_hook_that_raises_names_plugin(tmp_path: Path) -> None:
    pm = plugins.make_manager(entry_points=False, env=False,
                              extra=[("hostplugins", hp), ("bad-finalizer", hp.BadFinalizer())])
    elf = hp.elf_with_btf(tmp_path)
    pipe = pipeline(tmp_path, pm, 'pipeline = ["t-mid"]\n')
    with pytest.raises(PluginError) as ei:
        host.run(pipe, host.RunOptions(str(elf)), pm=pm, log=quiet())
    assert str(ei.value) == (
        "FAILED: plugin 'bad-finalizer' raised in btfids_finalized: finalizer exploded")
    assert hp.listing(tmp_path) == ["cfg.toml", "mod.ko"]


def test_registration_failures() -> None:
    pm = plugins.make_manager(entry_points=False, env=False, extra=[("bad-reg", hp.BadRegistrar())])
    with pytest.raises(PluginError, match="plugin 'bad-reg' raised in btfids_register_passes"):
        plugins.collect_passes(pm)
    pm = plugins.make_manager(entry_points=False, env=False,
                              extra=[("hostplugins", hp), ("clash", hp.Clash())])
    with pytest.raises(BtfidsError, match=r"'t-mid' is registered by two plugins: .*'clash'"):
        plugins.collect_passes(pm)


def test_plugins_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTFIDS_PLUGINS", "hostplugins, ")
    reg = plugins.collect_passes(plugins.make_manager(entry_points=False))
    assert reg["t-mid"].origin == "$BTFIDS_PLUGINS" and reg["t-mid"].plugin == "hostplugins"
    monkeypatch.setenv("BTFIDS_PLUGINS", "no_such_module_xyz")
    with pytest.raises(BtfidsError, match="cannot import plugin 'no_such_module_xyz'"):
        plugins.make_manager(entry_points=False)


def test_fatal_warnings(tmp_path: Path, pm) -> None:  # type: ignore[no-untyped-def]
    elf = hp.elf_with_btf(tmp_path)
    pipe = pipeline(tmp_path, pm, 'pipeline = ["t-warn"]\n')
    opts = host.RunOptions(str(elf), fatal_warnings=True)
    assert host.run(pipe, opts, pm=pm, log=quiet()).exit_code == 255
    assert (tmp_path / "mod.ko.BTF").exists()  # written before failing (Decision D1)
    assert host.run(pipe, host.RunOptions(str(elf)), pm=pm, log=quiet()).exit_code == 0
    pipe = pipeline(tmp_path, pm,
                    'pipeline = ["t-warn"]\n[compat]\nfatal_warnings_noop = true\n')
    assert host.run(pipe, opts, pm=pm, log=quiet()).exit_code == 0


def test_report(tmp_path: Path, pm) -> None:  # type: ignore[no-untyped-def]
    elf = hp.elf_with_btf(tmp_path)
    pipe = pipeline(tmp_path, pm, 'pipeline = ["t-discover", "t-tag", "t-warn"]\n'
                    '[passes.t-tag]\ntag = "hello"\n')
    rep = Report()
    res = host.run(pipe, host.RunOptions(str(elf)), pm=pm, log=quiet(), report=rep)
    rep.finish(res.exit_code)
    rep.write(str(tmp_path / "r.json"))
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["exit_code"] == 0 and data["error"] is None
    assert [p["name"] for p in data["passes"]] == ["t-discover", "t-tag", "t-warn"]
    tagp = data["passes"][1]
    assert (tagp["types_before"], tagp["types_after"]) == (5, 7)
    assert tagp["decl_tags_added"] == {"hello": 2} == data["decl_tags_added"]
    assert data["kfuncs"]["count"] == 2
    assert data["warnings"] == ["WARN: resolve_btfids: test warning"]
    out = tmp_path / "mod.ko.BTF"
    import hashlib

    assert data["outputs"] == [{"path": str(out), "size": out.stat().st_size,
                                "sha256": hashlib.sha256(out.read_bytes()).hexdigest()}]
    assert [s["name"] for s in data["config"]["pipeline"]] == ["t-discover", "t-tag", "t-warn"]
    assert {"load_elf", "load_btf", "passes", "resolve", "write", "total"} <= set(data["phases"])


def test_outputs_all_or_nothing(tmp_path: Path) -> None:
    a, b = str(tmp_path / "x.BTF_ids"), str(tmp_path / "x.BTF")
    long = "/" + "d" * 200 + "/" + "e" * 3900 + ".BTF.base"  # 4111 bytes
    with pytest.raises(PathTooLongError) as ei:
        host.write_outputs([(a, b"1"), (b, b"2"), (long, b"3")], quiet())
    assert ei.value.exit_code == 249
    assert str(ei.value) == f"Output path is too long: {long}"
    assert os.listdir(tmp_path) == []
    # a failing rename (target is a non-empty directory) leaves no temporary files
    (tmp_path / "x.BTF").mkdir()
    (tmp_path / "x.BTF" / "f").write_text("")
    with pytest.raises(BtfidsError, match=r"Couldn't open .*x.BTF for writing"):
        host.write_outputs([(b, b"2")], quiet())
    assert os.listdir(tmp_path) == ["x.BTF"]
    # success: files in order, mode from the umask, debug lines as upstream
    import io

    buf = io.StringIO()
    written = host.write_outputs([(a, b"12345")], Log(1, buf))
    assert written == [a] and Path(a).read_bytes() == b"12345"
    assert buf.getvalue() == f"Dumped 5 bytes of data to {a}\n"
    umask = os.umask(0)
    os.umask(umask)
    assert Path(a).stat().st_mode & 0o777 == 0o666 & ~umask


def test_tracing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("BTFIDS_TRACE", "1")
    pm = plugins.make_manager(entry_points=False, env=False, extra=[("hostplugins", hp)])
    elf = hp.elf_with_btf(tmp_path)
    pipe = pipeline(tmp_path, pm, 'pipeline = ["t-mid"]\n')
    host.run(pipe, host.RunOptions(str(elf)), pm=pm, log=quiet())
    err = capfd.readouterr().err
    assert "btfids-trace: btfids_register_passes -> hostplugins" in err
    assert "btfids-trace: btfids_before_pass(ctx=" in err
    assert "btfids-trace: btfids_outputs_written(" in err


def test_legacy_preset_loads_no_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail() -> None:
        raise AssertionError("plugins loaded")

    monkeypatch.setattr(plugins, "get_manager", fail)
    pipe = host.prepare("linux-6.12")
    assert pipe.mode == "in-place-6.12" and pipe.steps == []


def test_missing_input_is_one_line_error(tmp_path: Path, pm) -> None:  # type: ignore[no-untyped-def]
    pipe = pipeline(tmp_path, pm, 'pipeline = []\n')
    with pytest.raises(BtfidsError) as ei:
        host.run(pipe, host.RunOptions(str(tmp_path / "nope.ko")), pm=pm, log=quiet())
    assert str(ei.value) == f"FAILED cannot open {tmp_path}/nope.ko: No such file or directory"
    (tmp_path / "junk").write_bytes(b"not an elf at all")
    with pytest.raises(BtfidsError, match=r"^FAILED cannot get shdr str ndx$"):
        host.run(pipe, host.RunOptions(str(tmp_path / "junk")), pm=pm, log=quiet())
    elf = hp.mini_elf(tmp_path / "nobtf.ko", {".data": b"1234"})
    with pytest.raises(BtfidsError, match=r"^FAILED: load BTF from .*nobtf.ko: "):
        host.run(pipe, host.RunOptions(str(elf)), pm=pm, log=quiet())
    assert sorted(os.listdir(tmp_path)) == ["cfg.toml", "junk", "nobtf.ko"]


def test_cyclic_gc_paused_during_run_and_restored(tmp_path: Path, pm) -> None:  # type: ignore[no-untyped-def]
    import gc

    seen: list[bool] = []

    class Probe:
        @hookimpl
        def btfids_before_pass(self, ctx, spec) -> None:  # type: ignore[no-untyped-def]
            seen.append(gc.isenabled())

    pm.register(Probe(), "probe")
    elf = hp.elf_with_btf(tmp_path)
    assert gc.isenabled()
    host.run(pipeline(tmp_path, pm, 'pipeline = ["t-mid"]\n'), host.RunOptions(str(elf)),
             pm=pm, log=quiet())
    assert seen == [False] and gc.isenabled()
    with pytest.raises(PluginError):
        host.run(pipeline(tmp_path, pm, 'pipeline = ["t-mid", "t-boom"]\n'),
                 host.RunOptions(str(elf)), pm=pm, log=quiet())
    assert seen == [False, False, False] and gc.isenabled()
    gc.disable()  # a caller that had it off keeps it off
    try:
        host.run(pipeline(tmp_path, pm, 'pipeline = ["t-mid"]\n'), host.RunOptions(str(elf)),
                 pm=pm, log=quiet())
        assert not gc.isenabled()
    finally:
        gc.enable()


def _sorted_ids_run(tmp_path: Path, passes: str, *extra: object) -> dict[str, int]:
    """Run ``passes`` (the built-in sort among them) on foo/bar FUNCs; the resolved IDs."""
    import btfids_passes.finalize as fin
    from elfbuilder import BtfIdsBuilder, btfids_elf, simple_btf

    from btfids.symbols import BtfIdsSection

    ids = BtfIdsBuilder()
    at = {"foo": ids.btf_id("func", "foo"), "bar": ids.btf_id("func", "bar")}
    data, _ = btfids_elf(ids, simple_btf([("func", "foo"), ("func", "bar")]))
    elf = tmp_path / "m.ko"
    elf.write_bytes(data)
    pm = plugins.make_manager(entry_points=False, env=False, extra=[
        ("hostplugins", hp), ("finalize", fin),
        *((f"extra{i}", p) for i, p in enumerate(extra))])
    host.run(pipeline(tmp_path, pm, f"pipeline = {passes}\n"), host.RunOptions(str(elf)),
             pm=pm, log=quiet())
    words = BtfIdsSection.decode(0, 0, (tmp_path / "m.ko.BTF_ids").read_bytes(), "<").words
    return {name: words[off // 4] for name, off in at.items()}


def test_resolution_reuses_the_sorts_names(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from btfids import symbols

    given: list[object] = []
    resolve = symbols.resolve_ids

    def spy(syms, btf, log, **kw):  # type: ignore[no-untyped-def]
        given.append(kw["own_names"])
        assert kw["own_names"] in (None, btf.own_names())
        return resolve(syms, btf, log, **kw)

    monkeypatch.setattr(symbols, "resolve_ids", spy)
    # int [1], proto [2], foo [3], bar [4] → sorted: proto, bar [2], foo [3], int
    assert _sorted_ids_run(tmp_path, '["sort"]') == {"foo": 3, "bar": 2}
    assert given == [[b"", b"bar", b"foo", b"int"]]
    given.clear()
    assert _sorted_ids_run(tmp_path, '["sort", "t-swap"]') == {"foo": 2, "bar": 3}
    assert given == [None]


def test_names_from_the_sort_dropped_when_a_later_pass_renames(tmp_path: Path) -> None:
    assert _sorted_ids_run(tmp_path, '["sort", "t-swap"]') == {"foo": 2, "bar": 3}


def test_names_from_the_sort_dropped_when_a_finalized_hook_runs(tmp_path: Path) -> None:
    class Renamer:
        @hookimpl
        def btfids_finalized(self, ctx) -> None:  # type: ignore[no-untyped-def]
            hp.swap_func_names(ctx.btf)

    assert _sorted_ids_run(tmp_path, '["sort"]', Renamer()) == {"foo": 2, "bar": 3}


def test_type_names_of_the_wrong_length_fail_the_run(tmp_path: Path) -> None:
    from btfids.hookspecs import PassSpec

    def bad(ctx, options) -> None:  # type: ignore[no-untyped-def]
        ctx.type_names = [b"foo"]      # a plugin bug: one name for four types

    class BadNames:
        @hookimpl
        def btfids_register_passes(self) -> list[PassSpec]:
            return [PassSpec("t-bad-names", "test: sets wrong type names", bad)]

    with pytest.raises(BtfidsError, match=r"^FAILED: 1 type names passed for 4 types$"):
        _sorted_ids_run(tmp_path, '["sort", "t-bad-names"]', BadNames())
    assert not (tmp_path / "m.ko.BTF_ids").exists() and not (tmp_path / "m.ko.BTF").exists()

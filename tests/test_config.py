"""Config: discovery order, presets, merging, and every configuration error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from btfids import config as C
from btfids.errors import ConfigError
from btfids.hookspecs import OptionSpec, PassSpec
from btfids.plugins import PassInfo

BPF_NEXT = [
    "kfunc-discovery", "bpf-kfunc-tag", "fastcall-tag", "implicit-args", "arena",
    "dedup", "base-btf", "sort",
]


def _noop(*args: Any) -> None:
    return None


def reg(*specs: PassSpec) -> dict[str, PassInfo]:
    return {s.name: PassInfo(s, "testplug", "registered") for s in specs}


def spec(name: str, **kw: Any) -> PassSpec:
    return PassSpec(name, f"the {name} pass", _noop, **kw)


REG = reg(
    spec("a", options={"bit": 12, "name": "x", "flag": True, "lst": ["s"], "ratio": 0.5}),
    spec("b", needs=("a",)),
    spec("c", scope="kfunc"),
    spec("d"),
)


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


# ------------------------------------------------------------------ discovery
def test_discovery_order(tmp_path: Path) -> None:
    src, cwd = tmp_path / "src", tmp_path / "obj"
    src.mkdir()
    cwd.mkdir()
    envfile = write(tmp_path, "env.toml", "")
    env = {"BTFIDS_CONFIG": str(envfile), "srctree": str(src)}
    write(src, "btfids.toml", "")
    write(cwd, "btfids.toml", "")
    assert C.find_config("linux-6.12", env=env, cwd=cwd) == ("linux-6.12", "--config")
    assert C.find_config(None, env=env, cwd=cwd) == (str(envfile), "$BTFIDS_CONFIG")
    del env["BTFIDS_CONFIG"]
    assert C.find_config(None, env=env, cwd=cwd) == (str(src / "btfids.toml"), "$srctree")
    (src / "btfids.toml").unlink()
    assert C.find_config(None, env=env, cwd=cwd) == (
        str(cwd / "btfids.toml"), "current directory")
    (cwd / "btfids.toml").unlink()
    assert C.find_config(None, env=env, cwd=cwd) == ("bpf-next", "default")
    # a relative $srctree (kbuild in-tree builds use ".") is taken from the cwd
    write(cwd, "btfids.toml", "")
    assert C.find_config(None, env={"srctree": "."}, cwd=cwd)[1] == "$srctree"


def test_load_config_uses_discovery(tmp_path: Path) -> None:
    write(tmp_path, "btfids.toml", 'extends = "linux-6.12"\n')
    cfg = C.load_config(env={}, cwd=tmp_path)
    assert cfg.mode == "in-place-6.12"
    assert cfg.found_by == "current directory"
    assert cfg.chain == ["preset linux-6.12", str(tmp_path / "btfids.toml")]
    cfg = C.load_config(env={}, cwd=tmp_path / "nonexistent-but-unused")
    assert (cfg.name, cfg.found_by, cfg.pipeline) == ("preset bpf-next", "default", BPF_NEXT)


def test_presets() -> None:
    assert {"bpf-next", "linux-6.12"} <= set(C.preset_names())
    nxt = C.load("bpf-next")
    assert nxt.mode == "newest" and nxt.pipeline == BPF_NEXT
    assert nxt.compat == {"fatal_warnings_noop": False}
    old = C.load("linux-6.12")
    assert old.mode == "in-place-6.12" and old.pipeline == []


def test_extends_and_modify(tmp_path: Path) -> None:
    base = write(tmp_path, "base.toml", 'pipeline = ["a", "b", "d"]\n[passes.a]\nbit = 3\n')
    child = write(tmp_path, "child.toml", """
extends = "base.toml"
[passes.c]
after = "a"
[passes.d]
enabled = false
before = "a"
[passes.a]
name = "y"
""")
    cfg = C.load(str(child))
    assert cfg.chain == [str(base), str(child)]
    pipe = C.build_pipeline(cfg, REG)
    assert [s.name for s in pipe.steps] == ["d", "a", "c", "b"]
    assert [s.enabled for s in pipe.steps] == [False, True, True, True]
    a = pipe.steps[1]
    assert a.options == {"bit": 3, "name": "y", "flag": True, "lst": ["s"], "ratio": 0.5}
    # the command line wins over the file
    pipe = C.build_pipeline(cfg, REG, enable=["d"], disable=["c"])
    assert [s.enabled for s in pipe.steps] == [True, True, False, True]
    assert [s.name for s in pipe.with_enabled(["a"]).enabled()] == ["a"]


def test_child_pipeline_replaces_parent(tmp_path: Path) -> None:
    write(tmp_path, "p.toml", 'pipeline = ["a", "b"]\n')
    child = write(tmp_path, "c.toml", 'extends = "./p.toml"\npipeline = ["d"]\n')
    assert [s.name for s in C.build_pipeline(C.load(str(child)), REG).steps] == ["d"]


def test_float_option_accepts_int(tmp_path: Path) -> None:
    f = write(tmp_path, "f.toml", 'pipeline = ["a"]\n[passes.a]\nratio = 2\n')
    assert C.build_pipeline(C.load(str(f)), REG).steps[0].options["ratio"] == 2


# ------------------------------------------------------------------ errors
# (file text, error key, words the problem must contain, words of the fix)
LOAD_ERRORS = [
    ("pipeline = [", "", "invalid TOML", "syntax"),
    ("colour = 1", "colour", "unknown key", "known keys"),
    ("pipeline = \"a\"", "pipeline", "must be an array", ""),
    ("mode = \"sideways\"", "mode", "unknown mode", "newest"),
    ("mode = 3", "mode", "must be a string", ""),
    ("pipeline = [1]", "pipeline[0]", "pass name", ""),
    ("[compat]\nspeed = true", "compat.speed", "unknown key", "fatal_warnings_noop"),
    ("[compat]\nfatal_warnings_noop = 1", "compat.fatal_warnings_noop", "boolean", ""),
    ("passes = { a = 1 }", "passes.a", "must be a table", "[passes.a]"),
    ("[passes.a]\nenabled = \"yes\"", "passes.a.enabled", "boolean", ""),
    ("[passes.a]\nafter = \"b\"\nbefore = \"d\"", "passes.a", "both", "keep one"),
    ("extends = \"no-such-preset\"", "extends", "neither a preset nor a file", "bpf-next"),
]


@pytest.mark.parametrize(("text", "key", "problem", "fix"), LOAD_ERRORS)
def test_load_errors(tmp_path: Path, text: str, key: str, problem: str, fix: str) -> None:
    f = write(tmp_path, "bad.toml", text + "\n")
    with pytest.raises(ConfigError) as ei:
        C.load(str(f))
    err = ei.value
    assert err.source == str(f) and err.key == key
    assert problem in err.problem and fix in err.fix
    assert str(err).startswith(f"config error: {f}") and "\n" not in str(err)
    assert err.exit_code == 255


def test_non_utf8_file(tmp_path: Path) -> None:
    f = tmp_path / "latin1.toml"
    f.write_bytes(b'description = "caf\xe9"\n')
    with pytest.raises(ConfigError) as ei:
        C.load(str(f))
    assert "not UTF-8" in ei.value.problem and "\n" not in str(ei.value)


def test_parsed_toml_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second load of the same text comes from the cache (tomllib is not asked),
    a changed text is parsed again, and a corrupt cache entry is ignored."""
    import tomllib

    monkeypatch.setenv("BTFIDS_CACHE_DIR", str(tmp_path / "cache"))
    text = 'pipeline = ["a", "b"]\n[passes.a]\nratio = 0.5\nname = "x"\n'
    f = write(tmp_path, "c.toml", text)
    first = C.load(str(f))
    (entry,) = (tmp_path / "cache").glob("toml-*")

    def no_parse(*args: Any) -> None:
        raise AssertionError("parsed again")

    with monkeypatch.context() as m:
        m.setattr(tomllib, "loads", no_parse)
        again = C.load(str(f))
    assert (again.pipeline, again.passes) == (first.pipeline, first.passes)
    assert again.passes["a"].options == {"ratio": 0.5, "name": "x"}
    f.write_text(text.replace("0.5", "0.25"))
    assert C.load(str(f)).passes["a"].options["ratio"] == 0.25
    f.write_text(text)
    entry.write_bytes(b"\x00junk")
    assert C.load(str(f)).passes == first.passes


BUILD_ERRORS = [
    ('pipeline = ["a", "zz"]', "pipeline[1]", "unknown pass 'zz'", "install its plugin"),
    ('pipeline = ["a", "a"]', "pipeline[1]", "listed twice", "once"),
    ('pipeline = ["a"]\n[passes.zz]\nenabled = false', "passes.zz", "unknown pass", "a, b, c, d"),
    ('pipeline = ["a"]\n[passes.a]\nspeed = 1', "passes.a.speed", "unknown option", "bit"),
    ('pipeline = ["a"]\n[passes.a]\nbit = "12"', "passes.a.bit", "must be an integer", ""),
    ('pipeline = ["a"]\n[passes.a]\nbit = true', "passes.a.bit", "must be an integer", ""),
    ('pipeline = ["a"]\n[passes.a]\nflag = 1', "passes.a.flag", "must be a boolean", ""),
    ('pipeline = ["a"]\n[passes.a]\nlst = [1]', "passes.a.lst[0]", "must be a string", ""),
    ('pipeline = ["a"]\n[passes.d]\nafter = "zz"', "passes.d.after", "not another pass", "a"),
    ('pipeline = ["a"]\n[passes.d]\nenabled = true', "passes.d", "not in the pipeline",
     "passes.d.after"),
    ('pipeline = ["b"]', "pipeline", "needs 'a', which is disabled or absent",
     "add it to 'pipeline' before 'b') or disable 'b'"),
    # the error names the key that disabled the need, not the pipeline's file
    ('pipeline = ["a", "b"]\n[passes.a]\nenabled = false', "passes.a.enabled",
     "needs 'a', which is disabled", "enable 'a', or also set enabled = false in [passes.b]"),
    ('pipeline = ["a", "b", "d"]\n[passes.a]\nafter = "d"', "passes.a.after",
     "needs 'a', which runs after it", "order 'a' before 'b'"),
    ('pipeline = ["b", "a"]', "pipeline", "needs 'a', which runs after it",
     "order 'a' before 'b'"),
    ('mode = "in-place-6.12"\npipeline = ["d"]', "mode", "runs no passes", "disable"),
]


@pytest.mark.parametrize(("text", "key", "problem", "fix"), BUILD_ERRORS)
def test_pipeline_errors(tmp_path: Path, text: str, key: str, problem: str, fix: str) -> None:
    f = write(tmp_path, "bad.toml", text + "\n")
    with pytest.raises(ConfigError) as ei:
        C.build_pipeline(C.load(str(f)), REG)
    err = ei.value
    assert (err.source, err.key) == (str(f), key)
    assert problem in err.problem, err.problem
    assert fix in err.fix, err.fix


def test_error_names_the_file_that_set_the_key(tmp_path: Path) -> None:
    parent = write(tmp_path, "p.toml", 'pipeline = ["a"]\n[passes.a]\nbit = "x"\n')
    child = write(tmp_path, "c.toml", 'extends = "p.toml"\n')
    with pytest.raises(ConfigError) as ei:
        C.build_pipeline(C.load(str(child)), REG)
    assert ei.value.source == str(parent) and ei.value.key == "passes.a.bit"


def test_needs_unknown_pass(tmp_path: Path) -> None:
    r = dict(REG, e=PassInfo(spec("e", needs=("ghost",)), "plug-e", "x 1.0"))
    f = write(tmp_path, "c.toml", 'pipeline = ["e"]\n')
    with pytest.raises(ConfigError, match=r"plug-e.*needs 'ghost', which no plugin provides"):
        C.build_pipeline(C.load(str(f)), r)


@pytest.mark.parametrize(
    ("enable", "disable", "key", "problem"),
    [
        (["zz"], [], "--enable zz", "unknown pass"),
        (["d"], [], "--enable d", "not in the pipeline"),
        (["a"], ["a"], "--enable/--disable", "both enabled and disabled"),
        ([], ["a"], "--disable a", "needs 'a', which is disabled"),
    ],
)
def test_command_line_errors(
    tmp_path: Path, enable: list[str], disable: list[str], key: str, problem: str
) -> None:
    f = write(tmp_path, "c.toml", 'pipeline = ["a", "b"]\n')
    with pytest.raises(ConfigError) as ei:
        C.build_pipeline(C.load(str(f)), REG, enable=enable, disable=disable)
    assert ei.value.key == key and problem in ei.value.problem


def test_missing_and_circular(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file or preset"):
        C.load("no-such-preset")
    with pytest.raises(ConfigError, match="no such file"):
        C.load(str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="not a regular file"):
        C.load(str(tmp_path) + "/")
    write(tmp_path, "x.toml", 'extends = "y.toml"\n')
    write(tmp_path, "y.toml", 'extends = "x.toml"\n')
    with pytest.raises(ConfigError, match="circular"):
        C.load(str(tmp_path / "x.toml"))
    # $BTFIDS_CONFIG naming a missing file is an error, not a silent default
    with pytest.raises(ConfigError, match="no such file"):
        C.load_config(env={"BTFIDS_CONFIG": str(tmp_path / "gone.toml")}, cwd=tmp_path)


_segment = st.sampled_from(["", ".", "..", "a", "b.toml", "/", "//", "///", "x/", "./y", "a//b"])


@given(st.lists(_segment, min_size=1, max_size=4))
def test_path_joins_like_pathlib(parts: list[str]) -> None:
    """config's os.path joins print as pathlib's did (labels and messages unchanged)."""
    from pathlib import PurePosixPath

    assert C._path(*parts) == str(PurePosixPath(*parts))


# ------------------------------------------------------------------ issue 22
REG_MANY = reg(
    spec("a"), spec("b", needs=("a",)), spec("c", scope="kfunc", needs=("a",)),
    spec("d", needs=("a",)),
    spec("opt", options={
        "bit": OptionSpec(12, "a flag bit", min=0, max=31),
        "mode": OptionSpec("error", "what to do", choices=("error", "warn-or")),
        "names": OptionSpec(["x"], "names", check=lambda v: "empty name" if "" in v else None),
        "plain": 3,
    }),
)


@pytest.mark.parametrize("text", ["", "[passes.sort]\nenabled = false\n",
                                  'description = "mine"\n[compat]\nfatal_warnings_noop = true\n'])
def test_file_without_extends_or_pipeline_changes_the_default(tmp_path: Path, text: str) -> None:
    """Item 1: an empty btfids.toml (or one that only switches a pass off) is the
    default preset plus its changes, never an empty pipeline."""
    write(tmp_path, "btfids.toml", text)
    cfg = C.load_config(env={}, cwd=tmp_path)
    assert cfg.pipeline == BPF_NEXT and cfg.mode == "newest"
    assert cfg.chain == ["preset bpf-next", str(tmp_path / "btfids.toml")]
    assert cfg.implicit_extends == "bpf-next"
    if "sort" in text:
        assert cfg.passes["sort"].enabled is False


def test_in_place_mode_without_pipeline_extends_its_preset(tmp_path: Path) -> None:
    f = write(tmp_path, "c.toml", 'mode = "in-place-6.12"\n')
    cfg = C.load(str(f))
    assert cfg.chain[0] == "preset linux-6.12" and cfg.pipeline == []


def test_explicit_empty_pipeline_and_its_hint(tmp_path: Path) -> None:
    """`pipeline = []` is the only way to an empty pipeline, and the hint for a pass
    configured on it points at that line, not at a one-pass pipeline."""
    f = write(tmp_path, "c.toml", "pipeline = []\n")
    cfg = C.load(str(f))
    assert cfg.pipeline == [] and cfg.implicit_extends is None
    assert C.build_pipeline(cfg, REG).steps == []
    f = write(tmp_path, "c.toml", "pipeline = []\n[passes.a]\nenabled = false\n")
    with pytest.raises(ConfigError) as ei:
        C.build_pipeline(C.load(str(f)), REG)
    assert "pipeline = []" in ei.value.fix and "remove that line" in ei.value.fix


@pytest.mark.parametrize(("text", "key", "words"), [
    ("bit = 40", "passes.opt.bit", ["40 is too large", "an integer 0..31"]),
    ("bit = -1", "passes.opt.bit", ["-1 is too small", "0..31"]),
    ('mode = "warn"', "passes.opt.mode", ['"warn" is not allowed', '"error", "warn-or"']),
    ('names = ["y", ""]', "passes.opt.names", ["empty name"]),
    ('bit = "x"', "passes.opt.bit", ["must be an integer 0..31"]),
])
def test_option_values_are_checked_at_load(
    tmp_path: Path, text: str, key: str, words: list[str]
) -> None:
    """Item 2: each pass declares allowed values; the loader names file and key."""
    f = write(tmp_path, "c.toml", f'pipeline = ["opt"]\n[passes.opt]\n{text}\n')
    with pytest.raises(ConfigError) as ei:
        C.build_pipeline(C.load(str(f)), REG_MANY)
    err = ei.value
    assert (err.source, err.key) == (str(f), key)
    assert str(err).startswith(f"config error: {f}: {key}: ")
    for w in words:
        assert w in str(err), str(err)
    ok = write(tmp_path, "ok.toml", 'pipeline = ["opt"]\n[passes.opt]\nbit = 31\nplain = 4\n')
    step = C.build_pipeline(C.load(str(ok)), REG_MANY).steps[0]
    assert step.options == {"bit": 31, "mode": "error", "names": ["x"], "plain": 4}


def test_disabling_a_need_names_the_flag_and_every_dependant(tmp_path: Path) -> None:
    """Item 3: all dependants at once, blamed on the flag that disabled the need."""
    f = write(tmp_path, "c.toml", 'pipeline = ["a", "b", "c", "d"]\n')
    with pytest.raises(ConfigError) as ei:
        C.build_pipeline(C.load(str(f)), REG_MANY, disable=["a"])
    err = ei.value
    assert (err.source, err.key) == ("command line", "--disable a")
    assert "passes 'b' (plugin testplug), 'c' (plugin testplug), 'd' (plugin testplug) need 'a'" \
        in err.problem
    assert "--disable b --disable c --disable d" in err.fix


def test_disabling_a_need_in_a_child_file_names_that_file(tmp_path: Path) -> None:
    write(tmp_path, "p.toml", 'pipeline = ["a", "b", "d"]\n')
    child = write(tmp_path, "c.toml", 'extends = "p.toml"\n[passes.a]\nenabled = false\n')
    with pytest.raises(ConfigError) as ei:
        C.build_pipeline(C.load(str(child)), REG_MANY)
    assert (ei.value.source, ei.value.key) == (str(child), "passes.a.enabled")
    assert "[passes.b], [passes.d]" in ei.value.fix


def test_bad_btfids_config_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as ei:
        C.load_config(env={"BTFIDS_CONFIG": "no-such"}, cwd=tmp_path)
    assert str(ei.value).startswith("config error: $BTFIDS_CONFIG=no-such: ")

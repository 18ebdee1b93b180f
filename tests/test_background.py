"""The sanity checks of a big BTF in a child process (btfids/btf/background.py) must not
change any outcome: same output bytes, same error line, same exit status, same log lines
as a serial run, for valid and damaged inputs alike.

The pieces are checked on their own first, against the serial parse:
- ``Btf.parse(checks=False)`` then ``Btf.verify`` (what parent and child do) end as one
  ``Btf.parse`` ends, for every single-word edit of a sample BTF and random multi-word
  edits;
- the name query a classic parse answers on its walk finds what a scan of the parsed
  records finds (names inside other strings included).
Then whole runs: damaged objects and a BTF that only the sanity checks reject, run
with ``BTFIDS_PARALLEL=always`` (a child for any size) and ``=0`` (none), must agree,
and the corpus vmlinux resolves byte for byte in both modes (test_classic_corpus,
test_host_corpus).
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
from pathlib import Path

import pytest
from elfbuilder import BtfIdsBuilder, btfids_elf, simple_btf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parallel_helpers import counting_forks, parallel
from test_fuzz import _apply, _mutation, _regions
from test_perf_cache import _sample_btf

from btfids.btf import Btf, BtfError
from btfids.btf import kinds as K
from btfids.btf.background import PIPE_BYTES, BackgroundChecks, Child, _widen
from btfids.cli.resolve_btfids import run

_EDIT_VALUES = (0, 1, 2, 7, 9, 10, 11, 12, 13, 40, 0xFFFF, 0x0D000000, 0x04000001,
                0x0C000000, 0xFFFFFFFF)


# ------------------------------------------------------------------ the pieces
def _serial(data: bytes) -> str:
    try:
        return repr(list(Btf.parse(data).types))
    except BtfError as exc:
        return f"error: {exc}"


def _two_step(data: bytes, records: bool) -> str:
    """Parent and child: the unchecked parse's error, else the checks' error, else the
    parent's records."""
    try:
        btf = Btf.parse(data, records=records, checks=False)
    except BtfError as exc:
        return f"error: {exc}"
    try:
        Btf.verify(data)
    except BtfError as exc:
        return f"error: {exc}"
    return repr(list(btf.types))


def _edited(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    buf = bytearray(data)
    for word, value in edits:
        buf[24 + 4 * word : 28 + 4 * word] = value.to_bytes(4, "little")
    return bytes(buf)


def test_unchecked_parse_then_verify_ends_as_the_parse_every_single_edit() -> None:
    data = _sample_btf()
    assert not _serial(data).startswith("error")
    errors = 0
    for word in range((len(data) - 24) // 4):
        for value in _EDIT_VALUES:
            buf = _edited(data, [(word, value)])
            serial = _serial(buf)
            errors += serial.startswith("error")
            assert _two_step(buf, True) == serial == _two_step(buf, False), (word, value)
    assert errors > 100   # the edits reach the checks, not only the layout


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 63), st.sampled_from(_EDIT_VALUES)),
                min_size=1, max_size=4))
def test_unchecked_parse_then_verify_ends_as_the_parse(edits: list[tuple[int, int]]) -> None:
    data = _sample_btf()
    nwords = (len(data) - 24) // 4
    buf = _edited(data, [(w % nwords, v) for w, v in edits])
    assert _two_step(buf, True) == _serial(buf) == _two_step(buf, False)


def _query(kinds: tuple[int, ...], names: set[bytes]) -> tuple[bytes, frozenset[bytes]]:
    return bytes(1 if (b & 0x1F) in kinds else 0 for b in range(256)), frozenset(names)


def _scan(btf: Btf, kinds: tuple[int, ...], names: set[bytes]) -> list[tuple[int, int, bytes]]:
    """What the query should find, the slow way: every record, every name read."""
    out = []
    for tid, t in btf.iter_own():
        name = btf.str_at(t[0])
        if (t[1] >> 24) & 0x1F in kinds and name in names:
            out.append((tid, t[1] >> 24, name))
    return out


def _named_btf() -> bytes:
    """FUNCs and STRUCTs, two named by an offset inside a longer string (``xf`` → ``f``,
    ``my_s`` → ``_s``), an anonymous STRUCT, a TYPEDEF named like a wanted FUNC."""
    b = Btf(hdr_len=24)
    i32 = b.add_type_words([b.add_str(b"int"), K.make_info(K.INT), 4, 32])
    proto = b.add_type_words([0, K.make_info(K.FUNC_PROTO), i32])
    for name in (b"f", b"g", b"xf", b"f"):
        b.add_func(name, 1, proto)
    xf = b.find_str(b"xf")
    b.add_type_words([xf + 1, K.make_info(K.FUNC, 1), proto])       # "f" inside "xf"
    b.add_type_words([b.add_str(b"s"), K.make_info(K.STRUCT), 4])
    b.add_type_words([0, K.make_info(K.STRUCT), 4])                   # anonymous
    my_s = b.add_str(b"my_s")
    b.add_type_words([my_s + 2, K.make_info(K.STRUCT), 4])            # "_s" inside "my_s"
    b.add_type_words([b.add_str(b"g"), K.make_info(K.TYPEDEF), i32])
    return b.raw_data()


@pytest.mark.parametrize("kinds,names", [
    ((K.FUNC,), {b"f"}),
    ((K.FUNC, K.STRUCT), {b"f", b"g", b"s", b"_s"}),
    ((K.STRUCT,), {b""}),                      # an empty name: the anonymous STRUCT
    ((K.TYPEDEF, K.UNION), {b"g", b"nothing"}),
    ((K.FUNC,), {b"x"}),                       # a prefix is no match
])
def test_named_walk_finds_what_a_scan_finds(kinds: tuple[int, ...], names: set[bytes]) -> None:
    data = _named_btf()
    btf = Btf.parse(data, records=False, checks=False, named=_query(kinds, names))
    assert btf.named is not None
    assert btf.named[1] == _scan(Btf.parse(data), kinds, names)


def test_named_walk_only_where_it_can_answer() -> None:
    """Checked parses, record parses and split BTF leave ``named`` unset (resolution
    then scans), and the query never changes the records."""
    data = _named_btf()
    q = _query((K.FUNC,), {b"f"})
    assert Btf.parse(data, records=False, named=q).named is None
    assert Btf.parse(data, records=True, checks=False, named=q).named is None
    base = Btf.parse(data)
    split = Btf(base=base)
    split.add_func(b"f", 1, 2)
    assert Btf.parse(split.raw_data(), base, records=False, checks=False,
                     named=q).named is None
    assert list(Btf.parse(data, records=False, checks=False, named=q).types) == \
        list(Btf.parse(data).types)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 63), st.sampled_from(_EDIT_VALUES)),
                min_size=1, max_size=3))
def test_named_walk_on_damaged_btf(edits: list[tuple[int, int]]) -> None:
    """On any BTF the full parse accepts, the walk's answer is the scan's; where the
    walk cannot read a name it declines (and the checked parse decides)."""
    data = _named_btf()
    nwords = (len(data) - 24) // 4
    buf = _edited(data, [(w % nwords, v) for w, v in edits])
    kinds, names = (K.FUNC, K.STRUCT, K.TYPEDEF), {b"f", b"g", b"s", b"_s", b""}
    try:
        full = Btf.parse(buf)
    except BtfError:
        return
    btf = Btf.parse(buf, records=False, checks=False, named=_query(kinds, names))
    if btf.named is not None:
        assert btf.named[1] == _scan(full, kinds, names)


# ------------------------------------------------------------------ whole runs
def _run(argv: list[str], mode: str) -> tuple[int, str]:
    err = io.StringIO()
    with parallel(mode), contextlib.redirect_stderr(err), \
            contextlib.redirect_stdout(io.StringIO()):
        code = run(argv)
    return code, err.getvalue()


def _outputs(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.parent.iterdir())}


def _both_modes(data: bytes, argv: list[str], tmp: Path) -> tuple[int, str]:
    """Run on copies of ``data`` without and with the child; both must agree on the
    exit status, every stderr line and every file. Returns the serial outcome."""
    seen = []
    for mode in ("0", "always"):
        path = tmp / mode / "obj.o"
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        code, err = _run([*argv, str(path)], mode)
        seen.append((code, err.replace(str(path.parent), "DIR"), _outputs(path)))
    assert seen[0] == seen[1]
    return seen[0][0], seen[0][1]


def _object() -> bytes:
    """Two ``S`` symbols and two ``struct S`` types: the struct counter outlives the
    first match, so resolution prints a WARN line; a set and a set8 of kfuncs."""
    ids = BtfIdsBuilder()
    for kind, name in (("struct", "S"), ("struct", "S"), ("typedef", "T"), ("func", "f")):
        ids.btf_id(kind, name)
    with ids.set("s"):
        for name in ("g", "f"):
            ids.btf_id("func", name)
    with ids.kfuncs("k"):
        ids.btf_id("func", "f", flags=1 << 12)
    entries = [("struct", "S"), ("typedef", "T"), ("func", "f"), ("func", "g")]
    return btfids_elf(ids, simple_btf([*entries, ("struct", "S")]))[0]


_PRESETS = ([], ["--config", "linux-6.12"], ["-v", "--config", "linux-6.12"])


@pytest.mark.parametrize("argv", _PRESETS)
def test_valid_object_same_in_both_modes(tmp_path: Path, argv: list[str]) -> None:
    code, err = _both_modes(_object(), argv, tmp_path)
    assert code == 0
    if "linux-6.12" in argv:
        assert "WARN: multiple IDs found for 'S'" in err   # held, then printed


def _struct_member_out_of_range() -> bytes:
    """A valid layout whose STRUCT member names type 999: only libbpf's sanity pass
    rejects it."""
    data = bytearray(simple_btf([("struct", "S"), ("func", "f"), ("struct", "S")]))
    btf = Btf.parse(bytes(data))
    s = next(tid for tid, t in btf.iter_own() if (t[1] >> 24) & 0x7F == K.STRUCT)
    # the second S stays valid: resolving would find both (a WARN line)
    b = Btf(hdr_len=24)
    for tid, t in btf.iter_own():
        if tid == s:
            b.add_type_words([b.add_str(b"S"), K.make_info(K.STRUCT, 1), 4,
                              b.add_str(b"m"), 999, 0])
        else:
            b.add_type_words([b.add_str(btf.str_at(t[0])) if t[0] else 0, *t[1:]])
    return b.raw_data()


def _bad_object() -> bytes:
    ids = BtfIdsBuilder()
    ids.btf_id("struct", "S")
    ids.btf_id("struct", "S")
    ids.btf_id("func", "f")
    return btfids_elf(ids, _struct_member_out_of_range())[0]


@pytest.mark.parametrize("argv", _PRESETS)
def test_bad_btf_fails_alike_with_a_child(tmp_path: Path, argv: list[str]) -> None:
    """The child's verdict decides: the run fails with the serial run's line, exit 255,
    no resolution line (the parent resolved meanwhile; its WARN is dropped), no output
    and no change to the ELF. A child really ran."""
    data = _bad_object()
    with counting_forks() as forks:
        code, err = _both_modes(data, argv, tmp_path)
    assert code == 255
    assert err.splitlines()[-1] == (
        "FAILED: load BTF from DIR/obj.o: BTF type [3]: invalid referenced type ID 999")
    assert "WARN" not in err
    assert len(forks) == 1
    assert (tmp_path / "always" / "obj.o").read_bytes() == data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), preset=st.sampled_from(_PRESETS[:2]))
def test_damaged_objects_same_in_both_modes(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, preset: list[str],
) -> None:
    original = _object()
    path = tmp_path_factory.mktemp("src") / "obj.o"
    path.write_bytes(original)
    btf_only = [r for r in _regions(original, str(path))[2:]]   # the sections' bytes
    damaged = _apply(original, data.draw(_mutation(btf_only)))
    _both_modes(damaged, preset, tmp_path_factory.mktemp("case"))


@pytest.mark.parametrize("valid", [True, False])
@pytest.mark.parametrize("argv", _PRESETS[:2])
def test_a_child_that_dies_is_no_verdict(tmp_path: Path, argv: list[str], valid: bool,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A child killed before it answers (OOM killer, a signal) proves nothing: the
    parent checks the BTF itself and the run ends as a serial one (a bad BTF fails)."""
    parent = os.getpid()
    verify = Btf.verify

    def dying_verify(data: bytes, base: Btf | None = None) -> None:
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        verify(data, base)

    monkeypatch.setattr(Btf, "verify", staticmethod(dying_verify))
    data = _object() if valid else _bad_object()
    code, err = _both_modes(data, argv, tmp_path)
    assert (code == 0) == valid, err


def test_child_is_cancelled_when_the_run_fails_first(tmp_path: Path) -> None:
    """A failure before the verdict (here: the load itself) reaps the child: no zombie
    is left behind."""
    checks = BackgroundChecks()
    with parallel("always"):
        checks.start(lambda: Btf.verify(_sample_btf()), 1)
    assert checks._child is not None
    pid = checks._child._pid
    assert pid > 0
    checks.cancel()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    checks.wait()   # nothing left to wait for


@pytest.mark.parametrize("size", [0, 1, 65536, 65537, PIPE_BYTES + 12345, 3 * PIPE_BYTES])
def test_child_answer_arrives_whole(size: int) -> None:
    """A child's bytes arrive whole at any size: smaller than the pipe (written at once,
    the pipe closed before the child exits) and larger (the child waits for reads)."""
    payload = os.urandom(size)
    child = Child.start(lambda: payload)
    assert child is not None
    assert child.result() == payload


def test_child_pipe_is_widened() -> None:
    """Where the system allows it, a child's pipe holds :data:`PIPE_BYTES`: dedup's
    ID map of vmlinux (860 KB) goes in without waiting for the parent."""
    fcntl = pytest.importorskip("fcntl")
    if not hasattr(fcntl, "F_GETPIPE_SZ"):
        pytest.skip("no F_GETPIPE_SZ here")
    read, write = os.pipe()
    try:
        before = fcntl.fcntl(write, fcntl.F_GETPIPE_SZ)
        _widen(write)
        after = fcntl.fcntl(write, fcntl.F_GETPIPE_SZ)
    finally:
        os.close(read)
        os.close(write)
    try:
        with open("/proc/sys/fs/pipe-max-size") as f:
            allowed = int(f.read())
    except OSError:
        allowed = 0
    if allowed >= PIPE_BYTES or os.geteuid() == 0:
        assert after >= PIPE_BYTES
    else:
        assert after == before


@pytest.mark.parametrize("cgroup,files,limit", [
    ("0::/build\n", {"build/cpu.max": "150000 100000\n"}, 1.5),             # v2, a quota
    ("0::/build\n", {"build/cpu.max": "max 100000\n"}, float("inf")),       # v2, none
    ("4:cpu,cpuacct:/ci\n0::/\n", {"cpu,cpuacct/ci/cpu.cfs_quota_us": "100000",
                                   "cpu,cpuacct/ci/cpu.cfs_period_us": "100000"}, 1.0),
    ("1:cpu:/\n2:cpuacct:/\n", {"cpu/cpu.cfs_quota_us": "-1",
                                "cpu/cpu.cfs_period_us": "100000"}, float("inf")),
    ("1:memory:/x\n", {}, float("inf")),                                     # no cpu line
    ("0::/gone\n", {}, float("inf")),                                        # unreadable
])
def test_cgroup_cpu_limit(tmp_path: Path, cgroup: str, files: dict[str, str],
                          limit: float) -> None:
    """A container's CPU quota counts (``docker --cpus=1`` shows every host CPU): the
    limit is read from cgroup v2's ``cpu.max`` or v1's CFS quota and period."""
    from btfids.btf.background import cgroup_cpu_limit

    proc = tmp_path / "cgroup"
    proc.write_text(cgroup)
    for rel, text in files.items():
        (tmp_path / "fs" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "fs" / rel).write_text(text)
    assert cgroup_cpu_limit(str(proc), str(tmp_path / "fs")) == limit

"""SIGINT and SIGTERM end a run cleanly (issue 23, btfids/interrupts.py): exit status
130 / 143 (or 0 when the run was done first), no traceback, no temporary file left
(outputs or cache), and the forked helper process gone with its parent. SIGKILL: the
helper still dies with its parent (btfids/btf/lifeline.py); what may remain is named.

Signals land at seeded random moments of real runs (the corpus vmlinux, whose BTF check
runs in a helper process, and modules with ``BTFIDS_PARALLEL=always``); ``-m sweep``
runs more of them.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_host_corpus import preresolve

from btfids import interrupts

BIN = Path(sys.executable).parent
SEED = int(os.environ.get("BTFIDS_FUZZ_SEED", "23"))


def _children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid``."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry))
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _interrupt_run(argv: list[str], env: dict[str, str], signum: int, delay: float,
                   *, after_fork: bool = False) -> tuple[int, str, list[int]]:
    """Start a run, wait ``delay`` s (sampling its helper processes meanwhile) from when
    it catches signals (``after_fork``: from when a helper runs), send ``signum``,
    check that the helpers end with it; (exit status, stderr, helpers seen alive)."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    helpers: set[int] = set()
    _wait_for_handlers(proc)
    while after_fork and not helpers and proc.poll() is None:
        helpers.update(_children(proc.pid))
    end = time.monotonic() + delay
    while time.monotonic() < end and proc.poll() is None:
        helpers.update(_children(proc.pid))
        time.sleep(0.002)
    if proc.poll() is None:
        helpers.update(_children(proc.pid))
        proc.send_signal(signum)
    proc.wait(timeout=120)
    # before reading stderr: a helper holds that pipe too, so its end would wait for it
    _helpers_gone(sorted(helpers))
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    return proc.returncode, err, sorted(helpers)


def _wait_for_handlers(proc: subprocess.Popen[bytes]) -> None:
    """Until the program catches SIGTERM (``SigCgt`` in /proc): its first lines ran
    (``interrupts.install``). Before that the interpreter is still starting, and a
    signal gets Python's default action (docs/user-guide.md)."""
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                caught = next(int(line.split()[1], 16) for line in f
                              if line.startswith("SigCgt:"))
        except (OSError, StopIteration):
            caught = 0
        if caught & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.001)


def _leftovers(*dirs: Path) -> list[str]:
    return [str(p) for d in dirs for p in d.rglob("*.tmp")]


def _helpers_gone(helpers: list[int]) -> None:
    deadline = time.monotonic() + 0.1
    while any(map(_alive, helpers)) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert not [p for p in helpers if _alive(p)], "a helper outlived its parent"


@pytest.fixture(scope="module")
def cases(corpus: Path, golden: Path, tmp_path_factory: pytest.TempPathFactory
          ) -> list[tuple[list[str], Path]]:
    """(argv, directory whose files the run writes), one per kind of run: vmlinux (a
    pre-resolve copy, as kbuild runs it), a module with --distill_base, a module in
    place (linux-6.12)."""
    tmp = tmp_path_factory.mktemp("runs")
    vmlinux = preresolve(corpus / "vmlinux", golden / "classic" / "vmlinux.BTF_ids.pre",
                         tmp / "vmlinux.pre")
    base = str(corpus / "btf-vmlinux")
    out = []
    for name, src, extra in (
        ("vmlinux", vmlinux, []),
        ("dctcp", corpus / "modules/net/ipv4/tcp_dctcp.ko", ["--distill_base", "-b", base]),
        ("bbr612", corpus / "modules/net/ipv4/tcp_bbr.ko",
         ["--config", "linux-6.12", "-b", base]),
    ):
        d = tmp / name
        d.mkdir()
        elf = d / src.name.replace(".pre", "")
        if "linux-6.12" in extra:
            shutil.copyfile(src, elf)   # changed in place
        else:
            os.symlink(src, elf)
        out.append(([str(BIN / "resolve_btfids"), *extra, str(elf)], d))
    return out


def _signal_trials(cases: list[tuple[list[str], Path]], tmp_path: Path, trials: int) -> None:
    cache = tmp_path / "cache"
    env = dict(os.environ, BTFIDS_CACHE_DIR=str(cache), BTFIDS_PARALLEL="always")
    rng = random.Random(SEED)
    outcome: dict[str, int] = {}
    for n in range(trials):
        argv, d = cases[n % len(cases)]
        if n % 7 == 6:   # now and then a cold cache: the index write can be hit too
            shutil.rmtree(cache, ignore_errors=True)
        signum = (signal.SIGINT, signal.SIGTERM)[n % 2]
        delay = rng.uniform(0.0, 0.6 if "vmlinux" in argv[-1] else 0.35)
        code, err, helpers = _interrupt_run(argv, env, signum, delay)
        assert "Traceback" not in err and "internal error" not in err, err
        assert code in (0, 128 + signum), (argv, signum, delay, code, err)
        assert not _leftovers(d, cache), (argv, signum, delay)
        key = f"{'ok' if code == 0 else 'interrupted'}"
        outcome[key] = outcome.get(key, 0) + 1
        outcome["helper seen"] = outcome.get("helper seen", 0) + bool(helpers)
    print(f"\nsignals: {trials} runs, {outcome}, seed {SEED}")
    assert outcome.get("interrupted", 0) >= trials // 3   # the signals did land


@pytest.mark.corpus
def test_sigint_sigterm_exit_cleanly(cases: list[tuple[list[str], Path]],
                                     tmp_path: Path) -> None:
    _signal_trials(cases, tmp_path, 9)


@pytest.mark.sweep
@pytest.mark.corpus
def test_sigint_sigterm_exit_cleanly_sweep(cases: list[tuple[list[str], Path]],
                                           tmp_path: Path) -> None:
    _signal_trials(cases, tmp_path, 60)


@pytest.mark.corpus
def test_sigkill_takes_the_helper_along(cases: list[tuple[list[str], Path]],
                                        tmp_path: Path) -> None:
    """SIGKILL while the helper works: the helper is gone within 0.1 s; a
    leftover can only be a temporary output ``.<name>.<hex>.tmp`` or cache entry
    ``<entry>.<pid>.<hex>.tmp``."""
    env = dict(os.environ, BTFIDS_CACHE_DIR=str(tmp_path / "cache"),
               BTFIDS_PARALLEL="always")
    argv, d = cases[0]
    seen = 0
    for delay in (0.0, 0.01, 0.03):   # its work has ~0.2 s to go: only the lifeline ends it
        code, _, helpers = _interrupt_run(argv, env, signal.SIGKILL, delay, after_fork=True)
        assert code == -signal.SIGKILL
        seen += bool(helpers)
        for left in _leftovers(d):
            assert Path(left).name.startswith(".vmlinux.BTF"), left
    assert seen, "no helper was seen working: the test proves nothing"


def test_held_defers_and_then_raises() -> None:
    """A signal inside ``held`` is delivered (and raises) when the block ends."""
    old = [signal.getsignal(s) for s in interrupts.SIGNALS]
    try:
        interrupts.install()
        done = []
        with pytest.raises(interrupts.Interrupted) as info, interrupts.held():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)
            done.append(1)
        assert done == [1] and info.value.exit_code == 143
        # the first signal wins: the handlers now ignore both
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        for s, h in zip(interrupts.SIGNALS, old, strict=True):
            signal.signal(s, h)


def test_no_traceback_on_sigint_at_start(tmp_path: Path) -> None:
    """SIGINT as soon as the program runs (the issue's ``timeout -s INT``): never a
    traceback, whatever it was doing (here: importing and printing its help)."""
    rng = random.Random(SEED)
    for _ in range(6):
        _, err, _ = _interrupt_run([str(BIN / "resolve_btfids"), "--help"], dict(os.environ),
                                      signal.SIGINT, rng.uniform(0.0, 0.05))
        assert "Traceback" not in err, err

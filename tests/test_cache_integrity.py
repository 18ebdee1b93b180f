"""The cache can never change an output (issue 23, docs/performance.md).

Every cache file (the base index ``base-*.idx``, the base's stat stamp ``stat-*``, the
parsed config ``toml-*``) is damaged between runs: random bit flips (1, 8 and 64 per
file), truncation, zeroed or garbage arrays behind an intact header, an empty file, a
directory in its place. Every run must exit 0 with the bytes of a ``--no-cache`` run,
and leave every cache file valid again (rebuilt and replaced). The default run does a
few trials; ``-m sweep`` does 300 (seeded, reproducible: ``BTFIDS_FUZZ_SEED``).
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import shutil
from pathlib import Path

import pytest

from btfids.btf import baseindex
from btfids.cache import ENV_CACHE, ENV_CACHE_DIR, read_sealed, seal, unseal
from btfids.cli.resolve_btfids import run

pytestmark = pytest.mark.corpus
MODULE = "net/ipv4/tcp_dctcp.ko"
SUFFIXES = (".BTF_ids", ".BTF", ".BTF.base")
MODES = (["--distill_base"], [], ["--config", "linux-6.12"])
SEED = int(os.environ.get("BTFIDS_FUZZ_SEED", "23"))


class Runner:
    """Runs of one module against the corpus base, each in a fresh directory."""

    def __init__(self, corpus: Path, work: Path) -> None:
        self.src = corpus / "modules" / MODULE
        self.base = corpus / "btf-vmlinux"
        self.work = work
        self.n = 0

    def outputs(self, mode: list[str], *extra: str) -> tuple[int, str, dict[str, bytes]]:
        """(exit status, stderr, output name → bytes; the ELF itself for in place)."""
        self.n += 1
        d = self.work / str(self.n)
        d.mkdir()
        elf = d / self.src.name
        shutil.copyfile(self.src, elf)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = run([*mode, *extra, "-b", str(self.base), str(elf)])
        got = {p.name: p.read_bytes() for p in sorted(d.iterdir())}
        shutil.rmtree(d)
        return code, err.getvalue(), got


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv(ENV_CACHE_DIR, str(d))
    monkeypatch.delenv(ENV_CACHE, raising=False)
    monkeypatch.setattr(baseindex, "SETTLE_NS", 0)   # stamp the base whatever its age
    return d


def _references(runner: Runner) -> dict[int, dict[str, bytes]]:
    refs = {}
    for i, mode in enumerate(MODES):
        code, err, got = runner.outputs(mode, "--no-cache")
        assert code == 0, err
        refs[i] = got
    return refs


def _entries(cache: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(cache.iterdir())}


def _flip(data: bytes, bits: int, rng: random.Random) -> bytes:
    out = bytearray(data)
    for pos in rng.sample(range(len(out) * 8), min(bits, len(out) * 8)):
        out[pos >> 3] ^= 1 << (pos & 7)
    return bytes(out)


def _trials(corpus: Path, tmp_path: Path, cache: Path, per_width: int,
            seed: int = SEED) -> dict[str, int]:
    runner = Runner(corpus, tmp_path / "runs")
    runner.work.mkdir()
    refs = _references(runner)
    for i, mode in enumerate(MODES):   # fill the cache; cached runs give the same bytes
        code, err, got = runner.outputs(mode)
        assert (code, got) == (0, refs[i]), err
    good = _entries(cache)
    assert {n.split("-")[0] for n in good} == {"base", "stat", "toml"}, sorted(good)
    rng = random.Random(seed)
    counts = {"trials": 0, "wrong": 0, "files": len(good)}
    for bits in (1, 8, 64):
        for _ in range(per_width):
            damaged = {name: _flip(data, bits, rng) for name, data in good.items()}
            for name, data in damaged.items():
                (cache / name).write_bytes(data)
            i = rng.randrange(len(MODES))
            code, err, got = runner.outputs(MODES[i])
            counts["trials"] += 1
            counts["wrong"] += got != refs[i]
            assert (code, err, got) == (0, "", refs[i]), (bits, MODES[i], err)
            # what the run read is repaired (the other preset's config is not read)
            for name, data in _entries(cache).items():
                assert data == good[name] or (
                    name.startswith("toml-") and data == damaged[name]), (bits, name)
    return counts


def _report(counts: dict[str, int], seeds: str) -> None:
    print(f"\ncache integrity: {counts['trials']} trials (1/8/64 bit flips in all "
          f"{counts['files']} cache files), {counts['wrong']} wrong outputs, 0 failures, "
          f"seed {seeds}")


def test_bit_flips_never_change_an_output(corpus: Path, tmp_path: Path, cache: Path) -> None:
    _report(_trials(corpus, tmp_path, cache, per_width=2), str(SEED))


def _sweep_worker(job: tuple[str, str, int]) -> dict[str, int]:
    corpus, tmp, seed = job
    cache = Path(tmp) / "cache"
    os.environ[ENV_CACHE_DIR] = str(cache)
    os.environ.pop(ENV_CACHE, None)
    baseindex.SETTLE_NS = 0
    return _trials(Path(corpus), Path(tmp), cache, per_width=50, seed=seed)


@pytest.mark.sweep
def test_bit_flips_never_change_an_output_sweep(corpus: Path, tmp_path: Path) -> None:
    """300 trials over two processes (each its own cache directory and seed)."""
    import multiprocessing

    jobs = []
    for k in range(2):
        (tmp_path / str(k)).mkdir()
        jobs.append((str(corpus), str(tmp_path / str(k)), SEED + k))
    with multiprocessing.get_context("fork").Pool(2) as pool:
        parts = pool.map(_sweep_worker, jobs)
    total = {k: sum(p[k] for p in parts) for k in ("trials", "wrong")}
    total["files"] = parts[0]["files"]
    _report(total, f"{SEED}, {SEED + 1}")
    assert total["trials"] == 300 and total["wrong"] == 0


def _index_damage(good: bytes) -> dict[str, bytes | None]:
    """Damaged versions of a base index file (None: a directory in its place)."""
    content = unseal(good)
    assert content is not None
    head = bytes(content[:4096])
    return {
        "truncated": good[: len(good) // 2],
        "trailer cut": good[:-1],
        "empty": b"",
        "arrays zeroed, header kept": head + bytes(len(good) - len(head)),
        "arrays garbage, header kept": head + random.Random(1).randbytes(len(good) - len(head)),
        "arrays zeroed, resealed": seal(head + bytes(len(content) - len(head))),
        "old unsealed format": bytes(content),
        "directory": None,
    }


def test_damaged_index_is_rebuilt(corpus: Path, tmp_path: Path, cache: Path) -> None:
    """Structured damage, each scenario in each mode: an exact output, exit 0, and the
    index rebuilt (or, where a directory blocks the rename, the run goes on)."""
    runner = Runner(corpus, tmp_path / "runs")
    runner.work.mkdir()
    refs = _references(runner)
    runner.outputs(MODES[0])
    (idx,) = cache.glob("base-*.idx")
    good = idx.read_bytes()
    for n, (label, bad) in enumerate(_index_damage(good).items()):
        for i, mode in enumerate(MODES):
            if (n + i) % 2:   # half the scenarios in each mode (CI time)
                continue
            for stamp in cache.glob("stat-*"):   # some runs find the index by stamp
                if n % 3 == 0:
                    stamp.unlink()
            if bad is None:
                idx.unlink()
                idx.mkdir()
            else:
                idx.write_bytes(bad)
            code, err, got = runner.outputs(mode)
            assert (code, err, got) == (0, "", refs[i]), (label, mode, err)
            if bad is None:
                idx.rmdir()
                idx.write_bytes(good)
            else:
                assert idx.read_bytes() == good, (label, mode)
    assert not list(cache.glob("*.tmp"))


def test_stamp_naming_another_base_is_a_miss(corpus: Path, tmp_path: Path,
                                              cache: Path) -> None:
    """A stat stamp whose (sealed, intact) digest names the index of another base: the
    index does not describe the bytes, so the base is hashed and its own index used."""
    runner = Runner(corpus, tmp_path / "runs")
    runner.work.mkdir()
    refs = _references(runner)
    runner.outputs(MODES[1])
    (stamp,) = cache.glob("stat-*")
    (idx,) = cache.glob("base-*.idx")
    other = "0" * 64
    # a foreign index: this base's, re-keyed to another digest and cut to 1 type
    content = unseal(idx.read_bytes())
    assert content is not None
    from btfids.btf import Btf

    tiny = Btf.parse(seal_small_base())
    built = baseindex.BaseIndex.build(tiny)
    assert built is not None
    (cache / f"base-{other}.idx").write_bytes(seal(built.dumps(other)))
    stamp.write_bytes(seal(other.encode()))
    code, err, got = runner.outputs(MODES[1])
    assert (code, err, got) == (0, "", refs[1])
    assert read_sealed(str(stamp)) == idx.name[5:-4].encode()


def seal_small_base() -> bytes:
    """A tiny standalone base BTF: one INT (raw bytes, host order)."""
    import struct

    strs = b"\0int\0"
    types = struct.pack("=IIII", 1, 1 << 24, 4, 32)
    hdr = struct.pack("=HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strs))
    return hdr + types + strs

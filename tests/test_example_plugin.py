"""The third-party example plugin (docs/example-plugin), pip-installed into a fresh venv."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import hostplugins as hp
import pytest

from btfids.btf import Btf
from btfids.btf import kinds as K

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "example-plugin"


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv that sees this project's environment (btfids, pluggy, ...) through a
    .pth file, with the example distribution pip-installed into it."""
    env_dir = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    py = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    Path(purelib, "zz_btfids_project.pth").write_text(
        f"import site; site.addsitedir({ours!r})\n"
    )
    pip = [str(py), "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check"]
    if importlib.util.find_spec("wheel") is not None:
        pip += ["--no-build-isolation", "--no-index"]  # offline build
    proc = subprocess.run([*pip, str(EXAMPLE)], capture_output=True, text=True)
    if proc.returncode != 0:
        if "--no-index" not in pip and ("connection" in proc.stderr.lower()
                                        or "no matching distribution" in proc.stderr.lower()):
            pytest.skip("no package index to fetch the build backend (setuptools)")
        raise AssertionError(f"pip install failed:\n{proc.stdout}\n{proc.stderr}")
    return env_dir


def run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, BTFIDS_PLUGINS="hostplugins",
               PYTHONPATH=str(ROOT / "tests"))
    env.pop("BTFIDS_CONFIG", None)
    return subprocess.run([str(venv / "bin" / "python"), "-m", "btfids.cli.app", *args],
                          cwd=cwd, env=env, capture_output=True, text=True)


def test_installed_plugin_is_discovered(venv: Path, tmp_path: Path) -> None:
    # only inside the venv: the project's own environment does not have it
    assert importlib.util.find_spec("btfids_tag_pattern") is None
    (tmp_path / "btfids.toml").write_text(
        'pipeline = ["t-mid", "t-typedef"]\n[passes.tag-pattern]\nafter = "t-mid"\n'
    )
    proc = run(venv, "passes", "--json", cwd=tmp_path)  # found as ./btfids.toml
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["found_by"] == "current directory"
    assert [(p["name"], p["origin"]) for p in data["pipeline"]] == [
        ("t-mid", "$BTFIDS_PLUGINS"),
        ("tag-pattern", "btfids-tag-pattern 0.1.0"),
        ("t-typedef", "$BTFIDS_PLUGINS"),
    ]


def test_plugin_runs_in_configured_position(venv: Path, tmp_path: Path) -> None:
    elf = hp.elf_with_btf(tmp_path)
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(
        'pipeline = ["t-mid", "t-typedef"]\n'
        '[passes.tag-pattern]\nafter = "t-mid"\npattern = "^ba"\ntag = "ex"\n'
    )
    proc = run(venv, "run", "--config", str(cfg), "--report", str(tmp_path / "r.json"),
               str(elf), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads((tmp_path / "r.json").read_text())
    assert [p["name"] for p in rep["passes"]] == ["t-mid", "tag-pattern", "t-typedef"]
    assert rep["passes"][1]["decl_tags_added"] == {"ex": 2}
    assert rep["passes"][1]["stats"] == {"tagged": 2}
    out = Btf.parse((tmp_path / "mod.ko.BTF").read_bytes())
    # tags for bar (4) and baz (5) appended before t-typedef's typedef
    assert [(out.kind(t), out.name(t)) for t in (6, 7, 8)] == [
        (K.DECL_TAG, b"ex"), (K.DECL_TAG, b"ex"), (K.TYPEDEF, b"myint")]
    assert [out.type(t)[2] for t in (6, 7)] == [4, 5]
    # disabled from the command line: no tags
    proc = run(venv, "run", "--config", str(cfg), "--disable", "tag-pattern", str(elf),
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert Btf.parse((tmp_path / "mod.ko.BTF").read_bytes()).type_cnt == 7


def test_bad_option_is_config_error(venv: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text('pipeline = ["t-mid"]\n[passes.tag-pattern]\nafter = "t-mid"\nlimit = "2"\n')
    proc = run(venv, "run", "--config", str(cfg), str(hp.elf_with_btf(tmp_path)), cwd=tmp_path)
    assert proc.returncode == 255
    assert proc.stderr == (f"btfids: config error: {cfg}: passes.tag-pattern.limit: must be an "
                           "integer like the default 0, not a string '2'\n")
    assert hp.listing(tmp_path) == ["cfg.toml", "mod.ko"]

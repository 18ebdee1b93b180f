"""The libsubcmd-compatible parser: exact usage texts of both tools, every error text,
prefix/negation/bundling rules, and the hidden exact-only project options."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from btfids.cli.subcmd import (
    SubcmdExit,
    legacy_parser,
    newest_parser,
    parse_command_line,
)
from btfids.errors import UsageError

HEAD = (
    "\n"
    " Usage: resolve_btfids [<options>] <ELF object>\n"
    "    or: resolve_btfids --patch_btfids <.BTF_ids file> <ELF object>\n"
)
LINES = {
    "btf_base": "    -b, --btf_base <file>\n"
                "                          path of file providing base BTF\n",
    "verbose": "    -v, --verbose         be more verbose (show errors, etc)\n",
    "btf": "        --btf <file>      path to a file with input BTF data\n",
    "distill_base": "        --distill_base    distill --btf_base and emit .BTF.base section"
                    " data\n",
    "fatal_warnings": "        --fatal_warnings  turn warnings into errors\n",
    "patch_btfids": "        --patch_btfids <file>\n"
                    "                          path to .BTF_ids section data blob to patch into"
                    " ELF file\n",
}
USAGE = HEAD + "\n" + "".join(LINES[k] for k in (
    "btf_base", "verbose", "btf", "distill_base", "fatal_warnings", "patch_btfids")) + "\n"
LEGACY_USAGE = (
    "\n"
    " Usage: resolve_btfids [<options>] <ELF object>\n"
    "\n"
    "    -b, --btf_base <file>\n"
    "                          path of file providing base BTF\n"
    "    -v, --verbose         be more verbose (show errors, etc)\n"
    "        --btf <BTF data>  BTF data\n"
    "\n"
)


def _exit(argv: list[str], legacy: bool = False) -> SubcmdExit:
    parser = legacy_parser() if legacy else newest_parser()
    with pytest.raises(SubcmdExit) as exc:
        parse_command_line(parser, argv)
    return exc.value


def test_usage_texts_are_exact() -> None:
    assert len(USAGE.encode()) == 567 and len(LEGACY_USAGE.encode()) == 231
    assert newest_parser().usage() == USAGE
    assert legacy_parser().usage() == LEGACY_USAGE


@pytest.mark.parametrize("argv", [["-h"], ["--help"], ["--help-all"], ["-vh"], [], ["a", "b"],
                                  ["-v"], ["x", "-v"], ["--", "-v", "x"]])
def test_usage_and_129(argv: list[str]) -> None:
    e = _exit(argv)
    assert e.stderr == USAGE and e.stdout == "" and e.exit_code == 129
    assert isinstance(e, UsageError) and str(e) == USAGE


def test_help_filters_options_by_remaining_args() -> None:
    assert _exit(["-h", "vmlinux"]).stderr == HEAD + "\n" + "\n"
    assert _exit(["--help", "verbose", "-b"]).stderr == (
        HEAD + "\n" + LINES["btf_base"] + LINES["verbose"] + "\n")
    assert _exit(["-h", "WARNINGS"]).stderr == HEAD + "\n" + LINES["fatal_warnings"] + "\n"


def test_unknown_options() -> None:
    assert _exit(["--foo", "x"]).stderr == "  Error: unknown option `foo'\n" + USAGE
    assert _exit(["--foo=1"]).stderr == "  Error: unknown option `foo=1'\n" + USAGE
    assert _exit(["-x"]).stderr == "  Error: unknown switch `x'\n" + USAGE
    assert _exit(["-vx"]).stderr == "  Error: unknown switch `x'\n" + USAGE
    legacy = _exit(["--fatal_warnings", "x"], legacy=True)
    assert legacy.stderr == "  Error: unknown option `fatal_warnings'\n" + LEGACY_USAGE


def test_value_errors_print_matching_options_only() -> None:
    assert _exit(["--btf"]).stderr == (
        " Error: option `btf' requires a value" + HEAD + "\n" + LINES["btf"] + LINES["btf_base"])
    assert _exit(["-b"]).stderr == (
        " Error: switch `b' requires a value" + HEAD + "\n" + LINES["btf_base"])
    # libsubcmd matches the listed options against the whole argument, "=2" included
    assert _exit(["--verbose=2", "x"]).stderr == (
        " Error: option `verbose' takes no value" + HEAD + "\n")
    assert _exit(["--no-btf=x"]).stderr.startswith(" Error: option `no-btf' takes no value\n")
    assert _exit(["--bt", "x"]).stderr == (
        " Error: Ambiguous option: bt (could be --btf or --btf_base)" + HEAD + "\n"
        + LINES["btf"] + LINES["btf_base"])
    assert _exit(["-verbose"]).stderr == " Error: did you mean `--verbose` (with two dashes ?)"


@pytest.mark.parametrize(
    ("argv", "expect"),
    [
        (["-vv", "e"], {"verbose": 2}),
        (["--verb", "--verbose", "-v", "e"], {"verbose": 3}),
        (["-vv", "--no-verbose", "e"], {"verbose": 0}),
        (["--btf", "f", "e"], {"btf": "f"}),
        (["--btf=f", "e"], {"btf": "f"}),
        (["--btf_b", "base", "e"], {"btf_base": "base"}),
        (["--btf_base=", "e"], {"btf_base": ""}),
        (["-vbbase", "e"], {"verbose": 1, "btf_base": "base"}),
        (["-b", "base", "--no-btf_base", "e"], {"btf_base": None}),
        (["--fatal", "--dist", "e"], {"fatal_warnings": True, "distill_base": True}),
        (["--d", "e"], {"distill_base": True}),
        (["--patch", "blob", "e"], {"patch_btfids": "blob"}),
        (["--", "e"], {}),
        (["-", ], {}),
    ],
)
def test_accepted_command_lines(argv: list[str], expect: dict[str, object]) -> None:
    values, elf = parse_command_line(newest_parser(), argv)
    assert elf == argv[-1]
    defaults = newest_parser().defaults()
    assert values == {**defaults, **expect}


def test_list_requests() -> None:
    e = _exit(["--list-opts"])
    assert (e.exit_code, e.stderr) == (130, "")
    assert e.stdout == (
        "--verbose --btf --btf_base --fatal_warnings --distill_base --patch_btfids \n")
    assert _exit(["--list-cmds"]).stdout == "\n"


def test_project_options_are_hidden_and_exact() -> None:
    values, elf = parse_command_line(newest_parser(), [
        "--config", "linux-6.12", "--enable=a", "--enable", "b", "--disable", "c", "-v", "e"])
    assert (values["config"], values["enable"], values["disable"]) == ("linux-6.12", ["a", "b"],
                                                                       ["c"])
    assert values["verbose"] == 1 and elf == "e"
    assert _exit(["--conf", "x", "e"]).stderr == "  Error: unknown option `conf'\n" + USAGE
    assert _exit(["--config"]).stderr == " Error: option `config' requires a value" + HEAD + "\n"
    assert "config" not in newest_parser().usage(full=True)
    assert "enable" not in legacy_parser().usage()
    values, _ = parse_command_line(legacy_parser(), ["--enable", "p", "-b", "vmlinux", "m.ko"])
    assert values["enable"] == ["p"] and values["btf_base"] == "vmlinux"


_TOKENS = st.sampled_from(["-v", "-vv", "-b", "-bx", "--btf", "--btf=", "--bt", "--no-btf",
                           "--verbose=1", "--config", "--enable", "-h", "--", "-", "x", "y",
                           "--no", "--n", "-x", "--fatal", "--no-fatal", "-verb", "--help"])


@given(st.lists(_TOKENS, max_size=6), st.booleans())
def test_parser_only_ever_returns_or_exits(argv: list[str], legacy: bool) -> None:
    parser = legacy_parser() if legacy else newest_parser()
    try:
        values, rest = parser.parse(argv)
    except SubcmdExit as e:
        assert e.exit_code in (129, 130) and (e.stderr or e.stdout)
        return
    assert set(values) == set(parser.defaults())
    assert rest == argv[len(argv) - len(rest):]

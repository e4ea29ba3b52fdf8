"""The ``convac`` command: lazy (``--help`` imports no torch), ``--version``, every option
documented, a missing extra named before any work, exit status 2 for usage errors."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest

import convac
from convac.cli import COMMANDS, build_parser, main, missing_extras

LIGHT_HELP = ["table", "report", "gate", "rectifier", "experiment"]
SWEEP = "sweep"


HEAVY = ("torch", "numpy", "matplotlib", "asv", "tensorly", "scipy")
PROBE = """
import json, sys
from convac.cli import main
try:
    main(json.loads(sys.argv[1]))
except SystemExit:
    pass
print(json.dumps(sorted(m for m in json.loads(sys.argv[2]) if m in sys.modules)))
"""


def _imports_after(argv: list) -> set:
    """Heavy modules imported by ``main(argv)`` in a fresh interpreter."""
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv), json.dumps(HEAVY)],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_top_level_help_imports_nothing_heavy():
    """Neither torch nor numpy: importing them was most of ``convac --help``'s time."""
    assert _imports_after(["--help"]) == set()


@pytest.mark.parametrize("name", [*LIGHT_HELP, SWEEP])
def test_command_help_imports_no_torch(name):
    assert "torch" not in _imports_after([name, "--help"])


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"convac {convac.__version__}"


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser(load=name)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


EXPERIMENT = "experiment"


def _options(parser: argparse.ArgumentParser, path: str):
    """``(command path, parser, action)`` of every argument, nested subcommands included."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for verb, sub in action.choices.items():
                yield from _options(sub, f"{path} {verb}")
        elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            yield path, parser, action


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_has_help_with_its_default(name):
    """Every option of every command (subcommands included) has help that states its
    default once: the value, or for an option without one (``None``) what happens when
    it is left out; never twice (a help text naming it and the formatter appending it)
    and never ``(default: None)``."""
    undocumented, no_default, twice, unsaid = [], [], [], []
    for path, parser, action in _options(_subparser(name), name):
        flag = "/".join(action.option_strings) or action.dest
        if not action.help:
            undocumented.append(f"{path} {flag}")
            continue
        shown = parser.formatter_class(prog="convac")._expand_help(action)
        if (action.option_strings and action.default not in (None, False, argparse.SUPPRESS)
                and str(action.default) not in shown):
            no_default.append(f"{path} {flag}: {shown!r}")
        if shown.lower().count("default") > 1 or "(default: None)" in shown:
            twice.append(f"{path} {flag}: {shown!r}")
        if (action.option_strings and action.default is None and not action.required
                and action.nargs != 0 and "default" not in shown.lower()):
            unsaid.append(f"{path} {flag}: {shown!r}")
    assert not undocumented, f"options without help: {undocumented}"
    assert not no_default, f"help that hides the default: {no_default}"
    assert not twice, f"help that states the default twice, or None: {twice}"
    assert not unsaid, f"options without a default that do not say what it is: {unsaid}"


def test_rank_prints_strict_json(capsys):
    """An exact rank has no finite margin: it is null, never JSON's invalid Infinity."""
    assert main(["rank", "8", "2", "--windows", "2", "2", "2", "--method", "exact"]) == 0

    def refuse(name):
        raise AssertionError(f"non-JSON constant {name} in the output")

    out = json.loads(capsys.readouterr().out, parse_constant=refuse)
    assert out["rank"] == 16 and out["certified"] is True and out["margin"] is None


def test_every_command_is_listed(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(name in out and cmd.help.split()[0] in out for name, cmd in COMMANDS.items())


@pytest.mark.parametrize(("name", "module", "extra"), [
    ("report", "matplotlib", "report"), ("sweep", "matplotlib", "fit"), ("gate", "asv", "bench"),
])
def test_a_missing_extra_is_named_before_any_work(monkeypatch, capsys, tmp_path, name,
                                                  module, extra):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda mod, *a: None if mod == module else real(mod, *a))
    before = set(sys.modules)
    assert main([name, "--out", str(tmp_path / "out")] if name != "gate"
                else [name, "A", "B"]) == 2
    err = capsys.readouterr().err
    assert f"needs {module}" in err and f"pip install 'convac[{extra}]'" in err
    assert COMMANDS[name].module not in set(sys.modules) - before  # nothing imported, run
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv", [["no-such-command"], [], ["table", "--sizes", "x"],
                                  ["gate", "A"]])
def test_usage_errors_exit_2(argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


@pytest.mark.parametrize(("argv", "match"), [
    (["table", "--channels", "0"], "n_channels must be >= 1, got 0"),
    (["table", "--sizes", "1"], "sizes[0] must be >= 2, got 1"),
    (["table", "--sizes", "6"], "n_patches=6 is not a power of window=2"),
    (["table", "--rtol", "2"], "rtol must be < 1.0, got 2.0"),
])
def test_bad_values_exit_2_with_the_reason(capsys, argv, match):
    assert main(argv) == 2
    assert match in capsys.readouterr().err


def test_commands_declare_known_extras():
    import tomllib

    with open(pathlib.Path(__file__).resolve().parents[1] / "pyproject.toml", "rb") as fh:
        extras = tomllib.load(fh)["project"]["optional-dependencies"]
    for cmd in COMMANDS.values():
        for need in cmd.needs:
            assert need.extra in extras
    assert {"exact", "fit", "report", "bench", "dev", "all"} <= set(extras)
    everything = {r for name, reqs in extras.items() if name not in ("all", "dev") for r in reqs}
    assert everything <= set(extras["all"]) and set(extras["all"]) <= set(extras["dev"])


HIDE = """
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None  # import fails, importlib.util.find_spec finds nothing
from convac.cli import main
code = main(sys.argv[2:])
heavy = [m for m in ("torch", "numpy", "scipy") if sys.modules.get(m) is not None]
print(f"loaded={','.join(heavy)}", file=sys.stderr)
sys.exit(code)
"""
"""Runs ``convac ARGV`` with the comma-separated modules of ``argv[1]`` hidden."""

# every command and every option that needs an optional library, with the library hidden
EXTRA_CASES = [
    (["sweep", "--out", "{out}"], "matplotlib", "fit"),
    (["report", "--results-dir", "{out}/none", "--out", "{out}"], "matplotlib", "report"),
    (["gate", "A", "B"], "asv", "bench"),
    (["rectifier", "--out", "{out}"], "matplotlib", "report"),
    (["rectifier", "--json", "{out}/m.json"], "matplotlib", "report"),
    *[(["experiment", "run", "selftest", "--store", "{out}"], mod, "experiments")
      for mod in ("dask", "distributed", "pyarrow", "matplotlib")],
    *[(["experiment", "show", "selftest", "--store", "{out}"], mod, "experiments")
      for mod in ("pyarrow", "matplotlib")],
    *[(["experiment", "report", "--stores", "{out}/none", "--out", "{out}"], mod, "experiments")
      for mod in ("pyarrow", "matplotlib")],
]


def _run_hidden(hidden, argv, tmp_path):
    argv = [a.replace("{out}", str(tmp_path / "out")) for a in argv]
    return subprocess.run([sys.executable, "-c", HIDE, ",".join(hidden), *argv],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.mark.parametrize(("argv", "module", "extra"), EXTRA_CASES,
                         ids=[" ".join(a[:2]) + f"-{m}" for a, m, _ in EXTRA_CASES])
def test_every_optional_library_hidden_is_named_before_any_work(tmp_path, argv, module, extra):
    proc = _run_hidden([module], argv, tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert f"needs {module}" in proc.stderr and f"convac[{extra}]" in proc.stderr
    # before any work: named before torch, numpy or scipy is even imported
    loaded = proc.stderr.rsplit("loaded=", 1)[1].strip()
    assert loaded == "", f"{argv}: the missing {module} was named after importing {loaded}"
    assert not (tmp_path / "out").exists()


def test_every_declared_need_has_a_hidden_library_case():
    covered = {(a[0], m) for a, m, _ in EXTRA_CASES}
    declared = {(name, need.module) for name, cmd in COMMANDS.items() for need in cmd.needs}
    assert declared == covered


def test_experiment_list_needs_no_optional_library(tmp_path):
    hidden = ["dask", "distributed", "pyarrow", "matplotlib", "flint", "asv",
              "sklearn"]
    proc = _run_hidden(hidden, ["experiment", "list"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    from convac.experiments import EXPERIMENTS

    assert all(name in proc.stdout for name in EXPERIMENTS)


@pytest.mark.parametrize(("argv", "needing", "module"), [
    (["experiment", "show", "selftest"], ["experiment", "run", "selftest"], "dask"),
    (["experiment", "list"], ["experiment", "show", "selftest"], "pyarrow"),
])
def test_a_verb_that_needs_no_extra_does_not_ask_for_it(monkeypatch, argv, needing, module):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda mod, *a: None if mod == module else real(mod, *a))
    args = build_parser(load=argv[0]).parse_args(argv)
    assert module not in [need.module for need in missing_extras(argv[0], args)]
    other = build_parser(load=needing[0]).parse_args(needing)
    assert module in [need.module for need in missing_extras(needing[0], other)]

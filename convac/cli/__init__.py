"""The ``convac`` command: one subcommand per entry of :data:`COMMANDS`.

Each entry names the module that runs the subcommand, a one-line help, and the optional
imports the command needs with the extra that provides them.  The parsers live in
:mod:`convac.cli.parsers` (one function per command, named after it, which sets ``func``:
the name of the function of the command's module called with the parsed arguments,
returning an exit code).  Only the module of the command being run is imported, after
the optional imports its parsed options need were found: ``convac --help`` and
``convac COMMAND --help`` import no torch, and a missing extra is named before any work is
done (``tests/test_cli.py`` hides each optional library in turn and checks it).

Exit status: 0 success; 1 the command's own failure (``gate``: a regression); 2 a usage
or data error, or a missing optional dependency.

To add a subcommand, add one block to :data:`COMMANDS`::

    COMMANDS["experiment"] = Command("convac.cli.experiment", "run a depth experiment",
                                     needs=(Need("dask", "experiments"),))

and a function ``experiment(sub)`` to :mod:`convac.cli.parsers`.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass

from .. import __version__
from ..progress import Clock, summary_line
from ..validate import BudgetError, ConvACError
from . import parsers
from .parsers import HelpFormatter

__all__ = ["Need", "Command", "COMMANDS", "HelpFormatter", "Parser", "build_parser",
           "budget_advice", "missing_extras", "main"]


@dataclass(frozen=True)
class Need:
    """An optional import of a command: ``module`` (top-level import name) from ``extra``,
    needed always (``when=None``) or only when ``when(args)`` is true of the parsed
    arguments (``what`` names that case in the message, e.g. ``"--progress"``)."""

    module: str
    extra: str
    when: Callable | None = None
    what: str = ""


@dataclass(frozen=True)
class Command:
    """A subcommand: ``module`` has the functions that run it (its parser, in
    :mod:`convac.cli.parsers`, names one as ``func``, and may name another module as
    ``module``); ``needs`` lists the :class:`Need` checked before any module is imported."""

    module: str
    help: str
    needs: tuple = ()


def _verb(*verbs: str) -> Callable:
    return lambda args: getattr(args, "verb", None) in verbs


COMMANDS: dict[str, Command] = {}

# -- subcommands (one block each) ---------------------------------------------------------
COMMANDS["table"] = Command(
    "convac.cli.table", "print a depth-efficiency table for HT networks")
COMMANDS["sweep"] = Command(
    "convac.cli.sweep", "CP fit error against width for an HT teacher, with the Eckart-Young "
    "floor; writes CSV, Markdown and PNG",
    needs=(Need("matplotlib", "fit"),))
COMMANDS["report"] = Command(
    "convac.cli.report", "build the depth-efficiency report (HTML + plots) from asv results",
    needs=(Need("matplotlib", "report"),))
COMMANDS["gate"] = Command(
    "convac.cli.gate", "benchmark two commits with asv; exit 1 on a regression",
    needs=(Need("asv", "bench"),))
COMMANDS["rank"] = Command(
    "convac.cli.rank", "the matricization rank of a seeded ConvAC, as one JSON line "
    "(method auto: a float rank where its margin is clear, exact otherwise; the output "
    "says whether it is certified)")
# the command's module writes its page with the report's plots: matplotlib even without --out
COMMANDS["rectifier"] = Command(
    "convac.cli.rectifier", "depth efficiency of generalized (rectifier) ConvACs, ICML "
    "2016: grid-tensor ranks, incompleteness, shallow widths, universality",
    needs=(Need("matplotlib", "report"),))
# `list` runs from its own module (convac.cli.experiment_list) and needs none of these
COMMANDS["experiment"] = Command(
    "convac.cli.experiment", "published experiments (Levine et al. 2018 min-cut table, "
    "ICLR 2017 pooling geometry, COLT 2016 depth sweep) on dask.distributed, resumable",
    needs=(Need("dask", "experiments", _verb("run"), "run"),
           Need("distributed", "experiments", _verb("run"), "run"),
           Need("pyarrow", "experiments", _verb("run", "show", "report"), "run, show, report"),
           Need("matplotlib", "experiments", _verb("run", "show", "report"),
                "run, show, report")))
COMMANDS["serve"] = Command(
    "convac.cli.serve", "serve the reports (asv site, depth-efficiency report) over HTTP "
    "on 127.0.0.1 and print their URLs")
# -----------------------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    """The parser of ``convac`` and of every subcommand (subcommands' own subcommands
    included): :class:`HelpFormatter` unless one is given."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


class _CommandParser(Parser):
    """The parser of a command: it has the common options (``--threads``, ``--quiet``),
    and so have the parsers of its own subcommands (``add_subparsers`` makes parsers of
    its parser's class)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        parsers.add_common_options(self)


def _version() -> str:

    return __version__


def missing_extras(name: str, args=None) -> list:
    """The :class:`Need` of command ``name`` that apply to the parsed ``args`` (every one
    when ``args`` is None) and are not installed (found without importing them)."""
    return [need for need in COMMANDS[name].needs
            if (args is None or need.when is None or need.when(args))
            and importlib.util.find_spec(need.module) is None]


def build_parser(load=None) -> argparse.ArgumentParser:
    """The ``convac`` parser.

    Parameters
    ----------
    load : None, str or collection of str
        Commands that get their full parser (no command module is imported): ``None`` every
        command, a name that one, ``()`` none; the others are listed with their help line.
    """
    load = set(COMMANDS) if load is None else {load} if isinstance(load, str) else set(load)
    parser = Parser(
        prog="convac",
        description="Depth efficiency of convolutional arithmetic circuits: tables, fit "
                    "sweeps, the depth-efficiency report and the asv regression gate.",
        epilog="exit status: 0 success, 1 the command's own failure (gate: a regression), "
               "2 usage or data error or a missing optional dependency.  "
               "`convac COMMAND --help` lists a command's options.")
    parser.add_argument("--version", action="version", version=f"convac {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_CommandParser)
    for name, cmd in COMMANDS.items():
        if name in load:
            getattr(parsers, name)(sub)
        else:
            sub.add_parser(name, help=cmd.help, description=cmd.help)
    return parser


def _command_name(argv: list) -> str | None:
    """The subcommand named on the command line (the first word that is no option)."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def main(argv=None) -> int:
    clock = Clock()  # the summary counts the command's imports
    argv = list(sys.argv[1:] if argv is None else argv)
    name = _command_name(argv)
    args = build_parser(load=name or ()).parse_args(argv)
    missing = missing_extras(args.command, args)
    if missing:  # before any command module is imported, so before any work
        mods = ", ".join(n.module + (f" (for {n.what})" if n.what else "") for n in missing)
        extras = ",".join(dict.fromkeys(n.extra for n in missing))
        print(f"convac {args.command}: error: needs {mods}, which is not installed; install "
              f"it with: pip install 'convac[{extras}]'", file=sys.stderr)
        return 2
    args.quiet = quiet = getattr(args, "quiet", False)
    args.clock = clock
    module = getattr(args, "module", None) or COMMANDS[args.command].module
    try:
        run = getattr(importlib.import_module(module), args.func)
        # torch and threadpoolctl only when a command runs, so that --help stays fast
        threads = importlib.import_module("convac.threads").apply(getattr(args, "threads",
                                                                          None))
        status = int(run(args) or 0)
    except BudgetError as exc:
        print(f"convac {args.command}: error: {budget_advice(exc, args)}", file=sys.stderr)
        return 2
    except ConvACError as exc:
        print(f"convac {args.command}: error: {exc}", file=sys.stderr)
        return 2
    if not quiet:
        print(summary_line(_full_name(args), clock, status, threads), file=sys.stderr)
    return status


def _full_name(args) -> str:
    """``experiment run`` for a command with subcommands, else the command's name."""
    verb = getattr(args, "verb", None)
    return f"{args.command} {verb}" if verb else args.command


def budget_advice(exc, args) -> str:
    """A :class:`~convac.validate.BudgetError`'s message, with the option of the command
    at hand that raises the budget (``--max-gib``) when the command has one."""
    if hasattr(args, "max_gib"):
        return exc.advice("--max-gib")
    return exc.advice("max_bytes (this command has no option for it: call the Python "
                      "function)")

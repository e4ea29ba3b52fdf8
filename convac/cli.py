"""The ``convac`` command: one subcommand per entry of :data:`COMMANDS`.

Each entry names the module whose ``register(subparsers)`` adds the subcommand's parser
and sets ``func`` (called with the parsed arguments, returning an exit code), a one-line
help, and the optional imports the command needs with the extra that provides them.
Only the module of the command being run is imported, after its optional imports were
found: ``convac --help`` imports neither torch nor any command module, and a missing
extra is named before any work is done.

Exit status: 0 success; 1 the command's own failure (``gate``: a regression); 2 a usage
or data error, or a missing optional dependency.

To add a subcommand, add one block to :data:`COMMANDS`::

    COMMANDS["experiment"] = Command("convac.experiments.cli", "run a depth experiment",
                                     needs=(("dask", "experiments"),))
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import time
from dataclasses import dataclass

__all__ = ["Command", "COMMANDS", "build_parser", "add_common_options", "budget_advice",
           "missing_extras", "main"]


@dataclass(frozen=True)
class Command:
    """A subcommand: ``module`` has ``register(subparsers)``; ``needs`` lists
    ``(import name, extra)`` pairs checked before ``module`` is imported."""

    module: str
    help: str
    needs: tuple = ()


COMMANDS: dict[str, Command] = {}

# -- subcommands (one block each) ---------------------------------------------------------
COMMANDS["table"] = Command(
    "convac.table", "print a depth-efficiency table for HT networks")
COMMANDS["sweep"] = Command(
    "convac.sweep", "CP fit error against width for an HT teacher, with the Eckart-Young "
    "floor; writes CSV, Markdown and PNG",
    needs=(("matplotlib", "fit"), ("tqdm", "fit")))
COMMANDS["report"] = Command(
    "convac.report", "build the depth-efficiency report (HTML + plots) from asv results",
    needs=(("matplotlib", "report"),))
COMMANDS["gate"] = Command(
    "convac.gate", "benchmark two commits with asv; exit 1 on a regression",
    needs=(("asv", "bench"),))
COMMANDS["rank"] = Command(
    "convac.rank_methods", "the matricization rank of a seeded ConvAC (certified exact by "
    "default), as one JSON line")
COMMANDS["rectifier"] = Command(
    "convac.rectifier_cmd", "depth efficiency of generalized (rectifier) ConvACs, ICML "
    "2016: grid-tensor ranks, incompleteness, shallow widths, universality")
COMMANDS["experiment"] = Command(
    "convac.experiments.cli", "published experiments (Levine et al. 2018 min-cut table, "
    "ICLR 2017 pooling geometry, COLT 2016 depth sweep) on dask.distributed, resumable",
    needs=(("dask", "experiments"), ("distributed", "experiments"), ("pyarrow", "experiments")))
COMMANDS["serve"] = Command(
    "convac.report.serve", "serve the reports (asv site, depth-efficiency report) over HTTP "
    "on 127.0.0.1 and print their URLs")
# -----------------------------------------------------------------------------------------


def _version() -> str:
    from . import __version__

    return __version__


def missing_extras(name: str) -> list:
    """``(import name, extra)`` of every optional import of command ``name`` not installed
    (found without importing it)."""
    return [(mod, extra) for mod, extra in COMMANDS[name].needs
            if importlib.util.find_spec(mod) is None]


def build_parser(load=None) -> argparse.ArgumentParser:
    """The ``convac`` parser.

    Parameters
    ----------
    load : None, str or collection of str
        Commands that get their full parser (their modules are imported): ``None`` every
        command, a name that one, ``()`` none; the others are listed with their help line.
    """
    load = set(COMMANDS) if load is None else {load} if isinstance(load, str) else set(load)
    parser = argparse.ArgumentParser(
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
            importlib.import_module(cmd.module).register(sub)
        else:
            sub.add_parser(name, help=cmd.help, description=cmd.help)
    return parser


def add_common_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--threads`` and ``--quiet`` to a command's parser (every command and every
    subcommand of one has them: :class:`_CommandParser`).

    Their defaults are suppressed, so that a subcommand's parser does not overwrite a
    value given before its name; read them with ``getattr(args, "threads", None)``.
    """
    group = parser.add_argument_group("common options")
    group.add_argument(
        "--threads", type=int, default=argparse.SUPPRESS, metavar="N",
        help="threads of torch and of the BLAS/OpenMP pools (default: $CONVAC_THREADS, "
             "else 1: on shared machines more threads burn more CPU than they save)")
    group.add_argument(
        "--quiet", "-q", action="store_true", default=argparse.SUPPRESS,
        help="no progress bar and no summary line (bars are off anyway when stderr is "
             "not a terminal)")
    return parser


class _CommandParser(argparse.ArgumentParser):
    """The parser of a command: it has the common options, and so have the parsers of its
    own subcommands (``add_subparsers`` makes parsers of its parser's class)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        add_common_options(self)


def _command_name(argv: list) -> str | None:
    """The subcommand named on the command line (the first word that is no option)."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def main(argv=None) -> int:
    started = time.perf_counter(), time.process_time()  # the summary counts the imports
    argv = list(sys.argv[1:] if argv is None else argv)
    name = _command_name(argv)
    if name is not None and not {"-h", "--help"} & set(argv):
        missing = missing_extras(name)
        if missing:
            mods = ", ".join(m for m, _ in missing)
            extras = ",".join(dict.fromkeys(e for _, e in missing))
            print(f"convac {name}: error: needs {mods}, which is not installed; install "
                  f"it with: pip install 'convac[{extras}]'", file=sys.stderr)
            return 2
    args = build_parser(load=name or ()).parse_args(argv)
    # the command's own modules are loaded by now; the thread policy's (torch,
    # threadpoolctl) only when a command runs, so that --help stays fast
    from .progress import Clock, summary_line
    from .threads import apply
    from .validate import BudgetError, ConvACError

    quiet = getattr(args, "quiet", False)
    args.quiet = quiet
    clock = args.clock = Clock.since(*started)
    try:
        threads = apply(getattr(args, "threads", None))
        status = int(args.func(args) or 0)
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


if __name__ == "__main__":
    sys.exit(main())

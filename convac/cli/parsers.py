"""Every subcommand's parser, one function per command of :data:`convac.cli.COMMANDS`.

A function adds its command's parser to ``sub`` and sets ``func``, the name of the
function of the command's module (``COMMANDS[name].module``, or the module a verb sets as
``module``) that runs it.  This module
imports nothing that computes, so a command's ``--help`` answers without torch.
"""

from __future__ import annotations

import argparse
import os

from ..bench.results import (
    DEFAULT_ASV_SITE,
    DEFAULT_REPORT,
    DEFAULT_RESULTS,
    DEFAULT_SERVE_PORT,
    DEFAULT_SERVE_ROOT,
)
from ..experiments.rectifier_settings import FULL, QUICK
from ..experiments.store import DEFAULT_STORE_ROOT

__all__ = ["HelpFormatter", "EpilogHelpFormatter", "rank", "table", "sweep", "gate", "report",
           "rectifier", "experiment", "serve", "add_common_options"]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default (unless it already names it with
    ``%(default)s``, or has none: a required option, a flag that is off; an option whose
    default is ``None`` says in its help what happens without it)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


class EpilogHelpFormatter(argparse.RawDescriptionHelpFormatter, HelpFormatter):
    """:class:`HelpFormatter` that keeps the line breaks of the description and epilog
    (a table of rules)."""


def _settings(key: str) -> str:
    """``convac rectifier``'s default of ``key``, quick and ``--full``."""
    def text(v) -> str:
        return " ".join(map(str, v)) if isinstance(v, tuple) else str(v)

    return f"default: {text(QUICK[key])}; with --full: {text(FULL[key])}"


def add_common_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--threads`` and ``--quiet`` to a command's parser (every command and every
    subcommand of one has them: ``convac.cli._CommandParser``).

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


def rank(sub) -> None:
    """``convac rank N M --windows .. --ranks ..``: the odd-even (or another) rank of a
    seeded float64 ConvAC, as one JSON line (e.g.
    ``convac rank 28 64 --windows 2 2 7 --max-gib 8``)."""
    p = sub.add_parser(
        "rank", help="matricization rank of a seeded ConvAC (JSON)",
        description="The matricization rank of a seeded float64 ConvAC, as one line of "
                    "strict JSON: rank, method, certified (true only for an exact rank over "
                    "GF(p), a proven lower bound), ranks_mod, margin (null where no finite "
                    "margin exists, e.g. an exact rank), ambiguous, reason, min_cut_bound, "
                    "seconds, cpu_seconds.")
    p.add_argument("n_patches", type=int, help="N, the number of patches (input modes)")
    p.add_argument("n_channels", type=int, help="M, the channels of each patch")
    p.add_argument("--windows", type=int, nargs="+", required=True,
                   help="pooling window of each layer (their product is N), e.g. 2 2 7")
    p.add_argument("--ranks", type=int, nargs="+", default=[2],
                   help="channels of each hidden layer (one value: every layer)")
    p.add_argument("--partition", default="odd-even",
                   help="odd-even, left-right, or a named partition of the modes")
    p.add_argument("--method", default="auto",
                   help="a registered rank method: dense, structured, exact or auto (auto: "
                        "a float rank where its margin is clear, the exact rank otherwise; "
                        "only exact ranks are certified)")
    p.add_argument("--seed", type=int, default=0, help="seed of the network's weights")
    p.add_argument("--max-gib", type=float, default=2.0, help="memory budget in GiB")
    p.set_defaults(func="_run")


def table(sub) -> None:
    """Add the ``table`` subcommand."""
    p = sub.add_parser(
        "table", help="print a depth-efficiency table for HT networks",
        description="For each N: the parameters of a random HT network, its measured "
                    "odd-even rank (a lower bound on the width of any CP network matching "
                    "it), the theorem's min(r, M)^(N/2) and the parameters of a CP of that "
                    "width.")
    p.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 16], metavar="N",
                   help="numbers of patches N, each a power of two")
    p.add_argument("--channels", type=int, default=3, metavar="M",
                   help="representation channels M")
    p.add_argument("--rank", type=int, default=2, metavar="R", help="HT rank at every level")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    p.add_argument("--method", default="auto",
                   choices=("auto", "dense", "structured", "exact"),
                   help="rank method (exact needs python-flint: pip install 'convac[exact]')")
    p.add_argument("--rtol", type=float, default=None,
                   help="relative tolerance of the numerical rank (default: the method's)")
    p.add_argument("--max-gib", type=float, default=2.0,  # nets.geometry.DEFAULT_MAX_BYTES
                   help="memory budget of one size's rank, in GiB; a size above it is "
                        "refused in its row, the others are computed")
    p.set_defaults(func="_run")


def sweep(sub) -> None:
    """Add the ``sweep`` subcommand."""
    p = sub.add_parser("sweep", help="CP fit error vs width for an HT teacher, with the "
                       "Eckart-Young floor; writes CSV, Markdown and PNG")
    p.add_argument("--patches", type=int, default=8, help="N (a power of two)")
    p.add_argument("--channels", type=int, default=4, help="M")
    p.add_argument("--rank", type=int, default=2, help="HT rank at every level")
    p.add_argument("--min-width", type=int, default=1, help="smallest CP width K swept")
    p.add_argument("--max-width", type=int, default=20, help="largest CP width K swept")
    p.add_argument("--target", type=float, default=1e-2,
                   help="relative error for the empirical CP-rank upper bound")
    p.add_argument("--restarts", type=int, default=1, help="seeded starts per width")
    p.add_argument("--iters", type=int, default=100,
                   help="iteration limit per solver run (ALS sweeps, Gauss-Newton or L-BFGS "
                   "steps)")
    p.add_argument("--tol", type=float, default=1e-8,
                   help="stopping tolerance (ALS: change of its error between sweeps)")
    p.add_argument("--method", default="best",
                   help="CP solver: als, als-ls, gn, lbfgs or best (every solver in turn "
                   "until one is exact)")
    p.add_argument("--seed", type=int, default=0, help="seeds the teacher and the starts")
    p.add_argument("--out", default="reports/sweep", help="output folder")
    p.add_argument("--converse-width", type=int, default=0,
                   help="also train HT students of ranks 1..K on a width-K CP teacher "
                   "(0: skip)")
    p.add_argument("--converse-steps", type=int, default=1000,
                   help="Adam steps per HT student")
    p.add_argument("--converse-lr", type=float, default=0.1,
                   help="learning rate of the HT students")
    p.add_argument("--progress", action="store_true", help="show training progress bars")
    p.add_argument("--max-gib", type=float, default=1.0,  # convac.fit.cp.FIT_MAX_BYTES
                   help="memory budget of one fit (factors, Khatri-Rao products) and of the "
                        "teacher's dense tensor, in GiB")
    p.set_defaults(func="_run")


def gate(sub) -> None:
    """Add the ``gate`` subcommand."""
    p = sub.add_parser(
        "gate", help="benchmark two commits with asv; exit 1 on a regression",
        formatter_class=EpilogHelpFormatter,
        description="Benchmark BASE and HEAD with asv (or read their stored results) and "
                    "apply a rule per metric.\nExit status: 0 no regression, 1 regression, "
                    "2 usage or data error (bad option, unknown revision, missing or corrupt "
                    "results file).",
        epilog="rules (by asv benchmark type and unit):\n"
               "  track, unit rank / rank deficit / parameters / width   exact\n"
               "  track, unit relative error     a rise beyond --rtol is a regression\n"
               "  track, other units (floors)    a change beyond --rtol is a regression\n"
               "  time_* / peakmem_*             only with --time-factor / --mem-factor\n"
               "  a value on BASE that fails or vanishes on HEAD      regression")
    p.add_argument("base", help="base commit (e.g. origin/main)")
    p.add_argument("head", help="head commit (e.g. HEAD)")
    p.add_argument("--config", default="asv.conf.json", help="asv config (default: %(default)s)")
    p.add_argument("--no-run", action="store_true",
                   help="compare results already stored; run no benchmark")
    p.add_argument("--quick", action="store_true",
                   help="asv run --quick (one sample each), measured into --scratch-dir; "
                        "stored results are never replaced")
    p.add_argument("--scratch-dir", default=None,
                   help="results folder of --quick runs (default: .asv/gate-quick beside "
                        "the config)")
    p.add_argument("--skip-existing", action="store_true",
                   help="reuse measurements already stored for a commit "
                        "(asv run --skip-existing-successful)")
    p.add_argument("--bench", "-b", default=None,
                   help="regex of benchmark names (default: every benchmark)")
    p.add_argument("--machine", default=None, help="asv machine name (default: this host)")
    p.add_argument("--rtol", type=float, default=1e-4,
                   help="relative tolerance for fit errors and floors (default: %(default)g)")
    p.add_argument("--atol", type=float, default=1e-9,
                   help="absolute tolerance added to --rtol (default: %(default)g)")
    p.add_argument("--time-factor", type=float, default=None,
                   help="judge time_* benchmarks: a regression when head > factor * base "
                        "(default: time_* benchmarks shown, not judged)")
    p.add_argument("--mem-factor", type=float, default=None,
                   help="judge peakmem_* benchmarks: a regression when head > factor * base "
                        "(default: peakmem_* benchmarks shown, not judged)")
    p.add_argument("--all", action="store_true", help="print every row, not only changes")
    p.set_defaults(func="_run")


def report(sub) -> None:
    """Add the ``report`` subcommand."""
    p = sub.add_parser("report", help="build the depth-efficiency report from asv results")
    p.add_argument("--results-dir", default=DEFAULT_RESULTS, help="default: %(default)s")
    p.add_argument("--out", default=DEFAULT_REPORT, help="output folder (default: %(default)s)")
    p.add_argument("--asv-site", default=DEFAULT_ASV_SITE,
                   help="asv html_dir to link to (default: %(default)s)")
    p.add_argument("--machine", default=None, help="asv machine (default: newest results)")
    p.add_argument("--commit", default=None, help="commit hash or prefix (default: newest)")
    p.add_argument("--offline-asv", action="store_true",
                   help="make asv's published site load jQuery/flot/bootstrap from local "
                        "copies (fetched once with npm pack) instead of public CDNs")
    p.add_argument("--npm-cache", default=os.path.join(".asv", "npm-cache"),
                   help="npm tarball cache for --offline-asv (default: %(default)s)")
    p.add_argument("--fail-on-failed", action="store_true",
                   help="exit 1 when a benchmark of those results failed (skips are fine)")
    p.set_defaults(func="_run")


def rectifier(sub) -> None:
    """Add the ``rectifier`` subcommand."""
    p = sub.add_parser("rectifier", help="rectifier networks as generalized tensor "
                       "decompositions: ranks, incompleteness, shallow fits, universality")
    p.add_argument("--full", action="store_true", help="the full settings (slower)")
    p.add_argument("--operators", nargs="+", default=["product", "relu-max", "relu-sum"],
                   help="pooling operators to measure (registered names)")
    p.add_argument("--sizes", type=int, nargs="+",
                   help=f"N values for (a) (powers of 2; {_settings('sizes')})")
    p.add_argument("--n-seeds", type=int, help="random deep networks per point in (b) "
                   f"({_settings('n_seeds')})")
    p.add_argument("--widths", type=int, nargs="+",
                   help=f"shallow widths in (c) and (d) ({_settings('widths')})")
    p.add_argument("--steps", type=int,
                   help=f"Adam steps per shallow fit ({_settings('steps')})")
    p.add_argument("--n-restarts", type=int,
                   help=f"restarts per shallow fit ({_settings('n_restarts')})")
    p.add_argument("--match-n", type=int, default=8, help="N of the deep networks in (c)")
    p.add_argument("--max-gib", type=float, default=2.0,  # nets.geometry.DEFAULT_MAX_BYTES
                   help="memory budget of every dense grid tensor, in GiB; a cell above it "
                        "is refused in its row, the others are measured")
    p.add_argument("--json", help="also write the measurements to this JSON file "
                   "(default: none written)")
    p.add_argument("--out", help="write rectifier.html and its plots into this folder "
                   "(default: none written)")
    p.add_argument("--from-results", metavar="RESULTS_DIR",
                   help="measure nothing: draw the numbers the asv suite tracked "
                        "(bench_rectifier) from this asv results_dir (default: measure)")
    p.add_argument("--machine", help="with --from-results: the asv machine (default: newest)")
    p.add_argument("--commit", help="with --from-results: the commit hash (default: newest)")
    p.set_defaults(func="_run")


def experiment(sub) -> None:
    """Add the ``experiment`` subcommand."""
    p = sub.add_parser("experiment", help="run published experiments on dask.distributed")
    verbs = p.add_subparsers(dest="verb", required=True,
                             help="run, list, show or report (each has --help)")
    run = verbs.add_parser("run", help="run (or --resume) an experiment into a Parquet store")
    run.add_argument("name", help="the experiment (see `convac experiment list`)")
    run.add_argument("--resume", action="store_true", help="continue a non-empty store")
    run.add_argument("--sample", type=int, default=None, metavar="K",
                     help="run K seeded configurations (default: the whole grid)")
    run.add_argument("--seed", type=int, default=0, help="seed of --sample")
    run.add_argument("--scheduler", default=None,
                     help="tcp://host:port of a dask scheduler; 'inline' runs in-process; "
                          "default a LocalCluster")
    run.add_argument("--workers", type=int, default=None,
                     help="LocalCluster worker processes (default: cores)")
    run.add_argument("--store", default=None,
                     help=f"result folder (default {DEFAULT_STORE_ROOT}/NAME)")
    run.add_argument("--set", action="append", metavar="KEY=VALUE",
                     help="experiment option, repeatable (value parsed as JSON when it can "
                          "be; default: the experiment's own options)")
    run.add_argument("--max-gib", type=float, default=None,
                     help="memory budget of one configuration in GiB (experiments that "
                          "predict their memory: depth-sweep, default 2); a configuration "
                          "above it is recorded as refused and shown by `show`")
    run.set_defaults(func="_run")
    ls = verbs.add_parser("list", help="name the experiments")
    ls.set_defaults(func="_list", module="convac.cli.experiment_list")  # needs no extra
    show = verbs.add_parser("show", help="print the table of stored results")
    show.add_argument("name", help="the experiment (see `convac experiment list`)")
    show.add_argument("--store", default=None,
                      help="the result store (default: reports/experiments/NAME)")
    show.add_argument("--json", default=None, metavar="FILE",
                      help="also write the summary with its provenance to FILE (the "
                           "committed copy the report shows without the store: "
                           "reports/published/NAME.json; default: only printed)")
    show.set_defaults(func="_show")
    rep = verbs.add_parser("report", help="write the experiments page (tables, plots, papers)")
    rep.add_argument("--stores", default=DEFAULT_STORE_ROOT, help="folder of the stores")
    rep.add_argument("--out", default=os.path.join("reports", "experiments-page"),
                     help="folder of the page and its PNGs")
    rep.set_defaults(func="_report")


def serve(sub) -> None:
    """Add the ``serve`` subcommand."""
    p = sub.add_parser(
        "serve", help="serve the reports (asv site, depth-efficiency report) over HTTP on "
                      "127.0.0.1 and print their URLs",
        description="asv's site cannot be opened from the file system (its pages fetch "
                    "their data over HTTP); this serves the reports folder on the loopback "
                    "interface until Ctrl-C.")
    p.add_argument("--dir", default=DEFAULT_SERVE_ROOT,
                   help="folder to serve (default: %(default)s)")
    p.add_argument("--port", type=int, default=DEFAULT_SERVE_PORT,
                   help="TCP port on 127.0.0.1; 0 picks a free one (default: %(default)s)")
    p.set_defaults(func="_run")

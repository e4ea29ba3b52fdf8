"""``convac table``: a depth-efficiency table (HT parameters, odd-even rank, CP width needed).

torch and the rank modules are imported when a table is computed, not when the command's
parser is built (``convac table --help`` stays instant).
"""

from __future__ import annotations

import argparse
import sys

from . import validate
from .geometry import DEFAULT_MAX_BYTES
from .progress import bar
from .theory import ht_odd_even_rank

__all__ = ["depth_efficiency_rows", "format_table", "register"]


def depth_efficiency_rows(sizes, n_channels: int, rank: int, seed: int = 0,
                          method: str = "auto", rtol: float | None = None,
                          max_bytes: int = DEFAULT_MAX_BYTES, progress: bool = False
                          ) -> list[dict]:
    """One row per N: HT parameters, its measured odd-even rank (a lower bound on the CP
    width any shallow network needs), the theorem's ``min(r_0, M)^(N/2)`` and the
    parameters of a CP of that width.

    A size whose rank would exceed the memory budget is not computed: its row holds
    ``refused`` (``"refused: needs N GiB"``) and ``None`` for the measured columns; the
    other rows are computed as usual.

    Parameters
    ----------
    sizes : sequence of int
        Numbers of patches N, each a power of two >= 2.
    n_channels, rank : int
        ``M`` and the HT rank at every level (>= 1).
    seed : int
    method : str
        Rank method of :func:`convac.matricization_rank` (``"auto"``, ``"dense"``,
        ``"structured"``, ``"exact"``).
    rtol : float, optional
        Relative tolerance of numerical methods, in ``[0, 1)``.
    max_bytes : int, default 2 GiB
        Memory budget of one size's rank computation.
    progress : bool, default False
        A progress bar over the sizes on stderr (when it is a terminal).
    """
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise validate.InvalidTypeError(f"sizes must be a sequence of integers, got {sizes!r}")
    sizes = [validate.positive_int(n, f"sizes[{i}]", 2) for i, n in enumerate(sizes)]
    n_channels = validate.positive_int(n_channels, "n_channels")
    rank = validate.positive_int(rank, "rank")
    seed = validate.seed(seed)
    rtol = validate.tolerance(rtol)
    max_bytes = validate.max_bytes(max_bytes)
    import torch

    # importing them registers the "structured", "auto" and "exact" rank methods
    from . import exact as _exact  # noqa: F401
    from . import rank as _rank  # noqa: F401
    from .matricize import matricization_rank
    from .network import CPNet, HTNet
    from .params import parameter_count

    rows = []
    for n in bar(sizes, desc="table", unit="size", quiet=not progress):
        ht = HTNet(n, n_channels, rank, seed=seed, dtype=torch.float64)
        row = {"N": n, "M": n_channels, "r": rank, "ht_params": parameter_count(ht),
               "theorem": ht_odd_even_rank(n, n_channels, rank)}
        try:
            result = matricization_rank(ht, "odd-even", method=method, rtol=rtol,
                                        max_bytes=max_bytes)
        except validate.BudgetError as exc:  # recorded in its row; the others go on
            rows.append({**row, "odd_even_rank": None, "cp_params_needed": None,
                         "method": method, "rtol": rtol,
                         "refused": f"refused: needs {validate.gib(exc.needed)}",
                         "error": exc})
            continue
        width = result.rank
        rows.append({**row, "odd_even_rank": width,
                     "cp_params_needed": parameter_count(CPNet(n, n_channels, max(width, 1))),
                     "method": result.method, "rtol": result.rtol, "refused": None})
    return rows


def format_table(rows: list[dict]) -> str:
    """Plain-text table of :func:`depth_efficiency_rows`."""
    cols = ["N", "M", "r", "ht_params", "odd_even_rank", "theorem", "cp_params_needed", "method"]
    cells = [[r["refused"] if c == "odd_even_rank" and r.get("refused")
              else validate.short_int(r[c]) if isinstance(r[c], int) else str(r[c])
              for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _run(args) -> int:
    rows = depth_efficiency_rows(args.sizes, args.channels, args.rank, args.seed, args.method,
                                 args.rtol, int(args.max_gib * 2**30),
                                 progress=not args.quiet)
    print(format_table(rows))
    refused = [r for r in rows if r["refused"]]
    for r in refused:
        print(f"convac table: N={r['N']}: {r['error'].advice('--max-gib')}", file=sys.stderr)
    return 1 if refused else 0


def register(sub) -> None:
    """Add the ``table`` subcommand."""
    p = sub.add_parser(
        "table", help="print a depth-efficiency table for HT networks",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
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
    p.add_argument("--max-gib", type=float, default=DEFAULT_MAX_BYTES / 2**30,
                   help="memory budget of one size's rank, in GiB; a size above it is "
                        "refused in its row, the others are computed")
    p.set_defaults(func=_run)

"""``convac table``: a depth-efficiency table (HT parameters, odd-even rank, CP width needed)."""

from __future__ import annotations

import torch

from .matricize import matricization_rank
from .network import CPNet, HTNet
from .params import parameter_count

__all__ = ["depth_efficiency_rows", "format_table", "register"]


def depth_efficiency_rows(sizes, n_channels: int, rank: int, seed: int = 0,
                          method: str = "auto", rtol: float | None = None) -> list[dict]:
    """One row per N: HT parameters, its measured odd-even rank (a lower bound on the CP
    width any shallow network needs), the theorem's ``min(r_0, M)^(N/2)`` and the
    parameters of a CP of that width.
    """
    rows = []
    for n in sizes:
        ht = HTNet(n, n_channels, rank, seed=seed, dtype=torch.float64)
        result = matricization_rank(ht, "odd-even", method=method, rtol=rtol)
        width = result.rank
        rows.append({
            "N": n, "M": n_channels, "r": rank,
            "ht_params": parameter_count(ht),
            "odd_even_rank": width,
            "theorem": min(rank, n_channels) ** (n // 2),
            "cp_params_needed": parameter_count(CPNet(n, n_channels, max(width, 1))),
            "method": result.method,
            "rtol": result.rtol,
        })
    return rows


def format_table(rows: list[dict]) -> str:
    """Plain-text table of :func:`depth_efficiency_rows`."""
    cols = ["N", "M", "r", "ht_params", "odd_even_rank", "theorem", "cp_params_needed", "method"]
    cells = [[str(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _run(args) -> int:
    rows = depth_efficiency_rows(args.sizes, args.channels, args.rank, args.seed, args.method)
    print(format_table(rows))
    return 0


def register(sub) -> None:
    p = sub.add_parser("table", help="print a depth-efficiency table for HT networks")
    p.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 16])
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--rank", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--method", default="auto", help="rank method: dense, structured, exact or auto")
    p.set_defaults(func=_run)

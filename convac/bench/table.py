"""``convac table``: a depth-efficiency table (HT parameters, odd-even rank, CP width needed).

torch and the rank modules are imported when a table is computed, not when the command's
parser is built (``convac table --help`` stays instant).
"""

from __future__ import annotations

from .. import validate
from ..nets.network import CPNet, HTNet
from ..nets.params import parameter_count
from ..rank.methods import DEFAULT_METHOD, matricization_rank
from ..rank.theory import ht_odd_even_rank

__all__ = ["depth_efficiency_rows", "format_table",]


def depth_efficiency_rows(sizes, n_channels: int, rank: int, seed: int = 0,
                          method: str = DEFAULT_METHOD, rtol: float | None = None) -> list[dict]:
    """One row per N: HT parameters, its measured odd-even rank (a lower bound on the CP
    width any shallow network needs), the theorem's ``min(r_0, M)^(N/2)`` and the
    parameters of a CP of that width.

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
    """
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise validate.InvalidTypeError(f"sizes must be a sequence of integers, got {sizes!r}")
    sizes = [validate.positive_int(n, f"sizes[{i}]", 2) for i, n in enumerate(sizes)]
    n_channels = validate.positive_int(n_channels, "n_channels")
    rank = validate.positive_int(rank, "rank")
    seed = validate.seed(seed)
    rtol = validate.tolerance(rtol)
    import torch

    # importing them registers the "structured", "auto" and "exact" rank methods

    rows = []
    for n in sizes:
        ht = HTNet(n, n_channels, rank, seed=seed, dtype=torch.float64)
        result = matricization_rank(ht, "odd-even", method=method, rtol=rtol)
        width = result.rank
        rows.append({
            "N": n, "M": n_channels, "r": rank,
            "ht_params": parameter_count(ht),
            "odd_even_rank": width,
            "theorem": ht_odd_even_rank(n, n_channels, rank),
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

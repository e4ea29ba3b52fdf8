"""``convac table``: a depth-efficiency table (HT parameters, odd-even rank, CP width needed).

torch and the rank modules are imported when a table is computed, not when the command's
parser is built (``convac table --help`` stays instant).
"""

from __future__ import annotations

import torch

from .. import validate
from ..nets.geometry import DEFAULT_MAX_BYTES
from ..nets.network import CPNet, HTNet
from ..nets.params import parameter_count
from ..progress import bar
from ..rank.methods import DEFAULT_METHOD, matricization_rank
from ..theory import ht_odd_even_rank

__all__ = ["depth_efficiency_rows", "format_table",]


def depth_efficiency_rows(sizes, n_channels: int, rank: int, seed: int = 0,
                          method: str = DEFAULT_METHOD, rtol: float | None = None,
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
    # importing them registers the "structured", "auto" and "exact" rank methods

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
                         "refused": exc.refused,
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
